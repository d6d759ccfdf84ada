package dev.mmm.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** One temporary directory holding every store of a run; removed with everything in it. */
final class ScratchDirs implements AutoCloseable {
  private final Path root;

  private ScratchDirs(Path root) {
    this.root = root;
  }

  static ScratchDirs under(Path parent) {
    try {
      Files.createDirectories(parent);
      return new ScratchDirs(Files.createTempDirectory(parent, "mmm-bench-"));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  Path root() {
    return root;
  }

  Path newDir(String name) {
    try {
      return Files.createDirectories(root.resolve(name));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Removes {@code dir} and what it holds, to free the disk before the next measurement. */
  void delete(Path dir) {
    if (!Files.exists(dir)) {
      return;
    }
    try (Stream<Path> files = Files.walk(dir)) {
      for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
        Files.delete(p);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @Override
  public void close() {
    delete(root);
  }
}

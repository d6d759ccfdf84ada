package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Issue 6, item 6: one JVM must not open a store twice through two paths to its directory (a
 * symlink, a bind mount): two writers of one log hand out the same seqs and lose each other's
 * writes. The open guard goes by the directory's file identity, not its path.
 */
class OpenTwiceTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  private static DatabaseOptions<String> options() {
    return DatabaseOptions.of(Codec.utf8()).withId("D");
  }

  @Test
  void aStoreOpenInThisJvmIsRefusedThroughASymlinkToItsDirectory() throws Exception {
    Path dir = dbs.newDir().resolve("store");
    Path links = dbs.newDir();
    Path link = Files.createSymbolicLink(links.resolve("link"), dir.getParent());
    Database<String> db = dbs.open(dir, options());
    Doc<String> first = await(db.put("k", "v1"));

    assertThatThrownBy(() -> dbs.open(link.resolve("store"), options()))
        .as("second open through a symlinked parent")
        .isInstanceOf(StoreException.class)
        .hasMessageContaining("already open");
    Path direct = Files.createSymbolicLink(links.resolve("direct"), dir);
    assertThatThrownBy(() -> dbs.open(direct, options()))
        .as("second open through a symlink to the directory")
        .isInstanceOf(StoreException.class)
        .hasMessageContaining("already open");

    // The refused opens changed nothing: the first goes on, and once closed the store opens
    // through the other path, with what was written.
    Doc<String> second = await(db.put("k", "v2"));
    assertThat(second.seq()).isEqualTo(first.seq() + 1);
    dbs.close(db);
    Database<String> again = dbs.open(direct, options());
    assertThat(await(again.get("k"))).containsExactly(second);
    assertThat(await(again.put("k", "v3")).seq()).isEqualTo(second.seq() + 1);
  }

  @Test
  void aStoreOpenInThisJvmIsRefusedThroughABindMountOfItsDirectory() throws Exception {
    Path dir = dbs.newDir();
    Path mountPoint = dbs.newDir();
    Database<String> db = dbs.open(dir, options());
    Doc<String> first = await(db.put("k", "v1"));
    String bind = run("mount", "--bind", dir.toString(), mountPoint.toString());
    assumeTrue(bind == null, () -> "cannot bind-mount here (needs root): " + bind);
    Database<String> twice = null;
    try {
      assertThat(Files.exists(mountPoint.resolve("CURRENT"))).as("bind mount shows the store").isTrue();
      StoreException refused = null;
      try {
        twice = Database.open(dbs.system(), mountPoint, options());
      } catch (StoreException e) {
        refused = e;
      }
      if (twice != null) {
        // What two writers of one log do: both hand out the next seq.
        Doc<String> a = await(db.put("k", "via " + dir));
        Doc<String> b = await(twice.put("k", "via " + mountPoint));
        assertThat(twice)
            .as("second open through a bind mount succeeded: both opens handed out %s and %s",
                a.version(), b.version())
            .isNull();
      }
      assertThat(refused).as("second open through a bind mount").isNotNull()
          .hasMessageContaining("already open");
      assertThat(await(db.put("k", "v2")).seq()).isEqualTo(first.seq() + 1);
    } finally {
      if (twice != null) {
        await(twice.close());
      }
      String umount = run("umount", mountPoint.toString());
      assertThat(umount).as("umount %s", mountPoint).isNull();
    }
  }

  /** Runs a command; null if it exited 0, else what it printed. */
  static String run(String... command) throws Exception {
    Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
    p.getOutputStream().close();
    String out = new String(p.getInputStream().readAllBytes());
    if (!p.waitFor(30, TimeUnit.SECONDS)) {
      p.destroyForcibly();
      return "timed out";
    }
    return p.exitValue() == 0 ? null : "exit " + p.exitValue() + ": " + out.trim();
  }
}

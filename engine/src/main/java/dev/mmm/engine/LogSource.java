package dev.mmm.engine;

import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.pekko.NotUsed;
import org.apache.pekko.stream.Attributes;
import org.apache.pekko.stream.Outlet;
import org.apache.pekko.stream.SourceShape;
import org.apache.pekko.stream.javadsl.Source;
import org.apache.pekko.stream.stage.AbstractOutHandler;
import org.apache.pekko.stream.stage.AsyncCallback;
import org.apache.pekko.stream.stage.GraphStage;
import org.apache.pekko.stream.stage.GraphStageLogic;

/**
 * Streams log entries after a clock, peer by peer in seq order, reading the store in chunks as
 * downstream pulls: memory stays at one chunk whatever the backlog. A one-shot stream stops at the
 * clock of the instant it started; a live one, having caught up, waits on the {@link ChangeFeed}
 * and reads on from where it stopped. Garbage-collected entries are simply absent: a gap in a
 * peer's seqs.
 */
final class LogSource extends GraphStage<SourceShape<LogEntry<byte[]>>> {
  static final int CHUNK = 256;

  static Source<LogEntry<byte[]>, NotUsed> create(Store store, ChangeFeed feed, LogOptions options) {
    return Source.fromGraph(new LogSource(store, feed, options));
  }

  private final Outlet<LogEntry<byte[]>> out = Outlet.create("LogSource.out");
  private final SourceShape<LogEntry<byte[]>> shape = SourceShape.of(out);
  private final Store store;
  private final ChangeFeed feed;
  private final LogOptions options;

  private LogSource(Store store, ChangeFeed feed, LogOptions options) {
    this.store = store;
    this.feed = feed;
    this.options = options;
  }

  private static Map<String, Long> lower(Map<String, Long> a, Map<String, Long> b) {
    Map<String, Long> min = new HashMap<>();
    a.forEach((peer, seq) -> min.put(peer, Math.min(seq, b.getOrDefault(peer, 0L))));
    return min;
  }

  @Override
  public SourceShape<LogEntry<byte[]>> shape() {
    return shape;
  }

  @Override
  public GraphStageLogic createLogic(Attributes attributes) {
    return new GraphStageLogic(shape) {
      private final Map<String, Long> position = new HashMap<>(options.from());
      private final ArrayDeque<LogEntry<byte[]>> buffer = new ArrayDeque<>();
      private Map<String, Long> target = Map.of();
      private boolean waiting;
      private AsyncCallback<Boolean> wake;

      {
        setHandler(
            out,
            new AbstractOutHandler() {
              @Override
              public void onPull() {
                emitNext();
              }
            });
      }

      @Override
      public void preStart() {
        wake = createAsyncCallback(
            ignored -> {
              waiting = false;
              if (isAvailable(out)) {
                emitNext();
              }
            });
        Map<String, Long> held = store.clock();
        target = options.until().map(until -> lower(until, held)).orElse(held);
      }

      private void emitNext() {
        try {
          if (buffer.isEmpty()) {
            fill();
          }
          if (buffer.isEmpty() && options.live()) {
            if (waiting) {
              return;
            }
            // Register before looking again, so a commit between the two is not missed.
            waiting = true;
            feed.await(() -> wake.invoke(Boolean.TRUE));
            target = store.clock();
            fill();
          }
          if (!buffer.isEmpty()) {
            push(out, buffer.poll());
          } else if (!options.live()) {
            completeStage();
          }
        } catch (RuntimeException e) {
          failStage(e);
        }
      }

      /** Reads up to one chunk of entries that lie between position and target. */
      private void fill() {
        if (options.live()) {
          target = store.clock();
        }
        List<String> peers = target.keySet().stream().sorted(Strings::compare).toList();
        try (Cursor c = store.cursor(true)) {
          for (String peer : peers) {
            long from = position.getOrDefault(peer, 0L);
            long to = target.get(peer);
            if (from >= to) {
              continue;
            }
            c.seek(Keyspace.log(peer, from + 1));
            byte[] prefix = Keyspace.logPrefix(peer);
            while (buffer.size() < CHUNK && c.valid() && Keyspace.startsWith(c.key(), prefix)) {
              long seq = Keyspace.lastSeq(c.key());
              if (seq > to) {
                break;
              }
              LogRow row = RowFormat.entry(peer, seq, c.value());
              buffer.add(row.inHead() ? row.entry(store.heads(row.key(), c)) : row.entry(List.of()));
              position.put(peer, seq);
              c.next();
            }
            if (buffer.size() < CHUNK) {
              // The rest of this range was garbage-collected.
              position.put(peer, to);
            }
            if (buffer.size() >= CHUNK) {
              return;
            }
          }
        }
      }
    };
  }
}

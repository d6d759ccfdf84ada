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
 * Streams log entries after a clock, each peer's in seq order, reading the store in chunks as
 * downstream pulls: memory stays at one chunk whatever the backlog. Log rows hold their values, so
 * a chunk is one scan of each peer's log, never a read per entry. Peers take turns chunk by
 * chunk, so a peer whose log grows fast never holds back another's entries for more than one
 * chunk per peer. A one-shot stream stops at the clock of the instant it started; a live one,
 * having caught up, waits on the {@link ChangeFeed} and reads on from where it stopped. Where a
 * recovery rewrites the own log under a stream, the stream reads it again from the first seq
 * rewritten, so the entries that took those seqs reach it like any other.
 */
final class LogSource extends GraphStage<SourceShape<Replica.Stored>> {
  static final int CHUNK = 256;

  static Source<Replica.Stored, NotUsed> create(Store store, ChangeFeed feed, LogOptions options) {
    return Source.fromGraph(new LogSource(store, feed, options));
  }

  private final Outlet<Replica.Stored> out = Outlet.create("LogSource.out");
  private final SourceShape<Replica.Stored> shape = SourceShape.of(out);
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
  public SourceShape<Replica.Stored> shape() {
    return shape;
  }

  @Override
  public GraphStageLogic createLogic(Attributes attributes) {
    return new GraphStageLogic(shape) {
      private final Map<String, Long> position = new HashMap<>(options.from());
      private final ArrayDeque<Replica.Stored> buffer = new ArrayDeque<>();
      private Map<String, Long> target = Map.of();
      /** Where the next chunk starts: the peer after the one that filled the last. */
      private int turn;
      /** The generation of the own log's rewrites (see {@link Store.Rewrites}) read up to. */
      private long rewrites;
      private boolean waiting;
      private AsyncCallback<Boolean> wake;
      private final Runnable wakeUp = () -> wake.invoke(Boolean.TRUE);

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
        try (Store.View now = store.view(false)) {
          Map<String, Long> held = now.clock();
          rewrites = now.rewrites().generation();
          target = options.until().map(until -> lower(until, held)).orElse(held);
        } catch (RuntimeException e) {
          failStage(e);
        }
      }

      @Override
      public void postStop() {
        feed.cancel(wakeUp);
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
            feed.await(wakeUp);
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
        if (store.isClosed()) {
          throw new DatabaseClosedException("database " + store.dir() + " is closed");
        }
        try (Store.View now = store.view(true)) {
          if (options.live()) {
            target = now.clock();
          }
          // A recovery set own entries aside from this seq on, and entries of the peers took
          // their seqs: whatever the clock did, those are news to this stream, as any entry
          // applied. (The snapshot holds exactly the rewrites the view holds.)
          long rewritten = now.rewrites().lowestSince(rewrites);
          rewrites = now.rewrites().generation();
          if (rewritten != Long.MAX_VALUE) {
            position.computeIfPresent(store.id(), (p, at) -> Math.min(at, rewritten - 1));
          }
          List<String> peers = target.keySet().stream().sorted(Strings::compare).toList();
          if (peers.isEmpty()) {
            return;
          }
          Cursor c = now.cursor();
          for (int i = 0; i < peers.size() && buffer.size() < CHUNK; i++) {
            String peer = peers.get((turn + i) % peers.size());
            read(c, peer);
            if (buffer.size() >= CHUNK) {
              turn = (turn + i + 1) % peers.size();
            }
          }
        }
      }

      private void read(Cursor c, String peer) {
        long from = position.getOrDefault(peer, 0L);
        long to = target.get(peer);
        if (from >= to) {
          return;
        }
        c.seek(Keyspace.log(peer, from + 1));
        byte[] prefix = Keyspace.logPrefix(peer);
        long at = from;
        while (buffer.size() < CHUNK && c.valid() && Keyspace.startsWith(c.key(), prefix)) {
          for (LogRow e : RowFormat.entries(peer, Keyspace.lastSeq(c.key()), c.value())) {
            if (e.seq() > to || buffer.size() >= CHUNK) {
              return;
            }
            if (e.seq() > at) { // the first row read may begin before the position
              Row r = e.row();
              buffer.add(new Replica.Stored(r.entry(), r.fingerprint()));
              position.put(peer, e.seq());
              at = e.seq();
            }
          }
          c.next();
        }
      }
    };
  }
}

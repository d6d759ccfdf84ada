package dev.mmm.replication;

import static dev.mmm.engine.TestDatabases.await;

import dev.mmm.engine.Database;
import dev.mmm.engine.Doc;
import dev.mmm.engine.LogEntry;
import dev.mmm.engine.LogOptions;
import dev.mmm.engine.Range;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletionStage;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.japi.Pair;
import org.apache.pekko.stream.KillSwitches;
import org.apache.pekko.stream.UniqueKillSwitch;
import org.apache.pekko.stream.javadsl.Keep;
import org.apache.pekko.stream.javadsl.Sink;

/** Runs sync sessions between two databases of one JVM and reads what the databases hold. */
final class SyncSessions {
  private SyncSessions() {}

  /** The two results of one session, {@code left} for the first database. */
  record Session(CompletionStage<SyncResult> left, CompletionStage<SyncResult> right) {}

  /** A session whose left side's outgoing bytes pass through a kill switch. */
  record Killable(Session session, UniqueKillSwitch killSwitch) {}

  static Session start(
      ActorSystem<?> system, Database<?> a, SyncOptions oa, Database<?> b, SyncOptions ob) {
    Pair<CompletionStage<SyncResult>, CompletionStage<SyncResult>> results =
        Replication.sync(a, oa).joinMat(Replication.sync(b, ob), Pair::create).run(system);
    return new Session(results.first(), results.second());
  }

  static Killable startKillable(
      ActorSystem<?> system, Database<?> a, SyncOptions oa, Database<?> b, SyncOptions ob) {
    Pair<Pair<CompletionStage<SyncResult>, UniqueKillSwitch>, CompletionStage<SyncResult>> mat =
        Replication.sync(a, oa)
            .viaMat(KillSwitches.single(), Keep.both())
            .joinMat(Replication.sync(b, ob), Pair::create)
            .run(system);
    return new Killable(
        new Session(mat.first().first(), mat.second()), mat.first().second());
  }

  /** A one-shot session in the given modes, both results awaited. */
  static Pair<SyncResult, SyncResult> oneShot(
      ActorSystem<?> system, Database<?> a, Mode ma, Database<?> b, Mode mb) {
    Session s = start(
        system, a, SyncOptions.defaults().withMode(ma), b, SyncOptions.defaults().withMode(mb));
    return Pair.create(await(s.left()), await(s.right()));
  }

  /** A one-shot SYNC session, both results awaited. */
  static Pair<SyncResult, SyncResult> sync(ActorSystem<?> system, Database<?> a, Database<?> b) {
    return oneShot(system, a, Mode.SYNC, b, Mode.SYNC);
  }

  /** Every entry held, per peer in seq order. */
  static <V> List<LogEntry<V>> log(ActorSystem<?> system, Database<V> db) {
    return await(db.log(LogOptions.all()).runWith(Sink.seq(), system));
  }

  /** Every current version of every key, in key order. */
  static <V> List<Doc<V>> heads(ActorSystem<?> system, Database<V> db) {
    return await(db.read(Range.all()).runWith(Sink.seq(), system));
  }

  /** The log sorted by version, for comparing logs of replicas. */
  static <V> List<LogEntry<V>> sortedLog(ActorSystem<?> system, Database<V> db) {
    return log(system, db).stream().sorted(Comparator.comparing(LogEntry::version)).toList();
  }
}

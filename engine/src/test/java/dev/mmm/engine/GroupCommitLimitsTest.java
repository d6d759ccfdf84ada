package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionStage;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The store limits hold for replicated entries however the actor groups requests into one
 * commit: applies that wait together in its mailbox are checked against what the earlier ones of
 * the same group commit staged, not only against what is committed.
 */
class GroupCommitLimitsTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  /**
   * Found while modelling the engine's rules for the replication wire fuzzer: each apply names one new peer; sent at once
   * (as several sessions, or two frames in flight of one session, do) they share a group commit,
   * and every one is checked against the committed clock's peers only, so all are taken.
   */
  @Test
  void maxPeersHoldsForAppliesThatShareAGroupCommit() {
    int maxPeers = 2;
    Database<byte[]> db = dbs.open(dbs.newDir(),
        DatabaseOptions.of(Codec.bytes()).withId("v").withMaxPeers(maxPeers));
    List<CompletionStage<DatabaseCommand.Applied>> applies = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      applies.add(TestDatabases.apply(db,
          List.of(new LogEntry<>("p" + i, 1, "k", new byte[] {1}, List.of(), false))));
    }
    int taken = 0;
    for (CompletionStage<DatabaseCommand.Applied> a : applies) {
      try {
        await(a);
        taken++;
      } catch (InvalidEntryException refused) {
        // over maxPeers
      }
    }
    assertThat(await(db.clock())).as("peers held after %d applies were taken", taken)
        .hasSizeLessThanOrEqualTo(maxPeers);
  }

  /**
   * Peers that only links name count toward maxPeers too (the unseen-link summary holds them):
   * applies sent at once, each naming two new peers, share a group commit and add up.
   */
  @Test
  void maxPeersHoldsForPeersLinksNameInAppliesThatShareAGroupCommit() throws Exception {
    int maxPeers = 4;
    Database<byte[]> db = dbs.open(dbs.newDir(),
        DatabaseOptions.of(Codec.bytes()).withId("v").withMaxPeers(maxPeers));
    List<CompletionStage<DatabaseCommand.Applied>> applies = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      applies.add(TestDatabases.apply(db, List.of(new LogEntry<>("p" + i, 1, "k",
          new byte[] {1}, List.of(new Version("linked" + i, 1)), false))));
    }
    for (CompletionStage<DatabaseCommand.Applied> a : applies) {
      try {
        await(a);
      } catch (InvalidEntryException refused) {
        // over maxPeers
      }
    }
    java.util.Set<String> known = new java.util.HashSet<>(await(db.clock()).keySet());
    known.addAll(EntryLimitsTest.unseenPeers(db).keySet());
    assertThat(known).hasSizeLessThanOrEqualTo(maxPeers);
  }

  /** For contrast: applies one at a time are held to the limit. */
  @Test
  void maxPeersHoldsForAppliesOneAtATime() {
    int maxPeers = 2;
    Database<byte[]> db = dbs.open(dbs.newDir(),
        DatabaseOptions.of(Codec.bytes()).withId("v").withMaxPeers(maxPeers));
    for (int i = 0; i < 5; i++) {
      try {
        await(TestDatabases.apply(db,
            List.of(new LogEntry<>("p" + i, 1, "k", new byte[] {1}, List.of(), false))));
      } catch (InvalidEntryException refused) {
        // over maxPeers
      }
    }
    assertThat(await(db.clock())).hasSize(maxPeers);
  }
}

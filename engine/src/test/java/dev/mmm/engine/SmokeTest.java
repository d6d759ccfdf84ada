package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.apache.pekko.actor.testkit.typed.javadsl.ActorTestKit;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

class SmokeTest {
  static final ActorTestKit kit = ActorTestKit.create();

  @AfterAll
  static void shutdown() {
    kit.shutdownTestKit();
  }

  @Test
  void putGetMerge() {
    try (TestDatabases dbs = new TestDatabases(kit.system())) {
      Database<String> a = dbs.utf8("A");
      Doc<String> d1 = await(a.put("k", "v1"));
      Doc<String> d2 = await(a.put("k", "v2"));
      assertThat(d2.seq()).isEqualTo(2);
      assertThat(await(a.get("k"))).containsExactly(d2);
      List<LogEntry<String>> log = await(a.log(LogOptions.all()).runWith(Sink.seq(), kit.system()));
      assertThat(log).hasSize(2);
      assertThat(log.get(1).links()).containsExactly(d1.version());
      assertThat(await(a.keys(Range.all()).runWith(Sink.seq(), kit.system()))).containsExactly("k");
      assertThat(await(a.clock())).containsEntry("A", 2L);
    }
  }
}

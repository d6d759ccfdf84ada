package dev.mmm.engine;

import static dev.mmm.engine.TestDatabases.await;
import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.apache.pekko.stream.javadsl.Sink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class SmokeTest {
  @RegisterExtension static final TestDatabases dbs = TestDatabases.withOwnSystem();

  @Test
  void putGetMerge() {
    Database<String> a = dbs.utf8("A");
    Doc<String> d1 = await(a.put("k", "v1"));
    Doc<String> d2 = await(a.put("k", "v2"));
    assertThat(d2.seq()).isEqualTo(2);
    assertThat(await(a.get("k"))).containsExactly(d2);
    List<LogEntry<String>> log = await(a.log(LogOptions.all()).runWith(Sink.seq(), dbs.system()));
    assertThat(log).hasSize(2);
    assertThat(log.get(1).links()).containsExactly(d1.version());
    assertThat(await(a.keys(Range.all()).runWith(Sink.seq(), dbs.system()))).containsExactly("k");
    assertThat(await(a.clock())).containsEntry("A", 2L);
  }
}

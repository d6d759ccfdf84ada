package dev.mmm.engine;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

class InFlightTest {
  @Test
  void aRequestIsHeldUntilTakenAndOnlyUntakenOnesFail() {
    InFlight inFlight = new InFlight();
    CompletableFuture<String> taken = new CompletableFuture<>();
    CompletableFuture<String> waiting = new CompletableFuture<>();
    inFlight.add(taken);
    inFlight.add(waiting);
    assertThat(inFlight.size()).isEqualTo(2);
    inFlight.taken(taken);
    IllegalStateException stopped = new IllegalStateException("stopped");
    inFlight.failAll(stopped);
    assertThat(taken).isNotDone();
    assertThat(waiting).isCompletedExceptionally();
    assertThat(inFlight.size()).isZero();
  }

  @Test
  void aRequestAddedAfterTheActorStoppedFailsAtOnce() {
    InFlight inFlight = new InFlight();
    inFlight.failAll(new IllegalStateException("stopped"));
    CompletableFuture<String> late = new CompletableFuture<>();
    inFlight.add(late);
    assertThat(late).isCompletedExceptionally();
    assertThat(inFlight.size()).isZero();
  }
}

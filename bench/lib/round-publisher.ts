/**
 * Publishes in rounds until stopped: each round sends one sequenced message to every key of a
 * SequencedSource, so after N rounds every key's stream has carried seq 0..N-1.
 */
import type { SequencedSource } from './load.js';
import { sleep } from './load.js';
import type { MessageSink } from './publishers.js';

export class RoundPublisher {
  private stopped = false;
  private rounds = 0;
  private readonly loop: Promise<void>;

  private constructor(
    private readonly sink: MessageSink,
    private readonly source: SequencedSource,
    private readonly roundsPerSecond: number,
    private readonly spread: boolean,
  ) {
    this.loop = this.run();
    this.loop.catch(() => undefined); // observed by waitRounds() and stop()
  }

  /**
   * Starts publishing at once; a failed send ends the loop and is rethrown by stop(). `spread`: each
   * round's messages go one at a time, evenly over the round (a steady rate, as live traffic comes),
   * instead of in one batch at its start.
   */
  static start(
    sink: MessageSink,
    source: SequencedSource,
    roundsPerSecond: number,
    opts: { readonly spread?: boolean } = {},
  ): RoundPublisher {
    return new RoundPublisher(sink, source, roundsPerSecond, opts.spread ?? false);
  }

  /** Rounds whose messages the broker has confirmed. */
  get completed(): number {
    return this.rounds;
  }

  private async run(): Promise<void> {
    const started = performance.now();
    const keys = this.source.keys.length;
    while (!this.stopped) {
      if (this.spread) {
        for (let i = 0; i < keys; i++) {
          await this.sink.send(this.source.next(1));
          const due = started + ((this.rounds + (i + 1) / keys) * 1000) / this.roundsPerSecond;
          const wait = due - performance.now();
          if (wait > 0 && i < keys - 1) await sleep(wait);
        }
      } else {
        await this.sink.send(this.source.next(keys));
      }
      this.rounds++;
      const due = started + (this.rounds * 1000) / this.roundsPerSecond;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
    }
  }

  /** Waits for `n` more rounds to be confirmed (so messages flow across some event). */
  async waitRounds(n: number, timeoutMs = 60_000): Promise<void> {
    const target = this.rounds + n;
    const deadline = Date.now() + timeoutMs;
    while (this.rounds < target) {
      if (Date.now() > deadline) throw new Error(`publishing stalled: ${this.rounds} of ${target} rounds`);
      await Promise.race([this.loop, sleep(20)]);
    }
  }

  /** Stops after the round in flight; resolves with the number of rounds published. */
  async stop(): Promise<number> {
    this.stopped = true;
    await this.loop;
    return this.rounds;
  }
}

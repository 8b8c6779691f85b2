/**
 * Message load with sequence numbers: every routing key has its own sequence 0, 1, 2, …, and each
 * payload carries it with the publish time and the publish time of its key's previous message,
 * `{"seq":N,"t":<CLOCK_MONOTONIC ns>,"p":<previous t, 0 for the first>,"pad":"x…"}`, padded to a
 * fixed size. The C client checks order per connection, measures latency from `t`, and after a
 * reconnect uses `p` to tell whether a message published after its new `ready` went missing.
 */
import type { MessageSink, OutgoingMessage } from './publishers.js';

export const DEFAULT_PAYLOAD_BYTES = 1024;
const PAD = 'x'.repeat(64 * 1024);

export function sequencedPayload(seq: number, bytes: number, t: bigint, previousT: bigint): Buffer {
  const head = `{"seq":${seq},"t":${t},"p":${previousT},"pad":"`;
  return Buffer.from(head + PAD.slice(0, Math.max(0, bytes - head.length - 2)) + '"}');
}

/** Cycles through `keys`; message n goes to keys[n % keys.length] with that key's next seq. */
export class SequencedSource {
  private sent = 0;
  private readonly lastT: bigint[];

  constructor(
    readonly keys: readonly string[],
    readonly payloadBytes = DEFAULT_PAYLOAD_BYTES,
  ) {
    if (keys.length === 0) throw new Error('SequencedSource needs at least one routing key');
    this.lastT = keys.map(() => 0n);
  }

  /** Messages produced so far. */
  get count(): number {
    return this.sent;
  }

  /** Messages each key's clients should have received so far (the last keys may have one fewer). */
  perKey(): { min: number; max: number } {
    const k = this.keys.length;
    return { min: Math.floor(this.sent / k), max: Math.ceil(this.sent / k) };
  }

  next(count: number): OutgoingMessage[] {
    const out: OutgoingMessage[] = [];
    const k = this.keys.length;
    for (let i = 0; i < count; i++, this.sent++) {
      const key = this.sent % k;
      // process.hrtime is CLOCK_MONOTONIC, the clock the C client reads.
      const t = process.hrtime.bigint();
      out.push({
        routingKey: this.keys[key]!,
        body: sequencedPayload(Math.floor(this.sent / k), this.payloadBytes, t, this.lastT[key]!),
      });
      this.lastT[key] = t;
    }
    return out;
  }
}

export interface PacedResult {
  readonly sent: number;
  readonly seconds: number;
  /** Messages per second actually achieved. */
  readonly rate: number;
}

/**
 * Publishes `count` messages at `rate` per second, in small batches on a ~5 ms tick; when a send
 * takes longer, the next batch catches up, so the average rate holds while the sink keeps up.
 */
export async function publishPaced(
  sink: MessageSink,
  source: SequencedSource,
  rate: number,
  count: number,
): Promise<PacedResult> {
  const total = Math.max(1, Math.round(count));
  const started = performance.now();
  let sent = 0;
  while (sent < total) {
    const elapsed = (performance.now() - started) / 1000;
    const due = Math.min(total, Math.floor(elapsed * rate) + 1);
    if (due > sent) {
      await sink.send(source.next(due - sent));
      sent = due;
    } else {
      await sleep(Math.min(5, Math.max(1, (due / rate - elapsed) * 1000)));
    }
  }
  const took = (performance.now() - started) / 1000;
  return { sent, seconds: took, rate: sent / Math.max(took, 1 / rate) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

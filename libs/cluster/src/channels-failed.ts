/**
 * A call over several channels failed for some of them only: on a Redis Cluster, the channels
 * whose shard is failing over. The others' part succeeded, so a caller retries only these (and
 * keeps each channel's later messages behind them), instead of holding every channel back.
 */
export class ChannelsFailed extends Error {
  constructor(
    /** The channels whose part failed or is still in flight; every other channel succeeded. */
    readonly channels: ReadonlySet<string>,
    cause: unknown,
    /**
     * Of those, the ones whose part is still in flight (a Redis Cluster client holds commands for
     * a failing shard and sends them once the slot has a new owner): resolves true if it ends up
     * done, false if it fails. A caller waits for it instead of sending the part again, which
     * could deliver it twice.
     */
    readonly pending: ReadonlyMap<string, Promise<boolean>> = new Map(),
  ) {
    super(`${channels.size} channel(s) failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'ChannelsFailed';
  }
}

/**
 * How long a call over a Redis Cluster waits for every shard before it reports the channels still
 * waiting as failed (pending): a healthy shard answers in milliseconds, a failing one only once a
 * replica is promoted, seconds later.
 */
export const SHARD_DEADLINE_MS = 250;

/**
 * Waits for each channel's part of a call (its commands' promises) up to `deadlineMs`. Resolves
 * when every part succeeded. Otherwise rejects: with the first error when every channel failed,
 * else with ChannelsFailed naming the channels that failed or are still in flight (with the
 * latter's outcome as `pending`). Never leaves a promise to reject unhandled.
 */
export async function settleByChannel(
  parts: ReadonlyMap<string, readonly Promise<unknown>[]>,
  deadlineMs: number,
): Promise<void> {
  const state = new Map<string, 'ok' | 'failed' | 'pending'>();
  let reason: unknown;
  const outcomes = new Map<string, Promise<boolean>>();
  for (const [channel, promises] of parts) {
    state.set(channel, 'pending');
    outcomes.set(
      channel,
      Promise.all(promises).then(
        () => {
          state.set(channel, 'ok');
          return true;
        },
        (err: unknown) => {
          state.set(channel, 'failed');
          reason ??= err;
          return false;
        },
      ),
    );
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(outcomes.values()),
    new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs))),
  ]);
  clearTimeout(timer);
  const failed = new Set<string>();
  const pending = new Map<string, Promise<boolean>>();
  for (const [channel, s] of state) {
    if (s === 'ok') continue;
    failed.add(channel);
    if (s === 'pending') pending.set(channel, outcomes.get(channel)!);
  }
  if (failed.size === 0) return;
  if (pending.size === 0 && failed.size === parts.size) throw reason;
  throw new ChannelsFailed(failed, reason ?? new Error(`no answer within ${deadlineMs} ms`), pending);
}

/** Promises grouped by channel, in call order. */
export function byChannel<T>(
  calls: readonly { readonly channel: string; readonly promise: Promise<T> }[],
): Map<string, Promise<T>[]> {
  const out = new Map<string, Promise<T>[]>();
  for (const { channel, promise } of calls) {
    let list = out.get(channel);
    if (list === undefined) out.set(channel, (list = []));
    list.push(promise);
  }
  return out;
}

/**
 * A call over several channels failed for some of them only: on a Redis Cluster, the channels
 * whose shard is failing over. The others' part succeeded, so a caller retries only these (and
 * keeps each channel's later messages behind them), instead of holding every channel back.
 */
export class ChannelsFailed extends Error {
  constructor(
    /** The channels whose part failed; every other channel of the call succeeded. */
    readonly channels: ReadonlySet<string>,
    cause: unknown,
  ) {
    super(`${channels.size} channel(s) failed: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'ChannelsFailed';
  }
}

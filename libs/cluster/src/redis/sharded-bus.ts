import { Cluster, type Redis } from 'ioredis';
import type { BusMessage } from '../bus.js';
import { ChannelsFailed, SHARD_DEADLINE_MS, byChannel, settleByChannel } from '../channels-failed.js';
import { RedisBusBase } from './bus-base.js';
import { refreshSlotsAfter } from './client.js';
import { throwFirstError } from './pipeline.js';

export interface ShardedRedisBusConnections {
  /**
   * Runs SPUBLISH; owned by the bus from now on. A Cluster should have `enableAutoPipelining`, so
   * a batch leaves as one pipeline per node (see `connectRedisCluster`).
   */
  readonly publisher: Redis | Cluster;
  /**
   * Runs SSUBSCRIBE; owned by the bus. A Cluster needs `shardedSubscribers: true` (one subscriber
   * connection per primary); it may be the same Cluster instance as the publisher.
   */
  readonly subscriber: Redis | Cluster;
}

/**
 * Redis 7 sharded pub/sub (SPUBLISH/SSUBSCRIBE). On a Redis Cluster a channel's messages stay on
 * the shard that owns its hash slot instead of being broadcast over the cluster bus, so bus
 * traffic scales out with shards; on a standalone Redis it behaves like plain pub/sub.
 */
export class ShardedRedisBus extends RedisBusBase<Redis | Cluster> {
  constructor(connections: ShardedRedisBusConnections) {
    super(connections, 'smessageBuffer');
  }

  protected async send(messages: readonly BusMessage[]): Promise<void> {
    if (this.publisher instanceof Cluster) {
      await this.publishOnCluster(this.publisher, messages);
      return;
    }
    const pipeline = this.publisher.pipeline();
    for (const { channel, envelope } of messages) pipeline.spublish(channel, envelope);
    throwFirstError(await pipeline.exec());
  }

  /**
   * One explicit pipeline cannot span nodes; issued in one tick, auto-pipelining batches per node
   * and keeps each channel's order (a channel always maps to one node connection). When some
   * shards fail or do not answer within SHARD_DEADLINE_MS (a fail-over), the call says which
   * channels (ChannelsFailed, with the outcome of those still in flight): the router deals with only
   * those, and the healthy shards' channels go on without waiting for them.
   */
  private async publishOnCluster(cluster: Cluster, messages: readonly BusMessage[]): Promise<void> {
    const calls = messages.map((m) => ({
      channel: m.channel,
      promise: cluster.spublish(m.channel, m.envelope),
    }));
    try {
      await settleByChannel(byChannel(calls), SHARD_DEADLINE_MS);
    } catch (err) {
      refreshSlotsAfter(cluster, err instanceof ChannelsFailed ? err.cause : err);
      throw err;
    }
  }

  /** One SSUBSCRIBE per channel: on a cluster, every channel of one call must share a slot. */
  async subscribe(channel: string): Promise<void> {
    await this.subscriber.ssubscribe(channel);
  }

  async unsubscribe(channel: string): Promise<void> {
    await this.subscriber.sunsubscribe(channel);
  }
}

import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, type Redis } from 'ioredis';
import type { BusMessage } from '../bus.js';
import { RedisBusBase } from './bus-base.js';
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
 * On a cluster, how long the messages of a batch that failed (their shard is failing over, which
 * takes 4-5 s) are tried again before the whole batch fails; the others are not sent again.
 */
const CLUSTER_RETRY_MS = 10_000;
const CLUSTER_RETRY_PAUSE_MS = 250;

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
   * and keeps each channel's order (a channel always maps to one node connection). When one shard
   * fails, only its messages are sent again: failing the whole batch would make the router send it
   * again whole, and the other shards' messages twice.
   */
  private async publishOnCluster(cluster: Cluster, messages: readonly BusMessage[]): Promise<void> {
    const deadline = Date.now() + CLUSTER_RETRY_MS;
    let pending = messages;
    for (;;) {
      const results = await Promise.allSettled(pending.map((m) => cluster.spublish(m.channel, m.envelope)));
      const failed = pending.filter((_, i) => results[i]!.status === 'rejected');
      if (failed.length === 0) return;
      if (Date.now() >= deadline) {
        throw (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
      }
      pending = failed;
      await sleep(CLUSTER_RETRY_PAUSE_MS);
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

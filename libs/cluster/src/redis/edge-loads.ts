import { names, type Names } from '@events-proxy/protocol';
import { formatEdgeLoad, parseEdgeLoad, type EdgeLoad, type EdgeLoads } from '../edge-loads.js';
import { closeRedis, refreshSlotsAfter, type RedisClient } from './client.js';
import { throwFirstError } from './pipeline.js';

export interface RedisEdgeLoadsOptions {
  /** Makes the connection, on first use (an ingest never makes one); owned from then on. */
  readonly connect: () => RedisClient;
  readonly keyPrefix: string;
}

/** The set of edge ids outlives the reports by this much, then goes if no edge reports any more. */
const SET_TTL_FACTOR = 20;

/**
 * Edge loads on Redis (standalone, Cluster or Sentinel): each edge's report is a key with a TTL
 * (`names().edgeLoad`), its id a member of one set (`names().edgeLoads`); they share a hash tag, so
 * a report is one transaction and a read one SMEMBERS and one MGET, on a Cluster too. Ids whose
 * report expired are taken out of the set as reads find them.
 */
export class RedisEdgeLoads implements EdgeLoads {
  private redis: RedisClient | undefined;
  private readonly names: Names;
  private closed = false;

  constructor(private readonly opts: RedisEdgeLoadsOptions) {
    this.names = names(opts.keyPrefix);
  }

  async report(load: EdgeLoad, ttlMs: number): Promise<void> {
    const redis = this.client();
    const ttl = Math.max(1, Math.round(ttlMs));
    const results = await redis
      .multi()
      .set(this.names.edgeLoad(load.edge), formatEdgeLoad(load), 'PX', ttl)
      .sadd(this.names.edgeLoads, load.edge)
      .pexpire(this.names.edgeLoads, ttl * SET_TTL_FACTOR)
      .exec()
      .catch(this.afterClusterError);
    throwFirstError(results);
  }

  async withdraw(edge: string): Promise<void> {
    const redis = this.client();
    const results = await redis
      .multi()
      .del(this.names.edgeLoad(edge))
      .srem(this.names.edgeLoads, edge)
      .exec()
      .catch(this.afterClusterError);
    throwFirstError(results);
  }

  async read(): Promise<EdgeLoad[]> {
    const redis = this.client();
    const ids = await redis.smembers(this.names.edgeLoads).catch(this.afterClusterError);
    if (ids.length === 0) return [];
    const texts = await redis.mget(ids.map((id) => this.names.edgeLoad(id))).catch(this.afterClusterError);
    const loads: EdgeLoad[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const load = parseEdgeLoad(id, texts[i]);
      if (load !== undefined) loads.push(load);
      else if (texts[i] === null) gone.push(id);
    });
    // An edge reporting again meanwhile is back in the set with its next report.
    if (gone.length > 0) await redis.srem(this.names.edgeLoads, ...gone).catch(this.afterClusterError);
    return loads;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.redis !== undefined) await closeRedis(this.redis);
  }

  private client(): RedisClient {
    if (this.closed) throw new Error('edge loads closed');
    return (this.redis ??= this.opts.connect());
  }

  private readonly afterClusterError = (err: unknown): never => {
    if (this.redis !== undefined) refreshSlotsAfter(this.redis, err);
    throw err;
  };
}

import { randomBytes } from 'node:crypto';
import { connectRedis } from '@events-proxy/cluster';
import type { Logger } from '@events-proxy/runtime';
import type { MembershipChange, MembershipFeed } from './membership.js';

type RedisClient = ReturnType<typeof connectRedis>;

export interface RedisMembershipFeedOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly logger: Logger;
}

interface WireChange extends MembershipChange {
  readonly from: string;
}

export const membershipChannel = (keyPrefix: string): string => `${keyPrefix}control:bindings`;

/**
 * Binding changes between ingest replicas over Redis pub/sub, on a publisher and a subscriber
 * connection of its own. Pub/sub drops what is sent while a replica is disconnected; the periodic
 * resync from the lease store covers that.
 */
export class RedisMembershipFeed implements MembershipFeed {
  private readonly channel: string;
  private readonly publisher: RedisClient;
  private readonly subscriber: RedisClient;
  /** Tags this replica's announcements, so they are not handed back to it. */
  private readonly instanceId = randomBytes(8).toString('hex');
  private listener: (change: MembershipChange) => void = () => undefined;

  constructor(private readonly opts: RedisMembershipFeedOptions) {
    this.channel = membershipChannel(opts.keyPrefix);
    const connect = (role: string) =>
      connectRedis(opts.url, {
        name: `${opts.keyPrefix}${role}`,
        logger: opts.logger,
        maxRetriesPerRequest: 2,
      });
    this.publisher = connect('membership-pub');
    this.subscriber = connect('membership-sub');
    this.subscriber.on('message', (_channel: string, text: string) => this.receive(text));
    this.subscriber.subscribe(this.channel).catch((err: Error) =>
      opts.logger.warn('could not subscribe to binding changes', {
        channel: this.channel,
        error: err.message,
      }),
    );
  }

  async announce(change: MembershipChange): Promise<void> {
    const wire: WireChange = { op: change.op, key: change.key, from: this.instanceId };
    await this.publisher.publish(this.channel, JSON.stringify(wire));
  }

  onChange(cb: (change: MembershipChange) => void): void {
    this.listener = cb;
  }

  async close(): Promise<void> {
    await Promise.all([quit(this.publisher), quit(this.subscriber)]);
  }

  private receive(text: string): void {
    let wire: Partial<WireChange>;
    try {
      wire = JSON.parse(text) as Partial<WireChange>;
    } catch {
      wire = {};
    }
    if (wire.from === this.instanceId) return;
    if ((wire.op === 'add' || wire.op === 'remove') && typeof wire.key === 'string') {
      this.listener({ op: wire.op, key: wire.key });
    } else {
      this.opts.logger.warn('ignored a malformed binding change', { channel: this.channel });
    }
  }
}

async function quit(client: RedisClient): Promise<void> {
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  await client.quit().catch(() => client.disconnect());
}

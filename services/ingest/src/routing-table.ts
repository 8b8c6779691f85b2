import { TopicMatcher, bindingKey, names, type Binding, type Names } from '@events-proxy/protocol';

/**
 * The bindings the router delivers for: a topic matcher over every (exchange, pattern), and the
 * bus channel of each, named once when the binding is added rather than per message.
 */
export class RoutingTable {
  private readonly matcher = new TopicMatcher();
  /** exchange → pattern → bus channel */
  private readonly channels = new Map<string, Map<string, string>>();
  private readonly names: Names;

  constructor(keyPrefix: string) {
    this.names = names(keyPrefix);
  }

  get size(): number {
    return this.matcher.size;
  }

  has(b: Binding): boolean {
    return this.matcher.has(b.exchange, b.routingKeyPattern);
  }

  /** Returns false if it was already there. */
  add(b: Binding): boolean {
    if (!this.matcher.add(b.exchange, b.routingKeyPattern)) return false;
    let patterns = this.channels.get(b.exchange);
    if (!patterns) this.channels.set(b.exchange, (patterns = new Map()));
    patterns.set(b.routingKeyPattern, this.names.channel(b));
    return true;
  }

  /** Returns false if it was not there. */
  remove(b: Binding): boolean {
    if (!this.matcher.remove(b.exchange, b.routingKeyPattern)) return false;
    const patterns = this.channels.get(b.exchange);
    patterns?.delete(b.routingKeyPattern);
    if (patterns?.size === 0) this.channels.delete(b.exchange);
    return true;
  }

  /** The bus channels of every binding the message matches by routing key or CC key, each once. */
  channelsFor(exchange: string, routingKey: string, ccKeys: readonly string[]): string[] {
    const patterns = this.channels.get(exchange);
    if (!patterns) return [];
    return this.matcher.match(exchange, routingKey, ccKeys).map((p) => patterns.get(p)!);
  }

  /** The binding keys held (see @events-proxy/protocol `bindingKey`). */
  keys(): string[] {
    const out: string[] = [];
    for (const [exchange, patterns] of this.channels) {
      for (const routingKeyPattern of patterns.keys()) out.push(bindingKey({ exchange, routingKeyPattern }));
    }
    return out;
  }
}

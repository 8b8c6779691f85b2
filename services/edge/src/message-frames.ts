import { topicMatches, withEventId, type Binding, type Cursor } from '@events-proxy/protocol';
import { OutFrame } from './writer.js';

/** What a message is routed by, as far as its frame tells (its `message` event's data). */
interface RoutingKeys {
  readonly exchange: string;
  readonly routingKey: string;
  /** Its CC keys that start with `route.` (the frame lists them without the prefix). */
  readonly routes: readonly string[];
}

const NO_KEYS: RoutingKeys = { exchange: '', routingKey: '', routes: [] };

/**
 * One bus message as the edge writes it: its cursor, its v1 frame (`id: -`), and its v2 frame
 * (`id: <cursor>`), each made at most once per edge however many connections take it.
 */
export class MessageFrames {
  readonly v1: OutFrame;
  private v2Frame: OutFrame | undefined;
  private keys: RoutingKeys | undefined;

  constructor(
    readonly cursor: Cursor,
    private readonly frameBytes: Buffer,
  ) {
    this.v1 = new OutFrame(frameBytes);
  }

  get v2(): OutFrame {
    return (this.v2Frame ??= new OutFrame(withEventId(this.frameBytes, this.cursor)));
  }

  /**
   * Whether the binding matches the message by its routing key or a `route.` CC key (the ingest
   * also matches other CC keys, which the frame does not carry). Read from the frame on first use:
   * only a connection with several bindings asks, to tell a repeat through another binding.
   */
  matches(binding: Binding): boolean {
    const keys = (this.keys ??= routingKeysOf(this.frameBytes));
    if (binding.exchange !== keys.exchange) return false;
    const pattern = binding.routingKeyPattern;
    return (
      topicMatches(pattern, keys.routingKey) || keys.routes.some((r) => topicMatches(pattern, `route.${r}`))
    );
  }
}

/**
 * The routing fields of a `message` frame. They are the data's last keys (see messageDataJson),
 * after the payload: the last `,"exchange":` starts them, as a quote inside any JSON string is
 * escaped.
 */
function routingKeysOf(frame: Buffer): RoutingKeys {
  const start = frame.lastIndexOf(',"exchange":');
  const end = start < 0 ? -1 : frame.indexOf(0x0a, start);
  if (end < 0) return NO_KEYS;
  try {
    const data = JSON.parse(`{${frame.toString('utf8', start + 1, end)}`) as Partial<RoutingKeys>;
    return {
      exchange: typeof data.exchange === 'string' ? data.exchange : '',
      routingKey: typeof data.routingKey === 'string' ? data.routingKey : '',
      routes: Array.isArray(data.routes) ? data.routes.filter((r) => typeof r === 'string') : [],
    };
  } catch {
    return NO_KEYS;
  }
}

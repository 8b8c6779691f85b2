import { withEventId, type Cursor } from '@events-proxy/protocol';
import { OutFrame } from './writer.js';

/**
 * One bus message as the edge writes it: its cursor, its v1 frame (`id: -`), and its v2 frame
 * (`id: <cursor>`), each made at most once per edge however many connections take it.
 */
export class MessageFrames {
  readonly v1: OutFrame;
  private v2Frame: OutFrame | undefined;

  constructor(
    readonly cursor: Cursor,
    private readonly frameBytes: Buffer,
  ) {
    this.v1 = new OutFrame(frameBytes);
  }

  get v2(): OutFrame {
    return (this.v2Frame ??= new OutFrame(withEventId(this.frameBytes, this.cursor)));
  }
}

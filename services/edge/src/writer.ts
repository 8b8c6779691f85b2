import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * One SSE frame, ready for every connection: its bytes, and the same bytes as one HTTP/1.1 chunk
 * (made at most once, on first use). Built once per message and shared, so writing it to ten
 * thousand clients is ten thousand writes of the same Buffer and nothing else.
 */
export class OutFrame {
  private chunkBytes: Buffer | undefined;

  constructor(readonly bytes: Buffer) {}

  get chunk(): Buffer {
    return (this.chunkBytes ??= Buffer.concat([
      Buffer.from(`${this.bytes.length.toString(16)}\r\n`, 'latin1'),
      this.bytes,
      CRLF,
    ]));
  }
}

/**
 * Writes SSE frames straight to one client's socket, under the response's framing (a chunk per
 * frame for HTTP/1.1, raw bytes for HTTP/1.0): going around ServerResponse.write saves its per-call
 * chunk framing, which otherwise dominates the cost of a broadcast.
 *
 * A frame is refused once the client has stopped draining: when unsent bytes are waiting and the
 * frame would take them past the cap. An empty buffer always takes a frame, so one large message
 * does not close a client that reads.
 */
export class FrameWriter {
  private readonly socket: Socket | null;
  private readonly chunked: boolean;

  /** `res` must have sent its headers (flushHeaders) before the first write. */
  constructor(
    private readonly res: ServerResponse,
    private readonly maxBufferedBytes: number,
  ) {
    this.socket = res.socket;
    this.chunked = res.chunkedEncoding;
  }

  /** Unsent bytes waiting in the socket. */
  get buffered(): number {
    return this.socket?.writableLength ?? 0;
  }

  /** Writes the frame unless the client is too slow; false means nothing was written. */
  write(frame: OutFrame): boolean {
    const socket = this.socket;
    if (socket === null || socket.destroyed) return true; // gone: the close event does the rest
    const bytes = this.chunked ? frame.chunk : frame.bytes;
    const unsent = socket.writableLength;
    if (unsent > 0 && unsent + bytes.length > this.maxBufferedBytes) return false;
    socket.write(bytes);
    return true;
  }

  /** Writes the last frame whatever is buffered, and ends the response. */
  end(lastFrame: Buffer): void {
    this.res.end(lastFrame);
  }

  /** Drops the connection at once, unsent bytes included (for a client that does not read). */
  destroy(): void {
    this.res.destroy();
  }
}

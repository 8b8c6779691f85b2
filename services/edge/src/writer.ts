import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { StreamSockets } from './stream-socket.js';

const CRLF = Buffer.from('\r\n', 'latin1');
/** The zero-length chunk that ends a chunked body. */
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

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
 * Holds the sockets written to in this round of the event loop corked, and uncorks them all
 * together in its check phase (setImmediate), once every socket that was readable has been read.
 * Bus messages that arrive together then leave in one system call per client instead of one per
 * frame: all of a round's Redis reads (libuv reads a readable socket up to 32 times, 64 KiB each),
 * not only one, as flushing on process.nextTick would (docs/performance.md). At low rates a round
 * holds one message and nothing waits: the check phase follows the reads at once. One per edge,
 * shared by every writer.
 */
export class RoundBatcher {
  private corked: Socket[] = [];
  /** Numbers the batches: it moves on each time the corked sockets are flushed. */
  batch = 0;

  private readonly flush = (): void => {
    const sockets = this.corked;
    this.corked = [];
    this.batch++;
    for (const socket of sockets) socket.uncork();
  };

  /** Corks the socket until the end of this round, unless it already is. */
  hold(socket: Socket): void {
    if (socket.writableCorked > 0) return;
    socket.cork();
    if (this.corked.push(socket) === 1) setImmediate(this.flush);
  }
}

/**
 * Writes SSE frames straight to one client's socket, under the response's framing (a chunk per
 * frame for HTTP/1.1, raw bytes for HTTP/1.0): going around ServerResponse.write saves its per-call
 * chunk framing, which otherwise dominates the cost of a broadcast.
 *
 * Frames written in the same round of the event loop are coalesced into one write by the shared
 * RoundBatcher.
 *
 * A frame is refused once the client has stopped draining: when bytes from an earlier round are
 * still unsent and the frame would take the total past the cap. A client whose buffer was empty
 * when this round began takes all of this round's frames, so one large message, or a burst that
 * arrived together, does not close a client that reads.
 *
 * Once the socket is detached from node:http (stream-socket.ts), the writer ends the response
 * itself (the last chunk, then the socket's end): the response object is let go.
 */
export class FrameWriter {
  private readonly socket: Socket | null;
  private readonly chunked: boolean;
  /** The response until the socket is detached from node:http; null after. */
  private res: ServerResponse | null;
  /** The batch of the last write, and the bytes that were unsent when that batch began. */
  private batch = -1;
  private backlog = 0;

  /** `res` must have sent its headers (flushHeaders) before the first write. */
  constructor(
    res: ServerResponse,
    private readonly maxBufferedBytes: number,
    private readonly batcher: RoundBatcher,
    private readonly sockets: StreamSockets,
  ) {
    this.res = res;
    this.socket = res.socket;
    this.chunked = res.chunkedEncoding;
  }

  /** Takes the socket from node:http (see stream-socket.ts); false: the response stays in charge. */
  detach(): boolean {
    const res = this.res;
    if (res === null || !this.sockets.detach(res)) return false;
    this.res = null;
    return true;
  }

  /** Writes the frame unless the client is too slow; false means nothing was written. */
  write(frame: OutFrame): boolean {
    const socket = this.socket;
    if (socket === null || socket.destroyed) return true; // gone: the close event does the rest
    const bytes = this.chunked ? frame.chunk : frame.bytes;
    const unsent = socket.writableLength;
    const batcher = this.batcher;
    if (this.batch !== batcher.batch) {
      this.batch = batcher.batch;
      this.backlog = unsent;
    }
    if (this.backlog > 0 && unsent + bytes.length > this.maxBufferedBytes) return false;
    batcher.hold(socket);
    socket.write(bytes);
    return true;
  }

  /** Writes the last frame whatever is buffered, and ends the response. */
  end(lastFrame: Buffer): void {
    if (this.res !== null) {
      this.res.end(lastFrame);
      return;
    }
    const socket = this.socket;
    if (socket === null || socket.destroyed) return;
    socket.write(this.chunked ? new OutFrame(lastFrame).chunk : lastFrame);
    this.endSocket(socket);
  }

  /**
   * Ends the response without a last frame and closes the socket once it is sent, so the client's
   * reconnect opens a new connection (to another edge) instead of reusing this one.
   */
  endAndCloseSocket(): void {
    const socket = this.socket;
    if (this.res !== null) {
      this.res.end(() => socket?.end());
      return;
    }
    if (socket !== null && !socket.destroyed) this.endSocket(socket);
  }

  /** Drops the connection at once, unsent bytes included (for a client that does not read). */
  destroy(): void {
    if (this.res !== null) this.res.destroy();
    else this.socket?.destroy();
  }

  /** A detached socket: the chunked body's terminator, then the socket's end (no keep-alive). */
  private endSocket(socket: Socket): void {
    if (this.chunked) socket.write(LAST_CHUNK);
    this.sockets.end(socket);
  }
}

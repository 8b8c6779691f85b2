/**
 * Requests as raw bytes on a TCP socket, so the tests can send what no HTTP client would (CR, LF
 * and NUL where they do not belong, 1 MB heads, half a request), and responses read byte for byte.
 */
import net from 'node:net';

export interface RawAnswer {
  /** 0 when the server closed the connection without answering. */
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The body, de-chunked when chunked. */
  readonly body: string;
  /** The server ended the response (or closed the connection). */
  readonly ended: boolean;
  /** The connection was closed (by either side) before `until` held. */
  readonly closed: boolean;
}

export interface ExchangeOptions {
  /** Stop reading (and close) once this holds; default: once the response has ended. */
  readonly until?: (a: RawAnswer) => boolean;
  /** Send the request in these pieces, `gapMs` apart (a slowloris-style client). */
  readonly pieces?: readonly (string | Buffer)[];
  readonly gapMs?: number;
  /** Give up (and report what arrived so far) after this long. */
  readonly timeoutMs?: number;
}

/** Incrementally parses one HTTP/1.1 response. */
class ResponseReader {
  private buf = Buffer.alloc(0);
  status = 0;
  headers: Record<string, string> = {};
  private headEnd = -1;
  body = Buffer.alloc(0);
  ended = false;

  push(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    this.parse();
  }

  private parse(): void {
    if (this.headEnd < 0) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      this.status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        this.headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      this.headEnd = end + 4;
      this.buf = this.buf.subarray(this.headEnd);
      if (this.status === 204 || this.status === 304) this.ended = true;
    }
    if (this.headers['transfer-encoding'] === 'chunked') {
      for (;;) {
        const nl = this.buf.indexOf('\r\n');
        if (nl < 0) return;
        const size = parseInt(this.buf.subarray(0, nl).toString('latin1'), 16);
        if (this.buf.length < nl + 2 + size + 2) return;
        if (size === 0) {
          this.ended = true;
          return;
        }
        this.body = Buffer.concat([this.body, this.buf.subarray(nl + 2, nl + 2 + size)]);
        this.buf = this.buf.subarray(nl + 2 + size + 2);
      }
    }
    const length = this.headers['content-length'];
    this.body = Buffer.concat([this.body, this.buf]);
    this.buf = Buffer.alloc(0);
    if (length !== undefined && this.body.length >= Number(length)) this.ended = true;
  }

  answer(closed: boolean): RawAnswer {
    return {
      status: this.status,
      headers: { ...this.headers },
      body: this.body.toString('utf8'),
      ended: this.ended || (closed && this.status !== 0),
      closed,
    };
  }
}

/** Sends `request` to 127.0.0.1:`port` and reads the answer until `until` holds or the socket closes. */
export function exchange(
  port: number,
  request: string | Buffer,
  opts: ExchangeOptions = {},
): Promise<RawAnswer> {
  const until = opts.until ?? ((a: RawAnswer) => a.ended);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  return new Promise((resolve) => {
    const reader = new ResponseReader();
    const socket = net.connect(port, '127.0.0.1');
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      for (const t of timers) clearTimeout(t);
      socket.destroy();
      resolve(reader.answer(closed));
    };
    socket.on('error', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('data', (chunk: Buffer) => {
      reader.push(chunk);
      if (until(reader.answer(false))) finish(false);
    });
    timers.push(setTimeout(() => finish(false), timeoutMs));
    const pieces = opts.pieces ?? [request];
    pieces.forEach((piece, i) => {
      timers.push(
        setTimeout(
          () => {
            if (!done && socket.writable) socket.write(piece);
          },
          i * (opts.gapMs ?? 0),
        ),
      );
    });
  });
}

/** A GET request head for `target` (path and query, sent as given) with these extra header lines. */
export function getRequest(target: string, headerLines: readonly string[] = [], method = 'GET'): string {
  return [`${method} ${target} HTTP/1.1`, 'Host: 127.0.0.1', ...headerLines, '', ''].join('\r\n');
}

/** The SSE events of a stream body; throws if the body is not exactly a run of well-framed events. */
export function parseEvents(body: string): { kind: string; data: unknown }[] {
  const events: { kind: string; data: unknown }[] = [];
  const frame = /^event: (ready|message|ping|error)\ndata: ([^\n\r]*)\nid: -\n\n/;
  let rest = body;
  while (rest.length > 0) {
    const m = frame.exec(rest);
    if (!m) throw new Error(`not a well-framed SSE event at ${JSON.stringify(rest.slice(0, 200))}`);
    events.push({ kind: m[1]!, data: JSON.parse(m[2]!) as unknown });
    rest = rest.slice(m[0].length);
  }
  return events;
}

/**
 * The reference the edge is measured against: the least a Node SSE server can do for the same
 * work. node:http, one Redis subscription per channel (the edge's channel names, the ingest's
 * envelopes), and per message the same frame Buffer written to every client's socket, corked
 * for the rest of the tick, so frames that arrive together leave in one system call per client.
 * No leases, no metrics, no timers; bindings are parsed with the protocol library, and a
 * connection with several bindings may get a message once per matching binding (the benchmark
 * gives every connection one binding).
 *
 * It speaks the same HTTP as the edge: chunked framing on HTTP/1.1, each frame wrapped as one
 * chunk once per message (a close-delimited body would be a few per cent cheaper for the clients,
 * which share the benchmark machine, and so would not compare like with like).
 *
 * Env: PORT, REDIS_URL, KEY_PREFIX, MAX_BUFFERED_BYTES (a client over it is dropped), and two
 * switches for A/B measurements of what one design choice costs (docs/performance.md):
 *   WRITE_MODE  socket-corked (default: pre-framed chunks to the socket, corked per tick)
 *               | socket-raw (close-delimited body, corked per tick)
 *               | socket (close-delimited, one write per frame, never corked)
 *               | response-chunked (ServerResponse.write with chunked framing, corked per tick)
 *   ROUTER      http (default) | express (the connect route behind an express 5 app)
 * Run by the harness as plain JavaScript (transpiled into .tmp/bench), so no loader runs in it.
 */
import http from 'node:http';
import type { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { READY_FRAME, decodeEnvelope, errorFrame, names, parseBindingsQuery } from '@events-proxy/protocol';

const port = Number(process.env.PORT ?? 8080);
const maxBuffered = Number(process.env.MAX_BUFFERED_BYTES ?? 8 * 1024 * 1024);
const writeMode = process.env.WRITE_MODE ?? 'socket-corked';
const channelOf = names(process.env.KEY_PREFIX).channel;
const subscriber = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
/** Whether frames go to the socket wrapped as HTTP/1.1 chunks by this code. */
const preChunked = writeMode === 'socket-corked';
const rawBody = writeMode === 'socket-raw' || writeMode === 'socket';
const CRLF = Buffer.from('\r\n');
/** A frame as it goes on the wire: raw, and as one HTTP/1.1 chunk (built once, for every client). */
interface Wire {
  readonly raw: Buffer;
  readonly chunk: Buffer;
}
const wire = (frame: Buffer): Wire => ({
  raw: frame,
  chunk: preChunked ? Buffer.concat([Buffer.from(`${frame.length.toString(16)}\r\n`), frame, CRLF]) : frame,
});
const readyFrame = wire(Buffer.from(READY_FRAME));

/** channel → clients on it; the SUBSCRIBE promise while it is in flight. */
const clients = new Map<string, Set<http.ServerResponse>>();
const subscribing = new Map<string, Promise<unknown>>();

/** Streams corked in this tick, uncorked together on the next one. */
let corked: Writable[] = [];
const uncorkAll = () => {
  const streams = corked;
  corked = [];
  for (const s of streams) s.uncork();
};

function send(res: http.ServerResponse, w: Wire): void {
  const frame = preChunked && res.chunkedEncoding ? w.chunk : w.raw;
  const out: Writable | null = writeMode === 'response-chunked' ? res : res.socket;
  if (!out) return;
  if (out.writableLength > maxBuffered) {
    res.destroy();
    return;
  }
  if (writeMode !== 'socket' && out.writableCorked === 0) {
    out.cork();
    if (corked.push(out) === 1) process.nextTick(uncorkAll);
  }
  out.write(frame);
}

subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
  const members = clients.get(channel.toString());
  const envelope = decodeEnvelope(message);
  if (!members || !envelope) return;
  const w = wire(envelope.frame);
  for (const res of members) send(res, w);
});

function join(channel: string, res: http.ServerResponse): Promise<unknown> {
  let members = clients.get(channel);
  if (!members) {
    clients.set(channel, (members = new Set()));
    subscribing.set(channel, subscriber.subscribe(channel));
  }
  members.add(res);
  return subscribing.get(channel)!;
}

function leave(channel: string, res: http.ServerResponse): void {
  const members = clients.get(channel);
  if (!members?.delete(res) || members.size > 0) return;
  clients.delete(channel);
  subscribing.delete(channel);
  void subscriber.unsubscribe(channel);
}

function connect(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === '/ping') {
    res.end('{"alive":true}');
    return;
  }
  if (rawBody) res.useChunkedEncodingByDefault = false;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream',
    'Cache-Control': 'no-cache',
    'Access-Control-Allow-Origin': '*',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  const parsed = parseBindingsQuery(url.searchParams.get('bindings') ?? undefined, {
    maxBindings: 1000,
    allowedExchangePrefixes: [],
  });
  if (!parsed.ok) {
    res.end(errorFrame(parsed.message));
    return;
  }
  const channels = parsed.bindings.map(channelOf);
  res.once('close', () => channels.forEach((c) => leave(c, res)));
  Promise.all(channels.map((c) => join(c, res))).then(
    () => send(res, readyFrame),
    (err: Error) => res.end(errorFrame(`subscribe failed: ${err.message}`)),
  );
}

let listener: http.RequestListener = connect;
if (process.env.ROUTER === 'express') {
  const { default: express } = await import('express');
  const app = express();
  app.set('query parser', false);
  app.get(['/api/events/v1/connect', '/ping'], (req, res) => connect(req, res));
  listener = app;
}
const server = http.createServer(listener);
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  subscriber.disconnect();
  process.exit(0);
});

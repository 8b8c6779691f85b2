import { METHODS, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import type { HttpRefusalReason } from './http-refusals.js';

/**
 * Taking an open stream's socket away from node:http once its response headers are sent.
 *
 * An SSE stream never sends another response on its socket, yet node:http keeps, for as long as
 * the socket lives, the request and response objects, the socket's HTTP parser (a pooled native
 * object), and eight listeners bound per socket: about half of what an idle connection costs
 * (docs/performance.md). Detaching hands all of that back, the way node:http itself does for a
 * socket it gives to an `upgrade` listener: the server's listeners come off the socket, the
 * response lets go of it, and the parser goes back to node's pool. What stays is the socket, with
 * four listeners shared by every stream.
 *
 * Bytes a client sends on a detached stream are checked as node:http would: garbage or a malformed
 * request closes the socket (counted in events_edge_http_refusals_total; nothing is written into
 * the stream); a well-formed pipelined request is kept, and when the stream ends the socket goes
 * back to node:http, which answers it (docs/protocol.md).
 *
 * It uses two things node:http does not document: `socket.parser` and `_http_common.freeParser`
 * (both in every Node release since 12), and finds the server's listeners by their names. When
 * any of it is missing, nothing is detached and the stream goes on through node:http as before.
 */

/** What the stream behind a socket is told when the socket closes. */
export interface SocketOwner {
  clientGone(): void;
}

const kOwner = Symbol('events-proxy.streamOwner');
/** Bytes received on a detached stream: a pipelined request's head, complete or not yet. */
const kReceived = Symbol('events-proxy.received');

interface StreamSocket extends Socket {
  parser?: object | null;
  _httpMessage?: unknown;
  server?: Server;
  [kOwner]?: SocketOwner | null;
  [kReceived]?: { bytes: Buffer; complete: boolean };
}

/** The listeners node:http's connection listener puts on every socket (lib/_http_server.js). */
const SERVER_LISTENERS: readonly (readonly [event: string, name: string])[] = [
  ['data', 'bound socketOnData'],
  ['end', 'bound socketOnEnd'],
  ['close', 'bound socketOnClose'],
  ['drain', 'bound socketOnDrain'],
  ['error', 'socketOnError'],
  ['timeout', 'socketOnTimeout'],
  ['pause', 'onSocketPause'],
  ['resume', 'onSocketResume'],
];

/** Own properties node:http sets on each socket to watch for `data` listeners. */
const SOCKET_OVERRIDES = ['on', 'addListener', 'prependListener', 'setEncoding'] as const;

type FreeParser = (parser: object, req: null, socket: Socket) => void;

function loadFreeParser(): FreeParser | undefined {
  try {
    const common = createRequire(import.meta.url)('_http_common') as { freeParser?: unknown };
    return typeof common.freeParser === 'function' ? (common.freeParser as FreeParser) : undefined;
  } catch {
    return undefined;
  }
}

const freeParser = loadFreeParser();

const REQUEST_LINE = /^([A-Z]+) [^\s]+ HTTP\/1\.[01]$/;
const HEADER_LINE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\r\n]*$/;

/**
 * What a client sent on a detached stream, so far: an incomplete head ('more'), a well-formed
 * request head ('request'), or why node:http would refuse it.
 */
function checkRequestHead(bytes: Buffer): 'more' | 'request' | HttpRefusalReason {
  const text = bytes.toString('latin1');
  const space = text.indexOf(' ');
  const method = space < 0 ? text : text.slice(0, space);
  if (space < 0 ? !METHODS.some((m) => m.startsWith(method)) : !METHODS.includes(method)) {
    return 'method';
  }
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return 'more';
  const [requestLine, ...headers] = text.slice(0, end).split('\r\n');
  if (!REQUEST_LINE.test(requestLine!) || !headers.every((h) => HEADER_LINE.test(h))) return 'malformed';
  return 'request';
}

/** Errors end in `close`, which tells the stream. */
function onError(): void {}

/** The client closed its side: it is gone (a stream has nobody left to write to). */
function onEnd(this: Socket): void {
  this.destroy();
}

/**
 * The detached streams' sockets of one edge: detaching, the listeners they share, and the ones
 * still sending their last bytes (cut when the server shuts down).
 */
export class StreamSockets {
  /** Sockets on which a second request arrived behind a stream before it was detached. */
  private readonly pipelined = new WeakSet<Socket>();
  /** Detached sockets whose stream has ended and that are still sending its last bytes. */
  private readonly ending = new Set<Socket>();
  private readonly onClose: (this: StreamSocket) => void;
  private readonly onData: (this: StreamSocket, chunk: Buffer) => void;

  constructor(
    private readonly opts: {
      /** MAX_REQUEST_HEADER_BYTES: the most kept of a request pipelined behind a stream. */
      readonly maxHeaderBytes: number;
      /** Counts a refusal, as the server's clientError listener does. */
      readonly refused: (reason: HttpRefusalReason) => void;
    },
  ) {
    const ending = this.ending;
    this.onClose = function (this: StreamSocket) {
      ending.delete(this);
      this[kOwner]?.clientGone();
    };
    const received = (socket: StreamSocket, chunk: Buffer): void => this.received(socket, chunk);
    this.onData = function (this: StreamSocket, chunk: Buffer) {
      received(this, chunk);
    };
  }

  /** Whether detach() can work on this Node. */
  static get supported(): boolean {
    return freeParser !== undefined;
  }

  markPipelined(socket: Socket): void {
    this.pipelined.add(socket);
  }

  /**
   * Tells `owner` when the socket closes, through one listener shared by every stream (no closure
   * per connection). A socket that carries several streams one after the other tells the latest.
   */
  watchClose(socket: Socket, owner: SocketOwner): void {
    const s = socket as StreamSocket;
    if (s[kOwner] === undefined) s.on('close', this.onClose);
    s[kOwner] = owner;
  }

  /**
   * Takes the socket from node:http (see the file comment). The response must have sent its
   * headers, and the call must not run inside the parser's own callbacks (the response's request
   * handler): call it from a later macrotask. Returns false, and changes nothing, when the socket
   * is not this response's alone, or node:http is not laid out as expected.
   */
  detach(res: ServerResponse): boolean {
    const socket = res.socket as StreamSocket | null;
    if (freeParser === undefined || socket === null || socket.destroyed || !res.headersSent) return false;
    const parser = socket.parser;
    if (parser == null || socket._httpMessage !== res || this.pipelined.has(socket)) return false;
    const found: [string, (...args: unknown[]) => unknown][] = [];
    for (const [event, name] of SERVER_LISTENERS) {
      const listener = socket.rawListeners(event).find((l) => l.name === name);
      if (listener !== undefined) found.push([event, listener as (...args: unknown[]) => unknown]);
    }
    // data, end, close and error at least: without them this is not the layout detach knows.
    if (!['data', 'end', 'close', 'error'].every((e) => found.some(([event]) => event === e))) return false;
    for (const [event, listener] of found) socket.removeListener(event, listener);
    res.detachSocket(socket);
    freeParser(parser, null, socket);
    // Back to the prototype's methods, as node:http does itself (assigned, not deleted: deleting
    // properties would turn the socket into a dictionary-mode object, larger than what it saves).
    for (const key of SOCKET_OVERRIDES) {
      if (Object.prototype.hasOwnProperty.call(socket, key)) {
        (socket as unknown as Record<string, unknown>)[key] = (
          Socket.prototype as unknown as Record<string, unknown>
        )[key];
      }
    }
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('data', this.onData);
    return true;
  }

  /**
   * Ends a detached socket's stream once its last bytes are sent: the socket closes, or, when a
   * well-formed request was pipelined behind the stream, goes back to node:http to answer it.
   * Until then it is listed, so that a server shutting down can cut the ones whose clients do not
   * read (node:http's closeAllConnections no longer knows them).
   */
  end(socket: Socket): void {
    const s = socket as StreamSocket;
    const received = s[kReceived];
    const server = s.server;
    if (received?.complete === true && server !== undefined) {
      this.handBack(s, server, received.bytes);
      return;
    }
    if (s[kOwner] === undefined) s.on('close', this.onClose);
    this.ending.add(socket);
    socket.end();
  }

  /** Destroys every detached socket still sending its stream's last bytes; returns how many. */
  destroyEnding(): number {
    const n = this.ending.size;
    for (const socket of this.ending) socket.destroy();
    this.ending.clear();
    return n;
  }

  private received(socket: StreamSocket, chunk: Buffer): void {
    const before = socket[kReceived];
    const bytes = before === undefined ? chunk : Buffer.concat([before.bytes, chunk]);
    const verdict = checkRequestHead(bytes);
    if (verdict === 'more' && bytes.length > this.opts.maxHeaderBytes) {
      this.refuse(socket, 'headers_too_large');
    } else if (verdict === 'more') {
      socket[kReceived] = { bytes, complete: false };
    } else if (verdict === 'request') {
      // Whatever follows stays unread until node:http takes the socket back.
      socket[kReceived] = { bytes, complete: true };
      socket.pause();
    } else {
      this.refuse(socket, verdict);
    }
  }

  /** A refusal on an open stream: counted, and the socket destroyed (nothing written into it). */
  private refuse(socket: StreamSocket, reason: HttpRefusalReason): void {
    socket[kReceived] = undefined;
    this.opts.refused(reason);
    socket.destroy();
  }

  /** Gives the socket back to node:http, with the pipelined request it read, to be answered. */
  private handBack(socket: StreamSocket, server: Server, request: Buffer): void {
    socket.removeListener('error', onError);
    socket.removeListener('end', onEnd);
    socket.removeListener('data', this.onData);
    socket.removeListener('close', this.onClose);
    socket[kOwner] = undefined;
    socket[kReceived] = undefined;
    socket.unshift(request);
    server.emit('connection', socket);
    socket.resume();
  }
}

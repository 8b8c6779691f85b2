import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { EdgeControlPlane, History } from '@events-proxy/cluster';
import {
  BindError,
  READY_FRAME,
  errorFrame,
  names,
  parseBindingsQuery,
  retryField,
  type Binding,
  type BindingLimits,
} from '@events-proxy/protocol';
import { errorText, type Logger } from '@events-proxy/runtime';
import type { Admission, LimitRefusal } from './admission.js';
import { refusal, type AuthRefusal, type VerifiedToken } from './auth/token-verifier.js';
import { clientAddress } from './client-address.js';
import type { EdgeConfig } from './config.js';
import { errorEvent, type SseConnection } from './sse-connection.js';
import type { ConnectionRegistry } from './connection-registry.js';
import type { EdgeMetrics, RejectReason } from './metrics.js';
import { parseResumePoint, type ResumePoint } from './resume-point.js';
import { ReadyFrames, freshStart, resumedStart, type PlannedStart } from './stream-start.js';
import { OutFrame } from './writer.js';

export interface ConnectHandlerDeps {
  readonly config: EdgeConfig;
  /** Connect rate, token and per-client stream counts (DESIGN.md §3c). */
  readonly admission: Admission;
  readonly connections: ConnectionRegistry;
  readonly controlPlane: EdgeControlPlane;
  readonly history: History;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  readonly isDraining: () => boolean;
}

/** The client protocol a connect route speaks: v1 (DESIGN.md §3) or resumable v2 (§3b). */
export type ProtocolVersion = 1 | 2;

export type ConnectHandler = (req: IncomingMessage, res: ServerResponse, version: ProtocolVersion) => void;

export const SHUTTING_DOWN_MESSAGE = 'Server is shutting down; please reconnect';

/** v1 streams of an edge that lost its bus (Redis) for BUS_LOSS_GRACE_SECONDS. */
export const BUS_LOST_MESSAGE = 'Server lost its message bus; please reconnect';

const STREAM_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache',
  'X-Accel-Buffering': 'no',
  Connection: 'keep-alive',
} as const;

const READY = new OutFrame(Buffer.from(READY_FRAME));

const QUERY_KEYS: Record<ProtocolVersion, readonly string[]> = { 1: ['bindings'], 2: ['bindings', 'since'] };

/** A binding that could not be put in place, and why. */
class BindingFailed extends Error {
  constructor(
    readonly binding: Binding,
    readonly reason: unknown,
  ) {
    super(
      reason instanceof BindError
        ? reason.message
        : `Could not put the binding (${binding.exchange}, ${binding.routingKeyPattern}) in place: ${errorText(reason)}`,
    );
  }
}

/** A step of a v2 stream's start that failed for a reason a retry may fix. */
class StartFailed extends Error {}

const historyFailed = (err: unknown): never => {
  throw new StartFailed(`Could not read the message history: ${errorText(err)}; retry shortly`);
};

/**
 * GET …/v1/connect and …/v2/connect: the client protocol of DESIGN.md §3 and §3b. HTTP-level
 * refusals first (204 for a browser's automatic reconnect, 400 for an unknown query key, 503 when
 * full or, on v1, draining); then the stream, where every problem is an `error` event followed by
 * the end of the stream.
 */
export function createConnectHandler(deps: ConnectHandlerDeps): ConnectHandler {
  const { config, connections, metrics, logger, history, admission } = deps;
  const channelOf = names(config.keyPrefix).channel;
  const v2Ready = new ReadyFrames(config.pingIntervalSeconds);
  const limits: BindingLimits = {
    maxBindings: config.maxBindingsPerConnection,
    allowedExchangePrefixes: config.allowedExchangePrefixes,
  };

  const refuse = (res: ServerResponse, status: number, reason: RejectReason | undefined, body: object) => {
    if (reason) metrics.rejected.inc({ reason });
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      ...(reason === 'draining' ? { Connection: 'close' } : {}),
    });
    res.end(text);
  };

  const openStream = (res: ServerResponse): void => {
    res.writeHead(200, STREAM_HEADERS);
    res.flushHeaders();
  };

  /** A jittered `retry:` field, so a drained or killed edge's clients come back spread out. */
  const retryPreamble = (): string => retryField(config.sseRetryMs * (1 + Math.random()));

  /** Ends a stream that never became a connection with a terminal `error` event. */
  const refuseInStream = (
    res: ServerResponse,
    version: ProtocolVersion,
    reason: RejectReason,
    message: string,
  ) => {
    const frame = Buffer.from((version === 2 ? retryPreamble() : '') + errorFrame(message));
    if (!res.headersSent) res.writeHead(200, STREAM_HEADERS);
    metrics.rejected.inc({ reason });
    metrics.closes.inc({ reason: 'limit' });
    metrics.bytesSent.inc(frame.length);
    res.end(frame);
  };

  const bindAndStart = async (
    conn: SseConnection,
    subscribed: Promise<void>,
    resume: ResumePoint | undefined,
  ): Promise<void> => {
    let planned: PlannedStart | undefined;
    try {
      await subscribed;
      if (conn.isClosed) return;
      await Promise.all(
        conn.bindings.map((b) =>
          deps.controlPlane.ensure(b, config.bindTimeoutMs).catch((err: unknown) => {
            throw new BindingFailed(b, err);
          }),
        ),
      );
      if (conn.isClosed) return;
      if (conn.resumable) {
        // A fresh v2 stream starts at the newest position, read once its channels are subscribed
        // (every message after it reaches the connection live) and its bindings are in place (a
        // binding new to the broker begins its history at the newest position then: a resume from
        // this start is no gap).
        planned =
          resume === undefined
            ? freshStart(v2Ready, await history.newest().catch(historyFailed))
            : await resumedStart(v2Ready, history, conn.channels, resume, Date.now()).catch(historyFailed);
      }
    } catch (err) {
      if (conn.isClosed) return;
      fail(conn, err);
      return;
    }
    if (conn.isClosed) return;
    if (planned === undefined) {
      connections.ready(conn, READY);
      return;
    }
    const sent = connections.start(conn, planned.start);
    if (sent === undefined || resume === undefined) return;
    metrics.resumes.inc({ result: planned.gap ? 'gap' : 'lossless' });
    if (planned.gap) metrics.gaps.inc();
    metrics.replayed.inc(planned.start.replay.length);
    logger.debug('stream resumed', {
      conn: conn.id,
      from: resume.from,
      gap: planned.gap,
      replayed: planned.start.replay.length,
    });
  };

  const fail = (conn: SseConnection, err: unknown): void => {
    const failed = err instanceof BindingFailed ? err : undefined;
    const message =
      failed !== undefined || err instanceof StartFailed
        ? (err as Error).message
        : `Could not subscribe to the message bus: ${errorText(err)}`;
    const code = failed?.reason instanceof BindError ? failed.reason.code : undefined;
    logger.warn(failed ? 'binding failed' : 'stream could not start', {
      conn: conn.id,
      ...(failed
        ? { exchange: failed.binding.exchange, routingKeyPattern: failed.binding.routingKeyPattern }
        : {}),
      code,
      error: message,
    });
    metrics.rejected.inc({ reason: 'bind_failed' });
    // An exchange that does not exist stays so on a retry; the broker or bus being away does not.
    conn.close('error', errorEvent(message, code !== 'ExchangeNotFound'));
  };

  /** A per-client limit: 429 with Retry-After, before any stream (a browser's EventSource gives up). */
  const tooMany = (res: ServerResponse, refused: LimitRefusal): void => {
    logger.debug('connection refused', { reason: refused.reason });
    res.setHeader('Retry-After', String(refused.retryAfterSeconds));
    refuse(res, 429, refused.reason, { code: 'TooManyRequests', message: refused.message });
  };

  /** The connect query keys: `access_token` too when tokens are required. */
  const queryKeys = (version: ProtocolVersion): readonly string[] =>
    admission.requiresToken ? [...QUERY_KEYS[version], 'access_token'] : QUERY_KEYS[version];

  const handle = async (
    req: IncomingMessage,
    res: ServerResponse,
    version: ProtocolVersion,
  ): Promise<void> => {
    const openedAt = performance.now();
    if (req.method === 'HEAD') {
      // Express routes HEAD to GET handlers; a HEAD response has no body, so no stream either.
      res.writeHead(200, STREAM_HEADERS);
      res.end();
      return;
    }
    const header = req.headers['last-event-id'];
    const lastEventId = Array.isArray(header) ? header[0] : header;
    if (lastEventId !== undefined && lastEventId !== '' && (version === 1 || lastEventId === '-')) {
      // A browser's automatic reconnect after the server ended the stream for good: stop it.
      res.writeHead(204);
      res.end();
      return;
    }
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const accepted = queryKeys(version);
    const unknownKeys = [...new Set(params.keys())].filter((k) => !accepted.includes(k));
    if (unknownKeys.length > 0) {
      const list = unknownKeys.map((k) => `\`${k}\``).join(', ');
      const acceptedList = accepted
        .map((k) => `\`${k}\``)
        .join(', ')
        .replace(/, ([^,]*)$/, ' and $1');
      refuse(res, 400, 'bad_request', {
        code: 'InvalidRequestArguments',
        message: `Unknown query parameter${unknownKeys.length > 1 ? 's' : ''} ${list}: only ${acceptedList} ${accepted.length > 1 ? 'are' : 'is'} accepted`,
      });
      return;
    }
    if (refusedAtCapacity(res, version)) return;

    // Every check that waits (on the limits' store, on a signature) comes before the stream exists,
    // so a refused client holds nothing: no binding asked for, no lease, no subscription, no count.
    // Only the per-client limits need it (reading the peer's address is a system call).
    const address = (): string => clientAddress(req, config.clientLimits.trustProxyHops);
    const gone = (): boolean => req.socket.destroyed;
    // Whether a check waited: the edge may have filled up or begun draining meanwhile.
    let waited = false;
    if (admission.limitsConnectRate) {
      waited = true;
      const refused = await admission.takeConnect(address());
      if (gone()) return;
      if (refused) return tooMany(res, refused);
    }
    let token: VerifiedToken | undefined;
    if (admission.requiresToken) {
      waited = true;
      const checked = await admission.authenticate(req, params);
      if (gone()) return;
      if (checked !== undefined && !checked.ok) return refuseUnauthorized(res, version, checked);
      token = checked;
    }
    const values = params.getAll('bindings');
    const parsed =
      values.length > 1
        ? { ok: false as const, message: 'The `bindings` query parameter must be given once' }
        : parseBindingsQuery(values[0], limits);
    if (!parsed.ok) {
      logger.info('connection refused', { reason: 'bindings', error: parsed.message });
      refuseInStream(res, version, 'bindings', parsed.message);
      return;
    }
    const notGranted = token?.grants.firstRefused(parsed.bindings);
    if (notGranted !== undefined) {
      return refuseUnauthorized(
        res,
        version,
        refusal('not_granted', `the token does not grant the exchange ${JSON.stringify(notGranted)}`),
      );
    }
    const resumeParse =
      version === 2
        ? parseResumePoint(lastEventId, params.getAll('since'))
        : { ok: true as const, resume: undefined };
    if (!resumeParse.ok) {
      logger.info('connection refused', { reason: 'cursor', error: resumeParse.message });
      refuseInStream(res, version, 'cursor', resumeParse.message);
      return;
    }
    let releaseLimits: (() => void) | undefined;
    if (admission.countsStreams(token)) {
      waited = true;
      const held = await admission.holdStream(address(), token);
      if (!held.ok) return tooMany(res, held);
      releaseLimits = held.release;
      if (gone()) return releaseLimits?.();
    }
    if (waited && refusedAtCapacity(res, version)) return releaseLimits?.();

    openStream(res);
    const channels = parsed.bindings.map(channelOf);
    const { conn, subscribed } = connections.add(res, parsed.bindings, channels, openedAt, version === 2);
    conn.releaseLimits = releaseLimits;
    if (token?.expiresAt !== undefined) conn.expiresAt = token.expiresAt;
    if (version === 2) {
      conn.preamble(new OutFrame(Buffer.from(retryPreamble())));
      if (resumeParse.resume !== undefined) conn.startingCursor = resumeParse.resume.after;
    }
    if (res.socket === null || res.socket.destroyed) conn.clientGone();
    void bindAndStart(conn, subscribed, resumeParse.resume);
  };

  /** 503 when this edge is full, and (v1: 503; v2: 200 and `retry:`) while it drains. */
  const refusedAtCapacity = (res: ServerResponse, version: ProtocolVersion): boolean => {
    if (connections.size >= config.maxConnections) {
      logger.debug('connection refused', { reason: 'max_connections', open: connections.size });
      refuse(res, 503, 'max_connections', {
        code: 'TooManyConnections',
        message: `This server is at its limit of ${config.maxConnections} connections; please retry later`,
      });
      return true;
    }
    if (!deps.isDraining()) return false;
    if (version === 2) {
      // A browser gives up on a 503, so a v2 client is told to come back (through another edge,
      // once this one is out of the load balancer) with its Last-Event-ID, and nothing else.
      metrics.rejected.inc({ reason: 'draining' });
      res.writeHead(200, { ...STREAM_HEADERS, Connection: 'close' });
      res.end(retryPreamble());
      return true;
    }
    refuse(res, 503, 'draining', { code: 'ShuttingDown', message: SHUTTING_DOWN_MESSAGE });
    return true;
  };

  const refuseUnauthorized = (res: ServerResponse, version: ProtocolVersion, refused: AuthRefusal): void => {
    metrics.authRefusals.inc({ reason: refused.reason });
    logger.info('connection refused', {
      reason: 'unauthorized',
      auth: refused.reason,
      error: refused.message,
    });
    refuseInStream(res, version, 'unauthorized', refused.message);
  };

  const run = (req: IncomingMessage, res: ServerResponse, version: ProtocolVersion): void => {
    handle(req, res, version).catch((err: unknown) => {
      logger.error('connect failed', { error: errorText(err) });
      res.destroy();
    });
  };

  return (req, res, version) => {
    if (res.socket !== null) return run(req, res, version);
    // Pipelined behind a response still being sent on this socket (an open stream, say): Node
    // queues this response until that one ends. Serve it then, as its own stream; a stream opened
    // now would be held (counted, bound, renewed) without anything reaching its client.
    const onSocket = (): void => {
      req.socket.off('close', onClose);
      run(req, res, version);
    };
    const onClose = (): void => {
      res.off('socket', onSocket);
    };
    res.once('socket', onSocket);
    req.socket.once('close', onClose);
    // The stream ahead stays with node:http, which hands this response the socket when it ends.
    connections.sockets.markPipelined(req.socket);
  };
}

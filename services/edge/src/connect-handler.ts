import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { EdgeControlPlane } from '@events-proxy/cluster';
import {
  BindError,
  READY_FRAME,
  errorFrame,
  names,
  parseBindingsQuery,
  type Binding,
  type BindingLimits,
} from '@events-proxy/protocol';
import { errorText, type Logger } from '@events-proxy/runtime';
import type { EdgeConfig } from './config.js';
import { errorEvent, type SseConnection } from './sse-connection.js';
import type { ConnectionRegistry } from './connection-registry.js';
import type { EdgeMetrics, RejectReason } from './metrics.js';
import { OutFrame } from './writer.js';

export interface ConnectHandlerDeps {
  readonly config: EdgeConfig;
  readonly connections: ConnectionRegistry;
  readonly controlPlane: EdgeControlPlane;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
  readonly isDraining: () => boolean;
}

export const SHUTTING_DOWN_MESSAGE = 'Server is shutting down; please reconnect';

const STREAM_HEADERS = {
  'Content-Type': 'text/event-stream',
  'Cache-Control': 'no-cache',
  'X-Accel-Buffering': 'no',
  Connection: 'keep-alive',
} as const;

const READY = new OutFrame(Buffer.from(READY_FRAME));

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

/**
 * GET …/v1/connect: the client protocol of DESIGN.md §3. HTTP-level refusals first (204 for a
 * browser's automatic reconnect, 400 for an unknown query key, 503 when full or draining); then
 * the stream, where every problem is an `error` event followed by the end of the stream.
 */
export function createConnectHandler(
  deps: ConnectHandlerDeps,
): (req: IncomingMessage, res: ServerResponse) => void {
  const { config, connections, metrics, logger } = deps;
  const channelOf = names(config.keyPrefix).channel;
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

  const bindAndReady = async (conn: SseConnection, subscribed: Promise<void>): Promise<void> => {
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
    } catch (err) {
      if (conn.isClosed) return;
      const failed = err instanceof BindingFailed ? err : undefined;
      const message = failed ? failed.message : `Could not subscribe to the message bus: ${errorText(err)}`;
      logger.warn('binding failed', {
        conn: conn.id,
        ...(failed
          ? { exchange: failed.binding.exchange, routingKeyPattern: failed.binding.routingKeyPattern }
          : {}),
        code: failed?.reason instanceof BindError ? failed.reason.code : undefined,
        error: message,
      });
      metrics.rejected.inc({ reason: 'bind_failed' });
      conn.close('error', errorEvent(message));
      return;
    }
    if (!conn.isClosed) connections.ready(conn, READY);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const openedAt = performance.now();
    if (req.method === 'HEAD') {
      // Express routes HEAD to GET handlers; a HEAD response has no body, so no stream either.
      res.writeHead(200, STREAM_HEADERS);
      res.end();
      return;
    }
    const lastEventId = req.headers['last-event-id'];
    if (lastEventId !== undefined && lastEventId !== '') {
      // A browser's automatic reconnect after the server ended the stream: stop it.
      res.writeHead(204);
      res.end();
      return;
    }
    const url = req.url ?? '';
    const q = url.indexOf('?');
    const params = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
    const unknownKeys = [...new Set(params.keys())].filter((k) => k !== 'bindings');
    if (unknownKeys.length > 0) {
      const list = unknownKeys.map((k) => `\`${k}\``).join(', ');
      refuse(res, 400, 'bad_request', {
        code: 'InvalidRequestArguments',
        message: `Unknown query parameter${unknownKeys.length > 1 ? 's' : ''} ${list}: only \`bindings\` is accepted`,
      });
      return;
    }
    if (connections.size >= config.maxConnections) {
      logger.debug('connection refused', { reason: 'max_connections', open: connections.size });
      refuse(res, 503, 'max_connections', {
        code: 'TooManyConnections',
        message: `This server is at its limit of ${config.maxConnections} connections; please retry later`,
      });
      return;
    }
    if (deps.isDraining()) {
      refuse(res, 503, 'draining', { code: 'ShuttingDown', message: SHUTTING_DOWN_MESSAGE });
      return;
    }

    res.writeHead(200, STREAM_HEADERS);
    res.flushHeaders();
    const values = params.getAll('bindings');
    const parsed =
      values.length > 1
        ? { ok: false as const, message: 'The `bindings` query parameter must be given once' }
        : parseBindingsQuery(values[0], limits);
    if (!parsed.ok) {
      logger.info('connection refused', { reason: 'bindings', error: parsed.message });
      const frame = Buffer.from(errorFrame(parsed.message));
      metrics.rejected.inc({ reason: 'bindings' });
      metrics.closes.inc({ reason: 'limit' });
      metrics.bytesSent.inc(frame.length);
      res.end(frame);
      return;
    }

    const channels = parsed.bindings.map(channelOf);
    const { conn, subscribed } = connections.add(res, parsed.bindings, channels, openedAt);
    if (res.socket === null || res.socket.destroyed) conn.clientGone();
    void bindAndReady(conn, subscribed);
  };

  return (req, res) => {
    if (res.socket !== null) return handle(req, res);
    // Pipelined behind a response still being sent on this socket (an open stream, say): Node
    // queues this response until that one ends. Serve it then, as its own stream; a stream opened
    // now would be held (counted, bound, renewed) without anything reaching its client.
    const onSocket = (): void => {
      req.socket.off('close', onClose);
      handle(req, res);
    };
    const onClose = (): void => {
      res.off('socket', onSocket);
    };
    res.once('socket', onSocket);
    req.socket.once('close', onClose);
  };
}

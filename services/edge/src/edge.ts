import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import {
  EdgeControlPlane,
  type BindQueue,
  type Bus,
  type ClientLimits,
  type EdgeLoads,
  type History,
  type LeaseStore,
} from '@events-proxy/cluster';
import type { Logger, ReadinessCheck } from '@events-proxy/runtime';
import { Admission } from './admission.js';
import { createRequestListener } from './app.js';
import type { EdgeConfig } from './config.js';
import { BUS_LOST_MESSAGE, SHUTTING_DOWN_MESSAGE, createConnectHandler } from './connect-handler.js';
import { BusLossWatch } from './bus-loss-watch.js';
import { errorEvent, type ErrorEvent } from './sse-connection.js';
import { ConnectionRegistry } from './connection-registry.js';
import { clientErrorListener, connectMethodListener } from './http-refusals.js';
import { Hub } from './hub.js';
import { loadClientScript } from './client-script.js';
import { loadInspectorFiles } from './inspector.js';
import { createEdgeMetrics } from './metrics.js';
import { Rebalancer } from './rebalancer.js';
import { StreamSockets } from './stream-socket.js';
import { TimerWheel } from './timer-wheel.js';

export interface EdgeDeps {
  readonly config: EdgeConfig;
  readonly bus: Bus;
  readonly store: LeaseStore;
  readonly bindQueue: BindQueue;
  /** Cursors and retained messages, for v2 streams (the drivers' `history`). */
  readonly history: History;
  /** Per-client stream counts and connect rates, shared by every edge (the drivers' `clientLimits`). */
  readonly clientLimits: ClientLimits;
  /** Every edge's stream counts, for rebalancing the tier (the drivers' `edgeLoads`). */
  readonly edgeLoads: EdgeLoads;
  /** Whether every driver is connected (the drivers' `isConnected`): the `redis` readiness check. */
  readonly isConnected: () => boolean;
  readonly logger: Logger;
  readonly registry: Registry;
}

/** What the edge holds now (for diagnostics and tests). */
export interface EdgeStats {
  /** Open streams, binding or ready. */
  readonly connections: number;
  readonly busSubscriptions: number;
  /** Distinct bindings some local connection holds (and whose leases this edge renews). */
  readonly heldBindings: number;
}

export interface Edge {
  /** Starts serving clients; port 0 picks a free one. Defaults to PORT. */
  listen(port?: number): Promise<{ port: number }>;
  /**
   * Graceful stop: newcomers are refused and readiness turns false at once; open streams are ended
   * spread over DRAIN_SECONDS (v1 with an `error` event, v2 without one: those clients resume
   * through another edge); then the server stops listening.
   */
  drain(): Promise<void>;
  /** Immediate stop: closes whatever is still open and stops the timers. Does not close the drivers. */
  close(): Promise<void>;
  readiness(): ReadinessCheck[];
  stats(): EdgeStats;
}

/** Batches a drain closes streams in, at most ten per second: clients do not all reconnect at once. */
const DRAIN_STEP_MS = 100;

/**
 * How often Node looks for requests past HEADERS_TIMEOUT_SECONDS (its default, 30 s, would let a
 * slowloris client hold a socket 30 s past the limit). It only walks requests still arriving.
 */
const HEADERS_CHECK_INTERVAL_MS = 1000;

/**
 * Node's limit on receiving a whole request. A stream's GET has no body, so once its head is in this
 * never applies to it; it only has to be at least the headers timeout, which Node requires.
 */
const REQUEST_TIMEOUT_MS = 300_000;

/** The edge role, with every dependency injected (main.ts and single-node mode compose it). */
export function createEdge(deps: EdgeDeps): Edge {
  const { config, bus, store, bindQueue, logger } = deps;
  let draining = false;
  let drained: Promise<void> | undefined;

  const controlPlane = new EdgeControlPlane({
    store,
    bindQueue,
    leaseMs: config.bindingLeaseMs,
    onRenewError: (err) => logger.warn('lease renewal failed', { error: err }),
    onRebind: (b, err) => {
      const fields = { exchange: b.exchange, routingKeyPattern: b.routingKeyPattern };
      if (err === undefined) logger.info('binding restored after its lease was lost', fields);
      else
        logger.warn('could not restore a binding whose lease was lost; retrying', { ...fields, error: err });
    },
  });
  const metrics = createEdgeMetrics(deps.registry, {
    connections: () => connections.size,
    busSubscriptions: () => hub.subscriptions,
  });
  const hub = new Hub(
    bus,
    {
      delivered(count, bytes, lagSeconds) {
        metrics.messagesSent.inc(count);
        metrics.bytesSent.inc(bytes);
        metrics.deliveryLagSeconds.observe(lagSeconds);
      },
      late() {
        metrics.lateMessages.inc();
      },
    },
    logger,
    {
      history: deps.history,
      onCatchUp(_channel, replayed, gap) {
        metrics.busCatchUps.inc({ result: gap ? 'gap' : 'lossless' });
        metrics.busCatchUpMessages.inc(replayed);
      },
    },
  );
  const timerWheel = new TimerWheel({
    pingIntervalSeconds: config.pingIntervalSeconds,
    idleTimeoutSeconds: config.idleTimeoutSeconds,
    onPings: (_count, bytes) => metrics.bytesSent.inc(bytes),
  });
  const streamSockets = new StreamSockets({
    maxHeaderBytes: config.maxRequestHeaderBytes,
    refused: (reason) => metrics.httpRefusals.inc({ reason }),
  });
  if (!StreamSockets.supported) {
    logger.warn(
      'streams stay with node:http: this Node lacks _http_common.freeParser (more memory per connection)',
    );
  }
  const connections = new ConnectionRegistry({
    sockets: streamSockets,
    hub,
    controlPlane,
    timerWheel,
    metrics,
    logger,
    maxBufferedBytes: config.maxBufferedBytes,
    maxStreamMs: config.rebalance.maxStreamMs,
  });
  const rebalancer = new Rebalancer({
    loads: deps.edgeLoads,
    config: config.rebalance,
    lossless: deps.history.retention.retentionMs > 0,
    counts: () => connections.counts(),
    isReady: () => !draining && deps.isConnected(),
    shed: (n, minAgeMs) => connections.shed(n, minAgeMs, 'rebalance'),
    metrics,
    logger,
  });
  const admission = new Admission({ config, limits: deps.clientLimits, metrics, logger });
  // One copy of the client library's browser build: served at /client/events-proxy-client.js, and
  // its version is what the inspector's script imports.
  const clientScript = loadClientScript();
  const listener = createRequestListener({
    corsOrigins: config.corsOrigins,
    corsCredentials: config.auth.mode === 'jwt',
    connect: createConnectHandler({
      config,
      admission,
      connections,
      controlPlane,
      history: deps.history,
      metrics,
      logger,
      isDraining: () => draining,
    }),
    uptimeSeconds: () => process.uptime(),
    clientScript,
    ...(config.inspectorEnabled ? { inspector: loadInspectorFiles(clientScript) } : {}),
  });
  const server = http.createServer(
    {
      noDelay: true,
      maxHeaderSize: config.maxRequestHeaderBytes,
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: Math.max(REQUEST_TIMEOUT_MS, config.headersTimeoutMs),
      connectionsCheckingInterval: Math.min(HEADERS_CHECK_INTERVAL_MS, config.headersTimeoutMs),
    },
    listener,
  );
  const httpLimits = {
    maxHeaderBytes: config.maxRequestHeaderBytes,
    headersTimeoutMs: config.headersTimeoutMs,
  };
  server.on('clientError', clientErrorListener(httpLimits, metrics.httpRefusals));
  server.on('connect', connectMethodListener(metrics.httpRefusals));
  const shutdownError = errorEvent(SHUTTING_DOWN_MESSAGE, true);

  controlPlane.start();
  timerWheel.start();
  rebalancer.start();
  const busLoss = new BusLossWatch({
    isConnected: () => bus.isConnected(),
    graceMs: config.busLossGraceMs,
    onLost: () => void endStreamsForBusLoss(),
  });

  const stopServer = async (graceMs: number): Promise<void> => {
    if (!server.listening) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    // Ended streams still flushing to a slow reader get a moment, then are cut.
    const cut = setTimeout(() => {
      server.closeAllConnections();
      streamSockets.destroyEnding();
    }, graceMs);
    await closed;
    clearTimeout(cut);
  };

  const stopTimers = (): void => {
    void rebalancer.stop();
    busLoss.stop();
    timerWheel.stop();
    controlPlane.stop();
    admission.close();
  };

  /** Ends every open stream, spread over DRAIN_SECONDS: v2 to resume elsewhere, v1 with `error`. */
  const closeStreamsSpread = async (reason: 'shutdown' | 'bus_lost', v1Error: ErrorEvent): Promise<void> => {
    const open = connections.list();
    const steps = Math.max(1, Math.min(open.length, Math.floor(config.drainMs / DRAIN_STEP_MS)));
    const perStep = Math.ceil(open.length / steps);
    const pause = config.drainMs / steps;
    for (let i = 0; i < open.length; i += perStep) {
      for (const conn of open.slice(i, i + perStep)) {
        if (conn.resumable) conn.endForResume(reason);
        else conn.close(reason, v1Error);
      }
      if (i + perStep < open.length) await sleep(pause);
    }
  };

  const busLostError = errorEvent(BUS_LOST_MESSAGE, true);
  let shedding: Promise<void> | undefined;
  /**
   * The bus has been down for BUS_LOSS_GRACE_SECONDS: these streams receive nothing, so they end
   * and their clients come back through an edge that has a bus (readiness is false here, so a
   * Service sends them elsewhere). New streams are still accepted once the bus is back.
   */
  const endStreamsForBusLoss = (): Promise<void> =>
    (shedding ??= (async () => {
      logger.warn('bus down too long; ending streams so their clients move to another edge', {
        connections: connections.size,
        busLossGraceSeconds: config.busLossGraceMs / 1000,
      });
      await closeStreamsSpread('bus_lost', busLostError);
    })().finally(() => (shedding = undefined)));

  return {
    listen(port = config.port) {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port, backlog: config.listenBacklog }, () => {
          server.off('error', reject);
          const actual = (server.address() as AddressInfo).port;
          logger.info('edge listening', { port: actual });
          resolve({ port: actual });
        });
      });
    },

    drain() {
      draining = true;
      drained ??= (async () => {
        logger.info('draining', { connections: connections.size, drainSeconds: config.drainMs / 1000 });
        await closeStreamsSpread('shutdown', shutdownError);
        await stopServer(1000);
        stopTimers();
        await hub.settled();
        logger.info('drained');
      })();
      return drained;
    },

    async close() {
      draining = true;
      stopTimers();
      for (const conn of connections.list()) conn.close('shutdown', shutdownError);
      await stopServer(0);
      await hub.settled();
    },

    readiness() {
      return [
        { name: 'redis', ok: deps.isConnected },
        { name: 'draining', ok: () => !draining },
      ];
    },

    stats() {
      return {
        connections: connections.size,
        busSubscriptions: hub.subscriptions,
        heldBindings: controlPlane.heldCount,
      };
    },
  };
}

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { AUTH_REFUSAL_REASONS } from './auth/token-verifier.js';
import { HTTP_REFUSAL_REASONS } from './http-refusals.js';

/** Why a connection never became a live stream. */
export const REJECT_REASONS = [
  'max_connections',
  'draining',
  'bad_request',
  'bindings',
  'cursor',
  'bind_failed',
  'unauthorized',
  'connect_rate',
  'streams_per_ip',
  'streams_per_subject',
] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/**
 * Why the server ended a stream (with an `error` event first, except a v2 stream ended by a drain).
 * `limit`: refused inside the stream (bad bindings, a malformed cursor, a refused token); `error`: a binding could not be put
 * in place, or the bus or the history failed; `expired`: the connection's token reached its `exp`;
 * `rebalance`: a v2 stream moved off an edge above the tier's mean; `max_lifetime`: MAX_STREAM_SECONDS.
 */
export const CLOSE_REASONS = [
  'idle',
  'slow',
  'error',
  'shutdown',
  'limit',
  'expired',
  'bus_lost',
  'rebalance',
  'max_lifetime',
] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];

export interface EdgeMetrics {
  /** Connections that reached `ready`. */
  readonly connectionsTotal: Counter;
  readonly rejected: Counter<'reason'>;
  /** Requests the HTTP layer refused before any route saw them (malformed, too large, too slow). */
  readonly httpRefusals: Counter<'reason'>;
  readonly closes: Counter<'reason'>;
  readonly idleClosures: Counter;
  /** Streams the client ended (not counted as closes). */
  readonly disconnects: Counter;
  readonly messagesSent: Counter;
  readonly bytesSent: Counter;
  readonly deliveryLagSeconds: Histogram;
  readonly readySeconds: Histogram;
  /** v2 connections that asked to resume (Last-Event-ID or since), by result: lossless, gap. */
  readonly resumes: Counter<'result'>;
  readonly gaps: Counter;
  readonly replayed: Counter;
  /** Channels caught up from the history after a lost bus subscription, by result: lossless, gap. */
  readonly busCatchUps: Counter<'result'>;
  readonly busCatchUpMessages: Counter;
  /** Late bus messages dropped (a publish given up on that ran later; see LATE_MS in hub.ts). */
  readonly lateMessages: Counter;
  /** AUTH_MODE=jwt: tokens refused, by why (all also counted as rejected{reason="unauthorized"}). */
  readonly authRefusals: Counter<'reason'>;
  /** Calls to the per-client limits' store that failed (the connect was let through). */
  readonly clientLimitErrors: Counter;
  /** Ready edges this edge saw in the tier at its last look, itself included (0: not looked yet). */
  readonly tierEdges: Gauge;
  /** The mean streams per ready edge this edge saw at its last look. */
  readonly tierMeanStreams: Gauge;
}

export const RESUME_RESULTS = ['lossless', 'gap'] as const;

export interface EdgeMetricSources {
  /** Open SSE streams, binding or ready. */
  readonly connections: () => number;
  /** Channels this edge is subscribed to on the bus. */
  readonly busSubscriptions: () => number;
}

/**
 * The edge role's metrics (DESIGN.md §6). Default process metrics and events_redis_connected are
 * registered by the composition root, once per process. Label values are fixed sets, never
 * exchange names or addresses.
 */
export function createEdgeMetrics(registry: Registry, sources: EdgeMetricSources): EdgeMetrics {
  const registers = [registry];
  new Gauge({
    name: 'events_edge_connections',
    help: 'Open SSE streams (including those still waiting for their bindings).',
    registers,
    collect() {
      this.set(sources.connections());
    },
  });
  new Gauge({
    name: 'events_edge_bus_subscriptions',
    help: 'Bus channels (one per distinct binding among local clients) this edge is subscribed to.',
    registers,
    collect() {
      this.set(sources.busSubscriptions());
    },
  });
  const rejected = new Counter({
    name: 'events_edge_connections_rejected_total',
    help: 'Connections that did not become a live stream, by reason: max_connections, draining (503), bad_request (400), bindings (bad bindings value), cursor (a Last-Event-ID or since this installation cannot have made), bind_failed (a binding could not be put in place), unauthorized (AUTH_MODE=jwt: token missing, invalid or not granting an exchange), connect_rate, streams_per_ip, streams_per_subject (429: a per-client limit).',
    labelNames: ['reason'] as const,
    registers,
  });
  const closes = new Counter({
    name: 'events_edge_closes_total',
    help: 'Streams ended by the server, by reason: idle, slow, error, shutdown, limit (refused inside the stream: bindings, cursor, token), expired (the token reached its exp), bus_lost (the edge lost Redis for BUS_LOSS_GRACE_SECONDS: its clients move to another edge), rebalance (a v2 stream moved off an edge above the tier mean by more than REBALANCE_TOLERANCE), max_lifetime (a v2 stream reached MAX_STREAM_SECONDS); with an error event, except v2 streams ended by a drain, a bus loss, a rebalance or their lifetime.',
    labelNames: ['reason'] as const,
    registers,
  });
  const httpRefusals = new Counter({
    name: 'events_edge_http_refusals_total',
    help: 'Requests refused by the HTTP layer before routing, by reason: malformed (400), headers_too_large (431), headers_timeout (408), method (405).',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of REJECT_REASONS) rejected.inc({ reason }, 0);
  for (const reason of HTTP_REFUSAL_REASONS) httpRefusals.inc({ reason }, 0);
  for (const reason of CLOSE_REASONS) closes.inc({ reason }, 0);
  const resumes = new Counter({
    name: 'events_edge_resumes_total',
    help: 'v2 connections that resumed from a cursor or a time (Last-Event-ID or since), by result: lossless, gap.',
    labelNames: ['result'] as const,
    registers,
  });
  for (const result of RESUME_RESULTS) resumes.inc({ result }, 0);
  const busCatchUps = new Counter({
    name: 'events_edge_bus_catch_ups_total',
    help: 'Channels that caught up from the history after the bus lost their subscription, by result: lossless (the history held everything missed), gap (it could not prove it: v2 streams got `gap`).',
    labelNames: ['result'] as const,
    registers,
  });
  for (const result of RESUME_RESULTS) busCatchUps.inc({ result }, 0);
  const authRefusals = new Counter({
    name: 'events_edge_auth_refusals_total',
    help: 'AUTH_MODE=jwt: connects refused for their token, by reason: missing, malformed, signature, expired, not_yet_valid, issuer, audience, not_granted (an exchange the token does not grant).',
    labelNames: ['reason'] as const,
    registers,
  });
  for (const reason of AUTH_REFUSAL_REASONS) authRefusals.inc({ reason }, 0);
  return {
    tierEdges: new Gauge({
      name: 'events_edge_tier_edges',
      help: 'Ready edges this edge saw in the tier (their stream counts in Redis) at its last look, itself included; 0 when it could not look.',
      registers,
    }),
    tierMeanStreams: new Gauge({
      name: 'events_edge_tier_mean_streams',
      help: 'The mean open streams per ready edge that this edge saw at its last look: an edge above it by more than REBALANCE_TOLERANCE sheds v2 streams back to it.',
      registers,
    }),
    authRefusals,
    clientLimitErrors: new Counter({
      name: 'events_edge_client_limit_errors_total',
      help: 'Checks of the per-client limits (connect rate, streams per address or subject) that failed because their store (Redis) did not answer; those connects were let through.',
      registers,
    }),
    resumes,
    gaps: new Counter({
      name: 'events_edge_gaps_total',
      help: '`gap` events sent: resumes whose continuity could not be proven (history trimmed, a binding off the broker meanwhile, history off), and live streams told that a lost bus subscription missed messages the history could not fill.',
      registers,
    }),
    busCatchUps,
    lateMessages: new Counter({
      name: 'events_edge_late_messages_dropped_total',
      help: 'Bus messages dropped because they were a second or more older than the newest their channel delivered: a publish an ingest gave up on (and handed to a standby) that ran late.',
      registers,
    }),
    busCatchUpMessages: new Counter({
      name: 'events_edge_bus_catch_up_messages_total',
      help: 'Messages a channel missed while its bus subscription was lost, delivered from the history once it was back (once per channel per edge).',
      registers,
    }),
    replayed: new Counter({
      name: 'events_edge_replayed_messages_total',
      help: 'Messages replayed from the history to resuming v2 connections (also counted in events_edge_messages_sent_total).',
      registers,
    }),
    connectionsTotal: new Counter({
      name: 'events_edge_connections_total',
      help: 'Connections accepted (that reached `ready`).',
      registers,
    }),
    rejected,
    httpRefusals,
    closes,
    idleClosures: new Counter({
      name: 'events_edge_idle_closures_total',
      help: 'Streams closed because no message arrived for IDLE_TIMEOUT_SECONDS.',
      registers,
    }),
    disconnects: new Counter({
      name: 'events_edge_disconnects_total',
      help: 'Streams ended by the client.',
      registers,
    }),
    messagesSent: new Counter({
      name: 'events_edge_messages_sent_total',
      help: '`message` events written to clients.',
      registers,
    }),
    bytesSent: new Counter({
      name: 'events_edge_bytes_sent_total',
      help: 'Bytes of SSE events written to clients (message, ping, ready and error frames).',
      registers,
    }),
    deliveryLagSeconds: new Histogram({
      name: 'events_edge_delivery_lag_seconds',
      help: 'From the ingest receiving a message to this edge writing it to its clients (once per message per edge).',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    readySeconds: new Histogram({
      name: 'events_edge_ready_seconds',
      help: 'From a connect request to its `ready` event.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
  };
}

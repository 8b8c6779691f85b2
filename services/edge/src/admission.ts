import type { IncomingMessage } from 'node:http';
import type { ClientLimits, StreamQuota } from '@events-proxy/cluster';
import { errorText, type Logger } from '@events-proxy/runtime';
import { KeyRing } from './auth/key-ring.js';
import { findToken } from './auth/token-source.js';
import { TokenVerifier, refusal, type AuthRefusal, type VerifiedToken } from './auth/token-verifier.js';
import type { EdgeConfig } from './config.js';
import type { EdgeMetrics, RejectReason } from './metrics.js';

/** A connect over a per-client limit: answered 429 with Retry-After. */
export interface LimitRefusal {
  readonly ok: false;
  readonly reason: Extract<RejectReason, 'connect_rate' | 'streams_per_ip' | 'streams_per_subject'>;
  readonly message: string;
  readonly retryAfterSeconds: number;
}

export type StreamHold = { readonly ok: true; readonly release: (() => void) | undefined } | LimitRefusal;

/**
 * A client at its stream limit can only connect once another of its streams ends: it is told to
 * wait this long (there is no time at which room is certain).
 */
export const STREAMS_RETRY_AFTER_SECONDS = 10;

/** At most one line per this long about the limits' store failing (it fails for every connect). */
const STORE_WARNING_INTERVAL_MS = 10_000;

export interface AdmissionDeps {
  readonly config: EdgeConfig;
  readonly limits: ClientLimits;
  readonly metrics: EdgeMetrics;
  readonly logger: Logger;
}

/**
 * Who may open a stream, before anything is held for it (DESIGN.md §3c): the per-address connect
 * rate, the token (AUTH_MODE=jwt), and the per-address and per-subject stream counts, the last two
 * held until the stream ends. Counts live in the cluster's ClientLimits, so they hold across edges.
 * When that store fails, connects are let through (counted and logged): the edge's own
 * MAX_CONNECTIONS still bounds it, and refusing every client while Redis is away would turn a
 * Redis outage into a full one.
 */
export class Admission {
  private readonly verifier: TokenVerifier | undefined;
  private readonly keys: KeyRing | undefined;
  private lastStoreWarning = 0;

  constructor(private readonly deps: AdmissionDeps) {
    const { auth } = deps.config;
    if (auth.mode === 'jwt') {
      this.keys = new KeyRing({
        secret: auth.jwtSecret,
        publicKeysFile: auth.publicKeysFile,
        reloadMs: auth.keysReloadMs,
        logger: deps.logger,
      });
      this.verifier = new TokenVerifier({
        keys: this.keys,
        issuer: auth.issuer,
        audience: auth.audience,
        clockSkewSeconds: auth.clockSkewSeconds,
      });
    }
  }

  /** AUTH_MODE=jwt: connects need a token, and `access_token` is a connect query key. */
  get requiresToken(): boolean {
    return this.verifier !== undefined;
  }

  get limitsConnectRate(): boolean {
    return this.deps.config.clientLimits.connectRatePerIp > 0;
  }

  /** Whether a stream from this request may be held against a per-client count. */
  countsStreams(token: VerifiedToken | undefined): boolean {
    const limits = this.deps.config.clientLimits;
    return limits.maxStreamsPerIp > 0 || (limits.maxStreamsPerSubject > 0 && token?.subjectKey !== undefined);
  }

  /** Takes one connect from the address's allowance; a refusal when it has none left. */
  async takeConnect(address: string): Promise<LimitRefusal | undefined> {
    const { connectRatePerIp, connectBurstPerIp } = this.deps.config.clientLimits;
    let waitMs: number;
    try {
      waitMs = await this.deps.limits.takeConnect(`ip:${address}`, connectRatePerIp, connectBurstPerIp);
    } catch (err) {
      this.storeFailed(err);
      return undefined;
    }
    if (waitMs <= 0) return undefined;
    return {
      ok: false,
      reason: 'connect_rate',
      message: `Too many connects from this address (at most ${connectRatePerIp} per second, ${connectBurstPerIp} at once); retry later`,
      retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)),
    };
  }

  /** The request's token, checked; undefined when AUTH_MODE=none. The token itself goes nowhere else. */
  async authenticate(
    req: IncomingMessage,
    params: URLSearchParams,
  ): Promise<VerifiedToken | AuthRefusal | undefined> {
    if (this.verifier === undefined) return undefined;
    const cookieName = this.deps.config.auth.cookieName;
    const found = findToken(req.headers, params, cookieName);
    if (found === undefined) {
      return refusal(
        'missing',
        `a token is required: send it as \`Authorization: Bearer <token>\`, in the \`${cookieName}\` cookie, or as the \`access_token\` query parameter`,
      );
    }
    if (found.token === undefined) return refusal('malformed', found.problem);
    return this.verifier.verify(found.token);
  }

  /** Counts one stream against the address's and the subject's limits, or says which is full. */
  async holdStream(address: string, token: VerifiedToken | undefined): Promise<StreamHold> {
    const { maxStreamsPerIp, maxStreamsPerSubject } = this.deps.config.clientLimits;
    const quotas: StreamQuota[] = [];
    if (maxStreamsPerIp > 0) quotas.push({ key: `ip:${address}`, limit: maxStreamsPerIp });
    if (maxStreamsPerSubject > 0 && token?.subjectKey !== undefined) {
      quotas.push({ key: `sub:${token.subjectKey}`, limit: maxStreamsPerSubject });
    }
    if (quotas.length === 0) return { ok: true, release: undefined };
    try {
      const grant = await this.deps.limits.acquireStream(quotas);
      if (grant.ok) return { ok: true, release: grant.release };
      const perIp = grant.full.key.startsWith('ip:');
      return {
        ok: false,
        reason: perIp ? 'streams_per_ip' : 'streams_per_subject',
        message: perIp
          ? `Too many open streams from this address (at most ${grant.full.limit}); close one and retry`
          : `Too many open streams for this token's subject (at most ${grant.full.limit}); close one and retry`,
        retryAfterSeconds: STREAMS_RETRY_AFTER_SECONDS,
      };
    } catch (err) {
      this.storeFailed(err);
      return { ok: true, release: undefined };
    }
  }

  close(): void {
    this.keys?.close();
  }

  private storeFailed(err: unknown): void {
    this.deps.metrics.clientLimitErrors.inc();
    const now = Date.now();
    if (now - this.lastStoreWarning < STORE_WARNING_INTERVAL_MS) return;
    this.lastStoreWarning = now;
    this.deps.logger.warn('per-client limits unavailable; letting connects through', {
      error: errorText(err),
    });
  }
}

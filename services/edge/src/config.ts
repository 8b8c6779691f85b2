import { roleConfig, type CommonConfig, type EnvReader } from '@events-proxy/runtime';

export interface EdgeConfig extends CommonConfig {
  /** HTTP port of the client-facing server. */
  readonly port: number;
  /** A `ping` event goes to every ready connection this often. */
  readonly pingIntervalSeconds: number;
  /** A ready connection with no `message` for this long is closed; 0 turns it off. */
  readonly idleTimeoutSeconds: number;
  readonly maxBindingsPerConnection: number;
  /** Open streams beyond this are answered 503. */
  readonly maxConnections: number;
  /** Exchange name prefixes a client may bind to; empty allows every exchange. */
  readonly allowedExchangePrefixes: readonly string[];
  /** `*` (any origin), or the origins echoed back in Access-Control-Allow-Origin. */
  readonly corsOrigins: readonly string[];
  /** How long a connection waits for its bindings to be put in place before it gets `error`. */
  readonly bindTimeoutMs: number;
  /** A client whose unsent bytes would pass this is closed as too slow. */
  readonly maxBufferedBytes: number;
  /** On shutdown, open streams are closed spread over this long. */
  readonly drainMs: number;
  /**
   * BUS_LOSS_GRACE_SECONDS in ms: an edge whose bus has been down this long ends its streams (v1 with
   * a retryable error, v2 to resume) so their clients come back through an edge that has one.
   */
  readonly busLossGraceMs: number;
  /** Most bytes of a request line (query string included) plus headers; more is answered 431. */
  readonly maxRequestHeaderBytes: number;
  /** A request whose head has not fully arrived after this long is answered 408 (slowloris). */
  readonly headersTimeoutMs: number;
  /** Connections the kernel queues for accept() (capped by net.core.somaxconn). */
  readonly listenBacklog: number;
  /**
   * The v2 `retry:` field: a browser reconnects this long (ms) after its stream ends, jittered per
   * connection between 1× and 2× so the clients of a killed edge do not all come back at once.
   */
  readonly sseRetryMs: number;
  /** Whether `/` and `/inspector/` serve the live inspector page (else only the API answers). */
  readonly inspectorEnabled: boolean;
  /** Who may connect, and to what (DESIGN.md §3c). */
  readonly auth: AuthConfig;
  /** Per-client limits that hold across every edge of the installation. */
  readonly clientLimits: ClientLimitsConfig;
  /** How the edge tier keeps its streams spread over its edges (DESIGN.md §3e). */
  readonly rebalance: RebalanceConfig;
}

export interface RebalanceConfig {
  /**
   * REBALANCE_TOLERANCE: an edge holding more streams than the ready edges' mean by more than this
   * fraction of it sheds v2 streams back to the mean; 0 turns shedding off.
   */
  readonly tolerance: number;
  /** REBALANCE_RATE_PER_SECOND: most streams an edge sheds a second. */
  readonly ratePerSecond: number;
  /** MAX_STREAM_SECONDS in ms: a v2 stream ends after 0.8 to 1.0 times this; 0: never. */
  readonly maxStreamMs: number;
}

export const AUTH_MODES = ['none', 'jwt'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];

export interface AuthConfig {
  /** `none`: anyone may connect; `jwt`: every connect needs a token. */
  readonly mode: AuthMode;
  /** AUTH_JWT_SECRET: the HS256 key. A secret: never logged. */
  readonly jwtSecret: string | undefined;
  /** AUTH_JWT_PUBLIC_KEYS_FILE: a JWKS file of RS256 and ES256 public keys. */
  readonly publicKeysFile: string | undefined;
  /** How often the JWKS file is checked for changes; 0 reads it once. */
  readonly keysReloadMs: number;
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
  readonly cookieName: string;
  /** Tolerance for `nbf` and `iat` (an issuer whose clock runs ahead); `exp` is enforced exactly. */
  readonly clockSkewSeconds: number;
}

export interface ClientLimitsConfig {
  /** Proxies in front of the edge that append to X-Forwarded-For (0: the header is ignored). */
  readonly trustProxyHops: number;
  /** Open streams per client address across the installation; 0: no limit. */
  readonly maxStreamsPerIp: number;
  /** Open streams per token subject across the installation (AUTH_MODE=jwt); 0: no limit. */
  readonly maxStreamsPerSubject: number;
  /** Sustained connects per second per client address; 0: no limit. */
  readonly connectRatePerIp: number;
  /** Connects one address may make at once before the rate applies. */
  readonly connectBurstPerIp: number;
  /** Each edge's share of the stream counts is leased this long (a crashed edge's counts expire). */
  readonly clientLeaseMs: number;
}

/** A cookie name is an RFC 6265 token. */
const COOKIE_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** HS256 keys shorter than the hash output are weak (RFC 7518 §3.2). */
const MIN_SECRET_BYTES = 32;

function readAuthConfig(env: EnvReader): AuthConfig {
  const mode = env.oneOf('AUTH_MODE', AUTH_MODES, 'none');
  const jwtSecret = env.string('AUTH_JWT_SECRET');
  const publicKeysFile = env.string('AUTH_JWT_PUBLIC_KEYS_FILE');
  const cookieName = env.string('AUTH_COOKIE_NAME', 'events_token');
  if (!COOKIE_NAME.test(cookieName)) {
    env.problem(
      `AUTH_COOKIE_NAME=${JSON.stringify(cookieName)}: expected a cookie name (letters, digits and !#$%&'*+.^_\`|~-)`,
    );
  }
  if (jwtSecret !== undefined && Buffer.byteLength(jwtSecret) < MIN_SECRET_BYTES) {
    env.problem(
      `AUTH_JWT_SECRET is ${Buffer.byteLength(jwtSecret)} bytes: an HS256 secret needs at least ${MIN_SECRET_BYTES} (e.g. \`openssl rand -base64 48\`)`,
    );
  }
  if (mode === 'jwt' && jwtSecret === undefined && publicKeysFile === undefined) {
    env.problem(
      'AUTH_MODE=jwt needs a key to check tokens with: set AUTH_JWT_SECRET (HS256) and/or AUTH_JWT_PUBLIC_KEYS_FILE (a JWKS file of RS256/ES256 public keys)',
    );
  }
  return {
    mode,
    jwtSecret,
    publicKeysFile,
    keysReloadMs: env.seconds('AUTH_JWT_KEYS_RELOAD_SECONDS', 30, 0, 86_400),
    issuer: env.string('AUTH_JWT_ISSUER'),
    audience: env.string('AUTH_JWT_AUDIENCE'),
    cookieName,
    clockSkewSeconds: env.int('AUTH_CLOCK_SKEW_SECONDS', 30, 0, 600),
  };
}

/** TRUST_PROXY: a number of proxy hops, or true (one) / false (none). */
function readTrustProxy(env: EnvReader): number {
  const v = env.string('TRUST_PROXY')?.toLowerCase();
  if (v === undefined || v === 'false') return 0;
  if (v === 'true') return 1;
  if (/^\d+$/.test(v) && Number(v) <= 16) return Number(v);
  env.problem(
    `TRUST_PROXY=${JSON.stringify(v)}: expected the number of proxies in front of the edge (0 to 16), or true (1) or false (0)`,
  );
  return 0;
}

function readClientLimitsConfig(env: EnvReader): ClientLimitsConfig {
  const rate = env.string('CONNECT_RATE_PER_IP');
  let connectRatePerIp = 0;
  if (rate !== undefined) {
    const n = Number(rate);
    if (Number.isFinite(n) && n >= 0 && n <= 100_000) connectRatePerIp = n;
    else
      env.problem(
        `CONNECT_RATE_PER_IP=${JSON.stringify(rate)}: expected connects per second from 0 (no limit) to 100000, e.g. 0.5`,
      );
  }
  return {
    trustProxyHops: readTrustProxy(env),
    maxStreamsPerIp: env.int('MAX_STREAMS_PER_IP', 0, 0, 1_000_000),
    maxStreamsPerSubject: env.int('MAX_STREAMS_PER_SUBJECT', 0, 0, 1_000_000),
    connectRatePerIp,
    connectBurstPerIp: env.int('CONNECT_BURST_PER_IP', 20, 1, 10_000),
    clientLeaseMs: env.seconds('CLIENT_LEASE_SECONDS', 30, 1, 3_600),
  };
}

function readEdgeConfig(env: EnvReader, common: CommonConfig): EdgeConfig {
  const corsOrigins = env.list('CORS_ORIGINS', ['*']);
  if (corsOrigins.length === 0) {
    env.problem('CORS_ORIGINS is set but empty: give `*` or a comma list of origins');
  }
  return {
    ...common,
    port: env.int('PORT', 8080, 0, 65_535),
    pingIntervalSeconds: env.int('PING_INTERVAL_SECONDS', 20, 1, 3_600),
    idleTimeoutSeconds: env.int('IDLE_TIMEOUT_SECONDS', 0, 0, 86_400),
    maxBindingsPerConnection: env.int('MAX_BINDINGS_PER_CONNECTION', 50, 1, 10_000),
    maxConnections: env.int('MAX_CONNECTIONS', 10_000, 1),
    allowedExchangePrefixes: env.list('ALLOWED_EXCHANGE_PREFIXES', ['exchange/']),
    corsOrigins: corsOrigins.includes('*') ? ['*'] : corsOrigins,
    bindTimeoutMs: env.seconds('BIND_TIMEOUT_SECONDS', 10, 0.001, 3_600),
    maxBufferedBytes: env.int('MAX_BUFFERED_BYTES', 1024 * 1024, 1),
    drainMs: env.seconds('DRAIN_SECONDS', 5, 0, 3_600),
    busLossGraceMs: env.seconds('BUS_LOSS_GRACE_SECONDS', 5, 0, 3_600),
    maxRequestHeaderBytes: env.int('MAX_REQUEST_HEADER_BYTES', 16_384, 1_024, 16 * 1024 * 1024),
    headersTimeoutMs: env.seconds('HEADERS_TIMEOUT_SECONDS', 10, 0.1, 300),
    // Node's default is 511: the clients of a killed edge all reconnecting at once overflow it, and
    // the kernel drops each extra SYN, which costs that client 1 s, then 3, 7, 15 s of retries.
    listenBacklog: env.int('LISTEN_BACKLOG', 4096, 1, 65_535),
    sseRetryMs: env.int('SSE_RETRY_MS', 1000, 1, 600_000),
    inspectorEnabled: env.bool('INSPECTOR_ENABLED', true),
    auth: readAuthConfig(env),
    clientLimits: readClientLimitsConfig(env),
    rebalance: {
      tolerance: env.number('REBALANCE_TOLERANCE', 0.1, 0, 10),
      ratePerSecond: env.int('REBALANCE_RATE_PER_SECOND', 50, 1, 100_000),
      maxStreamMs: env.seconds('MAX_STREAM_SECONDS', 0, 0, 86_400 * 30),
    },
  };
}

const edgeConfig = roleConfig('edge', readEdgeConfig);

/** Reads the edge role's configuration; throws a ConfigError listing every problem at once. */
export const loadEdgeConfig = edgeConfig.load;

/** Every environment variable the edge role reads. */
export const ENV_NAMES = edgeConfig.envNames;

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
    maxRequestHeaderBytes: env.int('MAX_REQUEST_HEADER_BYTES', 16_384, 1_024, 16 * 1024 * 1024),
    headersTimeoutMs: env.seconds('HEADERS_TIMEOUT_SECONDS', 10, 0.1, 300),
    // Node's default is 511: the clients of a killed edge all reconnecting at once overflow it, and
    // the kernel drops each extra SYN, which costs that client 1 s, then 3, 7, 15 s of retries.
    listenBacklog: env.int('LISTEN_BACKLOG', 4096, 1, 65_535),
    sseRetryMs: env.int('SSE_RETRY_MS', 1000, 1, 600_000),
    inspectorEnabled: env.bool('INSPECTOR_ENABLED', true),
  };
}

const edgeConfig = roleConfig('edge', readEdgeConfig);

/** Reads the edge role's configuration; throws a ConfigError listing every problem at once. */
export const loadEdgeConfig = edgeConfig.load;

/** Every environment variable the edge role reads. */
export const ENV_NAMES = edgeConfig.envNames;

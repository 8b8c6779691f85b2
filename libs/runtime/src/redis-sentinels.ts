/**
 * REDIS_SENTINELS (DESIGN.md §4): the sentinels of a Redis Sentinel group, each `host:port` or
 * `redis://[user:password@]host:port[/db]` (`rediss://` for TLS). Read once here, so the
 * configuration check and the Redis client agree on what an entry means.
 *
 * Credentials, TLS and the database given in the URL form apply to the sentinels and to the
 * master and replicas alike (Bitnami's chart uses one password for both). They may be written on
 * one entry or on every entry, but not differently on two: a bare `host:port` takes them from
 * the URLs.
 */

export interface SentinelAddress {
  readonly host: string;
  readonly port: number;
}

export interface SentinelList {
  readonly sentinels: readonly SentinelAddress[];
  readonly username?: string;
  readonly password?: string;
  /** `rediss://`: TLS to the sentinels and to the data nodes. */
  readonly tls: boolean;
  /** The database number (`/db`), 0 when none is given. */
  readonly db: number;
}

/** The problems of each entry (quoted), and the list as far as it could be read. */
export function parseSentinelList(entries: readonly string[]): {
  readonly list: SentinelList;
  readonly problems: readonly string[];
} {
  const problems: string[] = [];
  const sentinels: SentinelAddress[] = [];
  let shared: { username?: string; password?: string; tls: boolean; db: number; from: string } | undefined;
  for (const entry of entries) {
    const parsed = parseEntry(entry);
    if (typeof parsed === 'string') {
      problems.push(`${JSON.stringify(entry)} ${parsed}`);
      continue;
    }
    sentinels.push({ host: parsed.host, port: parsed.port });
    if (parsed.settings === undefined) continue;
    if (shared === undefined) {
      shared = { ...parsed.settings, from: entry };
    } else if (!sameSettings(shared, parsed.settings)) {
      problems.push(
        `${JSON.stringify(entry)} has other credentials, scheme or database than ${JSON.stringify(shared.from)}: ` +
          'every sentinel URL must carry the same ones (or give them once and the other sentinels as host:port)',
      );
    }
  }
  const { username, password, tls = false, db = 0 } = shared ?? {};
  return {
    list: {
      sentinels,
      ...(username !== undefined ? { username } : {}),
      ...(password !== undefined ? { password } : {}),
      tls,
      db,
    },
    problems,
  };
}

interface Settings {
  readonly username?: string;
  readonly password?: string;
  readonly tls: boolean;
  readonly db: number;
}

function sameSettings(a: Settings, b: Settings): boolean {
  return a.username === b.username && a.password === b.password && a.tls === b.tls && a.db === b.db;
}

/** An entry's address and (URL form only) its settings, or what is wrong with it. */
function parseEntry(entry: string): { host: string; port: number; settings?: Settings } | string {
  if (!entry.includes('://')) {
    // host:port, or [v6 address]:port.
    const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/@[\]]+):(\d{1,5})$/.exec(entry);
    if (m === null) return 'is not host:port or a redis:// URL: expected e.g. redis-sentinel:26379';
    const port = Number(m[2]);
    if (port < 1 || port > 65_535) return 'has a port outside 1 to 65535';
    return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
  }
  let url: URL;
  try {
    url = new URL(entry);
  } catch {
    return 'is not a URL: expected redis://[user:password@]host:port';
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return 'must start with redis:// or rediss://';
  // No default port: ioredis would try 26379, which may be someone else's sentinel.
  if (url.hostname === '' || url.port === '') return 'needs a host and a port: expected redis://host:port';
  let db = 0;
  if (url.pathname !== '' && url.pathname !== '/') {
    const m = /^\/(\d{1,2})$/.exec(url.pathname);
    if (m === null) return 'has a path that is not a database number: expected redis://host:port[/db]';
    db = Number(m[1]);
  }
  if (url.search !== '' || url.hash !== '')
    return 'has a query or fragment, which REDIS_SENTINELS does not read';
  const settings: Settings = {
    ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
    ...(url.password !== '' ? { password: decodeURIComponent(url.password) } : {}),
    tls: url.protocol === 'rediss:',
    db,
  };
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port), settings };
}

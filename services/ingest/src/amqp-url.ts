/** AMQP URL helpers: building the Pulse URL, naming the default queue, and redacting for logs. */

/** The URL the original Pulse service used: TLS on 5671, every part URL-encoded. */
export function pulseUrl(parts: {
  hostname: string;
  username: string;
  password: string;
  vhost: string | undefined;
}): string {
  const auth = `${encodeURIComponent(parts.username)}:${encodeURIComponent(parts.password)}`;
  const vhost = parts.vhost === undefined ? '' : `/${encodeURIComponent(parts.vhost)}`;
  return `amqps://${auth}@${parts.hostname}:5671${vhost}`;
}

/** The user the broker sees (amqplib logs in as guest when the URL names none). */
export function amqpUser(url: string): string {
  try {
    return decodeURIComponent(new URL(url).username) || 'guest';
  } catch {
    return 'guest';
  }
}

/** `queue/<user>/events-proxy`: Pulse only lets a user declare queues under `queue/<user>/`. */
export function defaultQueueName(url: string): string {
  return `queue/${amqpUser(url)}/events-proxy`;
}

/** `amqp://host:port/vhost`, never the credentials: what logs and errors may show. */
export function redactAmqpUrl(url: string): string {
  try {
    const u = new URL(url);
    const port = u.port || (u.protocol === 'amqps:' ? '5671' : '5672');
    const vhost = u.pathname.length > 1 ? decodeURIComponent(u.pathname.slice(1)) : '/';
    return `${u.protocol}//${u.hostname}:${port}/${vhost === '/' ? '' : vhost}`;
  } catch {
    return '<unparsable AMQP URL>';
  }
}

/** The redacted forms of a list of broker URLs, comma-separated, for logs. */
export function redactAmqpUrls(urls: readonly string[]): string {
  return urls.map(redactAmqpUrl).join(', ');
}

/** The TCP endpoint a broker URL points at (IPv6 brackets removed), for a connect probe. */
export function amqpEndpoint(url: string): { host: string; port: number } {
  const u = new URL(url);
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = Number(u.port || (u.protocol === 'amqps:' ? 5671 : 5672));
  return { host: host || 'localhost', port };
}

/** The virtual host a broker URL names (`/` when it names none). */
export function amqpVhost(url: string): string {
  const path = new URL(url).pathname;
  return path.length > 1 ? decodeURIComponent(path.slice(1)) : '/';
}

/**
 * The URL with `heartbeat=<seconds>` added unless it names its own. Without one, RabbitMQ proposes
 * 60 s and amqplib notices a silent broker (a lost host, a partition: no TCP reset) only after two
 * missed intervals, two to three minutes; with 10 s it takes 20-30 s.
 */
export function withDefaultHeartbeat(url: string, seconds: number): string {
  const u = new URL(url);
  if (u.searchParams.has('heartbeat')) return url;
  u.searchParams.set('heartbeat', String(seconds));
  return u.toString();
}

/** A client's subscription: an AMQP topic exchange and a routing-key pattern on it. */
export interface Binding {
  readonly exchange: string;
  readonly routingKeyPattern: string;
}

export interface BindingLimits {
  /** Most bindings one connection may ask for. */
  readonly maxBindings: number;
  /** Exchange name prefixes a client may bind to; empty allows every exchange. */
  readonly allowedExchangePrefixes: readonly string[];
}

export type BindingsQueryResult =
  | { readonly ok: true; readonly bindings: readonly Binding[] }
  | { readonly ok: false; readonly message: string };

/** AMQP short strings (exchange names, routing keys) are at most 255 bytes. */
export const MAX_SHORT_STRING_BYTES = 255;

// The original service's messages, word for word: clients display them.
export const MSG_ONLY_BINDINGS_KEY = 'The json query should have only one key i.e. `bindings`.';
export const MSG_BINDINGS_NOT_ARRAY = 'Bindings must be an array of {exchange, routingKeyPattern}';
export const MSG_BINDING_FIELDS = 'Binding must include `exchange` and `routingKeyPattern` fields';

const fail = (message: string): BindingsQueryResult => ({ ok: false, message });

/**
 * Parses and validates the `bindings` query value (URL-decoded JSON text).
 * Never throws: every problem comes back as a message fit to show the user.
 * Duplicate bindings are collapsed; order is otherwise kept.
 */
export function parseBindingsQuery(raw: string | undefined, limits: BindingLimits): BindingsQueryResult {
  if (raw === undefined || raw.trim() === '') {
    return fail(
      'Missing `bindings` query parameter: pass ?bindings=<URL-encoded JSON {"bindings":[{"exchange":"…","routingKeyPattern":"…"}]}>',
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    return fail(`The \`bindings\` query parameter is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail(MSG_ONLY_BINDINGS_KEY);
  const keys = Object.keys(json);
  if (keys.length !== 1 || keys[0] !== 'bindings') return fail(MSG_ONLY_BINDINGS_KEY);
  const list = (json as { bindings: unknown }).bindings;
  if (!Array.isArray(list)) return fail(MSG_BINDINGS_NOT_ARRAY);
  if (list.length === 0)
    return fail('Bindings must not be empty: give at least one {exchange, routingKeyPattern}');
  if (list.length > limits.maxBindings) {
    return fail(
      `Too many bindings: ${list.length} given, at most ${limits.maxBindings} are allowed per connection`,
    );
  }

  const bindings: Binding[] = [];
  const seen = new Set<string>();
  for (const [i, item] of list.entries()) {
    const checked = checkBinding(item, i, limits);
    if (typeof checked === 'string') return fail(checked);
    const key = bindingKey(checked);
    if (!seen.has(key)) {
      seen.add(key);
      bindings.push(checked);
    }
  }
  return { ok: true, bindings };
}

/** Matches a UTF-16 surrogate that is not half of a pair (in `u` mode a pair is one code point). */
const LONE_SURROGATE = /\p{Cs}/u;

const notUnicode = (index: number, field: string): string =>
  `Binding ${index}: \`${field}\` is not valid Unicode (it has an unpaired surrogate)`;

function checkBinding(item: unknown, index: number, limits: BindingLimits): Binding | string {
  if (typeof item !== 'object' || item === null) return MSG_BINDING_FIELDS;
  const { exchange, routingKeyPattern } = item as Record<string, unknown>;
  // The original rejected any falsy field, empty strings included; kept for compatibility.
  if (!exchange || !routingKeyPattern) return MSG_BINDING_FIELDS;
  if (typeof exchange !== 'string') return `Binding ${index}: \`exchange\` must be a string`;
  if (typeof routingKeyPattern !== 'string')
    return `Binding ${index}: \`routingKeyPattern\` must be a string`;
  // An unpaired surrogate has no UTF-8 form: it would reach the broker and Redis as U+FFFD, a
  // different name from the one this connection's channel is keyed by, so nothing would arrive.
  if (LONE_SURROGATE.test(exchange)) return notUnicode(index, 'exchange');
  if (LONE_SURROGATE.test(routingKeyPattern)) return notUnicode(index, 'routingKeyPattern');
  if (Buffer.byteLength(exchange) > MAX_SHORT_STRING_BYTES) {
    return `Binding ${index}: exchange name is longer than ${MAX_SHORT_STRING_BYTES} bytes`;
  }
  if (Buffer.byteLength(routingKeyPattern) > MAX_SHORT_STRING_BYTES) {
    return `Binding ${index}: routingKeyPattern is longer than ${MAX_SHORT_STRING_BYTES} bytes`;
  }
  const prefixes = limits.allowedExchangePrefixes;
  if (prefixes.length > 0 && !prefixes.some((p) => exchange.startsWith(p))) {
    return `Exchange \`${exchange}\` is not allowed: exchange names must start with ${prefixes
      .map((p) => `\`${p}\``)
      .join(' or ')}`;
  }
  return { exchange, routingKeyPattern };
}

/** A stable, unambiguous string for a binding (used for leases, job ids and dedup). */
export function bindingKey(b: Binding): string {
  return `${Buffer.byteLength(b.exchange)}:${b.exchange}:${b.routingKeyPattern}`;
}

/** Inverse of {@link bindingKey}. */
export function parseBindingKey(key: string): Binding {
  const colon = key.indexOf(':');
  const len = Number(key.slice(0, colon));
  const rest = Buffer.from(key.slice(colon + 1));
  if (colon < 1 || !Number.isInteger(len) || rest.length < len + 1 || rest[len] !== 0x3a) {
    throw new Error(`Not a binding key: ${JSON.stringify(key)}`);
  }
  return {
    exchange: rest.subarray(0, len).toString(),
    routingKeyPattern: rest.subarray(len + 1).toString(),
  };
}

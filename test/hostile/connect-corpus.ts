/**
 * Malformed and hostile connect requests, as data: the raw request bytes and what the edge must
 * answer (docs/protocol.md). The suite in connect-corpus.test.ts sends each to a real edge.
 */
import { MSG_BINDING_FIELDS, MSG_BINDINGS_NOT_ARRAY, MSG_ONLY_BINDINGS_KEY } from '@events-proxy/protocol';
import { getRequest } from './raw-exchange.js';

/** What a case must be answered with. */
export type Expectation =
  /** 200 event stream with exactly one `error` event, whose text matches, then the end of the stream. */
  | { readonly error: string | RegExp }
  /** 200 event stream whose first event is `ready` (the suite then closes it). */
  | { readonly ready: true }
  /** A response that ends, with this status; a JSON body with this `code` unless `empty`. */
  | { readonly status: number; readonly code?: string; readonly empty?: true }
  /** 200 with the stream headers and no body (HEAD). */
  | { readonly headOnly: true }
  /** The client goes away; nothing to read. The suite checks the edge let go of it. */
  | { readonly dropped: true };

export interface HostileCase {
  readonly name: string;
  readonly request: string | Buffer;
  /** Send the request in pieces this far apart (slowloris); `request` is then their concatenation. */
  readonly trickle?: { readonly pieces: readonly string[]; readonly gapMs: number };
  /** Reset the connection at once after sending, or once the response head arrived. */
  readonly reset?: 'at-once' | 'after-head';
  readonly expect: Expectation;
}

export interface CorpusContext {
  /** An exchange that exists and is allowed (`exchange/…`). */
  readonly exchange: string;
  /** Existing allowed exchanges whose names are exactly 255 bytes: ASCII, and 2-byte UTF-8 characters. */
  readonly exchange255Ascii: string;
  readonly exchange255Utf8: string;
  /** An allowed name no exchange has. */
  readonly missing: string;
  readonly maxBindings: number;
  readonly maxHeaderBytes: number;
  readonly headersTimeoutMs: number;
}

const CONNECT = '/api/events/v1/connect/';
const q = (json: string): string => `?bindings=${encodeURIComponent(json)}`;
const bindingsJson = (list: readonly unknown[]): string => JSON.stringify({ bindings: list });
const b = (exchange: unknown, routingKeyPattern: unknown = '#') => ({ exchange, routingKeyPattern });
const get = (query: string, headers: readonly string[] = [], path = CONNECT) =>
  getRequest(path + query, headers);

const NOT_JSON = /^The `bindings` query parameter is not valid JSON: /;
const MISSING = /^Missing `bindings` query parameter/;
const TOO_MANY = (n: number, max: number) =>
  `Too many bindings: ${n} given, at most ${max} are allowed per connection`;
const NOT_ALLOWED = /^Exchange `[^]*` is not allowed: exchange names must start with `exchange\/`$/;
const DOES_NOT_EXIST = (exchange: string) => `Exchange \`${exchange}\` does not exist on the broker`;

export function connectCorpus(c: CorpusContext): HostileCase[] {
  const ok = q(bindingsJson([b(c.exchange, 'hostile.#')]));
  const cases: HostileCase[] = [];
  const add = (
    name: string,
    request: string | Buffer,
    expect: Expectation,
    extra: Partial<HostileCase> = {},
  ) => cases.push({ name, request, expect, ...extra });
  const bindingsCase = (name: string, json: string, expect: Expectation) => add(name, get(q(json)), expect);

  // Invalid JSON.
  for (const [name, json] of [
    ['an unclosed object', '{'],
    ['an unclosed array', '{"bindings":['],
    ['single quotes', "{'bindings':[]}"],
    ['a trailing comma', `{"bindings":[${JSON.stringify(b(c.exchange))},]}`],
    ['the word undefined', 'undefined'],
    ['NaN', 'NaN'],
    ['a raw newline inside a string', '{"bindings":[{"exchange":"exchange/a\nb","routingKeyPattern":"#"}]}'],
    ['a byte-order mark before the object', '\uFEFF{"bindings":[]}'],
    ['a comment', '{"bindings":[] /* hi */}'],
    ['a raw NUL between tokens', '{"bindings":\u0000[]}'],
    ['hex numbers', '{"bindings":[{"exchange":0x1,"routingKeyPattern":"#"}]}'],
  ] as const) {
    bindingsCase(`invalid JSON: ${name}`, json, { error: NOT_JSON });
  }
  add('invalid JSON: broken percent-encoding', get('?bindings=%7B%22bindings%E0%A4%A'), { error: NOT_JSON });
  add('no query string', get(''), { error: MISSING });
  add('`bindings` with no `=`', get('?bindings'), { error: MISSING });
  add('`bindings=` empty', get('?bindings='), { error: MISSING });
  add('`bindings` only spaces', get('?bindings=%20%09%20'), { error: MISSING });

  // Wrong types and null.
  for (const [name, json, expect] of [
    ['null', 'null', MSG_ONLY_BINDINGS_KEY],
    ['an array', '[]', MSG_ONLY_BINDINGS_KEY],
    ['a string', '"exchange/x"', MSG_ONLY_BINDINGS_KEY],
    ['a number', '42', MSG_ONLY_BINDINGS_KEY],
    ['true', 'true', MSG_ONLY_BINDINGS_KEY],
    ['an empty object', '{}', MSG_ONLY_BINDINGS_KEY],
    [
      'a second top-level key',
      `{"bindings":[${JSON.stringify(b(c.exchange))}],"extra":1}`,
      MSG_ONLY_BINDINGS_KEY,
    ],
    ['`Bindings` capitalised', `{"Bindings":[${JSON.stringify(b(c.exchange))}]}`, MSG_ONLY_BINDINGS_KEY],
    ['a `__proto__` key', `{"__proto__":[${JSON.stringify(b(c.exchange))}]}`, MSG_ONLY_BINDINGS_KEY],
    ['bindings null', '{"bindings":null}', MSG_BINDINGS_NOT_ARRAY],
    ['bindings an object', `{"bindings":${JSON.stringify(b(c.exchange))}}`, MSG_BINDINGS_NOT_ARRAY],
    ['bindings a string', '{"bindings":"exchange/x"}', MSG_BINDINGS_NOT_ARRAY],
    ['bindings a number', '{"bindings":7}', MSG_BINDINGS_NOT_ARRAY],
    ['bindings empty', '{"bindings":[]}', /^Bindings must not be empty/],
    ['a null binding', '{"bindings":[null]}', MSG_BINDING_FIELDS],
    ['a number as binding', '{"bindings":[42]}', MSG_BINDING_FIELDS],
    ['an array as binding', '{"bindings":[["exchange/x","#"]]}', MSG_BINDING_FIELDS],
    ['a binding with only `exchange`', bindingsJson([{ exchange: c.exchange }]), MSG_BINDING_FIELDS],
    [
      'a binding with only `routingKeyPattern`',
      bindingsJson([{ routingKeyPattern: '#' }]),
      MSG_BINDING_FIELDS,
    ],
    ['an empty exchange', bindingsJson([b('')]), MSG_BINDING_FIELDS],
    ['an empty pattern', bindingsJson([b(c.exchange, '')]), MSG_BINDING_FIELDS],
    ['pattern 0', bindingsJson([b(c.exchange, 0)]), MSG_BINDING_FIELDS],
    ['exchange null', bindingsJson([b(null)]), MSG_BINDING_FIELDS],
    [
      'fields behind `__proto__`',
      `{"bindings":[{"__proto__":${JSON.stringify(b(c.exchange))}}]}`,
      MSG_BINDING_FIELDS,
    ],
    ['exchange a number', bindingsJson([b(42)]), 'Binding 0: `exchange` must be a string'],
    ['exchange true', bindingsJson([b(true)]), 'Binding 0: `exchange` must be a string'],
    [
      'exchange an object',
      bindingsJson([b({ toString: 'exchange/x' })]),
      'Binding 0: `exchange` must be a string',
    ],
    [
      'pattern an array',
      bindingsJson([b(c.exchange, ['#'])]),
      'Binding 0: `routingKeyPattern` must be a string',
    ],
    [
      'the second binding bad',
      bindingsJson([b(c.exchange), b(c.exchange, 1)]),
      'Binding 1: `routingKeyPattern` must be a string',
    ],
  ] as const) {
    bindingsCase(`wrong shape: ${name}`, json, { error: expect });
  }
  bindingsCase(
    'extra keys in a binding are ignored',
    bindingsJson([{ ...b(c.exchange, 'hostile.extra'), x: { y: [1] } }]),
    {
      ready: true,
    },
  );
  bindingsCase(
    'a duplicated top-level key: the last one counts',
    `{"bindings":"x","bindings":[${JSON.stringify(b(c.exchange, 'hostile.dup'))}]}`,
    {
      ready: true,
    },
  );
  bindingsCase('arrays nested 2,000 deep', '['.repeat(2000) + ']'.repeat(2000), {
    error: MSG_ONLY_BINDINGS_KEY,
  });

  // Limits: how many bindings, how many bytes.
  const many = (n: number, distinct = true) =>
    bindingsJson(Array.from({ length: n }, (_, i) => b(c.exchange, distinct ? `h.${i}` : 'h.same')));
  bindingsCase(`${c.maxBindings + 1} bindings`, many(c.maxBindings + 1), {
    error: TOO_MANY(c.maxBindings + 1, c.maxBindings),
  });
  bindingsCase(`${c.maxBindings} copies of one binding`, many(c.maxBindings, false), { ready: true });
  bindingsCase(
    `${c.maxBindings + 1} copies of one binding (counted before duplicates collapse)`,
    many(c.maxBindings + 1, false),
    {
      error: TOO_MANY(c.maxBindings + 1, c.maxBindings),
    },
  );
  bindingsCase(
    'a binding given twice',
    bindingsJson([b(c.exchange, 'hostile.twice'), b(c.exchange, 'hostile.twice')]),
    {
      ready: true,
    },
  );
  const tooLarge = { status: 431, code: 'RequestHeaderFieldsTooLarge' } as const;
  add('3,000 bindings (a query string past MAX_REQUEST_HEADER_BYTES)', get(q(many(3000))), tooLarge);
  add('a 1 MB query string', get(`?bindings=${'a'.repeat(1024 * 1024)}`), tooLarge);
  add('a 1 MB header', get(ok, [`X-Big: ${'b'.repeat(1024 * 1024)}`]), tooLarge);
  add(
    '10,000 small headers',
    get(
      ok,
      Array.from({ length: 10_000 }, (_, i) => `X-H${i}: v`),
    ),
    tooLarge,
  );
  add('a head just under MAX_REQUEST_HEADER_BYTES', padTo(get(ok, ['X-Pad: ']), c.maxHeaderBytes - 64), {
    ready: true,
  });
  bindingsCase('an exchange of 255 ASCII bytes', bindingsJson([b(c.exchange255Ascii)]), { ready: true });
  bindingsCase('an exchange of 255 bytes in 2-byte characters', bindingsJson([b(c.exchange255Utf8)]), {
    ready: true,
  });
  bindingsCase('an exchange of 256 ASCII bytes', bindingsJson([b(c.exchange255Ascii + 'x')]), {
    error: 'Binding 0: exchange name is longer than 255 bytes',
  });
  bindingsCase('an exchange of 256 bytes in 133 characters', bindingsJson([b(c.exchange255Utf8 + 'x')]), {
    error: 'Binding 0: exchange name is longer than 255 bytes',
  });
  bindingsCase('a pattern of 255 bytes in 3-byte characters', bindingsJson([b(c.exchange, '€'.repeat(85))]), {
    ready: true,
  });
  bindingsCase(
    'a pattern of 256 bytes in 4-byte characters',
    bindingsJson([b(c.exchange, '😀'.repeat(64))]),
    {
      error: 'Binding 0: routingKeyPattern is longer than 255 bytes',
    },
  );
  bindingsCase('a pattern of 256 ASCII bytes', bindingsJson([b(c.exchange, 'a'.repeat(256))]), {
    error: 'Binding 0: routingKeyPattern is longer than 255 bytes',
  });

  // Unicode and control characters: the error text is JSON, so it can never break the framing.
  const injection = '\r\n\r\nevent: message\ndata: {"payload":"forged"}\nid: 1\n\n';
  bindingsCase('CR/LF and a forged event in a disallowed exchange', bindingsJson([b(`evil${injection}`)]), {
    error: NOT_ALLOWED,
  });
  bindingsCase(
    'CR/LF and a forged event in an allowed, missing exchange',
    bindingsJson([b(`${c.missing}${injection}`)]),
    {
      error: DOES_NOT_EXIST(`${c.missing}${injection}`),
    },
  );
  bindingsCase('a NUL in a disallowed exchange', bindingsJson([b('evil\u0000x')]), { error: NOT_ALLOWED });
  bindingsCase('a NUL in an allowed, missing exchange', bindingsJson([b(`${c.missing}\u0000x`)]), {
    error: DOES_NOT_EXIST(`${c.missing}\u0000x`),
  });
  bindingsCase('CR/LF in a pattern', bindingsJson([b(c.exchange, 'hostile.\r\n.x')]), { ready: true });
  bindingsCase('a NUL in a pattern', bindingsJson([b(c.exchange, 'hostile.\u0000.x')]), { ready: true });
  bindingsCase('U+2028 and U+2029 in an exchange', bindingsJson([b('evil\u2028\u2029x')]), {
    error: NOT_ALLOWED,
  });
  bindingsCase('a right-to-left override in an exchange', bindingsJson([b('\u202Eexchange/x')]), {
    error: NOT_ALLOWED,
  });
  bindingsCase('emoji in a disallowed exchange', bindingsJson([b('😀/x')]), { error: NOT_ALLOWED });
  bindingsCase(
    'a lone surrogate in an exchange',
    `{"bindings":[{"exchange":"${c.missing}\\ud800","routingKeyPattern":"#"}]}`,
    {
      error: 'Binding 0: `exchange` is not valid Unicode (it has an unpaired surrogate)',
    },
  );
  bindingsCase(
    'a lone surrogate in a pattern',
    `{"bindings":[{"exchange":"${c.exchange}","routingKeyPattern":"a.\\udc00"}]}`,
    {
      error: 'Binding 0: `routingKeyPattern` is not valid Unicode (it has an unpaired surrogate)',
    },
  );
  add(
    'a raw CR in the request line',
    Buffer.from(`GET ${CONNECT}?bindings=\r HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1'),
    {
      status: 400,
      code: 'BadRequest',
    },
  );
  add(
    'a raw NUL in the request line',
    Buffer.from(`GET ${CONNECT}?bindings=\u0000 HTTP/1.1\r\nHost: x\r\n\r\n`, 'latin1'),
    {
      status: 400,
      code: 'BadRequest',
    },
  );
  add('a NUL in a header value', get(ok, ['X-Evil: a\u0000b']), { status: 400, code: 'BadRequest' });
  add('a bare LF ending a header', get(ok, ['X-Evil: a\nX-More: b']), { status: 400, code: 'BadRequest' });
  add('an unencoded space in the query', getRequest(`${CONNECT}?bindings={"a b"}`), {
    status: 400,
    code: 'BadRequest',
  });
  add(
    'UTF-8 bytes unencoded in the query',
    Buffer.from(getRequest(`${CONNECT}?bindings=${bindingsJson([b('évil')])}`), 'utf8'),
    {
      status: 400,
      code: 'BadRequest',
    },
  );

  // Exchanges.
  bindingsCase('amq.topic (not under the allowed prefix)', bindingsJson([b('amq.topic')]), {
    error: NOT_ALLOWED,
  });
  bindingsCase('the prefix in another case', bindingsJson([b('Exchange/x')]), { error: NOT_ALLOWED });
  bindingsCase('an allowed exchange that does not exist', bindingsJson([b(c.missing)]), {
    error: DOES_NOT_EXIST(c.missing),
  });
  bindingsCase('the bare prefix (no such exchange)', bindingsJson([b('exchange/')]), {
    error: DOES_NOT_EXIST('exchange/'),
  });
  bindingsCase(
    'one good and one missing exchange: all or nothing',
    bindingsJson([b(c.exchange, 'hostile.half'), b(c.missing)]),
    {
      error: DOES_NOT_EXIST(c.missing),
    },
  );
  bindingsCase(
    'one good and one disallowed exchange',
    bindingsJson([b(c.exchange, 'hostile.half2'), b('amq.topic')]),
    {
      error: NOT_ALLOWED,
    },
  );

  // Query keys.
  const unknown = { status: 400, code: 'InvalidRequestArguments' } as const;
  add('an unknown key beside `bindings`', get(`${ok}&foo=1`), unknown);
  add('only an unknown key', get('?foo=1'), unknown);
  add('`BINDINGS` capitalised', get(ok.replace('bindings', 'BINDINGS')), unknown);
  add('an empty key', get(`${ok}&=x`), unknown);
  add('`bindings[]`', get(ok.replace('bindings', 'bindings[]')), unknown);
  add('an encoded NUL in a key', get(`${ok}&a%00b=1`), unknown);
  add('a key with CR/LF', get(`${ok}&a%0D%0Aevent%3A%20x=1`), unknown);
  add('`bindings` given twice', get(`${ok}&${ok.slice(1)}`), {
    error: 'The `bindings` query parameter must be given once',
  });
  add('a trailing `&`', get(`${ok}&`), { ready: true });

  // Methods and paths.
  const noRoute = { status: 404, code: 'ResourceNotFound' } as const;
  add('POST to connect', getRequest(CONNECT + ok, ['Content-Length: 2'], 'POST') + '{}', noRoute);
  add('PUT to connect', getRequest(CONNECT + ok, [], 'PUT'), noRoute);
  add('DELETE to connect', getRequest(CONNECT + ok, [], 'DELETE'), noRoute);
  // A preflight (a fetch-based client sending Authorization or Last-Event-ID) is answered, with no body.
  add(
    'OPTIONS to connect',
    getRequest(CONNECT + ok, ['Origin: https://a.example', 'Access-Control-Request-Method: GET'], 'OPTIONS'),
    { status: 204, empty: true },
  );
  add('TRACE to connect', getRequest(CONNECT + ok, ['X-Secret: s'], 'TRACE'), noRoute);
  add('HEAD to connect', getRequest(CONNECT + ok, [], 'HEAD'), { headOnly: true });
  add('an unknown method', getRequest(CONNECT + ok, [], 'FROB'), { status: 405, code: 'MethodNotAllowed' });
  add('CONNECT', 'CONNECT 127.0.0.1:6379 HTTP/1.1\r\nHost: 127.0.0.1:6379\r\n\r\n', {
    status: 405,
    code: 'MethodNotAllowed',
  });
  add('a path with `..`', get(ok, [], '/api/events/v1/connect/../../../../etc/passwd'), noRoute);
  add('a doubled slash', get(ok, [], '//v1/connect/'), noRoute);
  add('an extra path segment', get(ok, [], '/v1/connect/extra'), noRoute);
  add('an encoded NUL in the path', get(ok, [], '/v1/%00/connect'), noRoute);
  add('broken percent-encoding in the path', get(ok, [], '/v1/%E0%A4%A/connect'), noRoute);
  add('`*` as the target', getRequest('*'), noRoute);
  add('the path in capitals', get(ok, [], '/V1/CONNECT/'), { ready: true });
  add('the absolute form of the URL', getRequest(`http://evil.example${CONNECT}${ok}`), { ready: true });
  add('ping with an unknown query key', getRequest('/v1/ping?foo=bar'), { status: 200 });
  add('HTTP/1.0 without Host', `GET ${CONNECT}${ok} HTTP/1.0\r\n\r\n`, { ready: true });
  add('HTTP/1.1 without Host', `GET ${CONNECT}${ok} HTTP/1.1\r\n\r\n`, { status: 400, empty: true });
  add('the HTTP/2 connection preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', {
    status: 400,
    code: 'BadRequest',
  });
  add(
    'both Transfer-Encoding and Content-Length',
    get(ok, ['Transfer-Encoding: chunked', 'Content-Length: 3']) + 'abc',
    {
      status: 400,
      code: 'BadRequest',
    },
  );
  add('a WebSocket upgrade', get(ok, ['Connection: Upgrade', 'Upgrade: websocket']), { ready: true });
  add('a GET with a body', get(ok, ['Content-Length: 5']) + 'hello', { ready: true });

  // Last-Event-ID.
  const stop = { status: 204, empty: true } as const;
  add('Last-Event-ID: -', get(ok, ['Last-Event-ID: -']), stop);
  add('Last-Event-ID: a number', get(ok, ['Last-Event-ID: 12345']), stop);
  add('Last-Event-ID of 10,000 bytes', get(ok, [`Last-Event-ID: ${'x'.repeat(10_000)}`]), stop);
  add('Last-Event-ID in raw UTF-8', Buffer.from(get(ok, ['Last-Event-ID: é😀']), 'utf8'), stop);
  add('Last-Event-ID twice', get(ok, ['Last-Event-ID: 1', 'Last-Event-ID: 2']), stop);
  add('Last-Event-ID with bad bindings', get(q('{'), ['Last-Event-ID: -']), stop);
  add('Last-Event-ID with an unknown key', get('?foo=1', ['Last-Event-ID: -']), stop);
  add('Last-Event-ID empty: no reconnect, a fresh stream', get(ok, ['Last-Event-ID:']), { ready: true });
  add('Last-Event-ID only spaces', get(ok, ['Last-Event-ID:    ']), { ready: true });

  // Slow and vanishing clients.
  const timeout = { status: 408, code: 'RequestTimeout' } as const;
  const head = get(ok);
  add('a connection that never sends a byte', '', timeout);
  add('a request head that never ends (slowloris)', head.slice(0, -2), timeout);
  // Never finished (the final CRLF is withheld), so only the headers timeout can end it.
  const unfinished = head.slice(0, -2);
  add('a request head trickled a few bytes at a time, never finished', unfinished, timeout, {
    trickle: {
      pieces: chop(unfinished, Math.ceil(unfinished.length / 30)),
      gapMs: Math.ceil((c.headersTimeoutMs * 3) / 30),
    },
  });
  add('a client that resets right after its request', head, { dropped: true }, { reset: 'at-once' });
  add('a client that resets once the stream opened', head, { dropped: true }, { reset: 'after-head' });
  add(
    'a client that resets halfway through its head',
    head.slice(0, 40),
    { dropped: true },
    { reset: 'at-once' },
  );
  return cases;
}

/** `head` (ending in an empty header value line) padded with spaces to `bytes`. */
function padTo(head: string, bytes: number): string {
  const cut = head.length - 4; // before the final CRLF CRLF
  return head.slice(0, cut) + 'p'.repeat(Math.max(0, bytes - head.length)) + head.slice(cut);
}

function chop(text: string, size: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

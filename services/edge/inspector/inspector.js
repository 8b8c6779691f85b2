// The Pulse inspector: a plain client of the events proxy's public protocol (docs/protocol.md).
// No framework, no build step. Message content is untrusted: it only ever reaches the page through
// textContent and DOM nodes, never innerHTML.

/** The protocol version this page speaks. Set to 2 once the v2 routes exist: it then resumes. */
const API_VERSION = 1;
const CONNECT_PATH = `api/events/v${API_VERSION}/connect/`;
/**
 * The server's errors that a later try can cure, so the page reconnects after them with backoff: a
 * draining edge (services/edge/src/connect-handler.ts), RabbitMQ or Redis briefly unreachable, the
 * ingest tier slow to bind (libs/protocol control.ts). Bad input and unknown exchanges stay closed.
 */
const TRANSIENT_ERRORS = [
  /^Server is shutting down; please reconnect$/,
  /; retry shortly$/,
  /^Timed out after \d+s waiting for the binding /,
  /^Could not subscribe to the message bus: /,
];
const isTransient = (text) => TRANSIENT_ERRORS.some((re) => re.test(text));
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30_000;
const RENDER_DELAY_MS = 50;
const PREVIEW_CHARS = 160;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  statusLabel: $('status-label'),
  statusDetail: $('status-detail'),
  reconnect: $('reconnect'),
  form: $('add-binding'),
  exchange: $('exchange'),
  pattern: $('pattern'),
  bindingError: $('binding-error'),
  bindings: $('bindings'),
  noBindings: $('no-bindings'),
  curl: $('curl-snippet'),
  js: $('js-snippet'),
  link: $('share-link'),
  filter: $('filter'),
  cap: $('cap'),
  pause: $('pause'),
  clear: $('clear'),
  download: $('download'),
  pausedNote: $('paused-note'),
  counts: $('counts'),
  messages: $('messages'),
  noMessages: $('no-messages'),
};

// ---- state ---------------------------------------------------------------------------------------

/** @type {{exchange: string, routingKeyPattern: string}[]} */
let bindings = [];
/** Kept messages, oldest first, at most `cap`. */
let kept = [];
let cap = Number(ui.cap.value);
let received = 0;
let dropped = 0;
let seq = 0;
/** Highest `seq` already in the list (or skipped by the filter). */
let renderedUpTo = 0;
let renderTimer = 0;
let paused = false;
let filterText = '';

let source = null;
let lastCursor = '';
let reconnectTimer = 0;
let reconnectDelay = RECONNECT_MIN_MS;

/** The proxy's root URL, whether the page is served at `/` or at `/inspector/`. */
const root = new URL(location.pathname.replace(/inspector\/?$/, '').replace(/[^/]*$/, ''), location.origin)
  .href;

// ---- bindings in the page address ----------------------------------------------------------------

/**
 * Bindings from a page address's query and fragment. Reads this page's links and the Taskcluster
 * tools' formats, `bindings[0][exchange]=…&bindings[0][routingKeyPattern]=…` and
 * `…&bindings[0][pattern]=…`, and the connect route's own `bindings=<JSON>`. A `#` typed unencoded
 * into a link (`…[pattern]=#`) starts the URL's fragment: when the query ends in a binding field, the
 * fragment is read as the rest of the query, its `#` taken literally.
 */
export function bindingsFromQuery(search, fragment = '') {
  let text = search.replace(/^\?/, '');
  if (fragment.startsWith('#') && /(^|&)bindings\[\d+\]\[\w+\]=[^&]*$/.test(text))
    text += fragment.replace(/#/g, '%23');
  const byIndex = new Map();
  const found = [];
  for (const [key, value] of new URLSearchParams(text)) {
    if (key === 'bindings') {
      try {
        const list = JSON.parse(value).bindings;
        if (Array.isArray(list)) found.push(...list.filter((b) => b && typeof b === 'object'));
      } catch {
        // not JSON: ignored, like any other unknown parameter
      }
      continue;
    }
    const m = /^bindings\[(\d+)\]\[(exchange|routingKeyPattern|pattern)\]$/.exec(key);
    if (!m) continue;
    const entry = byIndex.get(Number(m[1])) ?? {};
    if (m[2] === 'exchange') entry.exchange = value;
    else entry.routingKeyPattern = value;
    byIndex.set(Number(m[1]), entry);
  }
  for (const [, entry] of [...byIndex].sort((a, b) => a[0] - b[0])) found.push(entry);
  const out = [];
  for (const b of found) {
    const exchange = typeof b.exchange === 'string' ? b.exchange : '';
    const pattern = typeof b.routingKeyPattern === 'string' ? b.routingKeyPattern : b.pattern;
    const routingKeyPattern = typeof pattern === 'string' && pattern !== '' ? pattern : '#';
    if (exchange !== '' && !out.some((o) => same(o, { exchange, routingKeyPattern })))
      out.push({ exchange, routingKeyPattern });
  }
  return out;
}

const same = (a, b) => a.exchange === b.exchange && a.routingKeyPattern === b.routingKeyPattern;

/** Query-string encoding that keeps `/` readable (it needs no escaping in a query). */
const q = (s) => encodeURIComponent(s).replace(/%2F/g, '/');

function queryFor(list) {
  return list
    .map(
      (b, i) =>
        `bindings[${i}][exchange]=${q(b.exchange)}&bindings[${i}][routingKeyPattern]=${q(b.routingKeyPattern)}`,
    )
    .join('&');
}

function streamUrl(list) {
  const query = `bindings=${encodeURIComponent(JSON.stringify({ bindings: list }))}`;
  const since =
    API_VERSION >= 2 && lastCursor && lastCursor !== '-' ? `&since=${encodeURIComponent(lastCursor)}` : '';
  return `${root}${CONNECT_PATH}?${query}${since}`;
}

// ---- connection ----------------------------------------------------------------------------------

function setStatus(state, label, detail) {
  ui.status.dataset.state = state;
  ui.statusLabel.textContent = label;
  ui.statusDetail.textContent = detail;
  ui.reconnect.hidden = state !== 'closed' || bindings.length === 0;
}

function disconnect() {
  clearTimeout(reconnectTimer);
  reconnectTimer = 0;
  if (source) source.close();
  source = null;
}

function connect() {
  disconnect();
  if (bindings.length === 0) {
    setStatus('idle', 'Idle', 'Add a binding to start');
    return;
  }
  const es = new EventSource(streamUrl(bindings));
  source = es;
  setStatus('connecting', 'Connecting', `Binding ${plural(bindings.length, 'binding')}…`);
  const mine = (fn) => (e) => {
    if (source !== es) return;
    if (e.lastEventId) lastCursor = e.lastEventId;
    fn(e);
  };
  es.addEventListener(
    'ready',
    mine(() => {
      reconnectDelay = RECONNECT_MIN_MS;
      setStatus('ready', 'Ready', `Receiving messages for ${plural(bindings.length, 'binding')}`);
    }),
  );
  es.addEventListener(
    'message',
    mine((e) => receive(e.data)),
  );
  es.addEventListener(
    'ping',
    mine(() => {
      ui.status.dataset.lastPing = new Date().toISOString();
    }),
  );
  es.addEventListener(
    'error',
    mine((e) => {
      if (typeof e.data === 'string') {
        // The server's `error` event: it ends the stream. Its text is shown as sent.
        let text = e.data;
        try {
          const parsed = JSON.parse(e.data);
          text = typeof parsed === 'string' ? parsed : JSON.stringify(parsed);
        } catch {
          // shown raw
        }
        es.close();
        closed(text, isTransient(text));
      } else if (es.readyState === EventSource.CONNECTING) {
        // The browser retries on its own (v2 resumes this way; v1 answers the retry with 204).
        setStatus('connecting', 'Reconnecting', 'The connection dropped; the browser is retrying');
      } else {
        es.close();
        closed('The connection was lost', true);
      }
    }),
  );
}

function closed(text, retry) {
  source = null;
  setStatus('closed', 'Closed', text);
  if (!retry) return;
  // Jittered backoff, so that the clients of a drained edge do not all come back at once.
  const delay = Math.round(reconnectDelay * (0.8 + Math.random() * 0.4));
  reconnectDelay = Math.min(RECONNECT_MAX_MS, reconnectDelay * 2);
  ui.status.dataset.reconnectInMs = String(delay);
  reconnectTimer = setTimeout(connect, delay);
  ui.statusDetail.textContent = `${text} (reconnecting in ${Math.ceil(delay / 1000)} s)`;
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// ---- messages ------------------------------------------------------------------------------------

function receive(raw) {
  let data;
  try {
    data = JSON.parse(raw);
  } catch {
    return;
  }
  received++;
  kept.push({ seq: ++seq, receivedAt: new Date(), data, raw, search: undefined });
  // Trimmed in batches (at each render, or at twice the cap), not once per message.
  if (kept.length >= 2 * cap) trim();
  scheduleRender();
}

function trim() {
  if (kept.length <= cap) return;
  dropped += kept.length - cap;
  kept.splice(0, kept.length - cap);
}

function scheduleRender() {
  if (renderTimer) return;
  renderTimer = setTimeout(render, RENDER_DELAY_MS);
}

function matches(m) {
  if (filterText === '') return true;
  m.search ??=
    `${m.data.exchange}\n${m.data.routingKey}\n${(m.data.routes ?? []).join('\n')}\n${m.raw}`.toLowerCase();
  return m.search.includes(filterText);
}

/** Adds what arrived since the last render at the top, and removes what the cap dropped. */
function render() {
  renderTimer = 0;
  trim();
  if (!paused) {
    const fresh = [];
    for (let i = kept.length - 1; i >= 0 && kept[i].seq > renderedUpTo; i--) {
      if (matches(kept[i])) fresh.push(messageNode(kept[i]));
    }
    if (kept.length > 0) renderedUpTo = kept[kept.length - 1].seq;
    if (fresh.length > 0) ui.messages.prepend(...fresh);
    const oldest = kept.length > 0 ? kept[0].seq : Infinity;
    let last = ui.messages.lastElementChild;
    while (last && Number(last.dataset.seq) < oldest) {
      last.remove();
      last = ui.messages.lastElementChild;
    }
  }
  updateCounts();
}

function rerender() {
  ui.messages.replaceChildren();
  renderedUpTo = 0;
  clearTimeout(renderTimer);
  render();
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function timeText(d) {
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function messageNode(m) {
  const { exchange, routingKey, routes, redelivered, payload } = m.data;
  const li = el('li', 'message');
  li.dataset.seq = String(m.seq);
  const details = el('details');
  const summary = el('summary');
  const time = el('time', 'time', timeText(m.receivedAt));
  time.dateTime = m.receivedAt.toISOString();
  time.title = `received ${m.receivedAt.toISOString()}`;
  const head = el('span', 'head');
  head.append(el('span', 'exchange', String(exchange)), el('span', 'routing-key', String(routingKey)));
  if (Array.isArray(routes) && routes.length > 0) {
    const list = el('span', 'routes');
    list.append(el('span', 'routes-label', 'CC'));
    for (const r of routes) list.append(el('span', 'route', String(r)));
    head.append(list);
  }
  if (redelivered) head.append(el('span', 'flag', 'redelivered'));
  const compact = JSON.stringify(payload) ?? String(payload);
  const preview = el(
    'span',
    'preview',
    compact.length > PREVIEW_CHARS ? `${compact.slice(0, PREVIEW_CHARS)}…` : compact,
  );
  summary.append(time, head, preview);
  details.append(summary);
  details.addEventListener('toggle', () => {
    // Pretty-printed on first open: a burst of messages costs no formatting.
    if (details.open && !details.querySelector('.payload')) {
      const pre = el('pre', 'payload');
      pre.tabIndex = 0;
      pre.append(el('code', '', JSON.stringify(payload, null, 2) ?? String(payload)));
      details.append(pre);
    }
  });
  li.append(details);
  return li;
}

function updateCounts() {
  const shown = ui.messages.childElementCount;
  ui.noMessages.hidden = kept.length > 0;
  const parts = [];
  if (kept.length === 0) parts.push(received === 0 ? 'No messages yet' : 'No messages kept');
  else if (filterText !== '' || paused)
    parts.push(`${shown.toLocaleString()} shown of ${kept.length.toLocaleString()} kept`);
  else parts.push(`${kept.length.toLocaleString()} kept`);
  parts.push(`${received.toLocaleString()} received`);
  if (dropped > 0) parts.push(`${dropped.toLocaleString()} dropped (over ${cap.toLocaleString()})`);
  ui.counts.textContent = parts.join(' · ');
  ui.counts.dataset.received = String(received);
  ui.counts.dataset.kept = String(kept.length);
  const waiting = kept.length > 0 ? kept[kept.length - 1].seq - renderedUpTo : 0;
  ui.pausedNote.hidden = !paused;
  ui.pausedNote.textContent = paused
    ? `Paused: ${plural(Math.min(waiting, kept.length), 'new message')} waiting. Messages are still received and kept.`
    : '';
}

// ---- bindings list and snippets ------------------------------------------------------------------

function bindingsChanged({ reconnect = true } = {}) {
  const search = bindings.length > 0 ? `?${queryFor(bindings)}` : '';
  if (location.search !== search || location.href.includes('#'))
    history.replaceState(null, '', `${location.pathname}${search}`);
  renderBindings();
  renderSnippets();
  if (reconnect) {
    reconnectDelay = RECONNECT_MIN_MS;
    connect();
  }
}

function renderBindings() {
  const items = bindings.map((b, i) => {
    const li = el('li', 'binding');
    const text = el('span', 'binding-text');
    text.append(el('code', 'exchange', b.exchange), el('code', 'pattern', b.routingKeyPattern));
    const remove = el('button', 'button small remove', 'Remove');
    remove.type = 'button';
    remove.setAttribute('aria-label', `Remove binding ${b.exchange} ${b.routingKeyPattern}`);
    remove.addEventListener('click', () => {
      bindings.splice(i, 1);
      bindingsChanged();
      const next = ui.bindings.querySelectorAll('button.remove')[Math.min(i, bindings.length - 1)];
      (next ?? ui.exchange).focus();
    });
    li.append(text, remove);
    return li;
  });
  ui.bindings.replaceChildren(...items);
  ui.noBindings.hidden = bindings.length > 0;
}

function shellQuote(s) {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function renderSnippets() {
  const list = bindings.length > 0 ? bindings : [{ exchange: 'exchange/…', routingKeyPattern: '#' }];
  ui.curl.textContent = `curl -N ${shellQuote(streamUrl(list))}`;
  const literal = JSON.stringify(list, null, 2);
  ui.js.textContent = [
    `const bindings = ${literal};`,
    `const es = new EventSource(`,
    `  ${JSON.stringify(root + CONNECT_PATH)} +`,
    `    '?bindings=' + encodeURIComponent(JSON.stringify({ bindings })),`,
    `);`,
    `es.addEventListener('ready', () => console.log('ready: messages published from now on arrive'));`,
    `es.addEventListener('message', (e) => {`,
    `  const { exchange, routingKey, routes, payload } = JSON.parse(e.data);`,
    `  console.log(exchange, routingKey, routes, payload);`,
    `});`,
    `es.addEventListener('error', (e) => {`,
    `  if (e.data) console.error('server says:', JSON.parse(e.data)); // the stream then ends`,
    `  es.close(); // to retry, open a new EventSource`,
    `});`,
  ].join('\n');
  ui.link.textContent = location.href;
}

// ---- controls ------------------------------------------------------------------------------------

ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  const exchange = ui.exchange.value.trim();
  const routingKeyPattern = ui.pattern.value.trim() || '#';
  let problem = '';
  if (exchange === '') problem = 'Give an exchange name, e.g. exchange/taskcluster-queue/v1/task-completed.';
  else if (bindings.some((b) => same(b, { exchange, routingKeyPattern })))
    problem = 'That binding is already in the list.';
  ui.bindingError.textContent = problem;
  ui.exchange.setAttribute('aria-invalid', String(problem !== '' && exchange === ''));
  if (problem) {
    ui.exchange.focus();
    return;
  }
  bindings.push({ exchange, routingKeyPattern });
  ui.exchange.value = '';
  bindingsChanged();
  ui.exchange.focus();
});

ui.reconnect.addEventListener('click', () => {
  reconnectDelay = RECONNECT_MIN_MS;
  connect();
});

ui.filter.addEventListener('input', () => {
  filterText = ui.filter.value.trim().toLowerCase();
  rerender();
});

ui.cap.addEventListener('change', () => {
  cap = Number(ui.cap.value);
  rerender();
});

ui.pause.addEventListener('click', () => {
  paused = !paused;
  ui.pause.setAttribute('aria-pressed', String(paused));
  ui.pause.textContent = paused ? 'Resume' : 'Pause';
  render();
});

ui.clear.addEventListener('click', () => {
  kept = [];
  received = 0;
  dropped = 0;
  rerender();
});

ui.download.addEventListener('click', () => {
  const list = kept
    .filter(matches)
    .reverse()
    .map((m) => ({ receivedAt: m.receivedAt.toISOString(), ...m.data }));
  const blob = new Blob([JSON.stringify(list, null, 2) + '\n'], { type: 'application/json' });
  const a = el('a');
  a.href = URL.createObjectURL(blob);
  a.download = `pulse-messages-${new Date().toISOString().replace(/[:.]/g, '-')}.json`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
});

for (const button of document.querySelectorAll('button[data-copy]')) {
  button.addEventListener('click', async () => {
    const code = $(button.dataset.copy);
    let ok = false;
    try {
      await navigator.clipboard.writeText(code.textContent);
      ok = true;
    } catch {
      // no clipboard access (an insecure origin): select the text for the user to copy
      getSelection().selectAllChildren(code);
    }
    const label = button.textContent;
    button.textContent = ok ? 'Copied' : 'Selected';
    setTimeout(() => (button.textContent = label), 1500);
  });
}

document.addEventListener('keydown', (e) => {
  const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement;
  if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey) {
    e.preventDefault();
    ui.filter.focus();
  }
});

// ---- start ---------------------------------------------------------------------------------------

const hashAt = location.href.indexOf('#');
bindings = bindingsFromQuery(location.search, hashAt < 0 ? '' : location.href.slice(hashAt));
bindingsChanged();
updateCounts();
if (bindings.length === 0) ui.exchange.focus();

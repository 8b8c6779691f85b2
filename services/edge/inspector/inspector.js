// The Pulse inspector: the first user of the client library (@events-proxy/client, docs/client.md),
// which every edge serves at /client/events-proxy-client.js. It streams the v2 protocol
// (docs/protocol.md): the library resumes after every drop, backs off and retries by itself.
// No framework, no build step. Message content is untrusted: it only ever reaches the page through
// textContent and DOM nodes, never innerHTML.
//
// This file is always served at /inspector/inspector.js, so `../client/` is the edge's /client/
// whether the page is at / or /inspector/. The edge adds the client's version (`?v=`) to this import
// when it loads the page (services/edge/src/inspector.ts); keep it a plain static import.
import { connect } from '../client/events-proxy-client.js';

/** The v2 connect route, for the curl snippet (the library adds it to the base URL by itself). */
const CONNECT_PATH = 'api/events/v2/connect/';
const CLIENT_PATH = 'client/events-proxy-client.js';
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
/**
 * Kept messages, oldest first, at most `cap` of them, and between them the gaps the server
 * announced (`{ seq, receivedAt, gap: { from, to } }`), where messages may be missing.
 */
let kept = [];
/** How many of `kept` are gaps. */
let keptGaps = 0;
let cap = Number(ui.cap.value);
let received = 0;
let dropped = 0;
let gaps = 0;
let seq = 0;
/** Highest `seq` already in the list (or skipped by the filter). */
let renderedUpTo = 0;
let renderTimer = 0;
let paused = false;
let filterText = '';

/** The library's stream for the current bindings, or null. */
let stream = null;
/** Where the last stream got to, for the Reconnect button: it resumes from there. */
let lastCursor = '';

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
  return `${root}${CONNECT_PATH}?bindings=${encodeURIComponent(JSON.stringify({ bindings: list }))}`;
}

// ---- connection ----------------------------------------------------------------------------------

function setStatus(state, label, detail) {
  ui.status.dataset.state = state;
  ui.statusLabel.textContent = label;
  ui.statusDetail.textContent = detail;
  ui.reconnect.hidden = state !== 'closed' || bindings.length === 0;
}

function disconnect() {
  const old = stream;
  stream = null;
  old?.close();
}

/**
 * Opens the stream for the current bindings; with `resume`, from where the last one got to. The
 * library reconnects by itself after a drop, a drain or a retryable error (resuming from its last
 * cursor, so nothing is lost or repeated) and stops only on a terminal error.
 */
function start({ resume = false } = {}) {
  disconnect();
  if (bindings.length === 0) {
    setStatus('idle', 'Idle', 'Add a binding to start');
    return;
  }
  const since = resume && lastCursor ? lastCursor : undefined;
  let s;
  try {
    s = connect({ url: root, bindings, ...(since ? { since } : {}) });
  } catch (err) {
    setStatus('closed', 'Closed', err instanceof Error ? err.message : String(err));
    return;
  }
  stream = s;
  setStatus(
    'connecting',
    since ? 'Resuming' : 'Connecting',
    `Binding ${plural(bindings.length, 'binding')}…`,
  );
  /** Events of a stream the page has since replaced are ignored. */
  const mine = (fn) => (value) => {
    if (stream !== s) return;
    if (s.lastCursor) lastCursor = s.lastCursor;
    fn(value);
  };
  /** The last retryable error, said while the library retries. */
  let problem = '';
  s.on(
    'message',
    mine((m) => receive(m)),
  );
  s.on(
    'gap',
    mine((g) => receiveGap(g)),
  );
  s.on(
    'error',
    mine((e) => {
      // Terminal: the stream is over (its status becomes closed); the text is shown as sent.
      if (e.terminal) return setStatus('closed', 'Closed', e.message);
      problem = e.message;
      setStatus('connecting', 'Reconnecting', `${problem} (retrying; it resumes where it left off)`);
    }),
  );
  s.on(
    'status',
    mine((status) => {
      if (status === 'open') {
        problem = '';
        setStatus('ready', 'Ready', `Receiving messages for ${plural(bindings.length, 'binding')}`);
      } else if (status === 'reconnecting') {
        setStatus(
          'connecting',
          'Reconnecting',
          problem
            ? `${problem} (retrying; it resumes where it left off)`
            : 'The stream ended; reconnecting to resume where it left off',
        );
      } else if (status === 'closed' && ui.status.dataset.state !== 'closed') {
        setStatus('closed', 'Closed', 'The stream was closed');
      }
    }),
  );
}

const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// ---- messages ------------------------------------------------------------------------------------

/** A message from the library: `{ payload, exchange, routingKey, redelivered, routes, cursor }`. */
function receive(data) {
  received++;
  kept.push({ seq: ++seq, receivedAt: new Date(), data, search: undefined });
  // Trimmed in batches (at each render, or at twice the cap), not once per message.
  if (kept.length - keptGaps >= 2 * cap) trim();
  scheduleRender();
}

/** The server could not prove that nothing was missed between two cursors: said in the list. */
function receiveGap({ from, to }) {
  gaps++;
  keptGaps++;
  kept.push({ seq: ++seq, receivedAt: new Date(), gap: { from: String(from), to: String(to) } });
  scheduleRender();
}

/** Drops the oldest messages (and the gaps among them) until at most `cap` messages are kept. */
function trim() {
  let excess = kept.length - keptGaps - cap;
  if (excess <= 0) return;
  let cut = 0;
  for (; excess > 0; cut++) {
    if (kept[cut].gap) keptGaps--;
    else {
      excess--;
      dropped++;
    }
  }
  kept.splice(0, cut);
}

function scheduleRender() {
  if (renderTimer) return;
  renderTimer = setTimeout(render, RENDER_DELAY_MS);
}

function matches(m) {
  if (filterText === '' || m.gap) return true;
  const { exchange, routingKey, routes, payload } = m.data;
  m.search ??=
    `${exchange}\n${routingKey}\n${(routes ?? []).join('\n')}\n${JSON.stringify(payload)}`.toLowerCase();
  return m.search.includes(filterText);
}

/** Adds what arrived since the last render at the top, and removes what the cap dropped. */
function render() {
  renderTimer = 0;
  trim();
  if (!paused) {
    const fresh = [];
    for (let i = kept.length - 1; i >= 0 && kept[i].seq > renderedUpTo; i--) {
      if (matches(kept[i])) fresh.push(kept[i].gap ? gapNode(kept[i]) : messageNode(kept[i]));
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

function gapNode(g) {
  const li = el('li', 'gap');
  li.dataset.seq = String(g.seq);
  const time = el('time', 'gap-time', timeText(g.receivedAt));
  time.dateTime = g.receivedAt.toISOString();
  const text = el('span', 'gap-text');
  text.append(
    el('strong', '', 'Messages may be missing here'),
    ' between ',
    el('code', 'gap-from', g.gap.from),
    ' and ',
    el('code', 'gap-to', g.gap.to),
    ': the server could not prove that it replayed everything published meanwhile.',
  );
  li.append(time, text);
  return li;
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
  const keptMessages = kept.length - keptGaps;
  const shown = ui.messages.querySelectorAll(':scope > li.message').length;
  ui.noMessages.hidden = kept.length > 0;
  const parts = [];
  if (keptMessages === 0) parts.push(received === 0 ? 'No messages yet' : 'No messages kept');
  else if (filterText !== '' || paused)
    parts.push(`${shown.toLocaleString()} shown of ${keptMessages.toLocaleString()} kept`);
  else parts.push(`${keptMessages.toLocaleString()} kept`);
  parts.push(`${received.toLocaleString()} received`);
  if (dropped > 0) parts.push(`${dropped.toLocaleString()} dropped (over ${cap.toLocaleString()})`);
  if (gaps > 0) parts.push(`${plural(gaps, 'gap')}`);
  ui.counts.textContent = parts.join(' · ');
  ui.counts.dataset.received = String(received);
  ui.counts.dataset.kept = String(keptMessages);
  ui.counts.dataset.gaps = String(gaps);
  let waiting = 0;
  for (let i = kept.length - 1; i >= 0 && kept[i].seq > renderedUpTo; i--) if (!kept[i].gap) waiting++;
  ui.pausedNote.hidden = !paused;
  ui.pausedNote.textContent = paused
    ? `Paused: ${plural(waiting, 'new message')} waiting. Messages are still received and kept.`
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
    // New bindings start from now: a cursor resumes the old ones' stream.
    lastCursor = '';
    start();
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
    `// In a <script type="module">. It resumes by itself after a drop: nothing lost, nothing twice.`,
    `import { connect } from ${JSON.stringify(root + CLIENT_PATH)};`,
    ``,
    `const stream = connect({`,
    `  url: ${JSON.stringify(root)},`,
    `  bindings: ${literal.replace(/\n/g, '\n  ')},`,
    `});`,
    `stream.on('ready', () => console.log('ready: messages published from now on arrive'));`,
    `stream.on('message', ({ exchange, routingKey, routes, payload }) => {`,
    `  console.log(exchange, routingKey, routes, payload);`,
    `});`,
    `stream.on('gap', ({ from, to }) => console.warn('messages may be missing between', from, 'and', to));`,
    `stream.on('error', ({ message, terminal }) => {`,
    `  console.error(terminal ? 'stopped:' : 'retrying:', message); // it retries unless terminal`,
    `});`,
    `// stream.lastCursor: pass it as \`since\` to a later connect() to carry on from there.`,
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

ui.reconnect.addEventListener('click', () => start({ resume: true }));

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
  keptGaps = 0;
  received = 0;
  dropped = 0;
  gaps = 0;
  rerender();
});

ui.download.addEventListener('click', () => {
  const list = kept
    .filter((m) => !m.gap && matches(m))
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

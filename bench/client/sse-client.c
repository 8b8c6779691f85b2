/*
 * sse-client: holds many Server-Sent Events connections from one process with epoll, checks
 * every `message` for sequence order and records publish-to-receive latency.
 *
 * Each connection i (0-based, plus --index-offset) sends
 *   GET <path with every "__I__" replaced by i> HTTP/1.1
 * from source address 127.<src-net>.<x>.<y> (1,000 connections per address), reads the
 * response (chunked or close-delimited) and parses SSE frames. A `message` frame's data must
 * carry `"seq":<n>` and `"t":<CLOCK_MONOTONIC ns at publish>` (the payload the harness
 * publishes): per connection seq must run 0,1,2,... with no duplicate and no gap.
 *
 * --paths-file F gives one path per line instead of --path: connection i uses line i % lines.
 *
 * Reconnect mode (--reconnect-ports P1,P2,...): a connection whose stream ends, or whose connect or
 * request fails, opens a new one after a random delay in [0, --reconnect-jitter-ms] to
 * reconnect-ports[(i + attempt) % n], as a browser behind a load balancer would (a port that
 * refuses is skipped at the next attempt). After a reconnect the sequence check restarts at the
 * first message received, and that message must not follow one published (payload "p", the
 * previous publish time of its key) after the new `ready` arrived: otherwise it counts in
 * lostAfterReady, a message the server should have delivered and did not.
 *
 * Load-balancer mode (--endpoints P1,P2,...): every connection, the first and each reconnect, goes to
 * the next port of the list, round robin over the whole process, as a Kubernetes Service sends new
 * connections to its ready endpoints; stdin command "e<P1>,<P2>,...\n" replaces the list (an edge that
 * drains leaves it, its replacement joins it once ready). It implies reconnect mode.
 *
 * Resume mode (--resume, the v2 protocol, with a reconnect mode): the client behaves as a browser's
 * EventSource does with a v2 stream. It keeps the last `id:` it was sent (a cursor
 * `<13-digit ms>-<6-digit seq>`, packed into 8 bytes; `-` kept as such), reconnects after the stream's
 * `retry:` delay (the jitter option only when the server sent none) with `Last-Event-ID: <last id>`,
 * and does NOT restart the sequence check: a resumed stream must carry on at the next seq, so every
 * message lost or repeated across a reconnect counts in gaps/missing or duplicates. Also counted:
 * `gap` events, `message` cursors not after the previous id (cursorRegressions), ids that are neither
 * `-` nor a cursor (badIds), `retry:` fields, and 200 responses that ended before any event
 * (retryOnly: what a draining edge answers).
 *
 * Phases (any reconnect mode): stdin "p<k>\n" starts phase k (1..15) and "t<k> <ns>\n" sets its origin
 * (CLOCK_MONOTONIC ns, e.g. when the harness sent SIGTERM). A ready stream that ends is counted in
 * the current phase, and when its replacement gets `ready`, the time from that phase's origin goes
 * into the phase's histogram: "how long after edge k's SIGTERM were all its clients streaming again".
 *
 * Reports are one JSON line on stdout:
 *   - once when every connection has settled (ready, failed or closed): reason "settled";
 *   - on "r\n" on stdin or SIGUSR1: reason "request" (the interval figures then restart);
 *   - on "q\n", end of stdin, SIGTERM or SIGINT: reason "final", then the process exits;
 *   - on "a<n>\n": {"reason":"ack","token":n}, once every command before it has been applied.
 * Build: gcc -O2 -o sse-client sse-client.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

enum { ST_IDLE, ST_CONNECTING, ST_SENDING, ST_HEADERS, ST_STREAM, ST_CLOSED };
enum { CH_SIZE, CH_SIZE_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_END };

typedef struct {
  int fd;
  uint8_t state, chunked, chunk_state, ready;
  uint8_t resumed;  /* this stream is a reconnect: the sequence restarts at its first message */
  uint8_t saw_event; /* this response carried an event (else a 200 that ended at once: retryOnly) */
  uint8_t end_phase; /* the phase its last ready stream ended in (0: none pending) */
  uint32_t retry_ms; /* resume mode: the last `retry:` the server sent (0: none) */
  uint64_t last_id;  /* resume mode: the last id, packed (0: none; ID_DASH: "-") */
  uint32_t chunk_left;
  uint32_t attempt; /* reconnects made so far */
  int64_t next_seq; /* -1: not known yet (a reconnected stream before its first message) */
  uint64_t started_ns, ready_ns, ended_ns;
  char *buf; /* pending bytes: request tail, response headers or a partial frame */
  uint32_t len, cap, sent;
} conn_t;

/* Log-linear histogram in microseconds: exact below 64, then 32 sub-buckets per power of two. */
#define HIST_SUB 32
#define HIST_EXPS 34
#define HIST_SIZE (64 + HIST_EXPS * HIST_SUB)
typedef struct {
  uint64_t counts[HIST_SIZE];
  uint64_t n, max, sum;
} hist_t;

static int hist_index(uint64_t v) {
  if (v < 64) return (int)v;
  int exp = 63 - __builtin_clzll(v);
  if (exp - 6 >= HIST_EXPS) return HIST_SIZE - 1;
  return 64 + (exp - 6) * HIST_SUB + (int)((v >> (exp - 5)) & (HIST_SUB - 1));
}
static uint64_t hist_low(int i) {
  if (i < 64) return (uint64_t)i;
  int exp = (i - 64) / HIST_SUB + 6, sub = (i - 64) % HIST_SUB;
  return ((uint64_t)(HIST_SUB + sub)) << (exp - 5);
}
static uint64_t hist_high(int i) { return i + 1 < HIST_SIZE ? hist_low(i + 1) : hist_low(i) * 2; }
static void hist_add(hist_t *h, uint64_t v) {
  h->counts[hist_index(v)]++;
  h->n++;
  h->sum += v;
  if (v > h->max) h->max = v;
}

#define MAX_PORTS 16
static struct {
  const char *host, *path;
  int port, src_net, conns, offset, max_pending;
  double rate;
  int reconnect_ports[MAX_PORTS], n_reconnect_ports, jitter_ms;
  int balance; /* --endpoints: every connection goes to the next port of reconnect_ports */
  int resume;  /* --resume: v2 EventSource behaviour */
} opt = {"127.0.0.1", "/", 0, 0, 1, 0, 256, 0, {0}, 0, 0, 0, 0};
static unsigned next_endpoint;

#define ID_DASH UINT64_MAX
#define MAX_PHASES 16
static int cur_phase;
static uint64_t phase_origin_ns[MAX_PHASES], phase_ends[MAX_PHASES], phase_retry_only[MAX_PHASES], phase_unattributed;
static hist_t phase_back[MAX_PHASES];

static char **paths;
static int n_paths;

static struct {
  uint64_t started, connected, connect_failed, http_ok, http_bad, ready, error_events, pings;
  uint64_t closed_before_ready, closed_after_ready, messages, bytes, in_order, duplicates, gaps;
  uint64_t missing, bad_frames;
  uint64_t reconnects, reconnect_ready, lost_after_ready, first_ready_ns, last_ready_ns;
  uint64_t first_end_ns, last_end_ns; /* reconnect mode: first and last end of a ready stream */
  uint64_t reconnect_ready_at_last_end;
  uint64_t gap_events, cursor_regressions, bad_ids, retry_fields, retry_only;
  int last_status;
  char first_error[256];
} st;

static conn_t *conns;
static hist_t lat_total, lat_interval, ready_lat, reconnect_lat;
static uint64_t interval_messages, interval_started_ns;
static int ep, opened, pending, settled_reported;
static uint64_t start_ns;
static char rbuf[1 << 18];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "sse-client: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void note_error(const char *text, size_t len) {
  if (st.first_error[0]) return;
  if (len > sizeof st.first_error - 1) len = sizeof st.first_error - 1;
  for (size_t i = 0; i < len; i++) {
    char c = text[i];
    st.first_error[i] = (c == '"' || c == '\\' || (unsigned char)c < 0x20) ? '\'' : c;
  }
  st.first_error[len] = 0;
}

static void ensure_cap(conn_t *c, uint32_t need) {
  if (need <= c->cap) return;
  uint32_t cap = c->cap ? c->cap : 2048;
  while (cap < need) cap *= 2;
  c->buf = realloc(c->buf, cap);
  if (!c->buf) die("realloc");
  c->cap = cap;
}

static void drop_buf(conn_t *c) {
  free(c->buf);
  c->buf = NULL;
  c->len = c->cap = 0;
}

/* Reconnects waiting for their time: a binary min-heap on due time. */
typedef struct {
  uint64_t due_ns;
  uint32_t idx;
} due_t;
static due_t *due_heap;
static int due_len;

static void due_push(uint64_t due_ns, uint32_t idx) {
  int i = due_len++;
  while (i > 0) {
    int parent = (i - 1) / 2;
    if (due_heap[parent].due_ns <= due_ns) break;
    due_heap[i] = due_heap[parent];
    i = parent;
  }
  due_heap[i] = (due_t){due_ns, idx};
}

static due_t due_pop(void) {
  due_t top = due_heap[0], last = due_heap[--due_len];
  int i = 0;
  for (;;) {
    int child = 2 * i + 1;
    if (child >= due_len) break;
    if (child + 1 < due_len && due_heap[child + 1].due_ns < due_heap[child].due_ns) child++;
    if (due_heap[child].due_ns >= last.due_ns) break;
    due_heap[i] = due_heap[child];
    i = child;
  }
  if (due_len > 0) due_heap[i] = last;
  return top;
}

static void close_conn(conn_t *c) {
  if (c->state == ST_CLOSED) return;
  if (c->state == ST_STREAM && c->ready) st.closed_after_ready++;
  else st.closed_before_ready++;
  if (c->state == ST_STREAM && !c->saw_event) {
    st.retry_only++;
    phase_retry_only[cur_phase]++;
  }
  if (!c->ready) pending--;
  close(c->fd);
  c->state = ST_CLOSED;
  drop_buf(c);
  if (opt.balance || opt.n_reconnect_ports > 0) {
    uint64_t now = now_ns();
    if (c->ready || !c->ended_ns) c->ended_ns = now; /* a failed retry keeps the first end */
    if (c->ready) {
      if (!st.first_end_ns) st.first_end_ns = now;
      st.last_end_ns = now;
      st.reconnect_ready_at_last_end = st.reconnect_ready;
      c->end_phase = (uint8_t)cur_phase;
      phase_ends[cur_phase]++;
    }
    /* As a browser: the server's retry: delay; without one, a random 0..jitter. */
    uint64_t delay = opt.resume && c->retry_ms > 0 ? (uint64_t)c->retry_ms * 1000000ull
                     : opt.jitter_ms > 0 ? (uint64_t)(rand() % (opt.jitter_ms * 1000)) * 1000
                                         : 0;
    due_push(now + delay, (uint32_t)(c - conns));
  }
}

static const char *find_num(const char *p, const char *end, const char *key, size_t klen) {
  const char *k = memmem(p, (size_t)(end - p), key, klen);
  return k ? k + klen : NULL;
}

static void on_message(conn_t *c, const char *data, const char *end, uint64_t now) {
  const char *s = find_num(data, end, "\"seq\":", 6);
  const char *t = find_num(data, end, "\"t\":", 4);
  if (!s || !t) {
    st.bad_frames++;
    return;
  }
  int64_t seq = strtoll(s, NULL, 10);
  uint64_t sent = strtoull(t, NULL, 10);
  st.messages++;
  interval_messages++;
  if (c->next_seq < 0) {
    /* First message of a reconnected stream: the one before it must predate `ready`. */
    const char *p = find_num(data, end, "\"p\":", 4);
    if (p && seq > 0 && strtoull(p, NULL, 10) > c->ready_ns) {
      st.lost_after_ready++;
      note_error("a message published after ready was not delivered", 50);
    }
    c->next_seq = seq;
  }
  if (seq == c->next_seq) {
    st.in_order++;
    c->next_seq++;
  } else if (seq < c->next_seq) {
    st.duplicates++;
  } else {
    st.gaps++;
    st.missing += (uint64_t)(seq - c->next_seq);
    c->next_seq = seq + 1;
  }
  uint64_t us = now > sent ? (now - sent) / 1000 : 0;
  hist_add(&lat_total, us);
  hist_add(&lat_interval, us);
}

/* A cursor `<13 digits>-<6 digits>` packed as ms * 1e6 + seq (string order = number order); 0 if not. */
static uint64_t pack_cursor(const char *p, size_t len) {
  if (len != 20 || p[13] != '-') return 0;
  uint64_t ms = 0, seq = 0;
  for (int i = 0; i < 13; i++) {
    if (p[i] < '0' || p[i] > '9') return 0;
    ms = ms * 10 + (uint64_t)(p[i] - '0');
  }
  for (int i = 14; i < 20; i++) {
    if (p[i] < '0' || p[i] > '9') return 0;
    seq = seq * 10 + (uint64_t)(p[i] - '0');
  }
  return ms * 1000000ull + seq + 1; /* + 1: the origin cursor is not "none" */
}

/* Resume mode: keeps an event's id (the browser's lastEventId). Messages must move past the last one. */
static void on_id(conn_t *c, const char *id, size_t len, int is_message) {
  if (len == 1 && id[0] == '-') {
    c->last_id = ID_DASH;
    return;
  }
  uint64_t v = pack_cursor(id, len);
  if (!v) {
    st.bad_ids++;
    note_error("an id that is neither - nor a cursor", 36);
    return;
  }
  if (c->last_id != 0 && c->last_id != ID_DASH && (is_message ? v <= c->last_id : v < c->last_id)) {
    st.cursor_regressions++;
    note_error("a cursor not after the previous id", 34);
  }
  c->last_id = v;
}

/*
 * One complete frame [p, end) (blank line removed): "event: <kind>\ndata: <json>\nid: <id>\n", or a
 * lone "retry: <ms>\n" (v2 streams start with one).
 */
static void on_frame(conn_t *c, const char *p, const char *end, uint64_t now) {
  const char *kind = NULL, *data = NULL, *data_end = NULL, *id = NULL;
  size_t klen = 0, idlen = 0;
  int retry = 0;
  for (const char *line = p; line < end;) {
    const char *nl = memchr(line, '\n', (size_t)(end - line));
    const char *le = nl ? nl : end;
    size_t ll = (size_t)(le - line);
    if (ll >= 7 && memcmp(line, "event: ", 7) == 0) {
      kind = line + 7;
      klen = ll - 7;
    } else if (ll >= 6 && memcmp(line, "data: ", 6) == 0) {
      if (!data) {
        data = line + 6;
        data_end = le;
      }
    } else if (ll >= 4 && memcmp(line, "id: ", 4) == 0) {
      id = line + 4;
      idlen = ll - 4;
    } else if (ll > 7 && memcmp(line, "retry: ", 7) == 0) {
      c->retry_ms = (uint32_t)strtoul(line + 7, NULL, 10);
      retry = 1;
    } else {
      st.bad_frames++;
      return;
    }
    line = le + 1;
  }
  if (retry) st.retry_fields++;
  if (!kind) {
    if (!retry) st.bad_frames++;
    return;
  }
  if (!data) {
    st.bad_frames++;
    return;
  }
  c->saw_event = 1;
  int is_message = klen == 7 && memcmp(kind, "message", 7) == 0;
  if (is_message) {
    on_message(c, data, data_end, now);
  } else if (klen == 5 && memcmp(kind, "ready", 5) == 0) {
    if (!c->ready) {
      c->ready = 1;
      c->ready_ns = now;
      st.ready++;
      pending--;
      hist_add(&ready_lat, (now - c->started_ns) / 1000);
      if (!st.first_ready_ns) st.first_ready_ns = now;
      st.last_ready_ns = now;
      if (c->resumed) {
        st.reconnect_ready++;
        hist_add(&reconnect_lat, (now - c->ended_ns) / 1000);
        c->ended_ns = 0;
      }
      if (c->end_phase) {
        uint64_t origin = phase_origin_ns[c->end_phase];
        if (origin && now > origin) hist_add(&phase_back[c->end_phase], (now - origin) / 1000);
        else phase_unattributed++;
        c->end_phase = 0;
      }
    }
  } else if (klen == 4 && memcmp(kind, "ping", 4) == 0) {
    st.pings++;
  } else if (klen == 5 && memcmp(kind, "error", 5) == 0) {
    st.error_events++;
    note_error(data, (size_t)(data_end - data));
  } else if (klen == 3 && memcmp(kind, "gap", 3) == 0) {
    st.gap_events++;
    note_error("gap event", 9);
  } else {
    st.bad_frames++;
  }
  if (opt.resume && id) on_id(c, id, idlen, is_message);
}

/* Feeds de-chunked body bytes; frames end with a blank line. */
static void feed_sse(conn_t *c, char *data, size_t len, uint64_t now) {
  if (len == 0) return;
  char *p, *end;
  size_t scan_from = 0;
  if (c->len > 0) {
    scan_from = c->len > 0 ? c->len - 1 : 0;
    ensure_cap(c, c->len + (uint32_t)len);
    memcpy(c->buf + c->len, data, len);
    c->len += (uint32_t)len;
    p = c->buf;
    end = c->buf + c->len;
  } else {
    p = data;
    end = data + len;
  }
  char *scan = p + scan_from;
  for (;;) {
    char *sep = memmem(scan, (size_t)(end - scan), "\n\n", 2);
    if (!sep) break;
    on_frame(c, p, sep + 1, now);
    p = scan = sep + 2;
  }
  size_t rest = (size_t)(end - p);
  if (c->len > 0) {
    if (rest == 0) {
      c->len = 0;
      if (c->cap > 65536) drop_buf(c);
    } else if (p != c->buf) {
      memmove(c->buf, p, rest);
      c->len = (uint32_t)rest;
    }
  } else if (rest > 0) {
    ensure_cap(c, (uint32_t)rest);
    memcpy(c->buf, p, rest);
    c->len = (uint32_t)rest;
  }
}

static int hexval(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* Removes chunked framing in place; returns the length of the body bytes now at data. */
static size_t dechunk(conn_t *c, char *data, size_t len) {
  size_t in = 0, out = 0;
  while (in < len) {
    char ch = data[in];
    switch (c->chunk_state) {
      case CH_SIZE: {
        int v = hexval(ch);
        if (v >= 0) c->chunk_left = c->chunk_left * 16 + (uint32_t)v;
        else if (ch == '\r') c->chunk_state = CH_SIZE_LF;
        else c->chunk_state = CH_SIZE_EXT;
        in++;
        break;
      }
      case CH_SIZE_EXT:
        if (ch == '\r') c->chunk_state = CH_SIZE_LF;
        in++;
        break;
      case CH_SIZE_LF:
        in++;
        c->chunk_state = c->chunk_left ? CH_DATA : CH_END;
        break;
      case CH_DATA: {
        size_t n = len - in < c->chunk_left ? len - in : c->chunk_left;
        memmove(data + out, data + in, n);
        out += n;
        in += n;
        c->chunk_left -= (uint32_t)n;
        if (!c->chunk_left) c->chunk_state = CH_DATA_CR;
        break;
      }
      case CH_DATA_CR:
        in++;
        c->chunk_state = CH_DATA_LF;
        break;
      case CH_DATA_LF:
        in++;
        c->chunk_state = CH_SIZE;
        c->chunk_left = 0;
        break;
      default: /* CH_END: the last chunk; the server ends the response */
        in = len;
    }
  }
  return out;
}

static void feed_body(conn_t *c, char *data, size_t len, uint64_t now) {
  if (c->chunked) len = dechunk(c, data, len);
  feed_sse(c, data, len, now);
  /* The last chunk ends the stream, as for a browser, even if the server keeps the socket alive. */
  if (c->chunked && c->chunk_state == CH_END) close_conn(c);
}

static void on_headers(conn_t *c, uint64_t now) {
  char *hend = memmem(c->buf, c->len, "\r\n\r\n", 4);
  if (!hend) return;
  *hend = 0;
  int status = 0;
  if (c->len > 12 && sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1) status = 0;
  st.last_status = status;
  if (status != 200) {
    st.http_bad++;
    char line[160];
    int n = snprintf(line, sizeof line, "HTTP status %d", status);
    note_error(line, (size_t)n);
    close_conn(c);
    return;
  }
  st.http_ok++;
  for (char *h = c->buf; *h; h++) *h = (char)((*h >= 'A' && *h <= 'Z') ? *h + 32 : *h);
  c->chunked = strstr(c->buf, "\ntransfer-encoding: chunked") != NULL;
  c->state = ST_STREAM;
  size_t body_len = c->len - (size_t)(hend + 4 - c->buf);
  char body[4096];
  char *copy = body_len <= sizeof body ? body : malloc(body_len);
  if (!copy) die("malloc");
  memcpy(copy, hend + 4, body_len);
  c->len = 0;
  drop_buf(c);
  feed_body(c, copy, body_len, now);
  if (copy != body) free(copy);
}

static void on_readable(conn_t *c) {
  for (int rounds = 0; rounds < 4; rounds++) {
    ssize_t n = read(c->fd, rbuf, sizeof rbuf);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      close_conn(c);
      return;
    }
    uint64_t now = now_ns();
    st.bytes += (uint64_t)n;
    if (c->state == ST_HEADERS) {
      ensure_cap(c, c->len + (uint32_t)n + 1);
      memcpy(c->buf + c->len, rbuf, (size_t)n);
      c->len += (uint32_t)n;
      on_headers(c, now);
    } else if (c->state == ST_STREAM) {
      feed_body(c, rbuf, (size_t)n, now);
    }
    if (c->state == ST_CLOSED || (size_t)n < sizeof rbuf) return;
  }
}

static void send_request(conn_t *c) {
  for (;;) {
    ssize_t n = write(c->fd, c->buf + c->sent, c->len - c->sent);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {
      note_error(strerror(errno), strlen(strerror(errno)));
      close_conn(c);
      return;
    }
    c->sent += (uint32_t)n;
    if (c->sent == c->len) break;
  }
  c->len = c->sent = 0;
  c->state = ST_HEADERS;
  struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.u32 = (uint32_t)(c - conns)};
  epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void on_writable(conn_t *c) {
  if (c->state == ST_CONNECTING) {
    int err = 0;
    socklen_t elen = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err) {
      st.connect_failed++;
      note_error(strerror(err), strlen(strerror(err)));
      close_conn(c);
      return;
    }
    st.connected++;
    c->state = ST_SENDING;
  }
  if (c->state == ST_SENDING) send_request(c);
}

static void build_request(conn_t *c, int index, int port) {
  char num[16];
  int nlen = snprintf(num, sizeof num, "%d", index);
  const char *path = n_paths > 0 ? paths[index % n_paths] : opt.path;
  size_t plen = strlen(path);
  ensure_cap(c, (uint32_t)(plen * 2 + 320));
  char *o = c->buf;
  o += sprintf(o, "GET ");
  for (const char *p = path; *p;) {
    if (strncmp(p, "__I__", 5) == 0) {
      memcpy(o, num, (size_t)nlen);
      o += nlen;
      p += 5;
    } else {
      *o++ = *p++;
    }
  }
  o += sprintf(o, " HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n", opt.host, port);
  if (opt.resume && c->last_id == ID_DASH) o += sprintf(o, "Last-Event-ID: -\r\n");
  else if (opt.resume && c->last_id) {
    uint64_t v = c->last_id - 1;
    o += sprintf(o, "Last-Event-ID: %013llu-%06llu\r\n", (unsigned long long)(v / 1000000ull),
                 (unsigned long long)(v % 1000000ull));
  }
  o += sprintf(o, "\r\n");
  c->len = (uint32_t)(o - c->buf);
  c->sent = 0;
}

static void open_conn(int i) {
  conn_t *c = &conns[i];
  int index = opt.offset + i;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) die("socket");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (opt.src_net > 0) {
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    int slot = i / 1000 + 1;
    struct sockaddr_in src = {.sin_family = AF_INET};
    src.sin_addr.s_addr = htonl((127u << 24) | ((uint32_t)opt.src_net << 16) | (uint32_t)((slot >> 8) << 8) |
                                (uint32_t)(slot & 255));
    if (bind(fd, (struct sockaddr *)&src, sizeof src) < 0) die("bind");
  }
  int again = c->started_ns != 0;
  int port = opt.balance ? opt.reconnect_ports[next_endpoint++ % (unsigned)opt.n_reconnect_ports]
             : again     ? opt.reconnect_ports[(i + c->attempt) % opt.n_reconnect_ports]
                         : opt.port;
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, opt.host, &dst.sin_addr);
  c->fd = fd;
  c->started_ns = now_ns();
  c->state = ST_CONNECTING;
  c->chunked = c->chunk_state = 0;
  c->chunk_left = 0;
  c->saw_event = 0;
  if (again) {
    c->attempt++;
    st.reconnects++;
    if (c->ready) c->resumed = 1;
    /* v1: a new stream, the sequence restarts; v2 (resume): it must carry on where it was. */
    if (c->resumed && !opt.resume) c->next_seq = -1;
  }
  c->ready = 0;
  build_request(c, index, port);
  st.started++;
  pending++;
  if (!again) opened++;
  struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (uint32_t)i};
  if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  if (connect(fd, (struct sockaddr *)&dst, sizeof dst) < 0 && errno != EINPROGRESS) {
    st.connect_failed++;
    note_error(strerror(errno), strlen(strerror(errno)));
    close_conn(c);
  }
}

/* Load-balancer mode with every endpoint gone: connections wait until the list has one again. */
static int has_endpoint(void) { return !opt.balance || opt.n_reconnect_ports > 0; }

static void print_hist(const char *name, const hist_t *h) {
  printf("\"%s\":{\"n\":%llu,\"max\":%llu,\"sum\":%llu,\"buckets\":[", name, (unsigned long long)h->n,
         (unsigned long long)h->max, (unsigned long long)h->sum);
  int first = 1;
  for (int i = 0; i < HIST_SIZE; i++) {
    if (!h->counts[i]) continue;
    printf("%s[%llu,%llu,%llu]", first ? "" : ",", (unsigned long long)hist_low(i),
           (unsigned long long)hist_high(i), (unsigned long long)h->counts[i]);
    first = 0;
  }
  printf("]}");
}

static void report(const char *reason) {
  int64_t seq_min = -1, seq_max = -1, seq_sum = 0;
  int open_now = 0, ready_now = 0, unsynced = 0;
  for (int i = 0; i < opened; i++) {
    conn_t *c = &conns[i];
    if (c->next_seq > 0) seq_sum += c->next_seq;
    if (c->state != ST_CLOSED) open_now++;
    if (c->state != ST_CLOSED && c->ready) ready_now++;
    if (!c->ready) continue;
    if (c->next_seq < 0) {
      unsynced += c->state != ST_CLOSED;
      continue;
    }
    if (seq_min < 0 || c->next_seq < seq_min) seq_min = c->next_seq;
    if (c->next_seq > seq_max) seq_max = c->next_seq;
  }
  uint64_t now = now_ns();
#define U(x) (unsigned long long)(x)
  printf("{\"reason\":\"%s\",\"pid\":%d,\"elapsedMs\":%.3f,\"intervalMs\":%.3f,\"conns\":%d,\"opened\":%d,"
         "\"open\":%d,\"readyNow\":%d,"
         "\"connected\":%llu,\"connectFailed\":%llu,\"httpOk\":%llu,\"httpBad\":%llu,\"lastStatus\":%d,"
         "\"ready\":%llu,\"errorEvents\":%llu,\"pings\":%llu,\"closedBeforeReady\":%llu,"
         "\"closedAfterReady\":%llu,\"messages\":%llu,\"intervalMessages\":%llu,\"bytes\":%llu,"
         "\"inOrder\":%llu,\"duplicates\":%llu,\"gaps\":%llu,\"missing\":%llu,\"badFrames\":%llu,"
         "\"nextSeqMin\":%lld,\"nextSeqMax\":%lld,\"reconnects\":%llu,\"reconnectReady\":%llu,"
         "\"lostAfterReady\":%llu,\"waitingReconnect\":%d,\"readyWithoutMessage\":%d,\"nowNs\":%llu,\"firstReadyNs\":%llu,"
         "\"lastReadyNs\":%llu,\"firstEndNs\":%llu,\"lastEndNs\":%llu,\"reconnectReadyAtLastEnd\":%llu,"
         "\"nextSeqSum\":%lld,\"gapEvents\":%llu,\"cursorRegressions\":%llu,\"badIds\":%llu,\"retryFields\":%llu,"
         "\"retryOnly\":%llu,\"phaseUnattributed\":%llu,\"firstError\":\"%s\",",
         reason, (int)getpid(), (double)(now - start_ns) / 1e6, (double)(now - interval_started_ns) / 1e6,
         opt.conns, opened, open_now, ready_now, U(st.connected), U(st.connect_failed), U(st.http_ok),
         U(st.http_bad), st.last_status, U(st.ready), U(st.error_events), U(st.pings),
         U(st.closed_before_ready), U(st.closed_after_ready), U(st.messages), U(interval_messages),
         U(st.bytes), U(st.in_order), U(st.duplicates), U(st.gaps), U(st.missing), U(st.bad_frames),
         (long long)seq_min, (long long)seq_max, U(st.reconnects), U(st.reconnect_ready),
         U(st.lost_after_ready), due_len, unsynced, U(now), U(st.first_ready_ns), U(st.last_ready_ns), U(st.first_end_ns),
         U(st.last_end_ns), U(st.reconnect_ready_at_last_end), (long long)seq_sum, U(st.gap_events),
         U(st.cursor_regressions), U(st.bad_ids), U(st.retry_fields), U(st.retry_only), U(phase_unattributed),
         st.first_error);
  print_hist("latencyUs", &lat_total);
  putchar(',');
  print_hist("intervalLatencyUs", &lat_interval);
  putchar(',');
  print_hist("readyUs", &ready_lat);
  putchar(',');
  print_hist("reconnectUs", &reconnect_lat);
  printf(",\"phases\":[");
  int first = 1;
  for (int k = 0; k < MAX_PHASES; k++) {
    if (!phase_ends[k] && !phase_back[k].n && !phase_retry_only[k]) continue;
    printf("%s{\"phase\":%d,\"ends\":%llu,\"retryOnly\":%llu,", first ? "" : ",", k, U(phase_ends[k]),
           U(phase_retry_only[k]));
    print_hist("backUs", &phase_back[k]);
    putchar('}');
    first = 0;
  }
  printf("]}\n");
#undef U
  fflush(stdout);
  memset(&lat_interval, 0, sizeof lat_interval);
  interval_messages = 0;
  interval_started_ns = now;
}

/* Replaces the endpoint list (load-balancer mode) from "P1,P2,...". */
static void set_endpoints(const char *list) {
  int n = 0;
  for (const char *p = list; *p && n < MAX_PORTS;) {
    int port = atoi(p);
    if (port > 0) opt.reconnect_ports[n++] = port;
    const char *comma = strchr(p, ',');
    if (!comma) break;
    p = comma + 1;
  }
  opt.n_reconnect_ports = n;
}

/* One stdin command line; returns 1 to quit. */
static int run_command(char *line) {
  switch (line[0]) {
    case 'q':
      return 1;
    case 'r':
      report("request");
      break;
    case 'a': /* acknowledges every command before it */
      printf("{\"reason\":\"ack\",\"token\":%ld}\n", strtol(line + 1, NULL, 10));
      fflush(stdout);
      break;
    case 'e':
      set_endpoints(line + 1);
      break;
    case 'p': {
      int k = atoi(line + 1);
      if (k > 0 && k < MAX_PHASES) cur_phase = k;
      break;
    }
    case 't': {
      char *rest;
      long k = strtol(line + 1, &rest, 10);
      if (k > 0 && k < MAX_PHASES) phase_origin_ns[k] = strtoull(rest, NULL, 10);
      break;
    }
  }
  return 0;
}

static char cmd_line[512];
static size_t cmd_len;

static int on_stdin(void) {
  char buf[512];
  ssize_t n = read(0, buf, sizeof buf);
  if (n <= 0) return 1;
  for (ssize_t i = 0; i < n; i++) {
    if (buf[i] != '\n') {
      if (cmd_len < sizeof cmd_line - 1) cmd_line[cmd_len++] = buf[i];
      continue;
    }
    cmd_line[cmd_len] = 0;
    cmd_len = 0;
    if (run_command(cmd_line)) return 1;
  }
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: sse-client --port P --path PATH --conns N [--host 127.0.0.1] [--index-offset K]\n"
          "                  [--src-net S (1-254; 0 = no bind)] [--connect-rate PER_SEC] [--max-pending M]\n"
          "                  [--paths-file F] [--reconnect-ports P1,P2,... [--reconnect-jitter-ms J]]\n"
          "                  [--endpoints P1,P2,... (--port optional)] [--resume 1]\n");
  exit(2);
}

static void read_paths(const char *file) {
  FILE *f = fopen(file, "r");
  if (!f) die(file);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, f)) > 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    if (n == 0) continue;
    paths = realloc(paths, (size_t)(n_paths + 1) * sizeof *paths);
    if (!paths) die("realloc");
    paths[n_paths++] = strdup(line);
  }
  free(line);
  fclose(f);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(a, "--host")) opt.host = v;
    else if (!strcmp(a, "--port")) opt.port = atoi(v);
    else if (!strcmp(a, "--path")) opt.path = v;
    else if (!strcmp(a, "--conns")) opt.conns = atoi(v);
    else if (!strcmp(a, "--index-offset")) opt.offset = atoi(v);
    else if (!strcmp(a, "--src-net")) opt.src_net = atoi(v);
    else if (!strcmp(a, "--connect-rate")) opt.rate = atof(v);
    else if (!strcmp(a, "--max-pending")) opt.max_pending = atoi(v);
    else if (!strcmp(a, "--paths-file")) read_paths(v);
    else if (!strcmp(a, "--reconnect-jitter-ms")) opt.jitter_ms = atoi(v);
    else if (!strcmp(a, "--resume")) opt.resume = atoi(v) != 0;
    else if (!strcmp(a, "--endpoints")) {
      set_endpoints(v);
      opt.balance = 1;
    }
    else if (!strcmp(a, "--reconnect-ports")) {
      for (char *tok = strtok((char *)v, ","); tok && opt.n_reconnect_ports < MAX_PORTS; tok = strtok(NULL, ","))
        opt.reconnect_ports[opt.n_reconnect_ports++] = atoi(tok);
    } else usage();
    i++;
  }
  if ((opt.port <= 0 && !opt.balance) || opt.conns <= 0 || opt.src_net < 0 || opt.src_net > 254) usage();
  if (opt.balance && opt.n_reconnect_ports == 0) usage();
  if (opt.resume && opt.n_reconnect_ports == 0) usage();
  conns = calloc((size_t)opt.conns, sizeof *conns);
  due_heap = calloc((size_t)opt.conns, sizeof *due_heap);
  if (!conns || !due_heap) die("calloc");
  srand((unsigned)getpid());
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGUSR1);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) die("signalfd");
  const uint32_t SIG_TOKEN = 0xfffffffe, STDIN_TOKEN = 0xfffffffd;
  struct epoll_event sev = {.events = EPOLLIN, .data.u32 = SIG_TOKEN};
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev);
  struct epoll_event iev = {.events = EPOLLIN, .data.u32 = STDIN_TOKEN};
  int stdin_watched = epoll_ctl(ep, EPOLL_CTL_ADD, 0, &iev) == 0;

  start_ns = interval_started_ns = now_ns();
  struct epoll_event events[1024];
  int quit = 0;
  while (!quit) {
    /* Open what the pace allows; wait at most until the next connection is due. */
    int timeout = -1;
    if (opened < opt.conns) {
      uint64_t now = now_ns();
      uint64_t due = opt.rate > 0 ? (uint64_t)((double)(now - start_ns) / 1e9 * opt.rate) + 1 : (uint64_t)opt.conns;
      while (opened < opt.conns && (uint64_t)opened < due && pending < opt.max_pending && has_endpoint())
        open_conn(opened);
      if (opened < opt.conns) timeout = opt.rate > 0 ? 1 : 5;
    }
    if (due_len > 0) {
      uint64_t now = now_ns();
      while (due_len > 0 && due_heap[0].due_ns <= now && pending < opt.max_pending && has_endpoint())
        open_conn((int)due_pop().idx);
      if (due_len > 0) {
        int wait_ms = due_heap[0].due_ns > now ? (int)((due_heap[0].due_ns - now) / 1000000) + 1 : 5;
        if (timeout < 0 || wait_ms < timeout) timeout = wait_ms;
      }
    }
    if (!settled_reported && opened == opt.conns && pending <= 0) {
      settled_reported = 1;
      report("settled");
    }
    int n = epoll_wait(ep, events, 1024, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    for (int k = 0; k < n; k++) {
      uint32_t token = events[k].data.u32;
      if (token == SIG_TOKEN) {
        struct signalfd_siginfo si;
        while (read(sfd, &si, sizeof si) == sizeof si) {
          if (si.ssi_signo == SIGUSR1) report("request");
          else quit = 1;
        }
        continue;
      }
      if (token == STDIN_TOKEN) {
        if (on_stdin()) quit = 1;
        continue;
      }
      conn_t *c = &conns[token];
      if (c->state == ST_CLOSED) continue;
      if (events[k].events & EPOLLOUT) on_writable(c);
      if (c->state != ST_CLOSED && (events[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        if (c->state == ST_CONNECTING) on_writable(c);
        else on_readable(c);
      }
    }
  }
  (void)stdin_watched;
  report("final");
  for (int i = 0; i < opened; i++)
    if (conns[i].state != ST_CLOSED) close(conns[i].fd);
  return 0;
}

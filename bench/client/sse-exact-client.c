/*
 * sse-exact-client: v2 Server-Sent Events connections held with epoll, each with an exact record
 * of which numbered messages it received (a bitmap per connection), for the network-drops
 * benchmark. bench/client/sse-client.c checks a running sequence (a reordered message reads as a
 * gap then a duplicate, and a repeat cannot be told from a `redelivered` one); this client counts
 * exactly what each connection got, once or more, and how the repeats were flagged.
 *
 * Every connection i (0-based, plus --index-offset) sends
 *   GET <path with "__I__" replaced by i and "__G__" by i % --groups (default 1)> HTTP/1.1
 * to 127.0.0.1:<port> (a load balancer) from source address 127.<src-net>.<x>.<y>, and behaves as a
 * browser's EventSource does with a v2 stream: it keeps the last `id:` it was sent, and when the
 * stream ends or the connection fails it reconnects after the stream's `retry:` delay (a random
 * 0..--reconnect-jitter-ms when the server sent none) with `Last-Event-ID: <last id>`. A non-200
 * answer is counted and retried the same way (a browser would give up: httpBad says it happened).
 *
 * A `message` frame's data must carry `"seq":<n>` and `"t":<CLOCK_MONOTONIC ns at publish>` (the
 * harness's payload; one sequence shared by every connection: with --groups, each group's binding
 * gets its own messages, numbered alike, round by round). Per connection:
 *   - the first copy of seq n sets bit n and counts once, in the class of its publish time t (see
 *     windows); its publish-to-receive latency goes into that class's histogram;
 *   - a later copy is a duplicate, counted with whether its data says `"redelivered":true`;
 *   - a first copy below the highest seq received so far is counted as reordered.
 * `gap` and `error` events, stream ends and reconnects are counted too, in the class whose window
 * holds the time they happened.
 *
 * Windows: stdin "w<class> <start ns> <end ns>" (class 1..63, CLOCK_MONOTONIC) labels publish times
 * in [start, end) with the class; times in no window are class 0. Send them before the messages
 * they label are published.
 *
 * Reports are one JSON line on stdout:
 *   - once when every connection has settled (ready or failed once): reason "settled";
 *   - on "r\n": reason "request";
 *   - on "q\n", end of stdin, SIGTERM or SIGINT: reason "final", with every connection's count per
 *     class ("perConn") and, for seqs below the count given by "n<N>\n", each seq some connection
 *     never received with how many missed it ("missing", at most 20,000 entries); then it exits;
 *   - on "a<n>\n": {"reason":"ack","token":n}, once every command before it has been applied.
 * Build: gcc -O2 -o sse-exact-client sse-exact-client.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
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

#define MAX_CLASSES 64
#define MAX_WINDOWS 1024
#define MAX_ID 64
#define MAX_MISSING 20000

typedef struct {
  int fd;
  uint8_t state, chunked, chunk_state, ready, saw_event, ever_ready, settled;
  uint8_t id_len;
  uint32_t chunk_left;
  uint32_t retry_ms;
  char last_id[MAX_ID];
  uint64_t started_ns, ended_ns;
  char *buf;
  uint32_t len, cap, sent;
  uint8_t *seen; /* bit n: seq n received */
  uint32_t seen_bytes;
  int64_t max_seq;
  uint32_t distinct;
} conn_t;

/* Log-linear histogram in microseconds (the layout of sse-client.c, so the harness merges both). */
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

/* Per class: what arrived for messages published in it, and what happened while it was the time. */
typedef struct {
  hist_t latency;
  uint64_t first, duplicates, dup_redelivered, first_redelivered, reordered;
  uint64_t gap_events, error_events, ends, reconnects, http_bad, connect_failed;
} class_t;

static struct {
  const char *path;
  int port, src_net, conns, offset, max_pending, jitter_ms, groups;
} opt = {"/", 0, 1, 0, 0, 256, 1000, 1};

static struct {
  uint64_t connected, connect_failed, http_ok, http_bad, ready, error_events, gap_events, pings;
  uint64_t closed_before_ready, closed_after_ready, messages, first, duplicates, dup_redelivered;
  uint64_t first_redelivered, reordered, bytes, bad_frames, retry_fields, retry_only;
  uint64_t reconnects, reconnect_ready;
  int last_status;
  char first_error[256];
} st;

static struct {
  uint64_t start, end;
  int cls;
} windows[MAX_WINDOWS];
static int n_windows;
static class_t classes[MAX_CLASSES];
static uint32_t *class_counts; /* conns × MAX_CLASSES: first copies per connection and class */
static hist_t reconnect_lat;    /* stream end → ready again */
static int64_t expect_seqs = -1;

static conn_t *conns;
static int ep, opened, pending, settled_count, settled_reported;
static uint64_t start_ns;
static char rbuf[1 << 18];

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "sse-exact-client: %s: %s\n", what, strerror(errno));
  exit(2);
}

static int class_of(uint64_t t) {
  for (int i = 0; i < n_windows; i++)
    if (t >= windows[i].start && t < windows[i].end) return windows[i].cls;
  return 0;
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

static void settle(conn_t *c) {
  if (c->settled) return;
  c->settled = 1;
  settled_count++;
}

static void close_conn(conn_t *c) {
  if (c->state == ST_CLOSED) return;
  uint64_t now = now_ns();
  if (c->state == ST_STREAM && c->ready) {
    st.closed_after_ready++;
    classes[class_of(now)].ends++;
  } else {
    st.closed_before_ready++;
  }
  if (c->state == ST_STREAM && !c->saw_event) st.retry_only++;
  if (!c->ready) pending--;
  close(c->fd);
  c->state = ST_CLOSED;
  drop_buf(c);
  settle(c);
  if (c->ready || !c->ended_ns) c->ended_ns = now; /* a failed retry keeps the first end */
  c->ready = 0;
  /* As a browser: the server's retry: delay; without one, a random 0..jitter. */
  uint64_t delay = c->retry_ms > 0       ? (uint64_t)c->retry_ms * 1000000ull
                   : opt.jitter_ms > 0 ? (uint64_t)(rand() % (opt.jitter_ms * 1000)) * 1000
                                       : 0;
  due_push(now + delay, (uint32_t)(c - conns));
}

static const char *after_key(const char *p, const char *end, const char *key, size_t klen) {
  const char *k = memmem(p, (size_t)(end - p), key, klen);
  return k ? k + klen : NULL;
}

static void mark_seen(conn_t *c, int64_t seq) {
  uint32_t byte = (uint32_t)(seq >> 3);
  if (byte >= c->seen_bytes) {
    uint32_t cap = c->seen_bytes ? c->seen_bytes : 2048;
    while (cap <= byte) cap *= 2;
    c->seen = realloc(c->seen, cap);
    if (!c->seen) die("realloc");
    memset(c->seen + c->seen_bytes, 0, cap - c->seen_bytes);
    c->seen_bytes = cap;
  }
  c->seen[byte] |= (uint8_t)(1u << (seq & 7));
}

static int was_seen(const conn_t *c, int64_t seq) {
  uint32_t byte = (uint32_t)(seq >> 3);
  return byte < c->seen_bytes && (c->seen[byte] >> (seq & 7)) & 1;
}

static void on_message(conn_t *c, const char *data, const char *end, uint64_t now) {
  const char *s = after_key(data, end, "\"seq\":", 6);
  const char *t = after_key(data, end, "\"t\":", 4);
  if (!s || !t) {
    st.bad_frames++;
    return;
  }
  int64_t seq = strtoll(s, NULL, 10);
  uint64_t sent = strtoull(t, NULL, 10);
  if (seq < 0 || seq > 100000000) {
    st.bad_frames++;
    return;
  }
  int redelivered = memmem(data, (size_t)(end - data), "\"redelivered\":true", 18) != NULL;
  class_t *k = &classes[class_of(sent)];
  st.messages++;
  if (was_seen(c, seq)) {
    st.duplicates++;
    k->duplicates++;
    if (redelivered) {
      st.dup_redelivered++;
      k->dup_redelivered++;
    }
    return;
  }
  mark_seen(c, seq);
  c->distinct++;
  st.first++;
  k->first++;
  class_counts[(size_t)(c - conns) * MAX_CLASSES + (size_t)(k - classes)]++;
  if (redelivered) {
    st.first_redelivered++;
    k->first_redelivered++;
  }
  if (seq < c->max_seq) {
    st.reordered++;
    k->reordered++;
  } else {
    c->max_seq = seq;
  }
  hist_add(&k->latency, now > sent ? (now - sent) / 1000 : 0);
}

/*
 * One complete frame [p, end) (blank line removed): "event: <kind>\ndata: <json>\nid: <id>\n", or a
 * lone "retry: <ms>\n" (v2 streams start with one). Comment lines (":...") are ignored.
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
    } else if (ll == 0 || line[0] == ':') {
      /* nothing */
    } else {
      st.bad_frames++;
      return;
    }
    line = le + 1;
  }
  if (retry) st.retry_fields++;
  if (id && idlen > 0 && idlen < MAX_ID) {
    memcpy(c->last_id, id, idlen);
    c->id_len = (uint8_t)idlen;
  }
  if (!kind) {
    if (!retry) st.bad_frames++;
    return;
  }
  c->saw_event = 1;
  if (klen == 7 && memcmp(kind, "message", 7) == 0) {
    if (data) on_message(c, data, data_end, now);
    else st.bad_frames++;
  } else if (klen == 5 && memcmp(kind, "ready", 5) == 0) {
    if (!c->ready) {
      c->ready = 1;
      st.ready++;
      pending--;
      settle(c);
      if (c->ever_ready) {
        st.reconnect_ready++;
        if (c->ended_ns) hist_add(&reconnect_lat, (now - c->ended_ns) / 1000);
      }
      c->ever_ready = 1;
      c->ended_ns = 0;
    }
  } else if (klen == 4 && memcmp(kind, "ping", 4) == 0) {
    st.pings++;
  } else if (klen == 5 && memcmp(kind, "error", 5) == 0) {
    st.error_events++;
    classes[class_of(now)].error_events++;
    if (data) note_error(data, (size_t)(data_end - data));
  } else if (klen == 3 && memcmp(kind, "gap", 3) == 0) {
    st.gap_events++;
    classes[class_of(now)].gap_events++;
    note_error("gap event", 9);
  } else {
    st.bad_frames++;
  }
}

/* Feeds de-chunked body bytes; frames end with a blank line. */
static void feed_sse(conn_t *c, char *data, size_t len, uint64_t now) {
  if (len == 0) return;
  char *p, *end;
  size_t scan_from = 0;
  if (c->len > 0) {
    scan_from = c->len - 1;
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
    if (c->state == ST_CLOSED) return;
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
  if (c->state != ST_CLOSED && c->chunked && c->chunk_state == CH_END) close_conn(c);
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
    classes[class_of(now)].http_bad++;
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
      classes[class_of(now_ns())].connect_failed++;
      note_error(strerror(err), strlen(strerror(err)));
      close_conn(c);
      return;
    }
    st.connected++;
    c->state = ST_SENDING;
  }
  if (c->state == ST_SENDING) send_request(c);
}

static void build_request(conn_t *c, int index) {
  char num[16], group[16];
  int nlen = snprintf(num, sizeof num, "%d", index);
  int glen = snprintf(group, sizeof group, "%d", index % opt.groups);
  size_t plen = strlen(opt.path);
  ensure_cap(c, (uint32_t)(plen * 2 + 320));
  char *o = c->buf;
  o += sprintf(o, "GET ");
  for (const char *p = opt.path; *p;) {
    if (strncmp(p, "__I__", 5) == 0) {
      memcpy(o, num, (size_t)nlen);
      o += nlen;
      p += 5;
    } else if (strncmp(p, "__G__", 5) == 0) {
      memcpy(o, group, (size_t)glen);
      o += glen;
      p += 5;
    } else {
      *o++ = *p++;
    }
  }
  o += sprintf(o, " HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAccept: text/event-stream\r\n", opt.port);
  if (c->id_len > 0) {
    o += sprintf(o, "Last-Event-ID: ");
    memcpy(o, c->last_id, c->id_len);
    o += c->id_len;
    o += sprintf(o, "\r\n");
  }
  o += sprintf(o, "\r\n");
  c->len = (uint32_t)(o - c->buf);
  c->sent = 0;
}

static void open_conn(int i) {
  conn_t *c = &conns[i];
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
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port)};
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  int again = c->started_ns != 0;
  c->fd = fd;
  c->started_ns = now_ns();
  c->state = ST_CONNECTING;
  c->chunked = c->chunk_state = 0;
  c->chunk_left = 0;
  c->saw_event = 0;
  c->ready = 0;
  if (again) {
    st.reconnects++;
    classes[class_of(c->started_ns)].reconnects++;
  }
  build_request(c, opt.offset + i);
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

#define U(x) (unsigned long long)(x)

static void report(const char *reason) {
  int final = strcmp(reason, "final") == 0;
  int open_now = 0, ready_now = 0;
  int64_t distinct_min = -1, distinct_max = -1, max_seq_min = -1;
  for (int i = 0; i < opened; i++) {
    conn_t *c = &conns[i];
    if (c->state != ST_CLOSED) open_now++;
    if (c->state != ST_CLOSED && c->ready) ready_now++;
    if (distinct_min < 0 || c->distinct < distinct_min) distinct_min = c->distinct;
    if ((int64_t)c->distinct > distinct_max) distinct_max = c->distinct;
    if (max_seq_min < 0 || c->max_seq < max_seq_min) max_seq_min = c->max_seq;
  }
  uint64_t now = now_ns();
  printf("{\"reason\":\"%s\",\"pid\":%d,\"elapsedMs\":%.3f,\"conns\":%d,\"opened\":%d,\"open\":%d,"
         "\"readyNow\":%d,\"waitingReconnect\":%d,\"connected\":%llu,\"connectFailed\":%llu,\"httpOk\":%llu,"
         "\"httpBad\":%llu,\"lastStatus\":%d,\"ready\":%llu,\"errorEvents\":%llu,\"gapEvents\":%llu,"
         "\"pings\":%llu,\"closedBeforeReady\":%llu,\"closedAfterReady\":%llu,\"messages\":%llu,"
         "\"first\":%llu,\"duplicates\":%llu,\"dupRedelivered\":%llu,\"firstRedelivered\":%llu,"
         "\"reordered\":%llu,\"bytes\":%llu,\"badFrames\":%llu,\"retryFields\":%llu,\"retryOnly\":%llu,"
         "\"reconnects\":%llu,\"reconnectReady\":%llu,\"distinctMin\":%lld,\"distinctMax\":%lld,"
         "\"maxSeqMin\":%lld,\"nowNs\":%llu,\"firstError\":\"%s\",",
         reason, (int)getpid(), (double)(now - start_ns) / 1e6, opt.conns, opened, open_now, ready_now, due_len,
         U(st.connected), U(st.connect_failed), U(st.http_ok), U(st.http_bad), st.last_status, U(st.ready),
         U(st.error_events), U(st.gap_events), U(st.pings), U(st.closed_before_ready),
         U(st.closed_after_ready), U(st.messages), U(st.first), U(st.duplicates), U(st.dup_redelivered),
         U(st.first_redelivered), U(st.reordered), U(st.bytes), U(st.bad_frames), U(st.retry_fields),
         U(st.retry_only), U(st.reconnects), U(st.reconnect_ready), (long long)distinct_min,
         (long long)distinct_max, (long long)max_seq_min, U(now), st.first_error);
  print_hist("reconnectUs", &reconnect_lat);
  printf(",\"classes\":[");
  int first = 1;
  for (int k = 0; k < MAX_CLASSES; k++) {
    class_t *x = &classes[k];
    if (!x->first && !x->duplicates && !x->gap_events && !x->error_events && !x->ends && !x->reconnects &&
        !x->http_bad && !x->connect_failed)
      continue;
    printf("%s{\"cls\":%d,\"first\":%llu,\"duplicates\":%llu,\"dupRedelivered\":%llu,\"firstRedelivered\":%llu,"
           "\"reordered\":%llu,\"gapEvents\":%llu,\"errorEvents\":%llu,\"ends\":%llu,\"reconnects\":%llu,"
           "\"httpBad\":%llu,\"connectFailed\":%llu,",
           first ? "" : ",", k, U(x->first), U(x->duplicates), U(x->dup_redelivered), U(x->first_redelivered),
           U(x->reordered), U(x->gap_events), U(x->error_events), U(x->ends), U(x->reconnects), U(x->http_bad),
           U(x->connect_failed));
    print_hist("latencyUs", &x->latency);
    putchar('}');
    first = 0;
  }
  putchar(']');
  if (final) {
    /* Every connection's first copies per class, as [[class, count], ...]. */
    printf(",\"perConn\":[");
    for (int i = 0; i < opt.conns; i++) {
      printf("%s[", i ? "," : "");
      int f = 1;
      for (int k = 0; k < MAX_CLASSES; k++) {
        uint32_t v = class_counts[(size_t)i * MAX_CLASSES + (size_t)k];
        if (!v) continue;
        printf("%s[%d,%u]", f ? "" : ",", k, v);
        f = 0;
      }
      putchar(']');
    }
    printf("],\"expectSeqs\":%lld,\"missing\":[", (long long)expect_seqs);
    int listed = 0;
    uint64_t missing_total = 0;
    for (int64_t s = 0; s < expect_seqs; s++) {
      uint32_t missed = 0;
      int first_conn = -1;
      for (int i = 0; i < opt.conns; i++)
        if (!was_seen(&conns[i], s)) {
          missed++;
          if (first_conn < 0) first_conn = i;
        }
      if (!missed) continue;
      missing_total += missed;
      if (listed < MAX_MISSING) printf("%s[%lld,%u,%d]", listed ? "," : "", (long long)s, missed, first_conn + opt.offset);
      listed++;
    }
    printf("],\"missingSeqs\":%d,\"missingTotal\":%llu", listed, U(missing_total));
  }
  printf("}\n");
  fflush(stdout);
}

/* One stdin command line; returns 1 to quit. */
static int run_command(char *line) {
  switch (line[0]) {
    case 'q':
      return 1;
    case 'r':
      report("request");
      break;
    case 'a':
      printf("{\"reason\":\"ack\",\"token\":%ld}\n", strtol(line + 1, NULL, 10));
      fflush(stdout);
      break;
    case 'n':
      expect_seqs = strtoll(line + 1, NULL, 10);
      break;
    case 'w': {
      char *rest;
      long k = strtol(line + 1, &rest, 10);
      unsigned long long a = strtoull(rest, &rest, 10), b = strtoull(rest, NULL, 10);
      if (k > 0 && k < MAX_CLASSES && n_windows < MAX_WINDOWS && b > a)
        windows[n_windows++] = (typeof(windows[0])){a, b, (int)k};
      break;
    }
  }
  return 0;
}

static char cmd_line[512];
static size_t cmd_len;

static int on_stdin(void) {
  char buf[4096];
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
  fprintf(stderr, "usage: sse-exact-client --port P --path PATH --conns N [--index-offset K] [--src-net S (1-254)]\n"
                  "                        [--max-pending M] [--reconnect-jitter-ms J] [--groups G]\n");
  exit(2);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(a, "--port")) opt.port = atoi(v);
    else if (!strcmp(a, "--path")) opt.path = v;
    else if (!strcmp(a, "--conns")) opt.conns = atoi(v);
    else if (!strcmp(a, "--index-offset")) opt.offset = atoi(v);
    else if (!strcmp(a, "--src-net")) opt.src_net = atoi(v);
    else if (!strcmp(a, "--max-pending")) opt.max_pending = atoi(v);
    else if (!strcmp(a, "--reconnect-jitter-ms")) opt.jitter_ms = atoi(v);
    else if (!strcmp(a, "--groups")) opt.groups = atoi(v);
    else usage();
    i++;
  }
  if (opt.port <= 0 || opt.conns <= 0 || opt.src_net < 0 || opt.src_net > 254 || opt.groups < 1) usage();
  conns = calloc((size_t)opt.conns, sizeof *conns);
  due_heap = calloc((size_t)opt.conns, sizeof *due_heap);
  class_counts = calloc((size_t)opt.conns * MAX_CLASSES, sizeof *class_counts);
  if (!conns || !due_heap || !class_counts) die("calloc");
  for (int i = 0; i < opt.conns; i++) conns[i].max_seq = -1;
  srand((unsigned)getpid());
  ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (sfd < 0) die("signalfd");
  const uint32_t SIG_TOKEN = 0xfffffffe, STDIN_TOKEN = 0xfffffffd;
  struct epoll_event sev = {.events = EPOLLIN, .data.u32 = SIG_TOKEN};
  epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &sev);
  struct epoll_event iev = {.events = EPOLLIN, .data.u32 = STDIN_TOKEN};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &iev);

  start_ns = now_ns();
  struct epoll_event events[1024];
  int quit = 0;
  while (!quit) {
    int timeout = -1;
    while (opened < opt.conns && pending < opt.max_pending) open_conn(opened);
    if (opened < opt.conns) timeout = 5;
    if (due_len > 0) {
      uint64_t now = now_ns();
      while (due_len > 0 && due_heap[0].due_ns <= now && pending < opt.max_pending) open_conn((int)due_pop().idx);
      if (due_len > 0) {
        int wait_ms = due_heap[0].due_ns > now ? (int)((due_heap[0].due_ns - now) / 1000000) + 1 : 5;
        if (timeout < 0 || wait_ms < timeout) timeout = wait_ms;
      }
    }
    if (!settled_reported && opened == opt.conns && settled_count == opt.conns) {
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
        while (read(sfd, &si, sizeof si) == sizeof si) quit = 1;
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
  report("final");
  for (int i = 0; i < opened; i++)
    if (conns[i].state != ST_CLOSED) close(conns[i].fd);
  return 0;
}

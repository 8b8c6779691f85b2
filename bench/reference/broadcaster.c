/*
 * The C reference broadcaster ("c-reference"): the machine's bar for serving SSE from Redis
 * pub/sub. One thread, epoll, nothing beyond libc (RESP is spoken by hand over one TCP socket).
 *
 * It does what the Node reference (bench/reference/broadcaster.ts) does, with the same wire
 * format, so the benchmark can put all three systems side by side:
 *   - GET /ping answers 200 {"alive":true} and closes;
 *   - GET /api/events/v1/connect/?bindings=<URL-encoded JSON> (also /v1/connect and
 *     /events/v1/connect, trailing slash optional) answers HTTP/1.1 200 text/event-stream, chunked,
 *     then `ready` once Redis confirmed the SUBSCRIBE of every binding's channel
 *     (`<KEY_PREFIX>msg:<exchange bytes>:<exchange>:<routingKeyPattern>`, as names().channel);
 *   - per Redis message: the envelope header (`<id> <receivedAt>\n`) is cut off, the frame is
 *     wrapped as one HTTP chunk ONCE, and the same refcounted buffer is queued to every ready client
 *     of the channel; all messages of one epoll round leave in one writev per client;
 *   - a client whose unsent bytes exceed MAX_BUFFERED_BYTES is closed; EOF/RDHUP removes a client;
 *     the first client of a channel SUBSCRIBEs it, the last one to leave UNSUBSCRIBEs it.
 *
 * Deliberately left out: leases (the harness holds them, as for the Node reference), metrics,
 * timers and pings, auth, history/v2 routes, exchange-prefix checks, dedupe of one message matched
 * by several bindings of a connection (identical bindings are merged; the benchmark gives every
 * connection one binding), Redis AUTH/SELECT, reconnecting to Redis (a lost Redis ends the process).
 *
 * Env: PORT (8080), REDIS_URL (redis://host:port), KEY_PREFIX (events-proxy:),
 * MAX_BUFFERED_BYTES (8 MiB). SIGTERM exits cleanly.
 * Build: gcc -O2 -Wall -Wextra -o broadcaster-c broadcaster.c (the harness does it on first use).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_BINDINGS 8
#define MAX_HEAD (64 * 1024)
#define MAX_IOV 256
#define CHANNEL_BUCKETS 65536

enum kind { K_LISTEN, K_REDIS, K_SIGNAL, K_CLIENT };

/* A byte buffer shared by every queue it sits in; freed when the last reference goes. */
struct shared {
  unsigned refs;
  size_t len;
  char data[];
};

struct qitem {
  struct shared *buf;
  size_t off;
};

struct channel;

struct client {
  enum kind kind; /* first field: epoll's data.ptr points at it */
  int fd;
  int streaming, ready, dead, dirty, want_out, close_after_flush;
  /* the request head while it is being read */
  char *head;
  size_t head_len, head_cap;
  /* the channels it is on, and its index in each one's member array */
  struct channel *ch[MAX_BINDINGS];
  size_t ch_index[MAX_BINDINGS];
  int nch, pending; /* pending: channels whose SUBSCRIBE Redis has not confirmed yet */
  /* unsent buffers: q[qhead..qtail) */
  struct qitem *q;
  size_t qhead, qtail, qcap, queued;
  struct client *next_dirty, *next_dead;
};

struct channel {
  struct channel *next; /* hash chain */
  char *name;
  size_t name_len;
  struct client **members;
  size_t n, cap;
  /* SUBSCRIBE/UNSUBSCRIBE sent and not yet answered; confirmed once 0 with members */
  int ops;
  int confirmed;
};

static struct {
  int ep, listen_fd, redis_fd, signal_fd;
  size_t max_buffered;
  const char *prefix;
  struct channel *buckets[CHANNEL_BUCKETS];
  /* Redis input (parsed in place) and output */
  char *rin;
  size_t rin_len, rin_cap;
  char *rout;
  size_t rout_len, rout_cap, rout_off;
  int redis_want_out;
  struct client *dirty, *dead;
  struct shared *sse_head, *ready_chunk, *ping_response, *not_found;
  int running;
} g;

static enum kind listen_tag = K_LISTEN, redis_tag = K_REDIS, signal_tag = K_SIGNAL;

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n);
  if (!p) die("malloc");
  return p;
}

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n);
  if (!p) die("realloc");
  return p;
}

/* ---------- shared buffers ---------- */

static struct shared *shared_new(size_t len) {
  struct shared *s = xmalloc(sizeof *s + len);
  s->refs = 1;
  s->len = len;
  return s;
}

static struct shared *shared_str(const char *str) {
  size_t len = strlen(str);
  struct shared *s = shared_new(len);
  memcpy(s->data, str, len);
  return s;
}

static void shared_unref(struct shared *s) {
  if (--s->refs == 0) free(s);
}

/* `frame` wrapped as one HTTP/1.1 chunk: <hex len>\r\n<frame>\r\n */
static struct shared *chunk_of(const char *frame, size_t len) {
  char hex[24];
  int h = snprintf(hex, sizeof hex, "%zx\r\n", len);
  struct shared *s = shared_new((size_t)h + len + 2);
  memcpy(s->data, hex, (size_t)h);
  memcpy(s->data + h, frame, len);
  memcpy(s->data + h + len, "\r\n", 2);
  return s;
}

/* ---------- epoll ---------- */

static void ep_ctl(int op, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  if (epoll_ctl(g.ep, op, fd, &ev) < 0) die("epoll_ctl");
}

/* ---------- Redis ---------- */

static void redis_flush(void) {
  while (g.rout_off < g.rout_len) {
    ssize_t w = write(g.redis_fd, g.rout + g.rout_off, g.rout_len - g.rout_off);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) break;
    if (w <= 0) die("redis write");
    g.rout_off += (size_t)w;
  }
  if (g.rout_off == g.rout_len) g.rout_off = g.rout_len = 0;
  int want = g.rout_len > 0;
  if (want != g.redis_want_out) {
    g.redis_want_out = want;
    ep_ctl(EPOLL_CTL_MOD, g.redis_fd, EPOLLIN | (want ? EPOLLOUT : 0), &redis_tag);
  }
}

/* Queues `<cmd> <channel>` as a RESP array; sent at the end of the round. */
static void redis_command(const char *cmd, const struct channel *c) {
  size_t need = c->name_len + 64;
  if (g.rout_len + need > g.rout_cap) {
    g.rout_cap = (g.rout_len + need) * 2;
    g.rout = xrealloc(g.rout, g.rout_cap);
  }
  g.rout_len += (size_t)sprintf(g.rout + g.rout_len, "*2\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(cmd), cmd,
                                c->name_len);
  memcpy(g.rout + g.rout_len, c->name, c->name_len);
  g.rout_len += c->name_len;
  memcpy(g.rout + g.rout_len, "\r\n", 2);
  g.rout_len += 2;
}

static int fcntl_nonblock(int fd) {
  int flags = fcntl(fd, F_GETFL);
  return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

static int redis_connect(const char *url) {
  char host[256] = "127.0.0.1", port[16] = "6379";
  const char *p = url;
  if (strncmp(p, "redis://", 8) == 0) p += 8;
  const char *at = strchr(p, '@');
  if (at) p = at + 1; /* credentials: not supported, ignored */
  size_t hl = strcspn(p, ":/");
  if (hl > 0 && hl < sizeof host) {
    memcpy(host, p, hl);
    host[hl] = 0;
  }
  if (p[hl] == ':') {
    size_t pl = strcspn(p + hl + 1, "/");
    if (pl > 0 && pl < sizeof port) {
      memcpy(port, p + hl + 1, pl);
      port[pl] = 0;
    }
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
  int rc = getaddrinfo(host, port, &hints, &res);
  if (rc != 0) {
    fprintf(stderr, "redis %s:%s: %s\n", host, port, gai_strerror(rc));
    exit(1);
  }
  int fd = -1;
  for (ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) die("redis connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (fcntl_nonblock(fd) < 0) die("fcntl");
  return fd;
}

/* ---------- channels ---------- */

static uint32_t hash(const char *s, size_t n) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

static struct channel **channel_slot(const char *name, size_t len) {
  struct channel **pp = &g.buckets[hash(name, len) % CHANNEL_BUCKETS];
  while (*pp && !((*pp)->name_len == len && memcmp((*pp)->name, name, len) == 0)) pp = &(*pp)->next;
  return pp;
}

static void channel_free_if_idle(struct channel *c) {
  if (c->ops > 0 || c->n > 0) return;
  struct channel **pp = channel_slot(c->name, c->name_len);
  *pp = c->next;
  free(c->name);
  free(c->members);
  free(c);
}

/* ---------- clients ---------- */

static void mark_dirty(struct client *cl) {
  if (cl->dirty || cl->dead) return;
  cl->dirty = 1;
  cl->next_dirty = g.dirty;
  g.dirty = cl;
}

static void enqueue(struct client *cl, struct shared *s) {
  if (cl->qtail == cl->qcap) {
    if (cl->qhead > 0) {
      memmove(cl->q, cl->q + cl->qhead, (cl->qtail - cl->qhead) * sizeof *cl->q);
      cl->qtail -= cl->qhead;
      cl->qhead = 0;
    }
    if (cl->qtail == cl->qcap) {
      cl->qcap = cl->qcap ? cl->qcap * 2 : 4;
      cl->q = xrealloc(cl->q, cl->qcap * sizeof *cl->q);
    }
  }
  s->refs++;
  cl->q[cl->qtail++] = (struct qitem){s, 0};
  cl->queued += s->len;
  mark_dirty(cl);
}

static void client_leave(struct client *cl, int i) {
  struct channel *c = cl->ch[i];
  size_t at = cl->ch_index[i];
  struct client *moved = c->members[--c->n];
  c->members[at] = moved;
  if (moved != cl) {
    for (int j = 0; j < moved->nch; j++)
      if (moved->ch[j] == c) moved->ch_index[j] = at;
  }
  if (c->n == 0) {
    c->confirmed = 0;
    c->ops++;
    redis_command("UNSUBSCRIBE", c);
  }
}

/* Removes the client from its channels and closes its socket; freed at the end of the round. */
static void client_close(struct client *cl) {
  if (cl->dead) return;
  cl->dead = 1;
  for (int i = 0; i < cl->nch; i++) client_leave(cl, i);
  cl->nch = 0;
  close(cl->fd);
  cl->next_dead = g.dead;
  g.dead = cl;
}

static void client_free(struct client *cl) {
  for (size_t i = cl->qhead; i < cl->qtail; i++) shared_unref(cl->q[i].buf);
  free(cl->q);
  free(cl->head);
  free(cl);
}

/* One writev of what is queued (more if it all went and more is left); EPOLLOUT while blocked. */
static void client_flush(struct client *cl) {
  while (cl->qhead < cl->qtail) {
    struct iovec iov[MAX_IOV];
    int n = 0;
    for (size_t i = cl->qhead; i < cl->qtail && n < MAX_IOV; i++, n++) {
      iov[n].iov_base = cl->q[i].buf->data + cl->q[i].off;
      iov[n].iov_len = cl->q[i].buf->len - cl->q[i].off;
    }
    ssize_t w = writev(cl->fd, iov, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) break;
    if (w < 0) {
      client_close(cl);
      return;
    }
    size_t left = (size_t)w;
    cl->queued -= left;
    while (left > 0) {
      struct qitem *it = &cl->q[cl->qhead];
      size_t rest = it->buf->len - it->off;
      if (left < rest) {
        it->off += left;
        break;
      }
      left -= rest;
      shared_unref(it->buf);
      cl->qhead++;
    }
    if (cl->qhead < cl->qtail && cl->q[cl->qhead].off > 0) break; /* partial: the socket is full */
  }
  if (cl->qhead == cl->qtail) {
    cl->qhead = cl->qtail = 0;
    if (cl->close_after_flush) {
      client_close(cl);
      return;
    }
  } else if (cl->queued > g.max_buffered) {
    client_close(cl);
    return;
  }
  int want = cl->qhead < cl->qtail;
  if (want != cl->want_out) {
    cl->want_out = want;
    ep_ctl(EPOLL_CTL_MOD, cl->fd, EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0), cl);
  }
}

static void client_ready(struct client *cl) {
  cl->ready = 1;
  enqueue(cl, g.ready_chunk);
}

/* Joins the channel named `name` (made, and SUBSCRIBEd, by its first client). */
static void client_join(struct client *cl, const char *name, size_t len) {
  struct channel **pp = channel_slot(name, len), *c = *pp;
  for (int i = 0; i < cl->nch; i++)
    if (cl->ch[i] == c && c) return; /* the same binding twice */
  if (cl->nch == MAX_BINDINGS) return;
  if (!c) {
    c = calloc(1, sizeof *c);
    if (!c) die("calloc");
    c->name = xmalloc(len);
    memcpy(c->name, name, len);
    c->name_len = len;
    *pp = c;
  }
  if (c->n == 0) {
    c->ops++;
    redis_command("SUBSCRIBE", c);
  }
  if (c->n == c->cap) {
    c->cap = c->cap ? c->cap * 2 : 4;
    c->members = xrealloc(c->members, c->cap * sizeof *c->members);
  }
  cl->ch[cl->nch] = c;
  cl->ch_index[cl->nch] = c->n;
  cl->nch++;
  c->members[c->n++] = cl;
  if (!c->confirmed) cl->pending++;
}

/* ---------- HTTP ---------- */

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

/* URL-decodes s[0..n) into out (at most n bytes); returns the length. */
static size_t url_decode(const char *s, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
      out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
      i += 2;
    } else {
      out[o++] = s[i] == '+' ? ' ' : s[i];
    }
  }
  return o;
}

static void put_utf8(char *out, size_t *o, unsigned cp) {
  if (cp < 0x80) {
    out[(*o)++] = (char)cp;
  } else if (cp < 0x800) {
    out[(*o)++] = (char)(0xc0 | cp >> 6);
    out[(*o)++] = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out[(*o)++] = (char)(0xe0 | cp >> 12);
    out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[(*o)++] = (char)(0x80 | (cp & 0x3f));
  } else {
    out[(*o)++] = (char)(0xf0 | cp >> 18);
    out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[(*o)++] = (char)(0x80 | (cp & 0x3f));
  }
}

/*
 * Reads the JSON string starting at s[*i] == '"' into out (UTF-8; at most as long as the source);
 * leaves *i after its closing quote. Returns the length, or -1 if it is not a valid string.
 */
static long json_string(const char *s, size_t n, size_t *i, char *out) {
  size_t o = 0;
  for (size_t k = *i + 1; k < n; k++) {
    char ch = s[k];
    if (ch == '"') {
      *i = k + 1;
      return (long)o;
    }
    if (ch != '\\') {
      out[o++] = ch;
      continue;
    }
    if (++k >= n) return -1;
    switch (s[k]) {
      case '"': out[o++] = '"'; break;
      case '\\': out[o++] = '\\'; break;
      case '/': out[o++] = '/'; break;
      case 'b': out[o++] = '\b'; break;
      case 'f': out[o++] = '\f'; break;
      case 'n': out[o++] = '\n'; break;
      case 'r': out[o++] = '\r'; break;
      case 't': out[o++] = '\t'; break;
      case 'u': {
        unsigned cp = 0;
        if (k + 4 >= n) return -1;
        for (int d = 1; d <= 4; d++) {
          int v = hexval(s[k + d]);
          if (v < 0) return -1;
          cp = cp * 16 + (unsigned)v;
        }
        k += 4;
        /* a surrogate pair: \uD8xx\uDCxx */
        if (cp >= 0xd800 && cp < 0xdc00 && k + 6 < n && s[k + 1] == '\\' && s[k + 2] == 'u') {
          unsigned lo = 0;
          int ok = 1;
          for (int d = 3; d <= 6; d++) {
            int v = hexval(s[k + d]);
            if (v < 0) ok = 0;
            lo = lo * 16 + (unsigned)(v < 0 ? 0 : v);
          }
          if (ok && lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            k += 6;
          }
        }
        put_utf8(out, &o, cp); /* \uXXXX is 6 source bytes, at most 3 out (4 for 12 in) */
        break;
      }
      default: return -1;
    }
  }
  return -1;
}

/*
 * Scans the bindings JSON for objects with string fields `exchange` and `routingKeyPattern` and
 * joins each one's channel. Returns the number of bindings, 0 if there was none, -1 on bad JSON.
 */
static int join_bindings(struct client *cl, const char *json, size_t n) {
  char *str = xmalloc(n + 1), *ex = xmalloc(n + 1), *rk = xmalloc(n + 1);
  long ex_len = -1, rk_len = -1, str_len;
  int key_is = 0; /* 1: exchange, 2: routingKeyPattern, 0: other; the key before the value */
  int found = 0;
  size_t plen = strlen(g.prefix);
  for (size_t i = 0; i < n;) {
    char ch = json[i];
    if (ch == '"') {
      if ((str_len = json_string(json, n, &i, str)) < 0) {
        found = -1;
        break;
      }
      size_t k = i;
      while (k < n && (json[k] == ' ' || json[k] == '\t' || json[k] == '\n' || json[k] == '\r')) k++;
      if (k < n && json[k] == ':') {
        key_is = str_len == 8 && memcmp(str, "exchange", 8) == 0                ? 1
                 : str_len == 17 && memcmp(str, "routingKeyPattern", 17) == 0 ? 2
                                                                               : 0;
        i = k + 1;
      } else if (key_is == 1) {
        memcpy(ex, str, (size_t)str_len);
        ex_len = str_len;
        key_is = 0;
      } else if (key_is == 2) {
        memcpy(rk, str, (size_t)str_len);
        rk_len = str_len;
        key_is = 0;
      }
      continue;
    }
    if (ch == '{') {
      ex_len = rk_len = -1;
    } else if (ch == '}' && ex_len > 0 && rk_len > 0) {
      char num[24];
      int nl = snprintf(num, sizeof num, "%ld:", ex_len);
      size_t len = plen + 4 + (size_t)nl + (size_t)ex_len + 1 + (size_t)rk_len;
      char *name = xmalloc(len);
      size_t o = 0;
      memcpy(name + o, g.prefix, plen), o += plen;
      memcpy(name + o, "msg:", 4), o += 4;
      memcpy(name + o, num, (size_t)nl), o += (size_t)nl;
      memcpy(name + o, ex, (size_t)ex_len), o += (size_t)ex_len;
      name[o++] = ':';
      memcpy(name + o, rk, (size_t)rk_len), o += (size_t)rk_len;
      client_join(cl, name, len);
      free(name);
      found++;
      ex_len = rk_len = -1;
    }
    if (ch != ' ' && ch != '\t' && ch != '\n' && ch != '\r') key_is = 0; /* a non-string value */
    i++;
  }
  free(str);
  free(ex);
  free(rk);
  return found;
}

static const char SSE_HEAD[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Cache-Control: no-cache\r\n"
    "Access-Control-Allow-Origin: *\r\n"
    "X-Accel-Buffering: no\r\n"
    "Connection: keep-alive\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

/* An SSE error event as the stream's last chunk, then the end of the body; closes after. */
static void fail_stream(struct client *cl, const char *message) {
  char frame[256];
  int n = snprintf(frame, sizeof frame, "event: error\ndata: \"%s\"\nid: -\n\n", message);
  struct shared *chunk = chunk_of(frame, (size_t)n), *end = shared_str("0\r\n\r\n");
  enqueue(cl, chunk);
  enqueue(cl, end);
  shared_unref(chunk);
  shared_unref(end);
  cl->close_after_flush = 1;
}

static int is_connect_path(const char *p, size_t n) {
  static const char *const paths[] = {"/api/events/v1/connect", "/events/v1/connect", "/v1/connect"};
  if (n > 1 && p[n - 1] == '/') n--;
  for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
    if (strlen(paths[i]) == n && memcmp(paths[i], p, n) == 0) return 1;
  return 0;
}

/* Answers the request whose head is cl->head[0..end). */
static void handle_request(struct client *cl, size_t end) {
  const char *h = cl->head;
  const char *line_end = memchr(h, '\r', end);
  const char *sp1 = memchr(h, ' ', (size_t)(line_end - h));
  const char *target = sp1 ? sp1 + 1 : NULL;
  const char *sp2 = target ? memchr(target, ' ', (size_t)(line_end - target)) : NULL;
  if (!sp2 || (size_t)(sp1 - h) != 3 || memcmp(h, "GET", 3) != 0) {
    enqueue(cl, g.not_found);
    cl->close_after_flush = 1;
    return;
  }
  size_t tlen = (size_t)(sp2 - target);
  const char *q = memchr(target, '?', tlen);
  size_t plen = q ? (size_t)(q - target) : tlen;
  if (plen == 5 && memcmp(target, "/ping", 5) == 0) {
    enqueue(cl, g.ping_response);
    cl->close_after_flush = 1;
    return;
  }
  if (!is_connect_path(target, plen)) {
    enqueue(cl, g.not_found);
    cl->close_after_flush = 1;
    return;
  }
  enqueue(cl, g.sse_head);
  /* the bindings parameter, URL-decoded */
  const char *value = NULL;
  size_t vlen = 0;
  for (const char *p = q ? q + 1 : sp2; p < sp2;) {
    const char *amp = memchr(p, '&', (size_t)(sp2 - p));
    const char *pe = amp ? amp : sp2;
    if ((size_t)(pe - p) >= 9 && memcmp(p, "bindings=", 9) == 0) {
      value = p + 9;
      vlen = (size_t)(pe - value);
      break;
    }
    p = pe + 1;
  }
  if (!value) {
    fail_stream(cl, "Missing bindings");
    return;
  }
  char *json = xmalloc(vlen + 1);
  size_t jlen = url_decode(value, vlen, json);
  int found = join_bindings(cl, json, jlen);
  free(json);
  if (found <= 0) {
    for (int i = 0; i < cl->nch; i++) client_leave(cl, i);
    cl->nch = cl->pending = 0;
    fail_stream(cl, found < 0 ? "Invalid bindings JSON" : "No bindings");
    return;
  }
  if (cl->pending == 0) client_ready(cl);
}

static void client_read(struct client *cl) {
  for (;;) {
    if (!cl->streaming && cl->head == NULL) {
      cl->head_cap = 2048;
      cl->head = xmalloc(cl->head_cap);
    }
    char discard[4096];
    char *buf = cl->streaming ? discard : cl->head + cl->head_len;
    size_t room = cl->streaming ? sizeof discard : cl->head_cap - cl->head_len;
    ssize_t r = read(cl->fd, buf, room);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) return;
    if (r <= 0) {
      client_close(cl);
      return;
    }
    if (cl->streaming) continue; /* anything after the head is ignored */
    size_t from = cl->head_len >= 3 ? cl->head_len - 3 : 0;
    cl->head_len += (size_t)r;
    char *end = memmem(cl->head + from, cl->head_len - from, "\r\n\r\n", 4);
    if (end) {
      cl->streaming = 1;
      handle_request(cl, (size_t)(end - cl->head) + 2);
      free(cl->head);
      cl->head = NULL;
      if (cl->dead) return;
      continue;
    }
    if (cl->head_len == cl->head_cap) {
      if (cl->head_cap >= MAX_HEAD) {
        client_close(cl);
        return;
      }
      cl->head_cap *= 2;
      cl->head = xrealloc(cl->head, cl->head_cap);
    }
  }
}

static void accept_all(void) {
  for (;;) {
    int fd = accept4(g.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      static int warned;
      if (errno != EAGAIN && !warned++) perror("accept (said once)");
      return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct client *cl = calloc(1, sizeof *cl);
    if (!cl) die("calloc");
    cl->kind = K_CLIENT;
    cl->fd = fd;
    ep_ctl(EPOLL_CTL_ADD, fd, EPOLLIN | EPOLLRDHUP, cl);
  }
}

/* ---------- Redis replies ---------- */

struct resp_item {
  char type;
  const char *p;
  size_t len;
};

/* Reads the line at b[*i..] up to \r\n; -1: incomplete. */
static long resp_line(const char *b, size_t n, size_t *i, const char **start) {
  const char *cr = memchr(b + *i, '\r', n - *i);
  if (!cr || (size_t)(cr - b) + 1 >= n) return -1;
  *start = b + *i;
  long len = cr - (b + *i);
  *i = (size_t)(cr - b) + 2;
  return len;
}

/* One simple value (+ - : $) at b[*i]; 0: incomplete, 1: done, -1: unexpected. */
static int resp_simple(const char *b, size_t n, size_t *i, struct resp_item *out) {
  if (*i >= n) return 0;
  char t = b[(*i)++];
  const char *s;
  long len = resp_line(b, n, i, &s);
  if (len < 0) return 0;
  out->type = t;
  out->p = s;
  out->len = (size_t)len;
  if (t == '$') {
    long blen = strtol(s, NULL, 10);
    if (blen < 0) {
      out->p = NULL;
      out->len = 0;
      return 1;
    }
    if (*i + (size_t)blen + 2 > n) return 0;
    out->p = b + *i;
    out->len = (size_t)blen;
    *i += (size_t)blen + 2;
    return 1;
  }
  return t == '+' || t == '-' || t == ':' ? 1 : -1;
}

static int is(const struct resp_item *it, const char *word) {
  size_t n = strlen(word);
  return it->len == n && memcmp(it->p, word, n) == 0;
}

static void on_message(const struct resp_item *chan, const struct resp_item *payload) {
  struct channel *c = *channel_slot(chan->p, chan->len);
  if (!c || !c->confirmed) return;
  const char *nl = memchr(payload->p, '\n', payload->len);
  const char *space = nl ? memchr(payload->p, ' ', (size_t)(nl - payload->p)) : NULL;
  if (!space || space == payload->p) return; /* not an envelope */
  struct shared *chunk = chunk_of(nl + 1, payload->len - (size_t)(nl + 1 - payload->p));
  for (size_t i = 0; i < c->n; i++)
    if (c->members[i]->ready) enqueue(c->members[i], chunk);
  shared_unref(chunk);
}

/* The answer to one of our (UN)SUBSCRIBEs; once the last one is in, members get `ready`. */
static void on_subscription(const struct resp_item *chan) {
  struct channel *c = *channel_slot(chan->p, chan->len);
  if (!c || c->ops == 0) return;
  if (--c->ops > 0) return;
  if (c->n == 0) {
    channel_free_if_idle(c);
    return;
  }
  c->confirmed = 1;
  for (size_t i = 0; i < c->n; i++) {
    struct client *cl = c->members[i];
    if (--cl->pending == 0 && !cl->ready) client_ready(cl);
  }
}

static void redis_read(void) {
  for (int reads = 0; reads < 4; reads++) {
    if (g.rin_cap - g.rin_len < 65536) {
      g.rin_cap = g.rin_cap ? g.rin_cap * 2 : 256 * 1024;
      g.rin = xrealloc(g.rin, g.rin_cap);
    }
    size_t room = g.rin_cap - g.rin_len;
    ssize_t r = read(g.redis_fd, g.rin + g.rin_len, room);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == EAGAIN) break;
    if (r == 0) {
      fprintf(stderr, "redis closed the connection\n");
      exit(1);
    }
    if (r < 0) die("redis read");
    g.rin_len += (size_t)r;
    size_t i = 0;
    while (i < g.rin_len) {
      size_t at = i;
      struct resp_item items[4];
      int count = 0, rc = 1;
      if (g.rin[i] == '*') {
        i++;
        const char *s;
        long len = resp_line(g.rin, g.rin_len, &i, &s);
        if (len < 0) rc = 0;
        long elems = rc ? strtol(s, NULL, 10) : 0;
        for (long e = 0; rc == 1 && e < elems; e++) {
          struct resp_item tmp;
          rc = resp_simple(g.rin, g.rin_len, &i, e < 4 ? &items[e] : &tmp);
        }
        count = (int)(elems < 4 ? elems : 4);
      } else {
        rc = resp_simple(g.rin, g.rin_len, &i, &items[0]);
        if (rc == 1 && items[0].type == '-')
          fprintf(stderr, "redis: %.*s\n", (int)items[0].len, items[0].p);
      }
      if (rc < 0) {
        fprintf(stderr, "redis: unexpected reply\n");
        exit(1);
      }
      if (rc == 0) {
        i = at;
        break;
      }
      if (count == 3 && is(&items[0], "message")) on_message(&items[1], &items[2]);
      else if (count == 3 && (is(&items[0], "subscribe") || is(&items[0], "unsubscribe")))
        on_subscription(&items[1]);
    }
    memmove(g.rin, g.rin + i, g.rin_len - i);
    g.rin_len -= i;
    if ((size_t)r < room) break; /* drained the socket */
  }
}

/* ---------- main ---------- */

int main(void) {
  const char *port = getenv("PORT") ? getenv("PORT") : "8080";
  const char *redis_url = getenv("REDIS_URL") ? getenv("REDIS_URL") : "redis://127.0.0.1:6379";
  g.prefix = getenv("KEY_PREFIX") ? getenv("KEY_PREFIX") : "events-proxy:";
  g.max_buffered = getenv("MAX_BUFFERED_BYTES") ? strtoull(getenv("MAX_BUFFERED_BYTES"), NULL, 10)
                                                : 8u * 1024 * 1024;

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, NULL);

  g.sse_head = shared_str(SSE_HEAD);
  static const char ready[] = "event: ready\ndata: {}\nid: -\n\n";
  g.ready_chunk = chunk_of(ready, sizeof ready - 1);
  g.ping_response = shared_str(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\n"
      "Connection: close\r\n\r\n{\"alive\":true}");
  g.not_found = shared_str("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");

  g.ep = epoll_create1(EPOLL_CLOEXEC);
  if (g.ep < 0) die("epoll_create1");
  g.signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (g.signal_fd < 0) die("signalfd");
  ep_ctl(EPOLL_CTL_ADD, g.signal_fd, EPOLLIN, &signal_tag);

  g.redis_fd = redis_connect(redis_url);
  ep_ctl(EPOLL_CTL_ADD, g.redis_fd, EPOLLIN, &redis_tag);

  g.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (g.listen_fd < 0) die("socket");
  int one = 1;
  setsockopt(g.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(g.listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
  if (listen(g.listen_fd, 4096) < 0) die("listen");
  ep_ctl(EPOLL_CTL_ADD, g.listen_fd, EPOLLIN, &listen_tag);

  struct epoll_event events[512];
  g.running = 1;
  while (g.running) {
    int n = epoll_wait(g.ep, events, 512, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; i++) {
      enum kind k = *(enum kind *)events[i].data.ptr;
      uint32_t ev = events[i].events;
      if (k == K_LISTEN) {
        accept_all();
      } else if (k == K_SIGNAL) {
        g.running = 0;
      } else if (k == K_REDIS) {
        if (ev & (EPOLLERR | EPOLLHUP) && !(ev & EPOLLIN)) {
          fprintf(stderr, "redis connection lost\n");
          exit(1);
        }
        if (ev & EPOLLIN) redis_read();
        if (ev & EPOLLOUT) redis_flush();
      } else {
        struct client *cl = events[i].data.ptr;
        if (cl->dead) continue;
        if (ev & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
          client_close(cl);
          continue;
        }
        if (ev & EPOLLIN) client_read(cl);
        if (!cl->dead && ev & EPOLLOUT) mark_dirty(cl);
      }
    }
    /* the round's writes: one writev per client, then the Redis commands it queued */
    while (g.dirty) {
      struct client *cl = g.dirty;
      g.dirty = cl->next_dirty;
      cl->dirty = 0;
      if (!cl->dead) client_flush(cl);
    }
    if (g.rout_len > 0) redis_flush();
    while (g.dead) {
      struct client *cl = g.dead;
      g.dead = cl->next_dead;
      client_free(cl);
    }
  }
  close(g.listen_fd);
  close(g.redis_fd);
  return 0;
}

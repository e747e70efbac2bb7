/* pop3_engine.c: many collections at once in one thread.
 *
 * Each target (monitor) has at most one collection in flight, walking the
 * steps resolve -> connect (every address in turn) -> [TLS] -> session ->
 * closing. Every step is driven by epoll readiness or by the target's one
 * timer (start time, deadline, per-address share of it, stall check). */
#include "pop3_engine.h"

#include <arpa/inet.h>
#include <ares.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "pop3_time.h"
#include "pop3_tls.h"
#include "pop3_token.h"

#define MAX_ADDRESSES 16
#define INPUT_SIZE 4096
/* Reads one connection may do per wake-up before the other connections and
 * the timers get their turn: a server that never stops sending must not
 * hold the loop. */
#define READS_PER_TURN 8
#define AUTH_METHODS (POP3_AUTH_OAUTHBEARER + 1)
/* epoll tags that are not target pointers */
#define TAG_WAKE UINT64_C(1)
#define TAG_ARES_FLAG (UINT64_C(1) << 63)

typedef enum {
  STEP_TOKEN, /* TokenFile / TokenCommand, for bearer-token logins */
  STEP_RESOLVE,
  STEP_CONNECT,
  STEP_TLS,
  STEP_SESSION, /* also after STAT, while QUIT completes */
} step_t;

/* Everything a collection needs while in flight; freed when it ends. */
typedef struct {
  step_t step;
  double start, deadline, attempt_deadline;
  double connect_start, stall_at;
  double phase_start;
  pop3_phase_t phase;
  bool stall_reported;

  size_t addr_count, addr_next;
  size_t tried_len;
  bool last_timed_out;

  int fd;
  uint32_t events; /* registered epoll mask, 0 if not registered */
  SSL *ssl;
  bool stls; /* the TLS in progress is the STLS upgrade */

  char *token; /* bearer token, cleansed and freed with the collection */
  bool session_started;
  /* running again, lock-step on a fresh connection, after the server
   * mishandled the commands pipelined behind the login */
  bool lockstep_retry;
  pop3_error_t burst_error;
  size_t input_len, input_pos;

  pop3_result_t result;
  bool reported;

  /* Not zeroed at the start of a collection (their counts and lengths say
   * what is valid): zeroing 20 KB would cost more than the whole protocol
   * exchange. `addrs` must stay the first of them. */
  struct sockaddr_storage addrs[MAX_ADDRESSES];
  socklen_t addr_lens[MAX_ADDRESSES];
  char tried[POP3_ERROR_MAX];
  char input[INPUT_SIZE];
  pop3_session_t session; /* initialised by pop3_session_init */
} collection_t;

struct pop3_target {
  pop3_engine_t *engine;
  const pop3_monitor_t *monitor;
  SSL_CTX *tls_ctx;
  pop3_result_cb on_result;
  void *arg;

  /* kept between collections */
  SSL_SESSION *tls_session;
  pop3_capabilities_t capabilities; /* the server's, for the next login */
  bool have_capabilities;
  /* login methods (bit 1u << pop3_auth_t) after which the server
   * mishandled a pipelined STAT, and until when (monotonic) STAT goes
   * lock-step after them; then pipelining is tried again */
  unsigned lockstep_methods;
  double lockstep_until[AUTH_METHODS];
  unsigned generation; /* invalidates late resolver answers */

  /* under engine->lock: queued or running */
  bool in_flight;
  double start_at;
  pop3_target_t *next_pending;

  /* loop thread only */
  double timer_at;   /* HUGE_VAL when none */
  size_t heap_index; /* SIZE_MAX when not in the heap */
  bool in_ready;     /* in engine->ready: input may be waiting */
  collection_t *c;
};

struct pop3_engine {
  int epfd;
  int wakefd;
  ares_channel resolver;

  pop3_target_t **targets;
  size_t targets_num;

  pop3_target_t **heap; /* timers, earliest first */
  size_t heap_num;

  /* sessions that used up their turn with input perhaps left (in their
   * buffer or in OpenSSL's, where epoll cannot see it) */
  pop3_target_t **ready;
  size_t ready_num;

  pthread_mutex_t lock;
  pthread_cond_t idle;
  pop3_target_t *pending;
  struct token_request *tokens_done; /* TokenCommand threads' answers */
  size_t token_threads;              /* still running */
  pthread_cond_t token_threads_done;
  size_t busy;
  bool stop;
  bool until_idle; /* loop thread only: return once nothing is busy */
};

/* --- timer heap --------------------------------------------------------- */

static void heap_swap(pop3_engine_t *e, size_t a, size_t b) {
  pop3_target_t *t = e->heap[a];
  e->heap[a] = e->heap[b];
  e->heap[b] = t;
  e->heap[a]->heap_index = a;
  e->heap[b]->heap_index = b;
}

static void heap_up(pop3_engine_t *e, size_t i) {
  while (i > 0 && e->heap[(i - 1) / 2]->timer_at > e->heap[i]->timer_at) {
    heap_swap(e, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void heap_down(pop3_engine_t *e, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < e->heap_num && e->heap[l]->timer_at < e->heap[m]->timer_at)
      m = l;
    if (r < e->heap_num && e->heap[r]->timer_at < e->heap[m]->timer_at)
      m = r;
    if (m == i)
      return;
    heap_swap(e, i, m);
    i = m;
  }
}

static void heap_remove(pop3_engine_t *e, pop3_target_t *t) {
  size_t i = t->heap_index;
  if (i == SIZE_MAX)
    return;
  e->heap_num--;
  if (i != e->heap_num) {
    e->heap[i] = e->heap[e->heap_num];
    e->heap[i]->heap_index = i;
    heap_down(e, i);
    heap_up(e, i);
  }
  t->heap_index = SIZE_MAX;
}

static void timer_set(pop3_target_t *t, double at) {
  pop3_engine_t *e = t->engine;
  heap_remove(e, t);
  t->timer_at = at;
  if (at == HUGE_VAL)
    return;
  t->heap_index = e->heap_num;
  e->heap[e->heap_num++] = t;
  heap_up(e, t->heap_index);
}

/* --- epoll ---------------------------------------------------------------- */

static void watch(pop3_target_t *t, uint32_t events) {
  collection_t *c = t->c;
  if (c->events == events)
    return;
  struct epoll_event ev = {.events = events, .data.ptr = t};
  if (events == 0)
    epoll_ctl(t->engine->epfd, EPOLL_CTL_DEL, c->fd, NULL);
  else
    epoll_ctl(t->engine->epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD,
              c->fd, &ev);
  c->events = events;
}

static void close_socket(pop3_target_t *t) {
  collection_t *c = t->c;
  if (c->fd < 0)
    return;
  watch(t, 0);
  close(c->fd);
  c->fd = -1;
}

/* --- ending a collection ------------------------------------------------- */

/* What this collection showed about pipelining STAT behind the login, for
 * the method it used: mishandled (lost, or fine only lock-step), or fine
 * again after a pause. */
static void learn_pipelining(pop3_target_t *t) {
  collection_t *c = t->c;
  const pop3_session_t *s = &c->session;
  pop3_auth_t method = pop3_session_auth_used(s);
  unsigned bit = 1u << method;
  pop3_result_t *r = &c->result;
  if (pop3_session_lost_pipelined(s) || (c->lockstep_retry && r->ok)) {
    if (!(t->lockstep_methods & bit)) {
      r->pipeline_change = POP3_PIPELINE_OFF;
      if (c->lockstep_retry)
        snprintf(r->pipeline_reason, sizeof(r->pipeline_reason), "%s",
                 c->burst_error.message);
      else
        snprintf(r->pipeline_reason, sizeof(r->pipeline_reason),
                 "the commands sent with the login were never answered");
    }
    t->lockstep_methods |= bit;
    t->lockstep_until[method] = pop3_now() + POP3_PIPELINE_RETRY_SECONDS;
  } else if (r->ok && pop3_session_stat_pipelined(s) &&
             (t->lockstep_methods & bit)) {
    t->lockstep_methods &= ~bit;
    r->pipeline_change = POP3_PIPELINE_ON;
  }
}

static void report(pop3_target_t *t) {
  collection_t *c = t->c;
  if (c->reported)
    return;
  c->reported = true;
  if (c->session_started) {
    c->result.capabilities = *pop3_session_capabilities(&c->session);
    c->result.auth_used = pop3_session_auth_used(&c->session);
    c->result.pipelined = pop3_session_login_pipelined(&c->session);
    c->result.stat_with_login = pop3_session_stat_pipelined(&c->session) &&
                                !pop3_session_lost_pipelined(&c->session);
    c->result.stat_late = pop3_session_stat_late(&c->session);
    c->result.from_cache = pop3_session_used_cache(&c->session);
    learn_pipelining(t);
  }
  t->on_result(&c->result, t->arg);
}

static void fail(pop3_target_t *t, const pop3_error_t *err) {
  collection_t *c = t->c;
  if (!c->reported) {
    c->result.ok = false;
    c->result.error = *err;
  }
  report(t);
}

static void keep_tls_session(pop3_target_t *t) {
  collection_t *c = t->c;
  if (c->ssl == NULL || !SSL_is_init_finished(c->ssl))
    return;
  SSL_SESSION *s = SSL_get1_session(c->ssl);
  if (s == NULL)
    return;
  if (!SSL_SESSION_is_resumable(s)) {
    SSL_SESSION_free(s);
    return;
  }
  SSL_SESSION_free(t->tls_session);
  t->tls_session = s;
}

/* What this collection taught about the server, for the next one. */
static void learn(pop3_target_t *t) {
  collection_t *c = t->c;
  if (!c->session_started)
    return;
  pop3_session_t *s = &c->session;
  if (pop3_session_cache_stale(s))
    t->have_capabilities = false;
  const pop3_capabilities_t *caps = pop3_session_capabilities(s);
  /* only capabilities from a completed login: a failed session may have
   * stopped before STLS, and pre-TLS capabilities must not be reused */
  if (pop3_session_ran_capa(s) && caps->known && c->result.ok) {
    t->capabilities = *caps;
    t->have_capabilities = true;
  }
}

/* TLS (its session kept for resumption) and socket. */
static void close_connection(pop3_target_t *t) {
  collection_t *c = t->c;
  if (c->ssl != NULL) {
    keep_tls_session(t);
    ERR_clear_error();
    SSL_shutdown(c->ssl); /* one try at close_notify, never waited for */
    SSL_free(c->ssl);
    c->ssl = NULL;
    ERR_clear_error();
  }
  close_socket(t);
}

static void finish(pop3_target_t *t) {
  collection_t *c = t->c;
  pop3_engine_t *e = t->engine;
  learn(t);
  report(t);
  close_connection(t);
  if (c->session_started)
    pop3_session_clear(&c->session);
  if (c->token != NULL) {
    explicit_bzero(c->token, POP3_TOKEN_MAX + 1);
    free(c->token);
  }
  free(c);
  t->c = NULL;
  timer_set(t, HUGE_VAL);

  pthread_mutex_lock(&e->lock);
  t->in_flight = false;
  if (--e->busy == 0)
    pthread_cond_broadcast(&e->idle);
  pthread_mutex_unlock(&e->lock);
}

/* Failure before STAT: report it and end the collection now. */
static void abort_collection(pop3_target_t *t, const pop3_error_t *err) {
  fail(t, err);
  finish(t);
}

/* --- session ---------------------------------------------------------------- */

static void drive(pop3_target_t *t);
static void rearm(pop3_target_t *t);
static void start_connecting(pop3_target_t *t);
static void connect_next(pop3_target_t *t);

/* Phase durations for the result: a phase ends when the next one starts. */
static void track_phase(pop3_target_t *t, pop3_phase_t phase, double now) {
  collection_t *c = t->c;
  if (phase == c->phase)
    return;
  if (c->result.phase_seconds[c->phase] < 0)
    c->result.phase_seconds[c->phase] = 0;
  c->result.phase_seconds[c->phase] += now - c->phase_start;
  c->phase = phase;
  c->phase_start = now;
}

/* The methods after which STAT goes lock-step now; the others are tried
 * pipelined again once their pause is over. */
static unsigned lockstep_methods(const pop3_target_t *t, double now) {
  unsigned mask = 0;
  for (unsigned m = 0; m < AUTH_METHODS; m++)
    if ((t->lockstep_methods & (1u << m)) && now < t->lockstep_until[m])
      mask |= 1u << m;
  return mask;
}

static void start_session(pop3_target_t *t) {
  collection_t *c = t->c;
  const pop3_monitor_t *m = t->monitor;
  pop3_session_options_t opts = {
      .user = m->user,
      .password = m->password,
      .starttls = m->starttls,
      .cached = t->have_capabilities ? &t->capabilities : NULL,
      .pipeline_login = !c->lockstep_retry,
      .lockstep_methods = lockstep_methods(t, pop3_now()),
      .auth = m->auth,
      .token = c->token,
      .host = m->host,
      .port = m->port};
  pop3_session_init(&c->session, &opts);
  c->session_started = true;
  c->step = STEP_SESSION;
  track_phase(t, POP3_PHASE_GREETING, pop3_now());
  drive(t);
}

static void record_certificate(collection_t *c) {
  X509 *cert = SSL_get0_peer_certificate(c->ssl);
  struct tm tm;
  if (cert != NULL && ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
    c->result.cert_not_after = (int64_t)timegm(&tm);
}

static void tls_established(pop3_target_t *t) {
  collection_t *c = t->c;
  const pop3_monitor_t *m = t->monitor;
  char why[POP3_ERROR_MAX];
  if (!m->verify_peer && m->verify_host &&
      pop3_tls_check_host(c->ssl, m->host, why, sizeof(why)) != 0) {
    pop3_error_t err;
    pop3_error_set(&err, POP3_PHASE_TLS, POP3_FAIL_TLS, "%s", why);
    abort_collection(t, &err);
    return;
  }
  snprintf(c->result.tls_version, sizeof(c->result.tls_version), "%s",
           SSL_get_version(c->ssl));
  snprintf(c->result.tls_cipher, sizeof(c->result.tls_cipher), "%s",
           SSL_get_cipher_name(c->ssl));
  c->result.tls_resumed = SSL_session_reused(c->ssl) == 1;
  record_certificate(c);
  if (!c->stls) {
    start_session(t);
    return;
  }
  c->step = STEP_SESSION;
  track_phase(t, POP3_PHASE_GREETING, pop3_now());
  pop3_session_tls_started(&c->session);
  drive(t);
}

/* OpenSSL said WANT_READ / WANT_WRITE: wait for that. */
static void wait_for_ssl(pop3_target_t *t, int rc) {
  int e = SSL_get_error(t->c->ssl, rc);
  watch(t, e == SSL_ERROR_WANT_WRITE ? EPOLLOUT : EPOLLIN);
}

static void continue_tls(pop3_target_t *t) {
  collection_t *c = t->c;
  ERR_clear_error();
  int rc = SSL_connect(c->ssl);
  if (rc == 1) {
    tls_established(t);
    return;
  }
  int e = SSL_get_error(c->ssl, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    wait_for_ssl(t, rc);
    return;
  }
  pop3_error_t err;
  char why[POP3_ERROR_MAX];
  if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
    snprintf(why, sizeof(why), "TLS handshake failed: the server closed the "
                               "connection (is this a TLS port?)");
  else
    pop3_tls_explain_failure(c->ssl, why, sizeof(why));
  pop3_error_set(&err, POP3_PHASE_TLS, POP3_FAIL_TLS, "%s", why);
  abort_collection(t, &err);
}

static void start_tls(pop3_target_t *t, bool stls) {
  collection_t *c = t->c;
  const pop3_monitor_t *m = t->monitor;
  char why[POP3_ERROR_MAX];
  pop3_error_t err;
  c->step = STEP_TLS;
  c->stls = stls;
  track_phase(t, POP3_PHASE_TLS, pop3_now());
  if (t->tls_ctx == NULL) {
    pop3_error_set(&err, POP3_PHASE_TLS, POP3_FAIL_TLS, "no TLS context");
    abort_collection(t, &err);
    return;
  }
  ERR_clear_error();
  c->ssl = SSL_new(t->tls_ctx);
  if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
      pop3_tls_prepare(c->ssl, m->host, m->verify_host, why, sizeof(why)) != 0) {
    if (c->ssl == NULL)
      pop3_tls_explain_failure(NULL, why, sizeof(why));
    pop3_error_set(&err, POP3_PHASE_TLS, POP3_FAIL_TLS, "%s", why);
    abort_collection(t, &err);
    return;
  }
  if (t->tls_session != NULL)
    SSL_set_session(c->ssl, t->tls_session);
  continue_tls(t);
}

/* 1: wrote everything pending; 0: must wait; -1: failed (session failed). */
static int write_output(pop3_target_t *t) {
  collection_t *c = t->c;
  for (;;) {
    size_t len = 0;
    const char *out = pop3_session_output(&c->session, &len);
    if (len == 0)
      return 1;
    ssize_t n;
    int ssl_rc = 0;
    if (c->ssl != NULL) {
      ERR_clear_error();
      ssl_rc = SSL_write(c->ssl, out, (int)len);
      n = ssl_rc > 0 ? ssl_rc : -1;
    } else {
      n = send(c->fd, out, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (n > 0) {
      pop3_session_output_sent(&c->session, (size_t)n);
      continue;
    }
    if (c->ssl != NULL) {
      int e = SSL_get_error(c->ssl, ssl_rc);
      if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        wait_for_ssl(t, ssl_rc);
        return 0;
      }
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      watch(t, EPOLLOUT);
      return 0;
    }
    pop3_error_t err;
    pop3_error_set(&err, pop3_session_phase(&c->session), POP3_FAIL_IO,
                   "sending failed: %s",
                   c->ssl != NULL ? "TLS error" : strerror(errno));
    pop3_session_fail(&c->session, &err);
    return -1;
  }
}

/* 1: got bytes or EOF (fed to the session); 0: must wait; -1: failed. */
static int read_input(pop3_target_t *t) {
  collection_t *c = t->c;
  ssize_t n;
  int ssl_rc = 0;
  if (c->ssl != NULL) {
    ERR_clear_error();
    ssl_rc = SSL_read(c->ssl, c->input, sizeof(c->input));
    n = ssl_rc > 0 ? ssl_rc : -1;
  } else {
    n = recv(c->fd, c->input, sizeof(c->input), MSG_DONTWAIT);
  }
  if (n > 0) {
    c->input_len = (size_t)n;
    c->input_pos = 0;
    c->stall_reported = false;
    return 1;
  }
  if (c->ssl != NULL) {
    int e = SSL_get_error(c->ssl, ssl_rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      wait_for_ssl(t, ssl_rc);
      return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN ||
        (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
      pop3_session_eof(&c->session);
      return 1;
    }
  } else if (n == 0) {
    pop3_session_eof(&c->session);
    return 1;
  } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
    watch(t, EPOLLIN);
    return 0;
  }
  pop3_error_t err;
  char why[POP3_ERROR_MAX] = "";
  if (c->ssl != NULL)
    pop3_tls_explain_failure(NULL, why, sizeof(why));
  pop3_error_set(&err, pop3_session_phase(&c->session), POP3_FAIL_IO,
                 "receiving failed: %s",
                 c->ssl != NULL ? why : strerror(errno));
  pop3_session_fail(&c->session, &err);
  return -1;
}

/* After STAT: hand the numbers over at once; QUIT finishes meanwhile. */
static void check_stat(pop3_target_t *t, double now) {
  collection_t *c = t->c;
  if (c->reported || !pop3_session_stat(&c->session, &c->result.message_count,
                                        &c->result.mailbox_size))
    return;
  track_phase(t, POP3_PHASE_QUIT, now);
  c->result.ok = true;
  c->result.response_time = now - c->connect_start;
  report(t);
}

/* The server mishandled the commands pipelined behind the login: the same
 * collection again, lock-step, on a fresh connection to the same address,
 * within what is left of the Timeout. */
static void restart_lockstep(pop3_target_t *t) {
  collection_t *c = t->c;
  c->lockstep_retry = true;
  c->burst_error = *pop3_session_error(&c->session);
  close_connection(t);
  pop3_session_clear(&c->session);
  c->session_started = false;
  c->input_len = c->input_pos = 0;
  c->stall_at = HUGE_VAL;
  c->stall_reported = false;
  c->addr_next--; /* the address that answered */
  c->step = STEP_CONNECT;
  track_phase(t, POP3_PHASE_CONNECT, pop3_now());
  connect_next(t);
}

static void session_over(pop3_target_t *t) {
  collection_t *c = t->c;
  if (pop3_session_burst_failed(&c->session) && !c->lockstep_retry &&
      !c->reported && pop3_now() < c->deadline) {
    restart_lockstep(t);
    return;
  }
  if (pop3_session_failed(&c->session) && !c->reported)
    fail(t, pop3_session_error(&c->session));
  finish(t);
}

/* Silence long enough to suspect a lost pipelined command: many round
 * trips (the connect time measures one), never more than a quarter of the
 * Timeout. */
static double stall_after(const collection_t *c) {
  double rtt = c->result.phase_seconds[POP3_PHASE_CONNECT];
  double wait = rtt > 0 ? 8 * rtt : 0.2;
  if (wait < 0.2)
    wait = 0.2;
  double limit = (c->deadline - c->start) / 4;
  return wait < limit ? wait : limit;
}

/* Another turn for t once the other connections and the timers had
 * theirs. */
static void defer(pop3_target_t *t) {
  pop3_engine_t *e = t->engine;
  if (t->in_ready)
    return;
  t->in_ready = true;
  e->ready[e->ready_num++] = t;
}

/* Runs the session as far as the socket allows, for at most
 * READS_PER_TURN reads, and never past the deadline. */
static void drive(pop3_target_t *t) {
  collection_t *c = t->c;
  unsigned reads = 0;
  for (;;) {
    double now = pop3_now();
    if (now >= c->deadline) {
      defer(t); /* the timers run first and end the collection */
      return;
    }
    track_phase(t, pop3_session_phase(&c->session), now);
    check_stat(t, now);
    switch (pop3_session_want(&c->session)) {
    case POP3_WANT_NOTHING:
      session_over(t);
      return;
    case POP3_WANT_WRITE:
      if (write_output(t) == 0)
        return;
      break;
    case POP3_WANT_TLS:
      /* plaintext after the STLS reply makes the session fail, never
       * reach the TLS layer (RFC 2595, CVE-2021-22947) */
      if (c->input_pos < c->input_len) {
        pop3_session_feed(&c->session, c->input + c->input_pos,
                          c->input_len - c->input_pos);
        c->input_pos = c->input_len;
        break;
      }
      start_tls(t, true);
      return;
    case POP3_WANT_READ:
      if (c->input_pos < c->input_len) {
        c->input_pos += pop3_session_feed(&c->session, c->input + c->input_pos,
                                          c->input_len - c->input_pos);
        break;
      }
      if (reads++ == READS_PER_TURN) {
        defer(t);
        return;
      }
      if (read_input(t) == 0) {
        c->stall_at = now + stall_after(c);
        return;
      }
      break;
    }
  }
}

/* --- connecting ------------------------------------------------------------- */

static void format_address(const struct sockaddr *sa, char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    snprintf(buf, size, "[%s]:%d", ip, ntohs(in6->sin6_port));
  } else {
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
    snprintf(buf, size, "%s:%d", ip, ntohs(in4->sin_port));
  }
}

static void note_attempt_failure(collection_t *c, int error) {
  char address[64];
  format_address((struct sockaddr *)&c->addrs[c->addr_next - 1], address,
                 sizeof(address));
  c->last_timed_out = error == ETIMEDOUT;
  if (c->tried_len < sizeof(c->tried))
    c->tried_len += (size_t)snprintf(
        c->tried + c->tried_len, sizeof(c->tried) - c->tried_len, "%s%s: %s",
        c->tried_len > 0 ? "; " : "", address, strerror(error));
}

static void connected(pop3_target_t *t) {
  collection_t *c = t->c;
  format_address((struct sockaddr *)&c->addrs[c->addr_next - 1],
                 c->result.address, sizeof(c->result.address));
  if (t->monitor->ssl)
    start_tls(t, false);
  else
    start_session(t);
}

/* Tries the next address; fails the collection when none is left. */
static void connect_next(pop3_target_t *t) {
  collection_t *c = t->c;
  while (c->addr_next < c->addr_count) {
    size_t i = c->addr_next++;
    const struct sockaddr *sa = (const struct sockaddr *)&c->addrs[i];
    close_socket(t);
    c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                   0);
    if (c->fd < 0) {
      note_attempt_failure(c, errno);
      continue;
    }
    /* every write is a whole command burst: Nagle would only hold a burst
     * back until the previous segment (e.g. TLS Finished) is acknowledged */
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* share the time left between the addresses still to try, so one
     * silent address cannot eat the whole Timeout */
    double now = pop3_now();
    size_t left = c->addr_count - i;
    c->attempt_deadline = now + (c->deadline - now) / (double)left;
    if (connect(c->fd, sa, c->addr_lens[i]) == 0) {
      connected(t);
      return;
    }
    if (errno == EINPROGRESS) {
      watch(t, EPOLLOUT);
      return;
    }
    note_attempt_failure(c, errno);
  }
  close_socket(t);
  pop3_error_t err;
  pop3_error_set(&err, POP3_PHASE_CONNECT,
                 c->last_timed_out ? POP3_FAIL_TIMEOUT : POP3_FAIL_CONNECT,
                 "cannot connect: %s", c->tried);
  abort_collection(t, &err);
}

static void connect_ready(pop3_target_t *t) {
  collection_t *c = t->c;
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
    so_error = errno;
  if (so_error == EINPROGRESS)
    return;
  if (so_error != 0) {
    note_attempt_failure(c, so_error);
    connect_next(t);
    return;
  }
  connected(t);
}

static void start_connecting(pop3_target_t *t) {
  collection_t *c = t->c;
  double now = pop3_now();
  c->step = STEP_CONNECT;
  c->connect_start = now;
  track_phase(t, POP3_PHASE_CONNECT, now);
  connect_next(t);
}

/* --- resolving ----------------------------------------------------------------- */

typedef struct {
  pop3_target_t *target;
  unsigned generation;
} resolve_request_t;

static void add_address(collection_t *c, const struct sockaddr *sa,
                        socklen_t len, int port) {
  if (c->addr_count >= MAX_ADDRESSES || len > sizeof(c->addrs[0]))
    return;
  memcpy(&c->addrs[c->addr_count], sa, len);
  struct sockaddr *copy = (struct sockaddr *)&c->addrs[c->addr_count];
  if (copy->sa_family == AF_INET6)
    ((struct sockaddr_in6 *)copy)->sin6_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in *)copy)->sin_port = htons((uint16_t)port);
  c->addr_lens[c->addr_count++] = len;
}

static void resolved(void *arg, int status, int timeouts,
                     struct ares_addrinfo *res) {
  (void)timeouts;
  resolve_request_t *req = arg;
  pop3_target_t *t = req->target;
  bool current = status != ARES_EDESTRUCTION && t->c != NULL &&
                 t->generation == req->generation &&
                 t->c->step == STEP_RESOLVE;
  free(req);
  if (!current) { /* the collection gave up waiting */
    ares_freeaddrinfo(res);
    return;
  }
  collection_t *c = t->c;
  if (status == ARES_SUCCESS && res != NULL)
    for (struct ares_addrinfo_node *n = res->nodes; n != NULL; n = n->ai_next)
      add_address(c, n->ai_addr, n->ai_addrlen, t->monitor->port);
  ares_freeaddrinfo(res);
  if (c->addr_count == 0) {
    pop3_error_t err;
    pop3_error_set(&err, POP3_PHASE_RESOLVE, POP3_FAIL_RESOLVE,
                   "cannot resolve \"%s\": %s", t->monitor->host,
                   status == ARES_SUCCESS ? "no address"
                                          : ares_strerror(status));
    abort_collection(t, &err);
    return;
  }
  start_connecting(t);
}

static bool parse_ip_literal(collection_t *c, const char *host, int port) {
  struct sockaddr_in in4 = {.sin_family = AF_INET};
  struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
  if (inet_pton(AF_INET, host, &in4.sin_addr) == 1)
    add_address(c, (struct sockaddr *)&in4, sizeof(in4), port);
  else if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1)
    add_address(c, (struct sockaddr *)&in6, sizeof(in6), port);
  return c->addr_count > 0;
}

static void start_resolving(pop3_target_t *t) {
  collection_t *c = t->c;
  if (parse_ip_literal(c, t->monitor->host, t->monitor->port)) {
    start_connecting(t);
    return;
  }
  c->step = STEP_RESOLVE;
  track_phase(t, POP3_PHASE_RESOLVE, pop3_now());
  resolve_request_t *req = malloc(sizeof(*req));
  if (req == NULL) {
    pop3_error_t err;
    pop3_error_set(&err, POP3_PHASE_RESOLVE, POP3_FAIL_RESOLVE,
                   "out of memory");
    abort_collection(t, &err);
    return;
  }
  *req = (resolve_request_t){.target = t, .generation = t->generation};
  struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC,
                                      .ai_socktype = SOCK_STREAM};
  /* may call resolved() before returning, e.g. from /etc/hosts */
  ares_getaddrinfo(t->engine->resolver, t->monitor->host, NULL, &hints,
                   resolved, req);
}

/* --- bearer tokens -------------------------------------------------------
 * A TokenCommand may run up to the Timeout, so it runs in a thread of its
 * own; its answer comes back through the wake-up descriptor. A TokenFile
 * is a local read and is done in place. */

typedef struct token_request {
  pop3_engine_t *engine;
  pop3_target_t *target;
  unsigned generation;
  char *const *argv;
  double deadline;
  int status;
  pop3_error_t error;
  char token[POP3_TOKEN_MAX + 1];
  struct token_request *next;
} token_request_t;

static void token_request_free(token_request_t *req) {
  explicit_bzero(req->token, sizeof(req->token));
  free(req);
}

static void *token_thread(void *arg) {
  token_request_t *req = arg;
  pop3_engine_t *e = req->engine;
  req->status = pop3_token_run_command(req->argv, req->deadline, req->token,
                                       sizeof(req->token), &req->error);
  pthread_mutex_lock(&e->lock);
  req->next = e->tokens_done;
  e->tokens_done = req;
  /* under the lock: pop3_engine_free waits for token_threads to reach 0
   * before it closes the descriptor and frees the engine */
  uint64_t one = 1;
  if (write(e->wakefd, &one, sizeof(one)) < 0) {
    /* already signalled */
  }
  e->token_threads--;
  pthread_cond_broadcast(&e->token_threads_done);
  pthread_mutex_unlock(&e->lock);
  return NULL;
}

static void token_ready(pop3_target_t *t, const char *token) {
  collection_t *c = t->c;
  c->token = malloc(POP3_TOKEN_MAX + 1);
  if (c->token == NULL) {
    pop3_error_t err;
    pop3_error_set(&err, POP3_PHASE_AUTH, POP3_FAIL_TOKEN, "out of memory");
    abort_collection(t, &err);
    return;
  }
  snprintf(c->token, POP3_TOKEN_MAX + 1, "%s", token);
  start_resolving(t);
}

static void fetch_token(pop3_target_t *t) {
  collection_t *c = t->c;
  const pop3_monitor_t *m = t->monitor;
  pop3_error_t err;
  c->step = STEP_TOKEN;
  track_phase(t, POP3_PHASE_AUTH, pop3_now());
  if (m->token_file != NULL) {
    char token[POP3_TOKEN_MAX + 1];
    int rc = pop3_token_read_file(m->token_file, token, sizeof(token), &err);
    if (rc == 0)
      token_ready(t, token);
    else
      abort_collection(t, &err);
    explicit_bzero(token, sizeof(token));
    return;
  }
  token_request_t *req = calloc(1, sizeof(*req));
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (req != NULL) {
    *req = (token_request_t){.engine = t->engine,
                             .target = t,
                             .generation = t->generation,
                             .argv = m->token_command,
                             .deadline = c->deadline};
    pthread_mutex_lock(&t->engine->lock);
    t->engine->token_threads++;
    pthread_mutex_unlock(&t->engine->lock);
    if (pthread_create(&thread, &attr, token_thread, req) != 0) {
      pthread_mutex_lock(&t->engine->lock);
      t->engine->token_threads--;
      pthread_mutex_unlock(&t->engine->lock);
      free(req);
      req = NULL;
    }
  }
  pthread_attr_destroy(&attr);
  if (req == NULL) {
    pop3_error_set(&err, POP3_PHASE_AUTH, POP3_FAIL_TOKEN,
                   "cannot run TokenCommand: out of resources");
    abort_collection(t, &err);
  }
}

static void take_tokens(pop3_engine_t *e) {
  pthread_mutex_lock(&e->lock);
  token_request_t *list = e->tokens_done;
  e->tokens_done = NULL;
  pthread_mutex_unlock(&e->lock);
  while (list != NULL) {
    token_request_t *req = list;
    list = req->next;
    pop3_target_t *t = req->target;
    if (t->c != NULL && t->generation == req->generation &&
        t->c->step == STEP_TOKEN) {
      if (req->status == 0)
        token_ready(t, req->token);
      else
        abort_collection(t, &req->error);
      if (t->c != NULL)
        rearm(t);
    }
    token_request_free(req);
  }
}

static void start_collection(pop3_target_t *t) {
  collection_t *c = malloc(sizeof(*c));
  if (c != NULL) {
    memset(c, 0, offsetof(collection_t, addrs));
    c->tried[0] = '\0';
  }
  if (c == NULL) {
    pthread_mutex_lock(&t->engine->lock);
    t->in_flight = false;
    if (--t->engine->busy == 0)
      pthread_cond_broadcast(&t->engine->idle);
    pthread_mutex_unlock(&t->engine->lock);
    return;
  }
  t->c = c;
  t->generation++;
  c->fd = -1;
  c->start = pop3_now();
  c->deadline = c->start + t->monitor->timeout;
  c->stall_at = HUGE_VAL;
  c->phase = POP3_PHASE_RESOLVE;
  c->phase_start = c->start;
  for (size_t i = 0; i <= POP3_PHASE_QUIT; i++)
    c->result.phase_seconds[i] = -1;
  timer_set(t, c->deadline);
  if (pop3_monitor_uses_token(t->monitor))
    fetch_token(t);
  else
    start_resolving(t);
}

/* --- timers ------------------------------------------------------------------- */

/* A plain connection that never got a greeting is most often an
 * implicit-TLS port waiting for our handshake: say so. */
static void explain_silence(pop3_target_t *t, pop3_error_t *err) {
  const pop3_session_t *s = &t->c->session;
  if (pop3_session_in_line(s)) {
    pop3_error_set(err, pop3_session_phase(s), POP3_FAIL_TIMEOUT,
                   "an answer was still incomplete when the Timeout passed "
                   "(the server sends too slowly)");
    return;
  }
  if (t->monitor->ssl || !pop3_session_awaits_greeting(s))
    return;
  pop3_error_set(err, POP3_PHASE_GREETING, POP3_FAIL_TIMEOUT,
                 "no greeting from the server within the Timeout (if this "
                 "is an implicit-TLS port such as 995, set SSL true)");
}

static void deadline_passed(pop3_target_t *t) {
  collection_t *c = t->c;
  pop3_error_t err;
  switch (c->step) {
  case STEP_TOKEN:
    t->generation++; /* the late token will be ignored */
    pop3_error_set(&err, POP3_PHASE_AUTH, POP3_FAIL_TOKEN,
                   "TokenCommand gave no token within the Timeout");
    break;
  case STEP_RESOLVE:
    t->generation++; /* the late answer will be ignored */
    pop3_error_set(&err, POP3_PHASE_RESOLVE, POP3_FAIL_TIMEOUT,
                   "resolving \"%s\" took longer than the Timeout",
                   t->monitor->host);
    break;
  case STEP_CONNECT:
    note_attempt_failure(c, ETIMEDOUT);
    pop3_error_set(&err, POP3_PHASE_CONNECT, POP3_FAIL_TIMEOUT,
                   "cannot connect: %s", c->tried);
    break;
  case STEP_TLS:
    pop3_error_set(&err, POP3_PHASE_TLS, POP3_FAIL_TIMEOUT,
                   "TLS handshake not finished within the Timeout");
    break;
  default:
    pop3_error_set(&err, pop3_session_phase(&c->session), POP3_FAIL_TIMEOUT,
                   "no answer from the server within the Timeout");
    explain_silence(t, &err);
    break;
  }
  abort_collection(t, &err);
}

static void timer_fired(pop3_target_t *t, double now) {
  collection_t *c = t->c;
  if (c == NULL) { /* a queued start */
    timer_set(t, HUGE_VAL);
    start_collection(t);
    return;
  }
  if (now >= c->deadline) {
    deadline_passed(t);
    return;
  }
  if (c->step == STEP_CONNECT && now >= c->attempt_deadline) {
    note_attempt_failure(c, ETIMEDOUT);
    connect_next(t);
    return;
  }
  if (c->step == STEP_SESSION && now >= c->stall_at && !c->stall_reported) {
    /* long silence: a pipelined STAT may have been lost by a server that
     * hands the connection over after PASS; the session re-sends it */
    c->stall_reported = true;
    c->stall_at = HUGE_VAL;
    pop3_session_stalled(&c->session);
    drive(t);
  }
}

static void rearm(pop3_target_t *t) {
  collection_t *c = t->c;
  if (c == NULL)
    return;
  double at = c->deadline;
  if (c->step == STEP_CONNECT && c->attempt_deadline < at)
    at = c->attempt_deadline;
  if (c->step == STEP_SESSION && !c->stall_reported && c->stall_at < at)
    at = c->stall_at;
  if (at != t->timer_at)
    timer_set(t, at);
}

/* --- events ------------------------------------------------------------------ */

static void socket_ready(pop3_target_t *t) {
  collection_t *c = t->c;
  if (c == NULL)
    return;
  switch (c->step) {
  case STEP_CONNECT:
    connect_ready(t);
    break;
  case STEP_TLS:
    continue_tls(t);
    break;
  case STEP_SESSION:
    drive(t);
    break;
  case STEP_TOKEN:
  case STEP_RESOLVE:
    break;
  }
}

static void resolver_socket_state(void *data, ares_socket_t fd, int readable,
                                  int writable) {
  pop3_engine_t *e = data;
  struct epoll_event ev = {
      .events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0),
      .data.u64 = TAG_ARES_FLAG | (uint64_t)(unsigned)fd};
  if (!readable && !writable) {
    epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
    return;
  }
  if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
    epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static void take_pending(pop3_engine_t *e) {
  pthread_mutex_lock(&e->lock);
  pop3_target_t *list = e->pending;
  e->pending = NULL;
  uint64_t drained;
  if (read(e->wakefd, &drained, sizeof(drained)) < 0) {
    /* nothing to drain */
  }
  pthread_mutex_unlock(&e->lock);
  while (list != NULL) {
    pop3_target_t *t = list;
    list = t->next_pending;
    t->next_pending = NULL;
    timer_set(t, t->start_at);
  }
}

static void fire_timers(pop3_engine_t *e) {
  double now = pop3_now();
  while (e->heap_num > 0 && e->heap[0]->timer_at <= now) {
    pop3_target_t *t = e->heap[0];
    timer_fired(t, now);
    rearm(t);
    if (t->heap_index == 0 && t->timer_at <= now)
      timer_set(t, HUGE_VAL); /* never spin on a stale timer */
  }
}

/* One more turn for each session that used up its last one. A session
 * that uses this one up too goes behind them (ready has room for every
 * target twice). */
static void run_ready(pop3_engine_t *e) {
  size_t n = e->ready_num;
  for (size_t i = 0; i < n; i++) {
    pop3_target_t *t = e->ready[i];
    t->in_ready = false;
    if (t->c != NULL && t->c->step == STEP_SESSION) {
      drive(t);
      rearm(t);
    }
  }
  e->ready_num -= n;
  memmove(e->ready, e->ready + n, e->ready_num * sizeof(*e->ready));
}

static int wait_ms(pop3_engine_t *e, double until) {
  if (e->ready_num > 0)
    return 0;
  double next = until;
  if (e->heap_num > 0 && e->heap[0]->timer_at < next)
    next = e->heap[0]->timer_at;
  struct timeval tv, *resolver_tv = ares_timeout(e->resolver, NULL, &tv);
  double now = pop3_now();
  if (resolver_tv != NULL) {
    double r = now + (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
    if (r < next)
      next = r;
  }
  double ms = ceil((next - now) * 1000.0);
  return ms <= 0 ? 0 : ms > 1000 ? 1000 : (int)ms;
}

void pop3_engine_run(pop3_engine_t *e, double until) {
  struct epoll_event events[64];
  for (;;) {
    pthread_mutex_lock(&e->lock);
    bool stop = e->stop;
    e->stop = false;
    pthread_mutex_unlock(&e->lock);
    if (stop || pop3_now() >= until)
      return;
    take_pending(e);
    take_tokens(e);
    fire_timers(e);
    if (e->until_idle && pop3_engine_busy(e) == 0)
      return;
    int n = epoll_wait(e->epfd, events, 64, wait_ms(e, until));
    for (int i = 0; i < n; i++) {
      uint64_t tag = events[i].data.u64;
      if (tag == TAG_WAKE)
        continue; /* take_pending() drains it */
      if (tag & TAG_ARES_FLAG) {
        ares_socket_t fd = (ares_socket_t)(tag & ~TAG_ARES_FLAG);
        ares_process_fd(e->resolver,
                        events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)
                            ? fd
                            : ARES_SOCKET_BAD,
                        events[i].events & EPOLLOUT ? fd : ARES_SOCKET_BAD);
        continue;
      }
      pop3_target_t *t = events[i].data.ptr;
      socket_ready(t);
      rearm(t);
    }
    run_ready(e);
    /* lets c-ares notice its own timeouts */
    ares_process_fd(e->resolver, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  }
}

void pop3_engine_run_until_idle(pop3_engine_t *e, double until) {
  e->until_idle = true;
  pop3_engine_run(e, until);
  e->until_idle = false;
}

/* --- public API ----------------------------------------------------------------- */

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status;
static void init_ares(void) { ares_init_status = ares_library_init(ARES_LIB_INIT_ALL); }

pop3_engine_t *pop3_engine_new(char *err, size_t err_size) {
  pthread_once(&ares_once, init_ares);
  pop3_engine_t *e = calloc(1, sizeof(*e));
  if (e == NULL) {
    snprintf(err, err_size, "out of memory");
    return NULL;
  }
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  e->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  struct ares_options opts = {.sock_state_cb = resolver_socket_state,
                              .sock_state_cb_data = e};
  int status = ares_init_status;
  if (e->epfd < 0 || e->wakefd < 0) {
    snprintf(err, err_size, "cannot create the event loop: %s",
             strerror(errno));
  } else if (status != ARES_SUCCESS ||
             (status = ares_init_options(&e->resolver, &opts,
                                         ARES_OPT_SOCK_STATE_CB)) !=
                 ARES_SUCCESS) {
    snprintf(err, err_size, "cannot start the resolver: %s",
             ares_strerror(status));
    e->resolver = NULL;
  } else {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
    epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->wakefd, &ev);
    pthread_mutex_init(&e->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&e->idle, &attr);
    pthread_cond_init(&e->token_threads_done, &attr);
    pthread_condattr_destroy(&attr);
    return e;
  }
  if (e->epfd >= 0)
    close(e->epfd);
  if (e->wakefd >= 0)
    close(e->wakefd);
  free(e);
  return NULL;
}

void pop3_engine_free(pop3_engine_t *e) {
  if (e == NULL)
    return;
  /* TokenCommand threads end by their deadline (they kill the command) */
  pthread_mutex_lock(&e->lock);
  while (e->token_threads > 0)
    pthread_cond_wait(&e->token_threads_done, &e->lock);
  pthread_mutex_unlock(&e->lock);
  for (token_request_t *req = e->tokens_done, *next; req != NULL; req = next) {
    next = req->next;
    token_request_free(req);
  }
  for (size_t i = 0; i < e->targets_num; i++) {
    pop3_target_t *t = e->targets[i];
    if (t->c != NULL) {
      t->c->reported = true; /* nobody listens any more */
      finish(t);
    }
    SSL_SESSION_free(t->tls_session);
  }
  ares_destroy(e->resolver); /* answers late callbacks with EDESTRUCTION */
  for (size_t i = 0; i < e->targets_num; i++)
    free(e->targets[i]);
  free(e->targets);
  free(e->heap);
  free(e->ready);
  close(e->epfd);
  close(e->wakefd);
  pthread_mutex_destroy(&e->lock);
  pthread_cond_destroy(&e->idle);
  pthread_cond_destroy(&e->token_threads_done);
  free(e);
}

pop3_target_t *pop3_engine_add(pop3_engine_t *e, const pop3_monitor_t *m,
                               SSL_CTX *tls_ctx, pop3_result_cb on_result,
                               void *arg) {
  pop3_target_t *t = calloc(1, sizeof(*t));
  pop3_target_t **targets =
      realloc(e->targets, (e->targets_num + 1) * sizeof(*targets));
  pop3_target_t **heap =
      targets ? realloc(e->heap, (e->targets_num + 1) * sizeof(*heap)) : NULL;
  pop3_target_t **ready =
      heap ? realloc(e->ready, 2 * (e->targets_num + 1) * sizeof(*ready))
           : NULL;
  if (targets != NULL)
    e->targets = targets;
  if (heap != NULL)
    e->heap = heap;
  if (ready != NULL)
    e->ready = ready;
  if (t == NULL || targets == NULL || heap == NULL || ready == NULL) {
    free(t);
    return NULL;
  }
  *t = (pop3_target_t){.engine = e,
                       .monitor = m,
                       .tls_ctx = tls_ctx,
                       .on_result = on_result,
                       .arg = arg,
                       .timer_at = HUGE_VAL,
                       .heap_index = SIZE_MAX};
  e->targets[e->targets_num++] = t;
  return t;
}

int pop3_engine_submit(pop3_engine_t *e, pop3_target_t *t, double delay) {
  pthread_mutex_lock(&e->lock);
  if (t->in_flight) {
    pthread_mutex_unlock(&e->lock);
    return -1;
  }
  t->in_flight = true;
  t->start_at = pop3_now() + (delay > 0 ? delay : 0);
  t->next_pending = e->pending;
  e->pending = t;
  e->busy++;
  pthread_mutex_unlock(&e->lock);
  uint64_t one = 1;
  if (write(e->wakefd, &one, sizeof(one)) < 0) {
    /* the counter is already non-zero: the loop wakes anyway */
  }
  return 0;
}

void pop3_engine_stop(pop3_engine_t *e) {
  pthread_mutex_lock(&e->lock);
  e->stop = true;
  pthread_mutex_unlock(&e->lock);
  uint64_t one = 1;
  if (write(e->wakefd, &one, sizeof(one)) < 0) {
    /* already signalled */
  }
}

bool pop3_engine_wait_idle(pop3_engine_t *e, double deadline) {
  struct timespec until = {.tv_sec = (time_t)floor(deadline)};
  until.tv_nsec = (long)((deadline - floor(deadline)) * 1e9);
  pthread_mutex_lock(&e->lock);
  int rc = 0;
  while (e->busy > 0 && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&e->idle, &e->lock, &until);
  bool idle = e->busy == 0;
  pthread_mutex_unlock(&e->lock);
  return idle;
}

size_t pop3_engine_busy(pop3_engine_t *e) {
  pthread_mutex_lock(&e->lock);
  size_t busy = e->busy;
  pthread_mutex_unlock(&e->lock);
  return busy;
}

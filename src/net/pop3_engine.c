/* pop3_engine.c: many collections at once in one thread.
 *
 * Each target (monitor) has at most one collection in flight, walking the
 * steps [token] -> resolve -> slot -> connect (every address in turn) ->
 * [TLS] -> session, which also covers QUIT after the result went out. Every
 * step is driven by epoll readiness or by the target's one timer (start
 * time, deadline, per-address share of it, stall check).
 *
 * The slot is one of the POP3_HANDSHAKES_PER_SERVER its server (Host:Port)
 * has: taken before the connect, given back once the connection is set up
 * (TLS handshake done, STLS's with StartTLS) or the collection ends. A
 * collection that finds none free waits in its server's line, holding only
 * its small state: its buffers come with the slot.
 *
 * The engine moves bytes only through a transport (pop3_transport.h), so
 * the same paths serve clear text and TLS; the timer heap, the resolver and
 * the TokenCommand threads live in modules of their own. */
#include "pop3_engine.h"

#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "pop3_connect.h"
#include "pop3_queue.h"
#include "pop3_resolve.h"
#include "pop3_time.h"
#include "pop3_timers.h"
#include "pop3_tls.h"
#include "pop3_token.h"
#include "pop3_transport.h"

#define INPUT_SIZE 4096
/* What is left of the interval after the Timeout, before the next read: a
 * read collectd calls a little late must still find the collection over. */
#define SPREAD_SLACK 1.0
/* Delayed starts fall on a grid of this many seconds of the engine's
 * clock, so that monitors whose offsets are close start together: one
 * wake-up of the engine (and of the server) then serves a few connections,
 * which costs far less CPU than a wake-up each, and a step's few
 * connections are no burst. Taken out of SPREAD_SLACK. */
#define START_STEP 0.25
/* Reads one connection may do per wake-up before the other connections and
 * the timers get their turn: a server that never stops sending must not
 * hold the loop. */
#define READS_PER_TURN 8
#define AUTH_METHODS (POP3_AUTH_OAUTHBEARER + 1)
/* epoll tags that are not target pointers */
#define TAG_WAKE UINT64_C(1)
#define TAG_RESOLVER_FLAG (UINT64_C(1) << 63)
/* the object whose member `member` is at ptr */
#define CONTAINER_OF(ptr, type, member)                                        \
  ((type *)((char *)(ptr)-offsetof(type, member)))

typedef enum {
  STEP_TOKEN, /* TokenFile / TokenCommand, for bearer-token logins */
  STEP_RESOLVE,
  STEP_SLOT, /* waiting for a handshake slot of the server */
  STEP_CONNECT,
  STEP_TLS,
  STEP_SESSION, /* also after STAT, while QUIT completes */
} step_t;

/* The connection's buffers: allocated once the collection has a slot. */
typedef struct {
  char input[INPUT_SIZE];
  pop3_session_t session; /* initialised by pop3_session_init */
} buffers_t;

/* Everything a collection needs while in flight; freed when it ends. */
typedef struct {
  step_t step;
  double start, deadline, attempt_deadline;
  double connect_start, stall_at;
  double phase_start;
  pop3_phase_t phase;
  bool stall_reported;

  int fd;
  uint32_t events; /* registered epoll mask, 0 if not registered */
  pop3_transport_t transport; /* none until connected */
  bool stls; /* the TLS in progress is the STLS upgrade */
  bool has_slot; /* one of the server's handshake slots is ours */

  char *token; /* bearer token, cleansed and freed with the collection */
  bool session_started;
  /* running again, lock-step on a fresh connection, after the server
   * mishandled the commands pipelined behind the login */
  bool lockstep_retry;
  pop3_error_t burst_error;
  size_t input_len, input_pos;

  pop3_result_t result;
  bool reported;
  double stat_at; /* when STAT was answered, 0 before */

  buffers_t *bufs; /* NULL until the collection has a slot */

  /* Not zeroed at the start of a collection (its counts and lengths say
   * what is valid), nor are the buffers: zeroing 20 KB would cost more than
   * the whole protocol exchange. `dialer` must stay the last. */
  pop3_dialer_t dialer; /* the addresses, and how connecting to them went */
} collection_t;

/* A server as monitors name it (Host, Port) and its handshake slots. */
typedef struct {
  char *host; /* the monitor's, compared without case */
  int port;
  unsigned busy;                   /* slots taken */
  pop3_target_t *first, *last;     /* waiting for a slot, oldest first */
  bool freed; /* in engine->freed: a slot came free with targets waiting */
} server_t;

struct pop3_target {
  pop3_engine_t *engine;
  const pop3_monitor_t *monitor;
  SSL_CTX *tls_ctx;
  pop3_result_cb on_result;
  void *arg;

  /* kept between collections */
  SSL_SESSION *tls_session; /* updated by the TLS transport as it closes */
  pop3_capabilities_t capabilities; /* the server's, for the next login */
  bool have_capabilities;
  /* per login method: 0, or the server mishandled a pipelined STAT after
   * it, and until then (monotonic) STAT goes lock-step; after that
   * pipelining is tried again, and a success sets it back to 0 */
  double lockstep_until[AUTH_METHODS];
  unsigned generation; /* invalidates late resolver and token answers */

  pop3_job_t job; /* under the queue's lock */

  /* loop thread only */
  server_t *server;
  pop3_target_t *wait_next, *wait_prev; /* in server's line */
  bool waiting;                         /* ... for a slot */
  pop3_timer_t timer;
  bool in_ready; /* in engine->ready: input may be waiting */
  collection_t *c;
};

struct pop3_engine {
  int epfd;
  pop3_queue_t queue; /* what other threads hand over; its wake-up fd */
  pop3_resolver_t *resolver;
  pop3_token_runner_t *tokens;

  pop3_target_t **targets;
  size_t targets_num;
  pop3_timers_t timers;

  server_t **servers;
  size_t servers_num;
  /* servers whose freed slots are still to be handed out (room for all) */
  server_t **freed;
  size_t freed_num;

  /* sessions that used up their turn with input perhaps left (in their
   * buffer or in OpenSSL's, where epoll cannot see it) */
  pop3_target_t **ready;
  size_t ready_num;

  bool until_idle; /* return once nothing is busy */
  /* the wake-up descriptor fired: other threads handed something over
   * (only then is the queue looked at, which spares each turn of the loop
   * its locks and a read) */
  bool woken;
};

static void drive(pop3_target_t *t);
static void rearm(pop3_target_t *t);
static void connect_next(pop3_target_t *t);
static void slot_granted(pop3_target_t *t);

/* --- timers and epoll ----------------------------------------------------- */

static void timer_set(pop3_target_t *t, double at) {
  pop3_timers_set(&t->engine->timers, &t->timer, at);
}

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

/* The transport must wait for the socket: watch it that way. false when
 * io is no such wish. */
static bool wait_for(pop3_target_t *t, pop3_io_t io) {
  if (io == POP3_IO_WANT_READ)
    watch(t, EPOLLIN);
  else if (io == POP3_IO_WANT_WRITE)
    watch(t, EPOLLOUT);
  else
    return false;
  return true;
}

static void close_socket(pop3_target_t *t) {
  collection_t *c = t->c;
  if (c->fd < 0)
    return;
  watch(t, 0);
  close(c->fd);
  c->fd = -1;
}

/* The transport (TLS keeps its session for resumption), then the socket. */
static void close_connection(pop3_target_t *t) {
  pop3_transport_close(&t->c->transport);
  close_socket(t);
}

/* --- handshake slots ------------------------------------------------------ */

/* Takes a free slot of t's server, or puts t at the end of its line. A
 * slot freed while others wait goes to the first of them, never to a
 * newcomer. */
static bool slot_take(pop3_target_t *t) {
  server_t *s = t->server;
  if (s->busy < POP3_HANDSHAKES_PER_SERVER && s->first == NULL) {
    s->busy++;
    t->c->has_slot = true;
    return true;
  }
  t->waiting = true;
  t->wait_next = NULL;
  t->wait_prev = s->last;
  if (s->last != NULL)
    s->last->wait_next = t;
  else
    s->first = t;
  s->last = t;
  return false;
}

static void slot_unwait(pop3_target_t *t) {
  server_t *s = t->server;
  if (!t->waiting)
    return;
  if (t->wait_prev != NULL)
    t->wait_prev->wait_next = t->wait_next;
  else
    s->first = t->wait_next;
  if (t->wait_next != NULL)
    t->wait_next->wait_prev = t->wait_prev;
  else
    s->last = t->wait_prev;
  t->wait_next = t->wait_prev = NULL;
  t->waiting = false;
}

/* The connection is set up (or given up): the slot goes to the next in
 * line, from the loop (handing it over here could nest without bound, each
 * connect that fails at once freeing the slot again). */
static void slot_release(pop3_target_t *t) {
  collection_t *c = t->c;
  server_t *s = t->server;
  if (c == NULL || !c->has_slot)
    return;
  c->has_slot = false;
  s->busy--;
  if (s->first != NULL && !s->freed) {
    s->freed = true;
    t->engine->freed[t->engine->freed_num++] = s;
  }
}

/* Free slots to the targets waiting for them. */
static void hand_out_slots(pop3_engine_t *e) {
  while (e->freed_num > 0) {
    server_t *s = e->freed[--e->freed_num];
    s->freed = false;
    while (s->busy < POP3_HANDSHAKES_PER_SERVER && s->first != NULL) {
      pop3_target_t *t = s->first;
      slot_unwait(t);
      s->busy++;
      t->c->has_slot = true;
      slot_granted(t);
      rearm(t);
    }
  }
}

static server_t *server_for(pop3_engine_t *e, const pop3_monitor_t *m) {
  for (size_t i = 0; i < e->servers_num; i++)
    if (e->servers[i]->port == m->port &&
        strcasecmp(e->servers[i]->host, m->host) == 0)
      return e->servers[i];
  size_t n = e->servers_num + 1;
  server_t **servers = realloc(e->servers, n * sizeof(*servers));
  if (servers == NULL)
    return NULL;
  e->servers = servers;
  server_t **freed = realloc(e->freed, n * sizeof(*freed));
  if (freed == NULL)
    return NULL;
  e->freed = freed;
  server_t *s = calloc(1, sizeof(*s));
  if (s == NULL || (s->host = strdup(m->host)) == NULL) {
    free(s);
    return NULL;
  }
  s->port = m->port;
  e->servers[e->servers_num++] = s;
  return s;
}

/* --- the result, and what it teaches ----------------------------------------- */

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

/* What this collection showed about pipelining STAT behind the login, for
 * the method it used: mishandled (lost, or fine only lock-step), or fine
 * again after a pause. */
static void learn_pipelining(pop3_target_t *t) {
  collection_t *c = t->c;
  const pop3_session_t *s = &c->bufs->session;
  pop3_auth_t method = pop3_session_auth_used(s);
  pop3_result_t *r = &c->result;
  if (pop3_session_lost_pipelined(s) || (c->lockstep_retry && r->ok)) {
    if (t->lockstep_until[method] == 0) {
      r->pipeline_change = POP3_PIPELINE_OFF;
      snprintf(r->pipeline_reason, sizeof(r->pipeline_reason), "%s",
               c->lockstep_retry
                   ? c->burst_error.message
                   : "the commands sent with the login were never answered");
    }
    t->lockstep_until[method] = pop3_now() + POP3_PIPELINE_RETRY_SECONDS;
  } else if (r->ok && pop3_session_stat_pipelined(s) &&
             t->lockstep_until[method] > 0) {
    t->lockstep_until[method] = 0;
    r->pipeline_change = POP3_PIPELINE_ON;
  }
}

/* The methods after which STAT goes lock-step now; the others are tried
 * pipelined again once their pause is over. */
static unsigned lockstep_methods(const pop3_target_t *t, double now) {
  unsigned mask = 0;
  for (unsigned m = 0; m < AUTH_METHODS; m++)
    if (now < t->lockstep_until[m])
      mask |= 1u << m;
  return mask;
}

/* What this collection taught about the server, for the next one. */
static void learn_capabilities(pop3_target_t *t) {
  collection_t *c = t->c;
  if (!c->session_started)
    return;
  pop3_session_t *s = &c->bufs->session;
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

/* Hands the result over, once per collection. */
static void report(pop3_target_t *t) {
  collection_t *c = t->c;
  if (c->reported)
    return;
  c->reported = true;
  if (c->session_started) {
    const pop3_session_t *s = &c->bufs->session;
    c->result.capabilities = *pop3_session_capabilities(s);
    c->result.auth_used = pop3_session_auth_used(s);
    c->result.pipelined = pop3_session_login_pipelined(s);
    c->result.stat_with_login =
        pop3_session_stat_pipelined(s) && !pop3_session_lost_pipelined(s);
    c->result.stat_late = pop3_session_stat_late(s);
    c->result.from_cache = pop3_session_used_cache(s);
    learn_pipelining(t);
  }
  t->on_result(&c->result, t->arg);
}

static void check_stat(pop3_target_t *t, double now);

static void fail(pop3_target_t *t, const pop3_error_t *err) {
  collection_t *c = t->c;
  if (!c->reported && c->session_started &&
      pop3_session_stat(&c->bufs->session, NULL, NULL)) {
    /* the values are in: only the message age still being read is lost */
    pop3_session_fail(&c->bufs->session, err);
    check_stat(t, pop3_now());
    return;
  }
  if (!c->reported) {
    c->result.ok = false;
    c->result.error = *err;
  }
  report(t);
}

static void collection_free(collection_t *c) {
  if (c->session_started)
    pop3_session_clear(&c->bufs->session);
  free(c->bufs);
  if (c->token != NULL) {
    explicit_bzero(c->token, POP3_TOKEN_MAX + 1);
    free(c->token);
  }
  free(c);
}

static void finish(pop3_target_t *t) {
  learn_capabilities(t);
  report(t);
  slot_unwait(t);
  slot_release(t);
  close_connection(t);
  collection_free(t->c);
  t->c = NULL;
  timer_set(t, HUGE_VAL);
  pop3_queue_done(&t->engine->queue, &t->job);
}

/* Failure before STAT: report it and end the collection now. */
static void abort_collection(pop3_target_t *t, const pop3_error_t *err) {
  fail(t, err);
  finish(t);
}

/* --- session ------------------------------------------------------------------ */

/* The session's question for a header with the mail loop's field: is it
 * one of this monitor's probes? Only those may be deleted. */
static bool is_own_probe(void *arg, const char *value, size_t len,
                         int64_t *sent_ms) {
  const pop3_monitor_t *m = arg;
  return pop3_loop_verify(&m->loop->key, m->name, value, len, sent_ms);
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
      .port = m->port,
      .age_scan = m->collect_age ? m->age_scan : 0,
      .loop_scan = m->loop != NULL ? m->loop->search : 0,
      .loop_header = POP3_LOOP_HEADER,
      .loop_probe = is_own_probe,
      .loop_arg = (void *)m};
  pop3_session_init(&c->bufs->session, &opts);
  c->session_started = true;
  c->step = STEP_SESSION;
  track_phase(t, POP3_PHASE_GREETING, pop3_now());
  drive(t);
}

/* A failure of the transport: the session ends with it. */
static void transport_failed(pop3_target_t *t, const char *doing) {
  collection_t *c = t->c;
  pop3_error_t err;
  pop3_error_set(&err, pop3_session_phase(&c->bufs->session), POP3_FAIL_IO,
                 "%s failed: %s", doing, c->transport.error);
  pop3_session_fail(&c->bufs->session, &err);
}

/* 1: wrote everything pending; 0: must wait; -1: failed (session failed). */
static int write_output(pop3_target_t *t) {
  collection_t *c = t->c;
  for (;;) {
    size_t len = 0, n = 0;
    const char *out = pop3_session_output(&c->bufs->session, &len);
    if (len == 0)
      return 1;
    pop3_io_t io = pop3_transport_write(&c->transport, out, len, &n);
    if (io == POP3_IO_DONE) {
      pop3_session_output_sent(&c->bufs->session, n);
      continue;
    }
    if (wait_for(t, io))
      return 0;
    transport_failed(t, "sending");
    return -1;
  }
}

/* 1: got bytes or EOF (fed to the session); 0: must wait; -1: failed. */
static int read_input(pop3_target_t *t) {
  collection_t *c = t->c;
  size_t n = 0;
  pop3_io_t io =
      pop3_transport_read(&c->transport, c->bufs->input, INPUT_SIZE, &n);
  if (io == POP3_IO_DONE) {
    c->input_len = n;
    c->input_pos = 0;
    c->stall_reported = false;
    return 1;
  }
  if (io == POP3_IO_CLOSED) {
    pop3_session_eof(&c->bufs->session);
    return 1;
  }
  if (wait_for(t, io))
    return 0;
  transport_failed(t, "receiving");
  return -1;
}

/* The message age as seen now, by the wall clock the dates are in. */
static void take_age(collection_t *c) {
  const pop3_age_t *age = pop3_session_age(&c->bufs->session);
  if (age == NULL)
    return;
  c->result.age_wanted = true;
  c->result.age = *age;
  if (age->dated == 0)
    return;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
  c->result.oldest_age = now - (double)age->oldest;
  c->result.newest_age = now - (double)age->newest;
}

/* Once the values are complete (STAT, and the headers for the age), hand
 * them over at once; QUIT finishes meanwhile. The response time is STAT's. */
static void check_stat(pop3_target_t *t, double now) {
  collection_t *c = t->c;
  if (c->reported || !c->session_started)
    return;
  if (c->stat_at == 0 && pop3_session_stat(&c->bufs->session, NULL, NULL))
    c->stat_at = now;
  if (!pop3_session_values_ready(&c->bufs->session))
    return;
  pop3_session_stat(&c->bufs->session, &c->result.message_count,
                    &c->result.mailbox_size);
  track_phase(t, POP3_PHASE_QUIT, now);
  c->result.ok = true;
  c->result.response_time = c->stat_at - c->connect_start;
  take_age(c);
  const pop3_loop_t *loop = pop3_session_loop(&c->bufs->session);
  if (loop != NULL) {
    c->result.loop_wanted = true;
    c->result.loop = *loop;
  }
  report(t);
}

/* The server mishandled the commands pipelined behind the login: the same
 * collection again, lock-step, on a fresh connection to the same address,
 * within what is left of the Timeout. */
static void restart_lockstep(pop3_target_t *t) {
  collection_t *c = t->c;
  c->lockstep_retry = true;
  c->burst_error = *pop3_session_error(&c->bufs->session);
  close_connection(t);
  pop3_session_clear(&c->bufs->session);
  c->session_started = false;
  c->input_len = c->input_pos = 0;
  c->stall_at = HUGE_VAL;
  c->stall_reported = false;
  pop3_dialer_again(&c->dialer); /* the address that answered */
  track_phase(t, POP3_PHASE_CONNECT, pop3_now());
  slot_release(t); /* a new connection waits its turn like any other */
  c->step = STEP_SLOT;
  if (slot_take(t))
    slot_granted(t);
}

static void session_over(pop3_target_t *t) {
  collection_t *c = t->c;
  check_stat(t, pop3_now());
  if (pop3_session_burst_failed(&c->bufs->session) && !c->lockstep_retry &&
      !c->reported && pop3_now() < c->deadline) {
    restart_lockstep(t);
    return;
  }
  if (pop3_session_failed(&c->bufs->session) && !c->reported)
    fail(t, pop3_session_error(&c->bufs->session));
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

static void start_tls(pop3_target_t *t, bool stls);

/* Feeds the session what is left of the last read: true when there was
 * some. */
static bool feed_input(collection_t *c) {
  if (c->input_pos >= c->input_len)
    return false;
  c->input_pos += pop3_session_feed(&c->bufs->session,
                                    c->bufs->input + c->input_pos,
                                    c->input_len - c->input_pos);
  return true;
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
    track_phase(t, pop3_session_phase(&c->bufs->session), now);
    check_stat(t, now);
    switch (pop3_session_want(&c->bufs->session)) {
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
      if (feed_input(c)) {
        c->input_pos = c->input_len;
        break;
      }
      start_tls(t, true);
      return;
    case POP3_WANT_READ:
      if (feed_input(c))
        break;
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

/* --- TLS --------------------------------------------------------------------- */

static void tls_failed(pop3_target_t *t, const char *why) {
  pop3_error_t err;
  pop3_error_set(&err, POP3_PHASE_TLS, POP3_FAIL_TLS, "%s", why);
  abort_collection(t, &err);
}

static void tls_established(pop3_target_t *t) {
  collection_t *c = t->c;
  slot_release(t);
  pop3_tls_info_t info;
  pop3_tls_transport_info(&c->transport, &info);
  snprintf(c->result.tls_version, sizeof(c->result.tls_version), "%s",
           info.version);
  snprintf(c->result.tls_cipher, sizeof(c->result.tls_cipher), "%s",
           info.cipher);
  c->result.tls_resumed = info.resumed;
  if (info.not_after != 0)
    c->result.cert_not_after = info.not_after;
  if (!c->stls) {
    start_session(t);
    return;
  }
  c->step = STEP_SESSION;
  track_phase(t, POP3_PHASE_GREETING, pop3_now());
  pop3_session_tls_started(&c->bufs->session);
  drive(t);
}

static void continue_tls(pop3_target_t *t) {
  collection_t *c = t->c;
  pop3_io_t io = pop3_transport_handshake(&c->transport);
  if (io == POP3_IO_DONE)
    tls_established(t);
  else if (!wait_for(t, io))
    tls_failed(t, c->transport.error);
}

/* TLS on the connected socket: at once (SSL true) or after STLS. */
static void start_tls(pop3_target_t *t, bool stls) {
  collection_t *c = t->c;
  const pop3_monitor_t *m = t->monitor;
  c->step = STEP_TLS;
  c->stls = stls;
  track_phase(t, POP3_PHASE_TLS, pop3_now());
  pop3_tls_options_t opts = {.host = m->host,
                             .verify_peer = m->verify_peer,
                             .verify_host = m->verify_host,
                             .session = &t->tls_session};
  if (pop3_tls_transport_start(&c->transport, t->tls_ctx, c->fd, &opts) != 0)
    tls_failed(t, c->transport.error);
  else
    continue_tls(t);
}

/* --- connecting ------------------------------------------------------------- */

static void connected(pop3_target_t *t) {
  collection_t *c = t->c;
  pop3_dialer_current(&c->dialer, c->result.address, sizeof(c->result.address));
  pop3_transport_plain(&c->transport, c->fd);
  if (!pop3_monitor_uses_tls(t->monitor))
    slot_release(t); /* clear text: the connect was the whole set-up */
  if (t->monitor->ssl)
    start_tls(t, false);
  else
    start_session(t);
}

/* Tries the next address; fails the collection when none is left. */
static void connect_next(pop3_target_t *t) {
  collection_t *c = t->c;
  close_socket(t);
  switch (pop3_dialer_next(&c->dialer, c->deadline, &c->fd,
                           &c->attempt_deadline)) {
  case POP3_DIAL_CONNECTED:
    connected(t);
    return;
  case POP3_DIAL_IN_PROGRESS:
    watch(t, EPOLLOUT);
    return;
  case POP3_DIAL_NONE_LEFT:
    break;
  }
  pop3_error_t err;
  pop3_error_set(&err, POP3_PHASE_CONNECT,
                 c->dialer.last_timed_out ? POP3_FAIL_TIMEOUT
                                          : POP3_FAIL_CONNECT,
                 "cannot connect: %s", c->dialer.tried);
  abort_collection(t, &err);
}

static void connect_ready(pop3_target_t *t) {
  collection_t *c = t->c;
  int error = pop3_dial_outcome(c->fd);
  if (error == EINPROGRESS)
    return;
  if (error != 0) {
    pop3_dialer_failed(&c->dialer, error);
    connect_next(t);
    return;
  }
  connected(t);
}

/* With a slot: the buffers, then the connect (again, for a lock-step
 * retry). The wait for the slot is left out of the phases and of the
 * response time. */
static void slot_granted(pop3_target_t *t) {
  collection_t *c = t->c;
  double now = pop3_now();
  if (c->bufs == NULL && (c->bufs = malloc(sizeof(*c->bufs))) == NULL) {
    pop3_error_t err;
    pop3_error_set(&err, POP3_PHASE_CONNECT, POP3_FAIL_CONNECT,
                   "out of memory");
    abort_collection(t, &err);
    return;
  }
  c->step = STEP_CONNECT;
  c->phase_start = now;
  if (!c->lockstep_retry)
    c->connect_start = now;
  connect_next(t);
}

static void start_connecting(pop3_target_t *t) {
  collection_t *c = t->c;
  track_phase(t, POP3_PHASE_CONNECT, pop3_now());
  c->step = STEP_SLOT;
  if (slot_take(t))
    slot_granted(t);
}

/* --- resolving ---------------------------------------------------------------- */

static void resolved(void *owner, unsigned generation,
                     const pop3_addresses_t *found, const char *failure) {
  pop3_target_t *t = owner;
  collection_t *c = t->c;
  if (c == NULL || t->generation != generation || c->step != STEP_RESOLVE)
    return; /* the collection gave up waiting */
  if (failure != NULL) {
    pop3_error_t err;
    pop3_error_set(&err, POP3_PHASE_RESOLVE, POP3_FAIL_RESOLVE,
                   "cannot resolve \"%s\": %s", t->monitor->host, failure);
    abort_collection(t, &err);
    return;
  }
  c->dialer.addresses = *found;
  start_connecting(t);
  /* an answer from the network comes outside any timer or socket event:
   * the first address's share of the Timeout needs its timer now */
  rearm(t);
}

static void start_resolving(pop3_target_t *t) {
  collection_t *c = t->c;
  const pop3_monitor_t *m = t->monitor;
  if (pop3_addresses_literal(&c->dialer.addresses, m->host, m->port)) {
    start_connecting(t);
    return;
  }
  c->step = STEP_RESOLVE;
  track_phase(t, POP3_PHASE_RESOLVE, pop3_now());
  /* may call resolved() before returning, e.g. from /etc/hosts */
  if (pop3_resolve(t->engine->resolver, m->host, m->port, resolved, t,
                   t->generation) != 0) {
    pop3_error_t err;
    pop3_error_set(&err, POP3_PHASE_RESOLVE, POP3_FAIL_RESOLVE,
                   "out of memory");
    abort_collection(t, &err);
  }
}

/* --- bearer tokens -------------------------------------------------------
 * A TokenFile is a local read, done in place; a TokenCommand runs in a
 * thread of the token runner, whose answer comes back through the wake-up
 * descriptor. */

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
    if (pop3_token_read_file(m->token_file, token, sizeof(token), &err) == 0)
      token_ready(t, token);
    else
      abort_collection(t, &err);
    explicit_bzero(token, sizeof(token));
    return;
  }
  if (pop3_token_runner_start(t->engine->tokens, m->token_command,
                              c->deadline, t, t->generation) != 0) {
    pop3_error_set(&err, POP3_PHASE_AUTH, POP3_FAIL_TOKEN,
                   "cannot run TokenCommand: out of resources");
    abort_collection(t, &err);
  }
}

static void token_answered(const pop3_token_answer_t *a, void *arg) {
  (void)arg;
  pop3_target_t *t = a->owner;
  if (t->c == NULL || t->generation != a->generation ||
      t->c->step != STEP_TOKEN)
    return; /* the collection gave up waiting */
  if (a->status == 0)
    token_ready(t, a->token);
  else
    abort_collection(t, &a->error);
  rearm(t);
}

/* --- starting a collection, and its timer -------------------------------------- */

static void start_collection(pop3_target_t *t) {
  collection_t *c = malloc(sizeof(*c));
  if (c == NULL) {
    pop3_queue_done(&t->engine->queue, &t->job);
    return;
  }
  memset(c, 0, offsetof(collection_t, dialer));
  pop3_dialer_reset(&c->dialer);
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

/* A plain connection that never got a greeting is most often an
 * implicit-TLS port waiting for our handshake: say so. */
static void explain_silence(pop3_target_t *t, pop3_error_t *err) {
  const pop3_session_t *s = &t->c->bufs->session;
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
  case STEP_SLOT:
    slot_unwait(t);
    pop3_error_set(&err, POP3_PHASE_CONNECT, POP3_FAIL_TIMEOUT,
                   "no handshake slot free within the Timeout (%u handshakes "
                   "to %s%s%s:%d already in flight)",
                   t->server->busy, strchr(t->monitor->host, ':') ? "[" : "",
                   t->monitor->host, strchr(t->monitor->host, ':') ? "]" : "",
                   t->monitor->port);
    break;
  case STEP_CONNECT:
    pop3_dialer_failed(&c->dialer, ETIMEDOUT);
    pop3_error_set(&err, POP3_PHASE_CONNECT, POP3_FAIL_TIMEOUT,
                   "cannot connect: %s", c->dialer.tried);
    break;
  case STEP_TLS:
    pop3_error_set(&err, POP3_PHASE_TLS, POP3_FAIL_TIMEOUT,
                   "TLS handshake not finished within the Timeout");
    break;
  default:
    pop3_error_set(&err, pop3_session_phase(&c->bufs->session),
                   POP3_FAIL_TIMEOUT,
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
    pop3_dialer_failed(&c->dialer, ETIMEDOUT);
    connect_next(t);
    return;
  }
  if (c->step == STEP_SESSION && now >= c->stall_at && !c->stall_reported) {
    /* long silence: a pipelined STAT may have been lost by a server that
     * hands the connection over after PASS; the session re-sends it */
    c->stall_reported = true;
    c->stall_at = HUGE_VAL;
    pop3_session_stalled(&c->bufs->session);
    drive(t);
  }
}

/* The target's one timer: the earliest of what its step waits for. */
static void rearm(pop3_target_t *t) {
  collection_t *c = t->c;
  if (c == NULL)
    return;
  double at = c->deadline;
  if (c->step == STEP_CONNECT && c->attempt_deadline < at)
    at = c->attempt_deadline;
  if (c->step == STEP_SESSION && !c->stall_reported && c->stall_at < at)
    at = c->stall_at;
  if (at != t->timer.at)
    timer_set(t, at);
}

/* --- the loop ------------------------------------------------------------------ */

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
  case STEP_SLOT:
    break;
  }
}

/* The resolver's sockets share the epoll set, tagged apart from targets. */
static void watch_resolver_socket(void *arg, int fd, bool readable,
                                  bool writable) {
  pop3_engine_t *e = arg;
  struct epoll_event ev = {
      .events = (readable ? EPOLLIN : 0) | (writable ? EPOLLOUT : 0),
      .data.u64 = TAG_RESOLVER_FLAG | (uint64_t)(unsigned)fd};
  if (!readable && !writable) {
    epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
    return;
  }
  if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
    epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Submitted targets get their start timers; those expedited while they
 * wait for it start now, or are dropped. */
static void take_submitted(pop3_engine_t *e) {
  pop3_job_t *job = pop3_queue_take(&e->queue);
  while (job != NULL) {
    pop3_job_t *next = job->next;
    job->next = NULL;
    timer_set(CONTAINER_OF(job, pop3_target_t, job), job->start_at);
    job = next;
  }
  if (!pop3_queue_early_asked(&e->queue))
    return;
  for (size_t i = 0; i < e->targets_num; i++) {
    pop3_target_t *t = e->targets[i];
    pop3_job_early_t early = pop3_queue_early(&e->queue, &t->job);
    if (early == POP3_JOB_WAIT || t->c != NULL || t->timer.at == HUGE_VAL)
      continue; /* nothing asked, started already, or not submitted */
    if (early == POP3_JOB_NOW) {
      timer_set(t, pop3_now());
    } else {
      timer_set(t, HUGE_VAL);
      pop3_queue_done(&e->queue, &t->job);
    }
  }
}

static void fire_timers(pop3_engine_t *e) {
  double now = pop3_now();
  pop3_timer_t *first;
  while ((first = pop3_timers_first(&e->timers)) != NULL && first->at <= now) {
    pop3_target_t *t = CONTAINER_OF(first, pop3_target_t, timer);
    timer_fired(t, now);
    rearm(t);
    if (t->timer.index == 0 && t->timer.at <= now)
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
  if (e->ready_num > 0 || e->freed_num > 0)
    return 0;
  double next = until;
  const pop3_timer_t *first = pop3_timers_first(&e->timers);
  if (first != NULL && first->at < next)
    next = first->at;
  double resolver_in = pop3_resolver_timeout(e->resolver);
  double now = pop3_now();
  if (now + resolver_in < next)
    next = now + resolver_in;
  double ms = ceil((next - now) * 1000.0);
  return ms <= 0 ? 0 : ms > 1000 ? 1000 : (int)ms;
}

static void dispatch(pop3_engine_t *e, const struct epoll_event *ev) {
  uint64_t tag = ev->data.u64;
  if (tag == TAG_WAKE) {
    e->woken = true; /* take_submitted() drains it */
    return;
  }
  if (tag & TAG_RESOLVER_FLAG) {
    pop3_resolver_process(e->resolver, (int)(tag & ~TAG_RESOLVER_FLAG),
                          ev->events & (EPOLLIN | EPOLLERR | EPOLLHUP),
                          ev->events & EPOLLOUT);
    return;
  }
  pop3_target_t *t = ev->data.ptr;
  socket_ready(t);
  rearm(t);
}

void pop3_engine_run(pop3_engine_t *e, double until) {
  struct epoll_event events[64];
  for (;;) {
    if (e->woken) {
      e->woken = false;
      if (pop3_queue_stop_asked(&e->queue))
        return;
      take_submitted(e);
      pop3_token_runner_take(e->tokens, token_answered, NULL);
    }
    if (pop3_now() >= until)
      return;
    fire_timers(e);
    hand_out_slots(e);
    if (e->until_idle && pop3_engine_busy(e) == 0)
      return;
    int n = epoll_wait(e->epfd, events, 64, wait_ms(e, until));
    for (int i = 0; i < n; i++)
      dispatch(e, &events[i]);
    run_ready(e);
    pop3_resolver_tick(e->resolver); /* lets c-ares notice its timeouts */
    hand_out_slots(e);
  }
}

void pop3_engine_run_until_idle(pop3_engine_t *e, double until) {
  e->until_idle = true;
  pop3_engine_run(e, until);
  e->until_idle = false;
}

/* --- public API ----------------------------------------------------------------- */

/* The resolver and the token runner: both report to the loop, through
 * its epoll set and its wake-up descriptor. */
static int start_helpers(pop3_engine_t *e, char *err, size_t err_size) {
  e->resolver = pop3_resolver_new(watch_resolver_socket, e, err, err_size);
  if (e->resolver == NULL)
    return -1;
  e->tokens = pop3_token_runner_new(e->queue.wakefd);
  if (e->tokens == NULL) {
    snprintf(err, err_size, "out of memory");
    return -1;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_WAKE};
  epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->queue.wakefd, &ev);
  return 0;
}

pop3_engine_t *pop3_engine_new(char *err, size_t err_size) {
  pop3_engine_t *e = calloc(1, sizeof(*e));
  if (e == NULL) {
    snprintf(err, err_size, "out of memory");
    return NULL;
  }
  e->woken = true;
  e->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (e->epfd < 0) {
    snprintf(err, err_size, "cannot create the event loop: %s",
             strerror(errno));
  } else if (pop3_queue_init(&e->queue, err, err_size) == 0) {
    if (start_helpers(e, err, err_size) == 0)
      return e;
    pop3_resolver_free(e->resolver);
    pop3_queue_destroy(&e->queue);
  }
  if (e->epfd >= 0)
    close(e->epfd);
  free(e);
  return NULL;
}

void pop3_engine_free(pop3_engine_t *e) {
  if (e == NULL)
    return;
  /* TokenCommand threads end by their deadline (they kill the command);
   * only then may the wake-up descriptor they write to be closed */
  pop3_token_runner_free(e->tokens);
  for (size_t i = 0; i < e->targets_num; i++) {
    pop3_target_t *t = e->targets[i];
    if (t->c != NULL) {
      t->c->reported = true; /* nobody listens any more */
      finish(t);
    }
    pop3_tls_session_free(t->tls_session);
  }
  pop3_resolver_free(e->resolver); /* drops late answers unheard */
  for (size_t i = 0; i < e->targets_num; i++)
    free(e->targets[i]);
  free(e->targets);
  for (size_t i = 0; i < e->servers_num; i++) {
    free(e->servers[i]->host);
    free(e->servers[i]);
  }
  free(e->servers);
  free(e->freed);
  pop3_timers_free(&e->timers);
  free(e->ready);
  close(e->epfd);
  pop3_queue_destroy(&e->queue);
  free(e);
}

/* Room for one more target in every list of targets (ready holds each
 * target up to twice). */
static int make_room(pop3_engine_t *e) {
  size_t n = e->targets_num + 1;
  pop3_target_t **targets = realloc(e->targets, n * sizeof(*targets));
  if (targets == NULL)
    return -1;
  e->targets = targets;
  if (pop3_timers_reserve(&e->timers, n) != 0)
    return -1;
  pop3_target_t **ready = realloc(e->ready, 2 * n * sizeof(*ready));
  if (ready == NULL)
    return -1;
  e->ready = ready;
  return 0;
}

pop3_target_t *pop3_engine_add(pop3_engine_t *e, const pop3_monitor_t *m,
                               SSL_CTX *tls_ctx, pop3_result_cb on_result,
                               void *arg) {
  pop3_target_t *t = calloc(1, sizeof(*t));
  server_t *s = NULL;
  if (t == NULL || make_room(e) != 0 || (s = server_for(e, m)) == NULL) {
    free(t);
    return NULL;
  }
  *t = (pop3_target_t){.engine = e,
                       .monitor = m,
                       .server = s,
                       .tls_ctx = tls_ctx,
                       .on_result = on_result,
                       .arg = arg,
                       .timer = POP3_TIMER_UNSET};
  e->targets[e->targets_num++] = t;
  return t;
}

int pop3_engine_submit(pop3_engine_t *e, pop3_target_t *t, double delay) {
  if (delay > 0) {
    double now = pop3_now();
    delay = ceil((now + delay) / START_STEP) * START_STEP - now;
  }
  return pop3_queue_submit(&e->queue, &t->job, delay);
}

void pop3_engine_stop(pop3_engine_t *e) { pop3_queue_stop(&e->queue); }

void pop3_engine_expedite(pop3_engine_t *e, pop3_target_t *t, bool start) {
  pop3_queue_expedite(&e->queue, &t->job, start);
}

void pop3_engine_collection_bytes(size_t *state, size_t *buffers) {
  *state = sizeof(collection_t);
  *buffers = sizeof(buffers_t);
}

/* --- spreading ----------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *bytes, size_t len) {
  for (size_t i = 0; i < len; i++) {
    h ^= (unsigned char)bytes[i];
    h *= UINT64_C(0x100000001b3);
  }
  return h;
}

/* MurmurHash3's fmix64: every input bit moves every output bit, so that
 * names differing only in their last character (m1, m2, ...) do not land
 * in a regular pattern. */
static uint64_t fmix64(uint64_t h) {
  h ^= h >> 33;
  h *= UINT64_C(0xff51afd7ed558ccd);
  h ^= h >> 33;
  h *= UINT64_C(0xc4ceb9fe1a85ec53);
  h ^= h >> 33;
  return h;
}

double pop3_engine_offset(const pop3_monitor_t *m) {
  double room = m->interval - m->timeout - SPREAD_SLACK;
  if (!m->spread || room <= 0)
    return 0;
  char port[16];
  int port_len = snprintf(port, sizeof(port), ":%d", m->port);
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  h = fnv1a(h, m->name, strlen(m->name) + 1); /* the NUL separates */
  h = fnv1a(h, m->host, strlen(m->host));
  h = fnv1a(h, port, (size_t)port_len);
  return room * (double)(fmix64(h) >> 11) * 0x1p-53;
}

bool pop3_engine_wait_idle(pop3_engine_t *e, double deadline) {
  return pop3_queue_wait_idle(&e->queue, deadline);
}

size_t pop3_engine_busy(pop3_engine_t *e) { return pop3_queue_busy(&e->queue); }

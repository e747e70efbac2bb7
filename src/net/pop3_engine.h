/* pop3_engine.h: runs the collections of many monitors concurrently in one
 * thread: non-blocking sockets under epoll, c-ares for name resolution, one
 * deadline per collection, no thread per monitor. Independent of collectd.
 *
 * Between collections a monitor keeps only what makes the next one cheaper:
 * the server's capabilities (to pipeline the login right after the
 * greeting) and its TLS session (to resume it). Buffers exist only while a
 * collection is in flight. */
#ifndef POP3_ENGINE_H
#define POP3_ENGINE_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "pop3_monitor.h"
#include "pop3_result.h"

/* 64: a burst stays well below what servers allow one client (Dovecot's
 * default of 100 login processes, Postfix's 50 connections per client), and
 * a slot is held about 2 RTT (connect, TLS 1.3 handshake), so 64 slots start
 * 320 TLS collections a second at 100 ms RTT: 5000 monitors of Interval 30
 * on one server need about 200. */
#define POP3_HANDSHAKES_PER_SERVER 64

typedef struct pop3_engine pop3_engine_t;
typedef struct pop3_target pop3_target_t;

/* Called on the engine's thread once per collection: as soon as STAT is
 * answered (QUIT then completes in the background) or when it failed. */
typedef void (*pop3_result_cb)(const pop3_result_t *r, void *arg);

pop3_engine_t *pop3_engine_new(char *err, size_t err_size);
/* Aborts what is in flight and frees every target. */
void pop3_engine_free(pop3_engine_t *e);

/* Not thread-safe: add every target before the loop runs. The monitor and
 * the context must outlive the engine. */
pop3_target_t *pop3_engine_add(pop3_engine_t *e, const pop3_monitor_t *m,
                               SSL_CTX *tls_ctx, pop3_result_cb on_result,
                               void *arg);

/* Thread-safe: start a collection of t in delay seconds (a delay is
 * rounded up to the engine's grid of 0.25 s, so that close starts share a
 * wake-up). -1 when the previous one is still queued or in flight (nothing
 * is queued then). */
int pop3_engine_submit(pop3_engine_t *e, pop3_target_t *t, double delay);

/* The monitor's place in its interval: how many seconds after collectd
 * calls its read its collection starts. A hash of the name and Host:Port
 * (FNV-1a, then MurmurHash3's finaliser) spread evenly over
 * [0, Interval - Timeout - 1 s): the same at every start, different for
 * each monitor, and the collection still ends (by its Timeout, after the
 * start grid's rounding) 0.75 s before the next read. 0 with Spread false,
 * or when Timeout leaves no room. */
double pop3_engine_offset(const pop3_monitor_t *m);

/* Thread-safe: if t's collection is still waiting for its start time, it
 * starts now (start), or never (its result callback is not called). For
 * the end: collectd -T, shutdown. */
void pop3_engine_expedite(pop3_engine_t *e, pop3_target_t *t, bool start);

/* What one collection allocates, for measurements: its state from its
 * start (while it resolves and waits for a handshake slot), and the buffers
 * added once it has a slot (the TLS library's objects come on top). */
void pop3_engine_collection_bytes(size_t *state, size_t *buffers);

/* Runs the loop until the monotonic time `until` or pop3_engine_stop(). */
void pop3_engine_run(pop3_engine_t *e, double until);
/* Same, but returns as soon as nothing is queued or in flight. */
void pop3_engine_run_until_idle(pop3_engine_t *e, double until);
/* Thread-safe: makes pop3_engine_run() return soon. */
void pop3_engine_stop(pop3_engine_t *e);

/* Thread-safe: waits until nothing is queued or in flight; false when the
 * monotonic deadline came first. */
bool pop3_engine_wait_idle(pop3_engine_t *e, double deadline);
/* Collections queued or in flight. */
size_t pop3_engine_busy(pop3_engine_t *e);

#endif

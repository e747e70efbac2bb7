/* pop3_collect.c: one collection, synchronously, on a private engine: the
 * same code path as the plugin's, for Detect, tools and tests. */
#include "pop3_collect.h"

#include <stdio.h>
#include <string.h>

#include "pop3_engine.h"
#include "pop3_time.h"

typedef struct {
  pop3_result_t *result;
  bool reported;
} result_sink_t;

static void keep_result(const pop3_result_t *r, void *arg) {
  result_sink_t *sink = arg;
  *sink->result = *r;
  sink->reported = true;
}

void pop3_collect(const pop3_monitor_t *m, SSL_CTX *tls_ctx, pop3_result_t *r) {
  memset(r, 0, sizeof(*r));
  char why[POP3_ERROR_MAX] = "";
  result_sink_t sink = {.result = r};
  pop3_engine_t *e = pop3_engine_new(why, sizeof(why));
  pop3_target_t *t =
      e != NULL ? pop3_engine_add(e, m, tls_ctx, keep_result, &sink) : NULL;
  if (t == NULL || pop3_engine_submit(e, t, 0) != 0) {
    pop3_error_set(&r->error, POP3_PHASE_RESOLVE, POP3_FAIL_IO,
                   "cannot start the collection: %s",
                   why[0] ? why : "out of memory");
    pop3_engine_free(e);
    return;
  }
  /* the engine enforces the Timeout; the extra second only guards us */
  pop3_engine_run_until_idle(e, pop3_now() + m->timeout + 1.0);
  pop3_engine_free(e);
  if (!sink.reported)
    pop3_error_set(&r->error, POP3_PHASE_RESOLVE, POP3_FAIL_TIMEOUT,
                   "the collection did not end within the Timeout");
}

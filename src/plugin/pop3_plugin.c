/* pop3_plugin.c: the collectd glue. Reads <Plugin pop3>, starts one complex
 * read per monitor, dispatches values, logs and notifies on changes. */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include "pop3_config.h"
#include "pop3_engine.h"
#include "pop3_mailloop.h"
#include "pop3_plugin.h"
#include "pop3_report.h"
#include "pop3_time.h"
#include "pop3_tls.h"

#define CAUSE_MAX POP3_CAUSE_MAX
#define LABEL_MAX POP3_LABEL_MAX
/* The longest LOGIN-DELAY honoured: a server (or a forged answer) asking
 * for more must not silence a monitor for longer than an hour. */
#define LOGIN_DELAY_MAX 3600.0

typedef struct {
  pop3_monitor_t *monitor;
  SSL_CTX *tls_ctx; /* one reference of a shared context, or NULL */
  pop3_target_t *target;
  double offset; /* seconds after collectd's tick: its place in the interval */
  bool started;  /* Detect passed (or not asked): its read is registered */

  /* engine thread (or init, before the engine thread runs) */
  bool failing;
  bool announced; /* the start-up INFO line has been logged */
  char last_error[CAUSE_MAX];
  bool detect_ok;
  pop3_result_t detect_result;

  /* under instances_lock: read threads look, the engine thread sets */
  double not_before;  /* LOGIN-DELAY: no login before this (monotonic) */
  bool overrun_noted; /* "still running" logged */
  bool collected;     /* a read's collection has ended since the start */

  /* engine thread */
  bool login_delay_noted; /* the LOGIN-DELAY NOTICE of this episode */
  bool age_problem_noted; /* the message age WARNING of this episode */
  bool age_dispatched;    /* the last collection dispatched the age */
  pop3_mailloop_t *loop;  /* <MailLoop>, or NULL */
} pop3_instance_t;

/* Monitors read from the configuration, handed to collectd at init. */
static pop3_monitor_t **configured;
static size_t configured_num;

/* Every configured monitor after init; freed at shutdown. */
static pop3_instance_t **instances;
static size_t instances_num;
static size_t reads_registered;
static pthread_mutex_t instances_lock = PTHREAD_MUTEX_INITIALIZER;

/* The engine and its thread. */
static pop3_engine_t *engine;
static pthread_t engine_thread;
static bool engine_thread_running;
static volatile bool engine_stopping;

/* Values handed to collectd, and values its write threads have passed to
 * the writers (seen by a write callback of ours, called after the filter
 * chain like any writer). collectd drops whatever is still queued when it
 * stops its write threads, so the end waits for the two to meet. */
static pthread_mutex_t written_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t written_cond = PTHREAD_COND_INITIALIZER;
static uint64_t values_dispatched;
static uint64_t values_written;

/* One SSL_CTX per distinct TLS setting, shared by the monitors using it. */
typedef struct {
  char *ca_cert;
  bool verify_peer;
  SSL_CTX *ctx;
} tls_context_entry_t;
static tls_context_entry_t *tls_contexts;
static size_t tls_contexts_num;

/* --- configuration ------------------------------------------------------ */

static bool is_configured(const char *name) {
  for (size_t i = 0; i < configured_num; i++)
    if (strcmp(configured[i]->name, name) == 0)
      return true;
  return false;
}

static int add_monitor(pop3_monitor_t *m) {
  if (is_configured(m->name)) {
    ERROR("pop3 plugin: monitor \"%s\": the name is used twice; monitor "
          "names must be unique",
          m->name);
    return -1;
  }
  pop3_monitor_t **grown =
      realloc(configured, (configured_num + 1) * sizeof(*configured));
  if (grown == NULL)
    return -1;
  configured = grown;
  configured[configured_num++] = m;
  return 0;
}

static int pop3_config(oconfig_item_t *ci) {
  int skipped = 0;
  for (int i = 0; i < ci->children_num; i++) {
    oconfig_item_t *child = &ci->children[i];
    if (strcasecmp("Monitor", child->key) != 0) {
      ERROR("pop3 plugin: unknown option \"%s\"; only <Monitor \"name\"> "
            "blocks are allowed here",
            child->key);
      skipped++;
      continue;
    }
    pop3_monitor_t *m = pop3_config_monitor(child);
    if (m == NULL || add_monitor(m) != 0) {
      pop3_monitor_free(m);
      skipped++;
    }
  }
  if (skipped > 0)
    ERROR("pop3 plugin: %d monitor block(s) skipped because of the errors "
          "above",
          skipped);
  if (configured_num == 0) {
    ERROR("pop3 plugin: no valid <Monitor> block is configured");
    return -1;
  }
  return 0;
}

/* --- TLS contexts --------------------------------------------------------- */

static bool same_ca(const char *a, const char *b) {
  return (a == NULL && b == NULL) || (a != NULL && b != NULL && !strcmp(a, b));
}

static SSL_CTX *tls_context_for(const pop3_monitor_t *m, char *err,
                                size_t err_size) {
  for (size_t i = 0; i < tls_contexts_num; i++)
    if (same_ca(tls_contexts[i].ca_cert, m->ca_cert) &&
        tls_contexts[i].verify_peer == m->verify_peer)
      return tls_contexts[i].ctx;
  SSL_CTX *ctx = pop3_tls_context_new(m->ca_cert, m->verify_peer, err,
                                      err_size);
  if (ctx == NULL)
    return NULL;
  tls_context_entry_t *grown = realloc(
      tls_contexts, (tls_contexts_num + 1) * sizeof(*tls_contexts));
  if (grown == NULL) {
    SSL_CTX_free(ctx);
    snprintf(err, err_size, "out of memory");
    return NULL;
  }
  tls_contexts = grown;
  tls_contexts[tls_contexts_num++] = (tls_context_entry_t){
      .ca_cert = m->ca_cert ? strdup(m->ca_cert) : NULL,
      .verify_peer = m->verify_peer,
      .ctx = ctx};
  return ctx;
}

static void tls_contexts_free(void) {
  for (size_t i = 0; i < tls_contexts_num; i++) {
    SSL_CTX_free(tls_contexts[i].ctx);
    free(tls_contexts[i].ca_cert);
  }
  free(tls_contexts);
  tls_contexts = NULL;
  tls_contexts_num = 0;
}

/* --- reporting ------------------------------------------------------------ */

void pop3_plugin_notify(const pop3_monitor_t *m, int severity,
                        const char *type, const char *type_instance,
                        const char *text) {
  notification_t n = {.severity = severity, .time = cdtime()};
  sstrncpy(n.host, hostname_g, sizeof(n.host));
  sstrncpy(n.plugin, "pop3", sizeof(n.plugin));
  sstrncpy(n.plugin_instance, m->name, sizeof(n.plugin_instance));
  if (type != NULL) {
    sstrncpy(n.type, type, sizeof(n.type));
    sstrncpy(n.type_instance, type_instance, sizeof(n.type_instance));
  }
  sstrncpy(n.message, text, sizeof(n.message));
  plugin_dispatch_notification(&n);
}

static void notify(const pop3_monitor_t *m, int severity, const char *text) {
  pop3_plugin_notify(m, severity, NULL, NULL, text);
}

static void dispatch(const pop3_monitor_t *m, const char *type,
                     const char *type_instance, gauge_t value) {
  pop3_plugin_dispatch(m, type, type_instance, value);
}

/* One ERROR line and one FAILURE notification per change of state or of
 * cause; not one per interval. */
static void report_failure(pop3_instance_t *inst, const pop3_result_t *r) {
  char cause[CAUSE_MAX];
  pop3_report_cause(&r->error, cause, sizeof(cause));
  if (inst->failing && strcmp(cause, inst->last_error) == 0)
    return;
  char label[LABEL_MAX], text[LABEL_MAX + CAUSE_MAX + 2];
  pop3_report_label(inst->monitor, label, sizeof(label));
  snprintf(text, sizeof(text), "%s: %s", label, cause);
  ERROR("pop3 plugin: %s", text);
  notify(inst->monitor, NOTIF_FAILURE, text);
  inst->failing = true;
  sstrncpy(inst->last_error, cause, sizeof(inst->last_error));
}

static void report_success(pop3_instance_t *inst, const pop3_result_t *r) {
  char label[LABEL_MAX];
  pop3_report_label(inst->monitor, label, sizeof(label));
  if (inst->failing) {
    char text[512];
    snprintf(text, sizeof(text), "%s: collecting again (%" PRIu64
             " messages, %" PRIu64 " bytes)",
             label, r->message_count, r->mailbox_size);
    INFO("pop3 plugin: %s", text);
    notify(inst->monitor, NOTIF_OKAY, text);
    inst->failing = false;
    inst->last_error[0] = '\0';
  }
  if (!inst->announced) {
    char caps[256], tls[96];
    pop3_report_capabilities(&r->capabilities, caps, sizeof(caps));
    if (r->tls_version[0] != '\0')
      snprintf(tls, sizeof(tls), "%s (%s)", r->tls_version, r->tls_cipher);
    else
      snprintf(tls, sizeof(tls), "no TLS");
    INFO("pop3 plugin: %s: first collection from %s, %s, login %s, "
         "capabilities: %s",
         label, r->address, tls, pop3_auth_name(r->auth_used), caps);
    inst->announced = true;
  }
}

void pop3_plugin_dispatch(const pop3_monitor_t *m, const char *type,
                          const char *type_instance, double value) {
  value_list_t vl = VALUE_LIST_INIT;
  vl.values = &(value_t){.gauge = value};
  vl.values_len = 1;
  vl.time = cdtime();
  /* explicit, so values keep the monitor's interval whatever thread sends */
  vl.interval = DOUBLE_TO_CDTIME_T(m->interval);
  sstrncpy(vl.plugin, "pop3", sizeof(vl.plugin));
  sstrncpy(vl.plugin_instance, m->name, sizeof(vl.plugin_instance));
  sstrncpy(vl.type, type, sizeof(vl.type));
  if (type_instance != NULL)
    sstrncpy(vl.type_instance, type_instance, sizeof(vl.type_instance));
  pthread_mutex_lock(&written_lock);
  values_dispatched++;
  pthread_mutex_unlock(&written_lock);
  if (plugin_dispatch_values(&vl) != 0) {
    pthread_mutex_lock(&written_lock);
    values_dispatched--;
    pthread_mutex_unlock(&written_lock);
  }
}

static int pop3_written(const data_set_t *ds, const value_list_t *vl,
                        user_data_t *ud) {
  (void)ds;
  (void)ud;
  if (strcmp(vl->plugin, "pop3") != 0)
    return 0;
  pthread_mutex_lock(&written_lock);
  values_written++;
  pthread_cond_broadcast(&written_cond);
  pthread_mutex_unlock(&written_lock);
  return 0;
}

/* Until every value dispatched has reached the writers, or the monotonic
 * deadline. A value a filter drops never reaches them: when nothing moves
 * for a second, waiting longer would not help. */
static bool wait_written(double deadline) {
  pthread_mutex_lock(&written_lock);
  uint64_t seen = values_written;
  double quiet_until = pop3_now() + 1.0;
  while (values_written < values_dispatched) {
    double now = pop3_now();
    if (values_written != seen) {
      seen = values_written;
      quiet_until = now + 1.0;
    }
    double until = quiet_until < deadline ? quiet_until : deadline;
    if (now >= until)
      break;
    struct timespec at;
    clock_gettime(CLOCK_REALTIME, &at); /* written_cond's clock */
    double wake = (double)at.tv_sec + (double)at.tv_nsec / 1e9 + (until - now);
    at.tv_sec = (time_t)wake;
    at.tv_nsec = (long)((wake - (double)at.tv_sec) * 1e9);
    pthread_cond_timedwait(&written_cond, &written_lock, &at);
  }
  bool done = values_written >= values_dispatched;
  pthread_mutex_unlock(&written_lock);
  return done;
}

/* Seconds per phase; the phases a collection did not go through (TLS on
 * a plain connection) are left out. */
static void dispatch_timings(const pop3_monitor_t *m, const pop3_result_t *r) {
  static const pop3_phase_t phases[] = {POP3_PHASE_CONNECT, POP3_PHASE_TLS,
                                        POP3_PHASE_GREETING, POP3_PHASE_AUTH,
                                        POP3_PHASE_STAT};
  for (size_t i = 0; i < STATIC_ARRAY_SIZE(phases); i++)
    if (r->phase_seconds[phases[i]] >= 0)
      dispatch(m, "duration", pop3_phase_name(phases[i]),
               r->phase_seconds[phases[i]]);
}

/* --- results (engine thread) ------------------------------------------------ */

/* The seconds to wait before the next login, from LOGIN-DELAY (RFC 2449):
 * the code in a refused login, or the capability when it is longer than
 * the interval; 0 when none. The session keeps the code only from the
 * answer to a login command, after TLS when TLS is configured. */
static double login_delay_asked(const pop3_monitor_t *m,
                                const pop3_result_t *r) {
  double delay = 0;
  if (!r->ok && r->error.code == POP3_CODE_LOGIN_DELAY)
    delay = r->error.login_delay > 0 ? r->error.login_delay
            : r->capabilities.login_delay > 0 ? r->capabilities.login_delay
                                              : 2 * m->interval;
  else if (r->ok && r->capabilities.login_delay > m->interval)
    delay = r->capabilities.login_delay;
  return delay < LOGIN_DELAY_MAX ? delay : LOGIN_DELAY_MAX;
}

/* The reads before the delay is over are skipped, and that is said once
 * per episode. */
static void honour_login_delay(pop3_instance_t *inst, const pop3_result_t *r) {
  const pop3_monitor_t *m = inst->monitor;
  double delay = login_delay_asked(m, r);
  if (delay <= 0) {
    if (r->ok)
      inst->login_delay_noted = false;
    return;
  }
  pthread_mutex_lock(&instances_lock);
  inst->not_before = pop3_now() + delay - 0.5; /* tolerate tick jitter */
  pthread_mutex_unlock(&instances_lock);
  if (!inst->login_delay_noted) {
    char label[LABEL_MAX];
    pop3_report_label(m, label, sizeof(label));
    NOTICE("pop3 plugin: %s: the server asks for %.0f s between logins "
           "(LOGIN-DELAY, honoured up to %.0f s); collections in between "
           "are skipped",
           label, delay, LOGIN_DELAY_MAX);
    inst->login_delay_noted = true;
  }
}

/* One INFO line when the way this monitor logs in changes. */
static void note_pipelining(const pop3_instance_t *inst,
                            const pop3_result_t *r) {
  if (r->pipeline_change == POP3_PIPELINE_UNCHANGED)
    return;
  char label[LABEL_MAX];
  pop3_report_label(inst->monitor, label, sizeof(label));
  if (r->pipeline_change == POP3_PIPELINE_OFF)
    INFO("pop3 plugin: %s: the server mishandles STAT sent together with "
         "the %s login (%s); STAT now waits for the login's answer (one more "
         "round trip), pipelining is tried again in %.0f s",
         label, pop3_auth_name(r->auth_used), r->pipeline_reason,
         POP3_PIPELINE_RETRY_SECONDS);
  else
    INFO("pop3 plugin: %s: STAT sent together with the %s login works "
         "again",
         label, pop3_auth_name(r->auth_used));
}

/* duration/oldest_message and duration/newest_message (seconds since the
 * message arrived); a problem reading them is said once per episode, and
 * its end once. A date in the future (a wrong clock somewhere) counts as
 * age 0. */
static void dispatch_age(pop3_instance_t *inst, const pop3_result_t *r) {
  const pop3_monitor_t *m = inst->monitor;
  if (!r->age_wanted)
    return;
  char label[LABEL_MAX];
  pop3_report_label(m, label, sizeof(label));
  if (r->age.dated > 0) {
    dispatch(m, "duration", "oldest_message", fmax(r->oldest_age, 0));
    dispatch(m, "duration", "newest_message", fmax(r->newest_age, 0));
    inst->age_dispatched = true;
  } else if (r->message_count == 0 && inst->age_dispatched) {
    /* An emptied mailbox has no old message, but no value says so: a
     * threshold on the age would stay in its last state until the next
     * message. This OKAY tells its consumers at once. */
    char text[LABEL_MAX + 64];
    snprintf(text, sizeof(text), "%s: the mailbox is empty, no message waits",
             label);
    pop3_plugin_notify(m, NOTIF_OKAY, "duration", "oldest_message", text);
    inst->age_dispatched = false;
  }
  bool problem = r->age.problem[0] != '\0';
  if (problem == inst->age_problem_noted)
    return;
  inst->age_problem_noted = problem;
  if (problem)
    WARNING("pop3 plugin: %s: message age %s: %s", label,
            r->age.dated > 0 ? "from fewer messages" : "unavailable",
            r->age.problem);
  else
    INFO("pop3 plugin: %s: message age available again", label);
}

static void on_result(const pop3_result_t *r, void *arg) {
  pop3_instance_t *inst = arg;
  const pop3_monitor_t *m = inst->monitor;
  if (!inst->started) { /* the Detect probe at init */
    inst->detect_ok = r->ok;
    inst->detect_result = *r;
    return;
  }
  pthread_mutex_lock(&instances_lock);
  inst->collected = true;
  pthread_mutex_unlock(&instances_lock);
  honour_login_delay(inst, r);
  note_pipelining(inst, r);
  if (m->collect_availability)
    dispatch(m, "bool", "available", r->ok ? 1 : 0);
  if (!r->ok) {
    report_failure(inst, r);
    return;
  }
  dispatch(m, "email_count", NULL, (gauge_t)r->message_count);
  dispatch(m, "bytes", "mailbox_size", (gauge_t)r->mailbox_size);
  dispatch(m, "response_time", NULL, r->response_time);
  if (m->collect_timings)
    dispatch_timings(m, r);
  if (m->collect_certificate && r->cert_not_after > 0) {
    double left = difftime((time_t)r->cert_not_after, time(NULL));
    dispatch(m, "timeleft", "certificate", left > 0 ? left : 0);
  }
  dispatch_age(inst, r);
  if (inst->loop != NULL)
    pop3_mailloop_result(inst->loop, r);
  report_success(inst, r);
}

/* --- read: hands the collection to the engine and returns at once -------- */

static int pop3_read(user_data_t *ud) {
  pop3_instance_t *inst = ud->data;
  char label[LABEL_MAX];
  if (inst->loop != NULL)
    pop3_mailloop_tick(inst->loop);
  pthread_mutex_lock(&instances_lock);
  bool delayed = pop3_now() < inst->not_before;
  pthread_mutex_unlock(&instances_lock);
  if (delayed)
    return 0;
  if (pop3_engine_submit(engine, inst->target, inst->offset) == 0) {
    inst->overrun_noted = false;
    return 0;
  }
  if (!inst->overrun_noted) {
    pop3_report_label(inst->monitor, label, sizeof(label));
    WARNING("pop3 plugin: %s: the previous collection is still running; "
            "this interval is skipped",
            label);
    inst->overrun_noted = true;
  }
  /* 0 all the same: a failed read must not make collectd back off */
  return 0;
}

/* collectd frees a read's user data after its last call: at shutdown, and
 * in `collectd -T` right after the one call. The write threads still run
 * then, so the last one waits here for the collections in flight, and for
 * their values to reach the writers, before collectd stops them. */
static void read_released(void *arg) {
  (void)arg;
  pthread_mutex_lock(&instances_lock);
  bool last = --reads_registered == 0;
  pthread_mutex_unlock(&instances_lock);
  if (!last || engine == NULL)
    return;
  /* Collections still waiting for their offset: a monitor that has not
   * collected since the start does now (collectd -T gives it no other
   * chance); the others skip it, as collectd skips the reads not yet due.
   * Either way the end comes within the longest Timeout. */
  for (size_t i = 0; i < instances_num; i++) {
    pthread_mutex_lock(&instances_lock);
    bool collected = instances[i]->collected;
    pthread_mutex_unlock(&instances_lock);
    if (instances[i]->started)
      pop3_engine_expedite(engine, instances[i]->target, !collected);
  }
  double longest = 0;
  for (size_t i = 0; i < instances_num; i++)
    if (instances[i]->monitor->timeout > longest)
      longest = instances[i]->monitor->timeout;
  double deadline = pop3_now() + longest + 1.0;
  if (!pop3_engine_wait_idle(engine, deadline))
    WARNING("pop3 plugin: collections still running at shutdown were "
            "abandoned");
  else if (!wait_written(deadline))
    WARNING("pop3 plugin: some values had not reached the writers when "
            "collectd stopped");
}

/* --- init ------------------------------------------------------------------------ */

static void instance_free(pop3_instance_t *inst) {
  if (inst == NULL)
    return;
  SSL_CTX_free(inst->tls_ctx); /* drops this monitor's reference */
  pop3_mailloop_free(inst->loop);
  pop3_monitor_free(inst->monitor);
  free(inst);
}

static pop3_instance_t *instance_new(pop3_monitor_t *m) {
  pop3_instance_t *inst = calloc(1, sizeof(*inst));
  if (inst == NULL) {
    pop3_monitor_free(m);
    return NULL;
  }
  inst->monitor = m;
  char err[POP3_ERROR_MAX];
  if (pop3_monitor_uses_tls(m)) {
    SSL_CTX *ctx = tls_context_for(m, err, sizeof(err));
    if (ctx == NULL) {
      ERROR("pop3 plugin: monitor \"%s\": monitor not started: %s", m->name,
            err);
      instance_free(inst);
      return NULL;
    }
    SSL_CTX_up_ref(ctx);
    inst->tls_ctx = ctx;
  }
  if (m->loop != NULL && (pop3_mailloop_start() != 0 ||
                          (inst->loop = pop3_mailloop_new(m)) == NULL)) {
    ERROR("pop3 plugin: monitor \"%s\": monitor not started: its mail loop "
          "cannot run",
          m->name);
    instance_free(inst);
    return NULL;
  }
  inst->target = pop3_engine_add(engine, m, inst->tls_ctx, on_result, inst);
  if (inst->target == NULL) {
    ERROR("pop3 plugin: monitor \"%s\": out of memory", m->name);
    instance_free(inst);
    return NULL;
  }
  return inst;
}

/* Detect: every probe at once on the engine, before its thread starts. */
static void run_detect_probes(void) {
  double longest = 0;
  for (size_t i = 0; i < instances_num; i++) {
    pop3_instance_t *inst = instances[i];
    if (!inst->monitor->detect)
      continue;
    pop3_engine_submit(engine, inst->target, 0);
    if (inst->monitor->timeout > longest)
      longest = inst->monitor->timeout;
  }
  if (longest > 0)
    pop3_engine_run_until_idle(engine, pop3_now() + longest + 1.0);
  for (size_t i = 0; i < instances_num; i++) {
    pop3_instance_t *inst = instances[i];
    char label[LABEL_MAX], cause[CAUSE_MAX];
    if (!inst->monitor->detect) {
      inst->started = true;
      continue;
    }
    pop3_report_label(inst->monitor, label, sizeof(label));
    if (!inst->detect_ok) {
      pop3_report_cause(&inst->detect_result.error, cause, sizeof(cause));
      ERROR("pop3 plugin: %s: Detect probe failed, monitor not started: %s",
            label, cause);
      continue;
    }
    INFO("pop3 plugin: %s: Detect probe succeeded (%" PRIu64 " messages)",
         label, inst->detect_result.message_count);
    inst->started = true;
  }
}

static void *engine_main(void *arg) {
  (void)arg;
  while (!engine_stopping)
    pop3_engine_run(engine, pop3_now() + 60);
  return NULL;
}

static int register_read(pop3_instance_t *inst) {
  char name[DATA_MAX_NAME_LEN + 8];
  snprintf(name, sizeof(name), "pop3/%s", inst->monitor->name);
  user_data_t ud = {.data = inst, .free_func = read_released};
  pthread_mutex_lock(&instances_lock);
  reads_registered++;
  pthread_mutex_unlock(&instances_lock);
  /* on failure collectd has already called free_func */
  return plugin_register_complex_read(
      "pop3", name, pop3_read, DOUBLE_TO_CDTIME_T(inst->monitor->interval),
      &ud);
}

static int pop3_init(void) {
  char err[POP3_ERROR_MAX];
  size_t total = configured_num;
  engine = pop3_engine_new(err, sizeof(err));
  if (engine == NULL) {
    ERROR("pop3 plugin: %s", err);
    return -1;
  }
  instances = calloc(configured_num ? configured_num : 1, sizeof(*instances));
  for (size_t i = 0; i < configured_num && instances != NULL; i++) {
    pop3_instance_t *inst = instance_new(configured[i]);
    if (inst != NULL)
      instances[instances_num++] = inst;
    configured[i] = NULL;
  }
  free(configured);
  configured = NULL;
  configured_num = 0;

  run_detect_probes();
  /* each monitor at its own, stable place in its interval, so that a
   * fleet reaches a server as an even stream (Spread false: at the tick) */
  size_t started = 0;
  for (size_t i = 0; i < instances_num; i++) {
    started += instances[i]->started;
    instances[i]->offset = pop3_engine_offset(instances[i]->monitor);
  }
  if (started > 0) {
    engine_stopping = false;
    if (plugin_thread_create(&engine_thread, engine_main, NULL,
                             "pop3 engine") != 0) {
      ERROR("pop3 plugin: cannot start the engine thread: %s", STRERRNO);
      return -1;
    }
    engine_thread_running = true;
  }
  size_t registered = 0;
  for (size_t i = 0; i < instances_num; i++)
    if (instances[i]->started && register_read(instances[i]) == 0)
      registered++;
  if (total > 0 && registered == 0) {
    ERROR("pop3 plugin: none of the %zu monitor(s) could be started", total);
    return -1;
  }
  if (registered < total)
    WARNING("pop3 plugin: %zu of %zu monitor(s) started", registered, total);
  return 0;
}

static int pop3_shutdown(void) {
  if (engine_thread_running) {
    engine_stopping = true;
    pop3_engine_stop(engine);
    pthread_join(engine_thread, NULL);
    engine_thread_running = false;
  }
  pop3_engine_free(engine);
  engine = NULL;
  /* sends under way end within their MailLoop/Timeout; then the loops go */
  pop3_mailloop_stop();
  for (size_t i = 0; i < instances_num; i++)
    instance_free(instances[i]);
  free(instances);
  instances = NULL;
  instances_num = 0;
  for (size_t i = 0; i < configured_num; i++)
    pop3_monitor_free(configured[i]);
  free(configured);
  configured = NULL;
  configured_num = 0;
  tls_contexts_free();
  return 0;
}

__attribute__((visibility("default"))) void module_register(void) {
  plugin_register_complex_config("pop3", pop3_config);
  plugin_register_init("pop3", pop3_init);
  plugin_register_write("pop3", pop3_written, NULL);
  plugin_register_shutdown("pop3", pop3_shutdown);
}

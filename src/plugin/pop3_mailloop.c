/* pop3_mailloop.c: the mail loop, collectd's side (see pop3_mailloop.h).
 *
 * Threads: pop3_mailloop_tick runs on collectd's read threads, the SMTP
 * worker reports each send on its own thread, and pop3_mailloop_result
 * runs on the engine's; one lock per loop guards what they share. */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include <pthread.h>
#include <time.h>

#include "pop3_loop.h"
#include "pop3_mailloop.h"
#include "pop3_plugin.h"
#include "pop3_report.h"
#include "pop3_smtp.h"

/* Probes accepted by the MTA and not seen yet: the oldest go first. */
#define PENDING_MAX 32
#define MESSAGE_MAX 4096

struct pop3_mailloop {
  const pop3_monitor_t *monitor;
  pthread_mutex_t lock;
  double next_send; /* Unix time; 0: at the first read */
  int64_t pending[PENDING_MAX]; /* send times (Unix ms), oldest first */
  size_t pending_len;
  bool smtp_failing;
  char smtp_error[POP3_ERROR_MAX];
  bool healthy;       /* as last dispatched */
  bool health_known;  /* a health value was dispatched */
};

typedef struct {
  pop3_mailloop_t *loop;
  int64_t sent_ms;
} job_t;

static pop3_smtp_worker_t *worker;

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int pop3_mailloop_start(void) {
  char err[POP3_ERROR_MAX];
  if (worker != NULL)
    return 0;
  worker = pop3_smtp_worker_new(err, sizeof(err));
  if (worker == NULL) {
    ERROR("pop3 plugin: the mail loop cannot start: %s", err);
    return -1;
  }
  return 0;
}

void pop3_mailloop_stop(void) {
  pop3_smtp_worker_free(worker);
  worker = NULL;
}

pop3_mailloop_t *pop3_mailloop_new(const pop3_monitor_t *m) {
  pop3_mailloop_t *l = calloc(1, sizeof(*l));
  if (l == NULL)
    return NULL;
  l->monitor = m;
  pthread_mutex_init(&l->lock, NULL);
  return l;
}

void pop3_mailloop_free(pop3_mailloop_t *l) {
  if (l == NULL)
    return;
  pthread_mutex_destroy(&l->lock);
  free(l);
}

static void label_of(const pop3_mailloop_t *l, char *buf, size_t size) {
  pop3_report_label(l->monitor, buf, size);
}

/* --- sending ------------------------------------------------------------ */

static void remember_sent(pop3_mailloop_t *l, int64_t sent_ms) {
  if (l->pending_len == PENDING_MAX) { /* the oldest is long lost */
    memmove(l->pending, l->pending + 1,
            (PENDING_MAX - 1) * sizeof(l->pending[0]));
    l->pending_len--;
  }
  l->pending[l->pending_len++] = sent_ms;
}

/* The worker's report of one send: an accepted probe is awaited; a failure
 * is said once per cause (ERROR and FAILURE), its end once (OKAY comes
 * with the health). */
static void sent(void *arg, int status, const char *err) {
  job_t *job = arg;
  pop3_mailloop_t *l = job->loop;
  char label[POP3_LABEL_MAX], text[POP3_LABEL_MAX + POP3_ERROR_MAX + 32];
  label_of(l, label, sizeof(label));
  pthread_mutex_lock(&l->lock);
  bool report = false;
  if (status == 0) {
    remember_sent(l, job->sent_ms);
    l->smtp_failing = false;
  } else if (!l->smtp_failing || strcmp(l->smtp_error, err) != 0) {
    l->smtp_failing = true;
    sstrncpy(l->smtp_error, err, sizeof(l->smtp_error));
    report = true;
  }
  pthread_mutex_unlock(&l->lock);
  if (report) {
    snprintf(text, sizeof(text), "%s: mail loop: %s", label, err);
    ERROR("pop3 plugin: %s", text);
    pop3_plugin_notify(l->monitor, NOTIF_FAILURE, "bool", "mail_loop", text);
  }
  free(job);
}

static int compose(const pop3_mailloop_t *l, int64_t sent_ms, char *message,
                   size_t size) {
  const pop3_monitor_t *m = l->monitor;
  char token[POP3_LOOP_TOKEN_MAX];
  if (pop3_loop_token(&m->loop->key, m->name, sent_ms, token) != 0)
    return -1;
  return pop3_loop_message(message, size, m->loop->from, m->loop->to,
                           m->name, token, sent_ms);
}

static void submit(pop3_mailloop_t *l, int64_t sent_ms) {
  const pop3_loop_config_t *c = l->monitor->loop;
  char message[MESSAGE_MAX], label[POP3_LABEL_MAX];
  int len = compose(l, sent_ms, message, sizeof(message));
  job_t *job = malloc(sizeof(*job));
  pop3_smtp_options_t o = {.host = c->host,
                           .port = c->port,
                           .ssl = c->ssl,
                           .starttls = c->starttls,
                           .user = c->user,
                           .password = c->password,
                           .ca_cert = c->ca_cert,
                           .verify_peer = c->verify_peer,
                           .verify_host = c->verify_host,
                           .from = c->from,
                           .to = c->to,
                           .timeout = c->timeout};
  if (len < 0 || job == NULL || worker == NULL ||
      (*job = (job_t){l, sent_ms},
       pop3_smtp_worker_submit(worker, &o, message, (size_t)len, sent,
                               job) != 0)) {
    free(job);
    label_of(l, label, sizeof(label));
    ERROR("pop3 plugin: %s: mail loop: no probe sent this time (%s)", label,
          len < 0 ? "the probe could not be made: no randomness yet?"
                  : "the send queue is full");
  }
}

void pop3_mailloop_tick(pop3_mailloop_t *l) {
  double now = wall_now();
  pthread_mutex_lock(&l->lock);
  bool due = now >= l->next_send;
  if (due) /* on the loop's own schedule, whatever the reads' jitter */
    l->next_send = l->next_send == 0
                       ? now + l->monitor->loop->interval
                       : l->next_send + l->monitor->loop->interval *
                             (1 + (double)(long)((now - l->next_send) /
                                                 l->monitor->loop->interval));
  pthread_mutex_unlock(&l->lock);
  if (due)
    submit(l, (int64_t)(now * 1000));
}

/* --- what a collection found --------------------------------------------- */

static ssize_t find_pending(const pop3_mailloop_t *l, int64_t sent_ms) {
  for (size_t i = 0; i < l->pending_len; i++)
    if (l->pending[i] == sent_ms)
      return (ssize_t)i;
  return -1;
}

static void forget_pending(pop3_mailloop_t *l, size_t from, size_t n) {
  memmove(l->pending + from, l->pending + from + n,
          (l->pending_len - from - n) * sizeof(l->pending[0]));
  l->pending_len -= n;
}

/* The Received: date is whole seconds: the probe arrived within the second
 * it names, not before it was sent, and not after the collection saw it.
 * The middle of that interval is the estimate (within half a second). */
static double delivery_time(const pop3_probe_t *p, double now) {
  double sent = (double)p->sent_ms / 1000;
  if (!p->dated)
    return now - sent;
  double lo = fmax((double)p->received, sent);
  double hi = fmin((double)p->received + 1, now);
  if (hi < lo) /* clocks that disagree: keep the date, never below 0 */
    return fmax((double)p->received + 0.5 - sent, 0);
  return (lo + hi) / 2 - sent;
}

typedef struct {
  unsigned arrived, in_time, leftovers;
  double last_delivery;
  int64_t overdue_sent_ms; /* the oldest probe still awaited past LostAfter */
} findings_t;

/* Under the lock: each probe found is one awaited (its delivery time is
 * dispatched), or one left from earlier (before a restart, or already
 * counted as lost). A probe in time also ends the wait for older ones. */
static findings_t take_probes(pop3_mailloop_t *l, const pop3_loop_t *found,
                              double now) {
  const pop3_loop_config_t *c = l->monitor->loop;
  findings_t f = {0};
  /* oldest first, whatever order the server gave them: a probe in time
   * must not make an older one found in the same session a leftover */
  unsigned order[POP3_LOOP_PROBES_MAX];
  for (unsigned i = 0; i < found->found_len; i++) {
    unsigned j = i;
    for (; j > 0 && found->found[order[j - 1]].sent_ms > found->found[i].sent_ms;
         j--)
      order[j] = order[j - 1];
    order[j] = i;
  }
  for (unsigned i = 0; i < found->found_len; i++) {
    const pop3_probe_t *p = &found->found[order[i]];
    ssize_t at = find_pending(l, p->sent_ms);
    if (at < 0) {
      f.leftovers++;
      continue;
    }
    double delivery = delivery_time(p, now);
    pop3_plugin_dispatch(l->monitor, "duration", "mail_loop", delivery);
    f.arrived++;
    f.last_delivery = delivery;
    if (delivery <= c->lost_after) {
      f.in_time++;
      forget_pending(l, 0, (size_t)at + 1); /* older ones: lost for good */
    } else {
      forget_pending(l, (size_t)at, 1);
    }
  }
  for (size_t i = 0; i < l->pending_len && f.overdue_sent_ms == 0; i++)
    if (now - (double)l->pending[i] / 1000 > c->lost_after)
      f.overdue_sent_ms = l->pending[i];
  return f;
}

static void say_health(pop3_mailloop_t *l, const findings_t *f,
                       bool smtp_failing, bool healthy) {
  char label[POP3_LABEL_MAX], text[POP3_LABEL_MAX + 160];
  label_of(l, label, sizeof(label));
  bool first = !l->health_known;
  bool changed = first || healthy != l->healthy;
  l->health_known = true;
  l->healthy = healthy;
  if (!changed || smtp_failing) /* a send failure was said when it came */
    return;
  if (healthy && first) {
    INFO("pop3 plugin: %s: mail loop: the first probe arrived in %.1f s",
         label, f->last_delivery);
    return;
  }
  if (healthy) {
    snprintf(text, sizeof(text),
             "%s: mail loop: probes arrive again (the last in %.1f s)", label,
             f->last_delivery);
    INFO("pop3 plugin: %s", text);
    pop3_plugin_notify(l->monitor, NOTIF_OKAY, "bool", "mail_loop", text);
    return;
  }
  time_t sent = (time_t)(f->overdue_sent_ms / 1000);
  struct tm tm;
  char when[32];
  strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&sent, &tm));
  snprintf(text, sizeof(text),
           "%s: mail loop: the probe sent at %s has not arrived within "
           "LostAfter (%.0f s)",
           label, when, l->monitor->loop->lost_after);
  ERROR("pop3 plugin: %s", text);
  pop3_plugin_notify(l->monitor, NOTIF_FAILURE, "bool", "mail_loop", text);
}

void pop3_mailloop_result(pop3_mailloop_t *l, const pop3_result_t *r) {
  if (!r->loop_wanted)
    return;
  double now = wall_now();
  pthread_mutex_lock(&l->lock);
  findings_t f = take_probes(l, &r->loop, now);
  bool smtp_failing = l->smtp_failing;
  /* unknown until a probe arrives or one is overdue */
  bool known = l->health_known || f.in_time > 0 || f.overdue_sent_ms != 0 ||
               smtp_failing;
  bool healthy = !smtp_failing && f.overdue_sent_ms == 0 &&
                 (f.in_time > 0 || l->healthy || !l->health_known);
  if (known)
    say_health(l, &f, smtp_failing, healthy);
  pthread_mutex_unlock(&l->lock);
  if (known)
    pop3_plugin_dispatch(l->monitor, "bool", "mail_loop", healthy ? 1 : 0);
  char label[POP3_LABEL_MAX];
  label_of(l, label, sizeof(label));
  if (f.leftovers > 0)
    INFO("pop3 plugin: %s: mail loop: %u probe(s) from earlier found%s",
         label, f.leftovers, r->loop.problem[0] ? "" : " and deleted");
  if (r->loop.problem[0] != '\0')
    WARNING("pop3 plugin: %s: mail loop: probes not deleted: %s", label,
            r->loop.problem);
}

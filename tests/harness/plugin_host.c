/* plugin_host.c: see plugin_host.h. A stand-in for the parts of the collectd
 * 5.12 daemon a read plugin uses, exported to the plugin through -rdynamic.
 * The daemon's behaviour is followed where a plugin could notice it
 * (registration failures free user_data, free_func before shutdown,
 * hostname and time filled in on dispatch, read intervals doubled on
 * failure). The cf_util_* helpers, sstrncpy, sstrerror and
 * service_name_to_port_number are linked in from src/probe/pop3_cf_util.c;
 * configuration text is read by src/probe/pop3_conffile.c. */
#define _GNU_SOURCE
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/configfile.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/daemon/utils_complain.h"
#include "collectd/core/utils/common/common.h"

#include <dirent.h>
#include <dlfcn.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "plugin_host.h"

/* ======================================================================
 * the daemon's globals
 * ====================================================================== */

static char hostname_buf[DATA_MAX_NAME_LEN] = "ph-host";
char *hostname_g = hostname_buf;
cdtime_t interval_g = TIME_T_TO_CDTIME_T_STATIC(10);
int timeout_g = 2;

void ph_set_hostname(const char *name) {
  snprintf(hostname_buf, sizeof(hostname_buf), "%s", name);
}

void ph_set_interval(double seconds) {
  interval_g = DOUBLE_TO_CDTIME_T(seconds);
}

/* clock_gettime() is interposed below; the host itself reads the real one */
static int (*real_clock_gettime)(clockid_t, struct timespec *);
static _Atomic long long clock_offset_ns;

static void find_real_clock(void) {
  if (real_clock_gettime == NULL)
    real_clock_gettime = (int (*)(clockid_t, struct timespec *))dlsym(
        RTLD_NEXT, "clock_gettime");
}

static void *plugin_base; /* where the plugin is mapped (dladdr's fbase) */

/* Only the plugin's own calls see the advanced clock (libcheck, c-ares and
 * the host keep the real one). */
static bool called_from_plugin(const void *caller) {
  Dl_info info;
  return plugin_base != NULL && dladdr(caller, &info) != 0 &&
         info.dli_fbase == plugin_base;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
  find_real_clock();
  int rc = real_clock_gettime(id, ts);
  long long offset = atomic_load(&clock_offset_ns);
  if (rc == 0 && offset != 0 &&
      (id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_RAW ||
       id == CLOCK_MONOTONIC_COARSE || id == CLOCK_BOOTTIME) &&
      called_from_plugin(__builtin_return_address(0))) {
    long long ns = (long long)ts->tv_nsec + offset % 1000000000LL;
    ts->tv_sec += (time_t)(offset / 1000000000LL + ns / 1000000000LL);
    ts->tv_nsec = (long)(ns % 1000000000LL);
  }
  return rc;
}

void ph_clock_advance(double seconds) {
  atomic_fetch_add(&clock_offset_ns, (long long)(seconds * 1e9));
}

double ph_now(void) {
  struct timespec ts;
  find_real_clock();
  real_clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

cdtime_t cdtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return TIMESPEC_TO_CDTIME_T(&ts);
}

static void sleep_for(double seconds) {
  if (seconds <= 0)
    return;
  struct timespec ts = {(time_t)seconds,
                        (long)((seconds - floor(seconds)) * 1e9)};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* ======================================================================
 * events: values, notifications, log lines
 * ====================================================================== */

static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t events_cond;
static pthread_once_t events_once = PTHREAD_ONCE_INIT;
static ph_event_t *events;
static size_t events_num, events_cap;
static FILE *log_file;
static atomic_uint host_errors;
static atomic_uint threads_created;

#define PH_EVENTS_MAX (1u << 20)

static void events_init(void) {
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&events_cond, &attr);
  pthread_condattr_destroy(&attr);
}

static const char *log_level_name(int level) {
  switch (level) {
  case LOG_ERR:
    return "ERROR";
  case LOG_WARNING:
    return "WARNING";
  case LOG_NOTICE:
    return "NOTICE";
  case LOG_INFO:
    return "INFO";
  case LOG_DEBUG:
    return "DEBUG";
  }
  return "LOG?";
}

static const char *notif_name(int severity) {
  switch (severity) {
  case NOTIF_FAILURE:
    return "FAILURE";
  case NOTIF_WARNING:
    return "WARNING";
  case NOTIF_OKAY:
    return "OKAY";
  }
  return "NOTIF?";
}

static void write_event(const ph_event_t *e) {
  if (log_file == NULL)
    return;
  switch (e->kind) {
  case PH_LOG:
    fprintf(log_file, "%.3f LOG %s %s\n", e->at, log_level_name(e->severity),
            e->message);
    break;
  case PH_NOTIFICATION:
    fprintf(log_file, "%.3f NOTIFICATION %s %s/%s-%s %s\n", e->at,
            notif_name(e->severity), e->host, e->plugin, e->plugin_instance,
            e->message);
    break;
  case PH_VALUE:
    fprintf(log_file, "%.3f VALUE %s/%s-%s/%s-%s interval=%.3f %s%.17g\n",
            e->at, e->host, e->plugin, e->plugin_instance, e->type,
            e->type_instance, CDTIME_T_TO_DOUBLE(e->interval),
            e->in_read ? "" : "(thread) ", e->value);
    break;
  case PH_ANY:
    break;
  }
  fflush(log_file);
}

static void record(ph_event_t *e) {
  pthread_once(&events_once, events_init);
  e->at = ph_now();
  pthread_mutex_lock(&events_lock);
  if (events_num == events_cap && events_cap < PH_EVENTS_MAX) {
    size_t cap = events_cap ? events_cap * 2 : 256;
    ph_event_t *grown = realloc(events, cap * sizeof(*events));
    if (grown != NULL) {
      events = grown;
      events_cap = cap;
    }
  }
  if (events_num < events_cap)
    events[events_num++] = *e;
  write_event(e);
  pthread_cond_broadcast(&events_cond);
  pthread_mutex_unlock(&events_lock);
  if (getenv("PH_VERBOSE") != NULL) {
    if (e->kind == PH_LOG)
      fprintf(stderr, "[ph %.3f] %s %s\n", e->at, log_level_name(e->severity),
              e->message);
    else if (e->kind == PH_NOTIFICATION)
      fprintf(stderr, "[ph %.3f] NOTIFICATION %s %s\n", e->at,
              notif_name(e->severity), e->message);
    else
      fprintf(stderr, "[ph %.3f] VALUE %s/%s/%s=%.17g\n", e->at,
              e->plugin_instance, e->type, e->type_instance, e->value);
  }
}

int ph_set_log_file(const char *path) {
  pthread_mutex_lock(&events_lock);
  if (log_file != NULL)
    fclose(log_file);
  log_file = path != NULL ? fopen(path, "a") : NULL;
  int rc = path == NULL || log_file != NULL ? 0 : -1;
  pthread_mutex_unlock(&events_lock);
  return rc;
}

static bool matches(const ph_filter_t *f, const ph_event_t *e) {
  if (f->kind != PH_ANY && f->kind != e->kind)
    return false;
  if (f->severity != 0 && f->severity != e->severity)
    return false;
  if (f->plugin_instance != NULL &&
      strcmp(f->plugin_instance, e->plugin_instance) != 0)
    return false;
  if (f->type != NULL && strcmp(f->type, e->type) != 0)
    return false;
  if (f->type_instance != NULL && strcmp(f->type_instance, e->type_instance))
    return false;
  if (f->contains != NULL && strstr(e->message, f->contains) == NULL)
    return false;
  if (f->contains2 != NULL && strstr(e->message, f->contains2) == NULL)
    return false;
  return e->at >= f->since;
}

/* Caller holds events_lock. */
static size_t count_locked(const ph_filter_t *f, size_t n, ph_event_t *out) {
  size_t found = 0;
  for (size_t i = 0; i < events_num; i++) {
    if (!matches(f, &events[i]))
      continue;
    if (++found == n && out != NULL)
      *out = events[i];
  }
  return found;
}

size_t ph_count(const ph_filter_t *f) {
  pthread_mutex_lock(&events_lock);
  size_t n = count_locked(f, 0, NULL);
  pthread_mutex_unlock(&events_lock);
  return n;
}

bool ph_nth(const ph_filter_t *f, size_t n, ph_event_t *out) {
  pthread_mutex_lock(&events_lock);
  size_t found = count_locked(f, n, out);
  pthread_mutex_unlock(&events_lock);
  return n > 0 && found >= n;
}

bool ph_wait(const ph_filter_t *f, size_t n, double timeout, ph_event_t *out) {
  pthread_once(&events_once, events_init);
  double deadline = ph_now() + timeout;
  pthread_mutex_lock(&events_lock);
  bool ok;
  for (;;) {
    ok = count_locked(f, n, out) >= n;
    double left = deadline - ph_now();
    if (ok || left <= 0)
      break;
    /* bounded polling on top of the condition variable */
    double step = left < 0.05 ? left : 0.05;
    double until = ph_now() + step;
    struct timespec ts = {(time_t)until,
                          (long)((until - floor(until)) * 1e9)};
    pthread_cond_timedwait(&events_cond, &events_lock, &ts);
  }
  pthread_mutex_unlock(&events_lock);
  return ok;
}

void ph_dump(const ph_filter_t *f) {
  pthread_mutex_lock(&events_lock);
  for (size_t i = 0; i < events_num; i++) {
    const ph_event_t *e = &events[i];
    if (!matches(f, e))
      continue;
    if (e->kind == PH_VALUE)
      fprintf(stderr, "  %.3f VALUE %s/%s/%s = %.17g\n", e->at,
              e->plugin_instance, e->type, e->type_instance, e->value);
    else
      fprintf(stderr, "  %.3f %s %s %s\n", e->at,
              e->kind == PH_LOG ? "LOG" : "NOTIFICATION",
              e->kind == PH_LOG ? log_level_name(e->severity)
                                : notif_name(e->severity),
              e->message);
  }
  pthread_mutex_unlock(&events_lock);
}

void ph_events_clear(void) {
  pthread_mutex_lock(&events_lock);
  events_num = 0;
  pthread_mutex_unlock(&events_lock);
}

unsigned ph_host_errors(void) { return atomic_load(&host_errors); }
unsigned ph_plugin_threads_created(void) {
  return atomic_load(&threads_created);
}

/* ======================================================================
 * plugin context (thread-local, as in collectd)
 * ====================================================================== */

static _Thread_local plugin_ctx_t thread_ctx;
static _Thread_local bool thread_in_read;
static char plugin_name[64] = "";

plugin_ctx_t plugin_get_ctx(void) { return thread_ctx; }

plugin_ctx_t plugin_set_ctx(plugin_ctx_t ctx) {
  plugin_ctx_t old = thread_ctx;
  thread_ctx = ctx;
  return old;
}

void plugin_init_ctx(void) {}

cdtime_t plugin_get_interval(void) {
  if (thread_ctx.interval > 0)
    return thread_ctx.interval;
  return interval_g > 0 ? interval_g : TIME_T_TO_CDTIME_T_STATIC(10);
}

static plugin_ctx_t callback_ctx(cdtime_t interval) {
  return (plugin_ctx_t){.name = plugin_name, .interval = interval};
}

/* ======================================================================
 * logging
 * ====================================================================== */

static void vlog(int level, const char *format, va_list ap) {
  ph_event_t e = {.kind = PH_LOG, .severity = level};
  /* collectd cuts log messages at 1024 bytes */
  vsnprintf(e.message, sizeof(e.message), format, ap);
  e.in_read = thread_in_read;
  record(&e);
}

void plugin_log(int level, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  vlog(level, format, ap);
  va_end(ap);
}

void daemon_log(int level, const char *format, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  const char *name = thread_ctx.name != NULL ? thread_ctx.name : "UNKNOWN";
  plugin_log(level, "%s plugin: %s", name, msg);
}

/* API misuse: loud in the log, counted for the tests. */
__attribute__((format(printf, 1, 2))) static void host_error(const char *format,
                                                              ...) {
  char msg[900];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  atomic_fetch_add(&host_errors, 1);
  fprintf(stderr, "plugin_host: %s\n", msg);
  plugin_log(LOG_ERR, "plugin_host: %s", msg);
}

/* ======================================================================
 * utilities the daemon exports (common.h)
 * ====================================================================== */

char *sstrdup(const char *s) {
  if (s == NULL)
    return NULL;
  char *r = strdup(s);
  if (r == NULL) {
    fprintf(stderr, "plugin_host: sstrdup: out of memory\n");
    abort();
  }
  return r;
}

void *smalloc(size_t size) {
  void *r = malloc(size);
  if (r == NULL) {
    fprintf(stderr, "plugin_host: smalloc: out of memory\n");
    abort();
  }
  return r;
}

int ssnprintf(char *str, size_t sz, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(str, sz, format, ap);
  va_end(ap);
  return n;
}

int escape_string(char *buffer, size_t buffer_size) {
  /* collectd's: quote when needed, escape " and \ */
  if (strpbrk(buffer, " \t\"\\") == NULL)
    return 0;
  if (buffer_size < 3)
    return EINVAL;
  char *tmp = calloc(1, buffer_size);
  if (tmp == NULL)
    return ENOMEM;
  size_t pos = 0;
  tmp[pos++] = '"';
  for (size_t i = 0; buffer[i] != '\0'; i++) {
    bool esc = buffer[i] == '"' || buffer[i] == '\\';
    if (pos + (esc ? 2 : 1) + 2 > buffer_size)
      break;
    if (esc)
      tmp[pos++] = '\\';
    tmp[pos++] = buffer[i];
  }
  tmp[pos++] = '"';
  tmp[pos] = '\0';
  sstrncpy(buffer, tmp, buffer_size);
  free(tmp);
  return 0;
}

/* utils_complain.c, reduced: report, then at growing intervals */
static void vcomplain(int level, const char *format, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof(msg), format, ap);
  plugin_log(level, "%s", msg);
}

void c_complain(int level, c_complain_t *c, const char *format, ...) {
  cdtime_t now = cdtime();
  if (c->last + c->interval > now)
    return;
  c->last = now;
  c->interval = c->interval == 0 ? plugin_get_interval() : c->interval * 2;
  if (c->interval > TIME_T_TO_CDTIME_T_STATIC(86400))
    c->interval = TIME_T_TO_CDTIME_T_STATIC(86400);
  va_list ap;
  va_start(ap, format);
  vcomplain(level, format, ap);
  va_end(ap);
}

void c_complain_once(int level, c_complain_t *c, const char *format, ...) {
  if (c->complained_once)
    return;
  c->complained_once = true;
  c->interval = 1;
  va_list ap;
  va_start(ap, format);
  vcomplain(level, format, ap);
  va_end(ap);
}

void c_do_release(int level, c_complain_t *c, const char *format, ...) {
  if (c->interval == 0)
    return;
  c->interval = 0;
  c->complained_once = false;
  va_list ap;
  va_start(ap, format);
  vcomplain(level, format, ap);
  va_end(ap);
}

/* ======================================================================
 * types.db: dispatched values are checked against it, as collectd does
 * ====================================================================== */

typedef struct {
  char name[DATA_MAX_NAME_LEN];
  size_t ds_num;
  int ds_type[8];
} type_def_t;

static type_def_t *types;
static size_t types_num;
static bool types_tried;

int ph_load_types_db(const char *path) {
  FILE *fh = fopen(path, "r");
  if (fh == NULL)
    return -1;
  char line[1024];
  while (fgets(line, sizeof(line), fh) != NULL) {
    char *save = NULL;
    char *name = strtok_r(line, " \t\r\n", &save);
    if (name == NULL || name[0] == '#')
      continue;
    type_def_t t = {0};
    sstrncpy(t.name, name, sizeof(t.name));
    for (char *ds; (ds = strtok_r(NULL, " \t\r\n,", &save)) != NULL;) {
      char *colon = strchr(ds, ':');
      if (colon == NULL || t.ds_num >= 8)
        continue;
      const char *kind = colon + 1;
      t.ds_type[t.ds_num++] =
          strncasecmp(kind, "GAUGE", 5) == 0      ? DS_TYPE_GAUGE
          : strncasecmp(kind, "DERIVE", 6) == 0   ? DS_TYPE_DERIVE
          : strncasecmp(kind, "COUNTER", 7) == 0  ? DS_TYPE_COUNTER
          : strncasecmp(kind, "ABSOLUTE", 8) == 0 ? DS_TYPE_ABSOLUTE
                                                  : DS_TYPE_GAUGE;
    }
    type_def_t *grown = realloc(types, (types_num + 1) * sizeof(*types));
    if (grown == NULL)
      break;
    types = grown;
    types[types_num++] = t;
  }
  fclose(fh);
  types_tried = true;
  return 0;
}

static const type_def_t *find_type(const char *name) {
  if (!types_tried) {
    types_tried = true;
    ph_load_types_db("/usr/share/collectd/types.db");
  }
  for (size_t i = 0; i < types_num; i++)
    if (strcmp(types[i].name, name) == 0)
      return &types[i];
  return NULL;
}

/* ======================================================================
 * dispatch
 * ====================================================================== */

static pthread_mutex_t types_lock = PTHREAD_MUTEX_INITIALIZER;

static void run_writes(const value_list_t *vl, const type_def_t *def);

int plugin_dispatch_values(value_list_t const *vl) {
  if (vl == NULL || vl->values == NULL || vl->values_len < 1) {
    host_error("plugin_dispatch_values: no values");
    return -1;
  }
  if (vl->plugin[0] == '\0' || vl->type[0] == '\0') {
    host_error("plugin_dispatch_values: plugin or type missing");
    return -1;
  }
  pthread_mutex_lock(&types_lock);
  const type_def_t *t = find_type(vl->type);
  type_def_t def = t != NULL ? *t : (type_def_t){0};
  bool have_types = types_num > 0;
  pthread_mutex_unlock(&types_lock);
  if (have_types && t == NULL) {
    host_error("plugin_dispatch_values: Dataset not found: %s (from "
               "\"%s/%s\"), check your types.db!",
               vl->type, vl->plugin, vl->plugin_instance);
    return -1;
  }
  if (t != NULL && def.ds_num != vl->values_len) {
    host_error("plugin_dispatch_values: type %s has %zu data sources, %zu "
               "values dispatched",
               vl->type, def.ds_num, vl->values_len);
    return -1;
  }
  ph_event_t e = {.kind = PH_VALUE,
                  .in_read = thread_in_read,
                  .time = vl->time != 0 ? vl->time : cdtime(),
                  .interval = vl->interval,
                  .values_len = vl->values_len};
  sstrncpy(e.host, vl->host[0] != '\0' ? vl->host : hostname_g,
           sizeof(e.host));
  sstrncpy(e.plugin, vl->plugin, sizeof(e.plugin));
  sstrncpy(e.plugin_instance, vl->plugin_instance, sizeof(e.plugin_instance));
  sstrncpy(e.type, vl->type, sizeof(e.type));
  sstrncpy(e.type_instance, vl->type_instance, sizeof(e.type_instance));
  switch (t != NULL ? def.ds_type[0] : DS_TYPE_GAUGE) {
  case DS_TYPE_DERIVE:
    e.value = (double)vl->values[0].derive;
    break;
  case DS_TYPE_COUNTER:
    e.value = (double)vl->values[0].counter;
    break;
  case DS_TYPE_ABSOLUTE:
    e.value = (double)vl->values[0].absolute;
    break;
  default:
    e.value = vl->values[0].gauge;
  }
  if (!thread_in_read && vl->interval == 0)
    host_error("plugin_dispatch_values: %s/%s dispatched outside a read "
               "callback without vl.interval: collectd would use its "
               "global interval",
               vl->plugin_instance, vl->type);
  record(&e);
  run_writes(vl, t != NULL ? &def : NULL);
  return 0;
}

int plugin_dispatch_notification(const notification_t *n) {
  if (n == NULL) {
    host_error("plugin_dispatch_notification: NULL");
    return -1;
  }
  if (n->severity != NOTIF_FAILURE && n->severity != NOTIF_WARNING &&
      n->severity != NOTIF_OKAY)
    host_error("plugin_dispatch_notification: severity %d", n->severity);
  if (n->message[0] == '\0')
    host_error("plugin_dispatch_notification: empty message");
  if (memchr(n->message, '\0', sizeof(n->message)) == NULL) {
    host_error("plugin_dispatch_notification: message not terminated");
    return -1;
  }
  ph_event_t e = {.kind = PH_NOTIFICATION,
                  .severity = n->severity,
                  .in_read = thread_in_read,
                  .time = n->time};
  sstrncpy(e.host, n->host, sizeof(e.host));
  sstrncpy(e.plugin, n->plugin, sizeof(e.plugin));
  sstrncpy(e.plugin_instance, n->plugin_instance, sizeof(e.plugin_instance));
  sstrncpy(e.type, n->type, sizeof(e.type));
  sstrncpy(e.type_instance, n->type_instance, sizeof(e.type_instance));
  sstrncpy(e.message, n->message, sizeof(e.message));
  record(&e);
  return 0;
}

/* ======================================================================
 * callbacks
 * ====================================================================== */

typedef struct {
  char name[64];
  int (*config)(oconfig_item_t *);
} config_cb_t;

typedef struct {
  char name[64];
  int (*cb)(void);
} simple_cb_t;

typedef struct {
  char *group;
  char *name;
  plugin_read_cb cb;
  cdtime_t interval; /* registered (0: interval_g) */
  user_data_t ud;
  double next;       /* scheduler: monotonic time of the next call */
  double effective;  /* scheduler: seconds, doubled on failure */
  bool running;
  bool removed;      /* unregistered while running: free when it returns */
} read_cb_t;

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t reg_cond = PTHREAD_COND_INITIALIZER;
static config_cb_t configs[16];
static size_t configs_num;
static simple_cb_t inits[16], shutdowns[16];
static size_t inits_num, shutdowns_num;
static read_cb_t *reads[1024];
static size_t reads_num;

int plugin_register_complex_config(const char *type,
                                   int (*callback)(oconfig_item_t *)) {
  pthread_mutex_lock(&reg_lock);
  int rc = -1;
  if (configs_num < sizeof(configs) / sizeof(configs[0])) {
    sstrncpy(configs[configs_num].name, type, sizeof(configs[0].name));
    configs[configs_num++].config = callback;
    rc = 0;
  }
  pthread_mutex_unlock(&reg_lock);
  return rc;
}

int plugin_register_config(const char *name,
                           int (*callback)(const char *key, const char *val),
                           const char **keys, int keys_num) {
  (void)callback, (void)keys, (void)keys_num;
  host_error("plugin_register_config(\"%s\"): simple config callbacks are "
             "not supported by this host",
             name);
  return -1;
}

static int register_simple(simple_cb_t *list, size_t *num, const char *name,
                           int (*cb)(void)) {
  pthread_mutex_lock(&reg_lock);
  int rc = -1;
  if (*num < 16) {
    sstrncpy(list[*num].name, name, sizeof(list[0].name));
    list[(*num)++].cb = cb;
    rc = 0;
  }
  pthread_mutex_unlock(&reg_lock);
  return rc;
}

int plugin_register_init(const char *name, plugin_init_cb callback) {
  return register_simple(inits, &inits_num, name, callback);
}

int plugin_register_shutdown(const char *name, plugin_shutdown_cb callback) {
  return register_simple(shutdowns, &shutdowns_num, name, callback);
}

static void free_user_data(user_data_t *ud) {
  if (ud->data != NULL && ud->free_func != NULL)
    ud->free_func(ud->data);
  ud->data = NULL;
}

static void read_free(read_cb_t *r) {
  free_user_data(&r->ud);
  free(r->group);
  free(r->name);
  free(r);
}

int plugin_register_complex_read(const char *group, const char *name,
                                 plugin_read_cb callback, cdtime_t interval,
                                 user_data_t const *user_data) {
  user_data_t ud = user_data != NULL ? *user_data : (user_data_t){0};
  if (name == NULL || callback == NULL) {
    host_error("plugin_register_complex_read: name or callback missing");
    free_user_data(&ud);
    return EINVAL;
  }
  pthread_mutex_lock(&reg_lock);
  int rc = 0;
  for (size_t i = 0; i < reads_num; i++)
    if (!reads[i]->removed && strcmp(reads[i]->name, name) == 0)
      rc = EINVAL;
  read_cb_t *r = NULL;
  if (rc == 0 && reads_num < sizeof(reads) / sizeof(reads[0]) &&
      (r = calloc(1, sizeof(*r))) != NULL) {
    r->group = strdup(group != NULL ? group : "");
    r->name = strdup(name);
    r->cb = callback;
    r->interval = interval;
    r->ud = ud;
    r->next = ph_now();
    reads[reads_num++] = r;
  } else if (rc == 0) {
    rc = ENOMEM;
  }
  pthread_mutex_unlock(&reg_lock);
  if (rc != 0) {
    /* collectd: "The read function \"%s\" is already registered", then it
     * frees the user data itself */
    WARNING("The read function \"%s\" is already registered. Check for "
            "duplicates in your configuration!",
            name);
    free_user_data(&ud);
  }
  return rc;
}

int plugin_register_read(const char *name, int (*callback)(void)) {
  (void)callback;
  host_error("plugin_register_read(\"%s\"): use plugin_register_complex_read "
             "(not supported by this host)",
             name);
  return -1;
}

/* Caller holds reg_lock. Frees (or marks) the i-th read. */
static void unregister_at(size_t i) {
  read_cb_t *r = reads[i];
  if (r->removed)
    return;
  r->removed = true;
  if (!r->running) {
    reads[i] = reads[--reads_num];
    pthread_mutex_unlock(&reg_lock);
    read_free(r);
    pthread_mutex_lock(&reg_lock);
  }
}

int plugin_unregister_read(const char *name) {
  pthread_mutex_lock(&reg_lock);
  int rc = ENOENT;
  for (size_t i = 0; i < reads_num; i++)
    if (!reads[i]->removed && strcmp(reads[i]->name, name) == 0) {
      unregister_at(i);
      rc = 0;
      break;
    }
  pthread_mutex_unlock(&reg_lock);
  return rc;
}

int plugin_unregister_read_group(const char *group) {
  pthread_mutex_lock(&reg_lock);
  int rc = ENOENT;
  for (bool again = true; again;) {
    again = false;
    for (size_t i = 0; i < reads_num; i++)
      if (!reads[i]->removed && strcmp(reads[i]->group, group) == 0) {
        unregister_at(i);
        rc = 0;
        again = true;
        break;
      }
  }
  pthread_mutex_unlock(&reg_lock);
  return rc;
}

static int unregister_simple(simple_cb_t *list, size_t *num, const char *n) {
  pthread_mutex_lock(&reg_lock);
  int rc = ENOENT;
  for (size_t i = 0; i < *num; i++)
    if (strcmp(list[i].name, n) == 0) {
      memmove(&list[i], &list[i + 1], (*num - i - 1) * sizeof(list[0]));
      (*num)--;
      rc = 0;
      break;
    }
  pthread_mutex_unlock(&reg_lock);
  return rc;
}

int plugin_unregister_init(const char *name) {
  return unregister_simple(inits, &inits_num, name);
}
int plugin_unregister_shutdown(const char *name) {
  return unregister_simple(shutdowns, &shutdowns_num, name);
}
int plugin_unregister_complex_config(const char *name) {
  pthread_mutex_lock(&reg_lock);
  int rc = ENOENT;
  for (size_t i = 0; i < configs_num; i++)
    if (strcasecmp(configs[i].name, name) == 0) {
      configs[i] = configs[--configs_num];
      rc = 0;
      break;
    }
  pthread_mutex_unlock(&reg_lock);
  return rc;
}

/* Registrations this host does not support fail loudly. */
#define UNSUPPORTED_REGISTER(fn, cbtype)                                       \
  int fn(const char *name, cbtype callback, user_data_t const *ud) {           \
    (void)callback;                                                            \
    host_error(#fn "(\"%s\") is not supported by this host", name);            \
    if (ud != NULL && ud->data != NULL && ud->free_func != NULL)               \
      ud->free_func(ud->data);                                                 \
    return -1;                                                                 \
  }
UNSUPPORTED_REGISTER(plugin_register_flush, plugin_flush_cb)
UNSUPPORTED_REGISTER(plugin_register_missing, plugin_missing_cb)
UNSUPPORTED_REGISTER(plugin_register_log, plugin_log_cb)
UNSUPPORTED_REGISTER(plugin_register_notification, plugin_notification_cb)

/* Write callbacks see every dispatched value, in the dispatching thread
 * (collectd's write threads see it a moment later). */
typedef struct {
  plugin_write_cb cb;
  user_data_t ud;
} write_cb_t;
static pthread_mutex_t writes_lock = PTHREAD_MUTEX_INITIALIZER;
static write_cb_t writes[8];
static size_t writes_num;

int plugin_register_write(const char *name, plugin_write_cb callback,
                          user_data_t const *ud) {
  pthread_mutex_lock(&writes_lock);
  bool full = writes_num == sizeof(writes) / sizeof(writes[0]);
  if (!full)
    writes[writes_num++] =
        (write_cb_t){callback, ud != NULL ? *ud : (user_data_t){0}};
  pthread_mutex_unlock(&writes_lock);
  if (full) {
    host_error("plugin_register_write(\"%s\"): too many write callbacks",
               name);
    if (ud != NULL && ud->data != NULL && ud->free_func != NULL)
      ud->free_func(ud->data);
    return -1;
  }
  return 0;
}

static void run_writes(const value_list_t *vl, const type_def_t *def) {
  data_source_t sources[8];
  data_set_t ds = {.ds = sources};
  sstrncpy(ds.type, vl->type, sizeof(ds.type));
  ds.ds_num = def != NULL ? def->ds_num : vl->values_len;
  if (ds.ds_num > 8)
    ds.ds_num = 8;
  for (size_t i = 0; i < ds.ds_num; i++) {
    sources[i] = (data_source_t){
        .type = def != NULL ? def->ds_type[i] : DS_TYPE_GAUGE,
        .min = NAN,
        .max = NAN};
    sstrncpy(sources[i].name, "value", sizeof(sources[i].name));
  }
  pthread_mutex_lock(&writes_lock);
  size_t n = writes_num;
  write_cb_t list[sizeof(writes) / sizeof(writes[0])];
  memcpy(list, writes, n * sizeof(*list));
  pthread_mutex_unlock(&writes_lock);
  for (size_t i = 0; i < n; i++)
    list[i].cb(&ds, vl, &list[i].ud);
}

/* After the shutdown callbacks, as collectd does. */
static void free_writes(void) {
  pthread_mutex_lock(&writes_lock);
  size_t n = writes_num;
  write_cb_t list[sizeof(writes) / sizeof(writes[0])];
  memcpy(list, writes, n * sizeof(*list));
  writes_num = 0;
  pthread_mutex_unlock(&writes_lock);
  for (size_t i = 0; i < n; i++)
    if (list[i].ud.data != NULL && list[i].ud.free_func != NULL)
      list[i].ud.free_func(list[i].ud.data);
}

/* ======================================================================
 * threads
 * ====================================================================== */

typedef struct {
  void *(*start)(void *);
  void *arg;
  plugin_ctx_t ctx;
} thread_start_t;

static void *thread_trampoline(void *p) {
  thread_start_t s = *(thread_start_t *)p;
  free(p);
  plugin_set_ctx(s.ctx);
  return s.start(s.arg);
}

int plugin_thread_create(pthread_t *thread, void *(*start_routine)(void *),
                         void *arg, char const *name) {
  thread_start_t *s = malloc(sizeof(*s));
  if (s == NULL)
    return ENOMEM;
  *s = (thread_start_t){start_routine, arg, plugin_get_ctx()};
  int rc = pthread_create(thread, NULL, thread_trampoline, s);
  if (rc != 0) {
    free(s);
    return rc;
  }
  atomic_fetch_add(&threads_created, 1);
  if (name != NULL) {
    /* collectd 5.12 names threads "<plugin>:<name>", cut to 15 bytes */
    char tname[16];
    snprintf(tname, sizeof(tname), "%s", name);
    pthread_setname_np(*thread, tname);
  }
  return 0;
}

/* ======================================================================
 * life cycle
 * ====================================================================== */

static void *plugin_handle;

int ph_load(const char *path) {
  const char *base = strrchr(path, '/');
  base = base != NULL ? base + 1 : path;
  snprintf(plugin_name, sizeof(plugin_name), "%.*s",
           (int)strcspn(base, "."), base);
  if (plugin_handle == NULL) {
    plugin_handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (plugin_handle == NULL) {
      fprintf(stderr,
              "plugin_host: cannot load %s: %s\n"
              "plugin_host: (a daemon symbol the plugin needs is missing from "
              "the host: add it to tests/harness/plugin_host.c)\n",
              path, dlerror());
      return -1;
    }
  }
  void (*reg)(void) = (void (*)(void))dlsym(plugin_handle, "module_register");
  if (reg == NULL) {
    fprintf(stderr, "plugin_host: %s has no module_register\n", path);
    return -1;
  }
  Dl_info info;
  if (dladdr((void *)reg, &info) != 0)
    plugin_base = info.dli_fbase;
  plugin_ctx_t old = plugin_set_ctx(callback_ctx(0));
  reg();
  plugin_set_ctx(old);
  return 0;
}

void *ph_handle(void) { return plugin_handle; }

void ph_unload(void) {
  ph_schedule_stop();
  free_writes();
  pthread_mutex_lock(&reg_lock);
  configs_num = inits_num = shutdowns_num = 0;
  pthread_mutex_unlock(&reg_lock);
}

int ph_config(const oconfig_item_t *plugin_block) {
  const char *name = plugin_block->values_num >= 1 &&
                             plugin_block->values[0].type ==
                                 OCONFIG_TYPE_STRING
                         ? plugin_block->values[0].value.string
                         : "";
  int (*cb)(oconfig_item_t *) = NULL;
  pthread_mutex_lock(&reg_lock);
  for (size_t i = 0; i < configs_num; i++)
    if (strcasecmp(configs[i].name, name) == 0)
      cb = configs[i].config;
  pthread_mutex_unlock(&reg_lock);
  if (cb == NULL) {
    host_error("no complex config callback registered for \"%s\"", name);
    return -1;
  }
  plugin_ctx_t old = plugin_set_ctx(callback_ctx(0));
  int rc = cb((oconfig_item_t *)plugin_block);
  plugin_set_ctx(old);
  return rc;
}

int ph_init(void) {
  int first = 0;
  pthread_mutex_lock(&reg_lock);
  simple_cb_t list[16];
  size_t n = inits_num;
  memcpy(list, inits, sizeof(list));
  pthread_mutex_unlock(&reg_lock);
  for (size_t i = 0; i < n; i++) {
    plugin_ctx_t old = plugin_set_ctx(callback_ctx(0));
    int rc = list[i].cb();
    plugin_set_ctx(old);
    if (rc != 0) {
      ERROR("Initialization of plugin `%s' failed with status %i. Plugin "
            "will be unloaded.",
            list[i].name, rc);
      plugin_unregister_read(list[i].name);
      if (first == 0)
        first = rc;
    }
  }
  return first;
}

size_t ph_read_count(void) {
  pthread_mutex_lock(&reg_lock);
  size_t n = 0;
  for (size_t i = 0; i < reads_num; i++)
    n += !reads[i]->removed;
  pthread_mutex_unlock(&reg_lock);
  return n;
}

const char *ph_read_name(size_t i) {
  pthread_mutex_lock(&reg_lock);
  const char *name = NULL;
  for (size_t j = 0, k = 0; j < reads_num && name == NULL; j++)
    if (!reads[j]->removed && k++ == i)
      name = reads[j]->name;
  pthread_mutex_unlock(&reg_lock);
  return name;
}

/* Caller holds reg_lock; r is marked running. Runs it unlocked. */
static int run_read_locked(read_cb_t *r) {
  pthread_mutex_unlock(&reg_lock);
  plugin_ctx_t old = plugin_set_ctx(
      callback_ctx(r->interval > 0 ? r->interval : interval_g));
  thread_in_read = true;
  int rc = r->cb(&r->ud);
  thread_in_read = false;
  plugin_set_ctx(old);
  pthread_mutex_lock(&reg_lock);
  r->running = false;
  pthread_cond_broadcast(&reg_cond);
  if (r->removed) {
    for (size_t i = 0; i < reads_num; i++)
      if (reads[i] == r) {
        reads[i] = reads[--reads_num];
        break;
      }
    pthread_mutex_unlock(&reg_lock);
    read_free(r);
    pthread_mutex_lock(&reg_lock);
  }
  return rc;
}

/* Waits (holding reg_lock) until r is free to run, then marks it running.
 * Returns false if it was removed meanwhile. */
static bool claim(read_cb_t *r) {
  while (r->running && !r->removed)
    pthread_cond_wait(&reg_cond, &reg_lock);
  if (r->removed)
    return false;
  r->running = true;
  return true;
}

int ph_read(const char *name) {
  pthread_mutex_lock(&reg_lock);
  read_cb_t *r = NULL;
  for (size_t i = 0; i < reads_num; i++)
    if (!reads[i]->removed && strcmp(reads[i]->name, name) == 0)
      r = reads[i];
  int rc = -1;
  if (r != NULL && claim(r))
    rc = run_read_locked(r);
  pthread_mutex_unlock(&reg_lock);
  return rc;
}

typedef struct {
  read_cb_t *r;
  int rc;
} read_job_t;

static void *read_job(void *arg) {
  read_job_t *job = arg;
  pthread_mutex_lock(&reg_lock);
  job->rc = claim(job->r) ? run_read_locked(job->r) : 0;
  pthread_mutex_unlock(&reg_lock);
  return NULL;
}

int ph_read_all(void) {
  pthread_mutex_lock(&reg_lock);
  size_t n = 0;
  read_job_t jobs[sizeof(reads) / sizeof(reads[0])];
  for (size_t i = 0; i < reads_num; i++)
    if (!reads[i]->removed)
      jobs[n++] = (read_job_t){reads[i], 0};
  pthread_mutex_unlock(&reg_lock);
  pthread_t threads[sizeof(reads) / sizeof(reads[0])];
  bool started[sizeof(reads) / sizeof(reads[0])];
  for (size_t i = 0; i < n; i++)
    started[i] = pthread_create(&threads[i], NULL, read_job, &jobs[i]) == 0;
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    if (!started[i]) {
      read_job(&jobs[i]);
    } else {
      pthread_join(threads[i], NULL);
    }
    failed += jobs[i].rc != 0;
  }
  return failed;
}

/* --- the scheduler -------------------------------------------------------- */

static pthread_t sched_threads[16];
static int sched_threads_num;
static bool sched_stop;
static double sched_override;
static uint64_t sched_runs, sched_failures;

static double base_interval(const read_cb_t *r) {
  if (sched_override > 0)
    return sched_override;
  return CDTIME_T_TO_DOUBLE(r->interval > 0 ? r->interval : interval_g);
}

static void *sched_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&reg_lock);
  while (!sched_stop) {
    read_cb_t *due = NULL;
    for (size_t i = 0; i < reads_num; i++) {
      read_cb_t *r = reads[i];
      if (!r->running && !r->removed && (due == NULL || r->next < due->next))
        due = r;
    }
    double now = ph_now();
    if (due == NULL || due->next > now) {
      double until = due != NULL ? due->next : now + 0.1;
      if (until > now + 0.1)
        until = now + 0.1;
      struct timespec ts = {(time_t)until,
                            (long)((until - floor(until)) * 1e9)};
      pthread_cond_timedwait(&reg_cond, &reg_lock, &ts);
      continue;
    }
    due->running = true;
    int rc = run_read_locked(due);
    sched_runs++;
    if (rc != 0) {
      sched_failures++;
      due->effective = fmin(due->effective * 2, 86400);
    } else {
      due->effective = base_interval(due);
    }
    /* collectd: next = last scheduled + interval, never in the past */
    due->next += due->effective;
    if (due->next < ph_now())
      due->next = ph_now();
  }
  pthread_mutex_unlock(&reg_lock);
  return NULL;
}

void ph_schedule_start(int threads, double interval_override) {
  pthread_mutex_lock(&reg_lock);
  sched_stop = false;
  sched_override = interval_override;
  for (size_t i = 0; i < reads_num; i++) {
    reads[i]->effective = base_interval(reads[i]);
    reads[i]->next = ph_now();
  }
  pthread_mutex_unlock(&reg_lock);
  if (threads < 1)
    threads = 1;
  if (threads > 16)
    threads = 16;
  for (int i = 0; i < threads; i++) {
    if (pthread_create(&sched_threads[sched_threads_num], NULL, sched_main,
                       NULL) == 0)
      sched_threads_num++;
  }
}

void ph_schedule_stop(void) {
  pthread_mutex_lock(&reg_lock);
  sched_stop = true;
  pthread_cond_broadcast(&reg_cond);
  pthread_mutex_unlock(&reg_lock);
  for (int i = 0; i < sched_threads_num; i++)
    pthread_join(sched_threads[i], NULL);
  sched_threads_num = 0;
}

uint64_t ph_schedule_runs(void) {
  pthread_mutex_lock(&reg_lock);
  uint64_t n = sched_runs;
  pthread_mutex_unlock(&reg_lock);
  return n;
}

uint64_t ph_schedule_failures(void) {
  pthread_mutex_lock(&reg_lock);
  uint64_t n = sched_failures;
  pthread_mutex_unlock(&reg_lock);
  return n;
}

int ph_shutdown(void) {
  ph_schedule_stop();
  /* collectd: stop the read threads, free every read (user_data through
   * free_func), then call the shutdown callbacks */
  pthread_mutex_lock(&reg_lock);
  for (size_t i = 0; i < reads_num; i++)
    while (reads[i]->running)
      pthread_cond_wait(&reg_cond, &reg_lock);
  read_cb_t *list[sizeof(reads) / sizeof(reads[0])];
  size_t n = reads_num;
  memcpy(list, reads, n * sizeof(*list));
  reads_num = 0;
  simple_cb_t downs[16];
  size_t downs_num = shutdowns_num;
  memcpy(downs, shutdowns, sizeof(downs));
  pthread_mutex_unlock(&reg_lock);
  for (size_t i = 0; i < n; i++) {
    plugin_ctx_t old = plugin_set_ctx(callback_ctx(0));
    read_free(list[i]);
    plugin_set_ctx(old);
  }
  int first = 0;
  for (size_t i = 0; i < downs_num; i++) {
    plugin_ctx_t old = plugin_set_ctx(callback_ctx(0));
    int rc = downs[i].cb();
    plugin_set_ctx(old);
    if (rc != 0 && first == 0)
      first = rc;
  }
  return first;
}

/* ======================================================================
 * name resolution stand-in: getaddrinfo() and c-ares' hosts file
 * ====================================================================== */

typedef struct {
  char name[256];
  char target[64];
} alias_t;

static pthread_mutex_t alias_lock = PTHREAD_MUTEX_INITIALIZER;
static alias_t aliases[32];
static size_t aliases_num;
static char hosts_path[64];

/* A copy of /etc/hosts plus the aliases: what fopen("/etc/hosts") opens.
 * Caller holds alias_lock. */
static void write_hosts_locked(void) {
  if (hosts_path[0] == '\0') {
    snprintf(hosts_path, sizeof(hosts_path), "/tmp/ph-hosts-%d",
             (int)getpid());
  }
  char tmp[80];
  snprintf(tmp, sizeof(tmp), "%s.tmp", hosts_path);
  static FILE *(*real_fopen)(const char *, const char *);
  if (real_fopen == NULL)
    real_fopen = (FILE * (*)(const char *, const char *))
        dlsym(RTLD_NEXT, "fopen");
  FILE *out = real_fopen(tmp, "w");
  if (out == NULL)
    return;
  FILE *in = real_fopen("/etc/hosts", "r");
  char line[512];
  while (in != NULL && fgets(line, sizeof(line), in) != NULL)
    fputs(line, out);
  if (in != NULL)
    fclose(in);
  for (size_t i = 0; i < aliases_num; i++)
    if (aliases[i].target[0] != '\0')
      fprintf(out, "%s %s\n", aliases[i].target, aliases[i].name);
  fclose(out);
  rename(tmp, hosts_path);
}

void ph_alias_host(const char *name, const char *target) {
  pthread_mutex_lock(&alias_lock);
  size_t i = 0;
  while (i < aliases_num && strcasecmp(aliases[i].name, name) != 0)
    i++;
  if (i == aliases_num && aliases_num < sizeof(aliases) / sizeof(aliases[0]))
    aliases_num++;
  if (i < aliases_num) {
    sstrncpy(aliases[i].name, name, sizeof(aliases[i].name));
    sstrncpy(aliases[i].target, target != NULL ? target : "",
             sizeof(aliases[i].target));
  }
  write_hosts_locked();
  pthread_mutex_unlock(&alias_lock);
}

void ph_alias_clear(void) {
  pthread_mutex_lock(&alias_lock);
  aliases_num = 0;
  if (hosts_path[0] != '\0')
    unlink(hosts_path);
  hosts_path[0] = '\0';
  pthread_mutex_unlock(&alias_lock);
}

FILE *fopen(const char *path, const char *mode) {
  static FILE *(*real)(const char *, const char *);
  if (real == NULL)
    real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
  char copy[64] = "";
  if (path != NULL && strcmp(path, "/etc/hosts") == 0) {
    pthread_mutex_lock(&alias_lock);
    sstrncpy(copy, hosts_path, sizeof(copy));
    pthread_mutex_unlock(&alias_lock);
  }
  return real(copy[0] != '\0' ? copy : path, mode);
}

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res) {
  static int (*real)(const char *, const char *, const struct addrinfo *,
                     struct addrinfo **);
  if (real == NULL)
    real = (int (*)(const char *, const char *, const struct addrinfo *,
                    struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
  char target[64] = "";
  if (node != NULL) {
    pthread_mutex_lock(&alias_lock);
    for (size_t i = 0; i < aliases_num; i++)
      if (strcasecmp(aliases[i].name, node) == 0)
        sstrncpy(target, aliases[i].target, sizeof(target));
    pthread_mutex_unlock(&alias_lock);
  }
  return real(target[0] != '\0' ? target : node, service, hints, res);
}

/* ======================================================================
 * process state
 * ====================================================================== */

static int count_dir(const char *path) {
  DIR *d = opendir(path);
  if (d == NULL)
    return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* opendir itself holds one descriptor while counting */
int ph_fd_count(void) { return count_dir("/proc/self/fd") - 1; }
int ph_thread_count(void) { return count_dir("/proc/self/task"); }

void ph_dump_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL)
    return;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.')
      continue;
    char path[300], target[256] = "";
    snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n > 0)
      target[n] = '\0';
    fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
  }
  closedir(d);
}

int ph_wait_threads(int expected, double timeout) {
  double deadline = ph_now() + timeout;
  int n;
  while ((n = ph_thread_count()) > expected && ph_now() < deadline)
    sleep_for(0.01);
  return n;
}

int ph_wait_fds(int expected, double timeout) {
  double deadline = ph_now() + timeout;
  int n;
  while ((n = ph_fd_count()) > expected && ph_now() < deadline)
    sleep_for(0.01);
  return n;
}

/* plugin_host.h: a small stand-in for the collectd 5.12 daemon, for tests.
 *
 * The test binary links plugin_host.c and src/probe/pop3_cf_util.c with
 * -rdynamic, so it exports the daemon API (plugin_register_*,
 * plugin_dispatch_*, plugin_log, plugin_thread_create, cf_util_get_*,
 * hostname_g, cdtime, ...) that a dlopen()ed plugin resolves against, as it
 * would against collectd itself.
 * The plugin is loaded with RTLD_NOW: a daemon symbol the host lacks fails
 * the load at once, naming the symbol.
 *
 * The host records every dispatched value, notification and log line with a
 * CLOCK_MONOTONIC timestamp (thread-safe: plugin threads may dispatch at any
 * time), writes them to a log file (ph_set_log_file), and lets tests wait for
 * them with a bound. It runs the plugin's config, init, read (on demand or on
 * a schedule, in read threads as collectd does) and shutdown callbacks, and
 * frees read user_data with their free_func before the shutdown callbacks,
 * in collectd's order. Write callbacks see every dispatched value, in the
 * dispatching thread.
 *
 * Usage (configuration text is read by src/probe/pop3_conffile.c, as
 * collectd reads it):
 *   ph_load("build/pop3.so");
 *   oconfig_item_t *root = pop3_conffile_parse(text, strlen(text), "test",
 *                                              err, sizeof(err));
 *   ph_config(pop3_conffile_find(root, "Plugin", "pop3"));  ph_init();
 *   double t0 = ph_now();  ph_read_all();
 *   ph_event_t ev;
 *   ph_wait(&(ph_filter_t){.kind = PH_VALUE, .plugin_instance = "a",
 *                          .type = "email_count", .since = t0}, 1, 5.0, &ev);
 *   ph_shutdown();  pop3_conffile_free(root);
 */
#ifndef PLUGIN_HOST_H
#define PLUGIN_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "liboconfig/oconfig.h"

/* --- the plugin's life cycle ---------------------------------------------- */

/* dlopen(path, RTLD_NOW) and module_register(). 0, or -1 after printing why
 * (an undefined daemon symbol is named by dlerror). */
int ph_load(const char *path);
/* Forgets the registered callbacks (after ph_shutdown). The library stays
 * mapped, as in collectd, so straggling plugin threads cannot crash and
 * valgrind keeps its symbols. ph_load may then register it again. */
void ph_unload(void);
/* The dlopen() handle (NULL before ph_load). */
void *ph_handle(void);

/* The block is <Plugin "name"> whose children go to the complex config
 * callback registered for "name" (as collectd does for <Plugin> blocks).
 * Returns the callback's status (-1 if none is registered). */
int ph_config(const oconfig_item_t *plugin_block);
/* Every init callback, in registration order; the first non-zero status is
 * returned (collectd then unregisters that plugin's reads; so does the host). */
int ph_init(void);

/* Read callbacks registered so far. */
size_t ph_read_count(void);
/* Name of the i-th read callback ("pop3/inbox"), NULL past the end. */
const char *ph_read_name(size_t i);
/* Calls one read callback (by its registered name) in the calling thread,
 * with the plugin context and interval set as collectd does; returns its
 * status, or -1 if there is no such read. */
int ph_read(const char *name);
/* Calls every read callback once, each in its own read thread, concurrently
 * (like collectd's read threads), and joins them. Returns how many returned
 * non-zero. */
int ph_read_all(void);

/* Collectd-like scheduling: `threads` read threads (collectd's ReadThreads)
 * call each read callback now and then every interval (the registered one,
 * or interval_override when > 0); a callback never runs twice at once; a
 * non-zero status doubles that read's interval as collectd does. */
void ph_schedule_start(int threads, double interval_override);
void ph_schedule_stop(void); /* joins the read threads */
/* Reads the scheduler ran, and how many returned non-zero. */
uint64_t ph_schedule_runs(void);
uint64_t ph_schedule_failures(void);

/* Stops the scheduler, frees every read's user_data with its free_func,
 * then runs the shutdown callbacks (collectd's order). Returns the first
 * non-zero shutdown status. */
int ph_shutdown(void);

/* --- the daemon's globals ------------------------------------------------- */

void ph_set_hostname(const char *name);     /* hostname_g, "ph-host" at start */
void ph_set_interval(double seconds);       /* interval_g, 10 s at start */
/* types.db used to check dispatched values (type exists, number of values);
 * the host loads /usr/share/collectd/types.db by default when it exists. */
int ph_load_types_db(const char *path);

/* --- name resolution stand-in --------------------------------------------- */

/* The test binary interposes getaddrinfo() and fopen("/etc/hosts") (which
 * c-ares reads per lookup): a name registered here resolves as the address
 * `target` (NULL or "": the real resolver sees the name itself, so an
 * unresolvable name stays unresolvable until it is aliased). Other names go
 * straight to the real resolver. */
void ph_alias_host(const char *name, const char *target);
void ph_alias_clear(void);

/* --- time stand-in ------------------------------------------------------ */

/* The test binary interposes clock_gettime(): CLOCK_MONOTONIC (and
 * _COARSE, _RAW, BOOTTIME) as the plugin's own code sees it runs `seconds`
 * ahead from now on, cumulatively, so waits of minutes (LOGIN-DELAY) can be
 * tested. Other libraries (libcheck, c-ares, OpenSSL) see the real clock.
 * Advance only while no collection is in flight. ph_now() and the event
 * timestamps keep the real clock. */
void ph_clock_advance(double seconds);

/* --- what the plugin did -------------------------------------------------- */

typedef enum {
  PH_ANY = 0,
  PH_VALUE,        /* plugin_dispatch_values */
  PH_NOTIFICATION, /* plugin_dispatch_notification */
  PH_LOG,          /* plugin_log / daemon_log */
} ph_kind_t;

#define PH_NAME_MAX 128
#define PH_MESSAGE_MAX 1024

typedef struct {
  ph_kind_t kind;
  double at;          /* ph_now() when it arrived */
  int severity;       /* LOG_ERR ... for logs, NOTIF_FAILURE ... */
  bool in_read;       /* dispatched from inside a read callback */
  uint64_t time;      /* cdtime_t of the value or notification */
  uint64_t interval;  /* cdtime_t vl->interval as dispatched (0: unset) */
  char host[PH_NAME_MAX];
  char plugin[PH_NAME_MAX];
  char plugin_instance[PH_NAME_MAX];
  char type[PH_NAME_MAX];
  char type_instance[PH_NAME_MAX];
  size_t values_len;
  double value;       /* the first value, as a double (gauge or integer) */
  char message[PH_MESSAGE_MAX]; /* logs and notifications */
} ph_event_t;

/* Every non-NULL/non-zero field must match. */
typedef struct {
  ph_kind_t kind;
  int severity;                /* 0: any */
  const char *plugin_instance; /* exact */
  const char *type;            /* exact */
  const char *type_instance;   /* exact ("" matches only an empty one) */
  const char *contains;        /* substring of message */
  const char *contains2;       /* a second substring of message */
  double since;                /* at >= since */
} ph_filter_t;

double ph_now(void); /* CLOCK_MONOTONIC seconds */

size_t ph_count(const ph_filter_t *f);
/* The n-th (1-based) matching event; false if there are fewer. */
bool ph_nth(const ph_filter_t *f, size_t n, ph_event_t *out);
/* Waits until at least n events match, at most timeout seconds; the n-th is
 * copied to out (may be NULL). */
bool ph_wait(const ph_filter_t *f, size_t n, double timeout, ph_event_t *out);
/* Prints the matching events to stderr (for failure messages). */
void ph_dump(const ph_filter_t *f);
void ph_events_clear(void);

/* API misuse the host noticed (unknown type, wrong number of values,
 * duplicate read, a dispatch without plugin name, ...): each is also logged
 * as an ERROR line starting "plugin_host:". */
unsigned ph_host_errors(void);

/* Every event is appended to this file as one line (NULL: none). */
int ph_set_log_file(const char *path);

/* Threads created through plugin_thread_create so far. */
unsigned ph_plugin_threads_created(void);

/* --- process state, for leak checks --------------------------------------- */

int ph_fd_count(void);     /* entries of /proc/self/fd */
int ph_thread_count(void); /* entries of /proc/self/task */
/* Lists /proc/self/fd targets to stderr. */
void ph_dump_fds(void);
/* Waits until the count is at most `expected`; returns the last count. */
int ph_wait_threads(int expected, double timeout);
int ph_wait_fds(int expected, double timeout);

#endif

/* pop3_standalone.c: collectd's plugin_log() and daemon_log() for tools
 * that run without the daemon (pop3-probe; its config helpers are in
 * pop3_cf_util.c).
 * Errors are remembered so the tool can print the first one as its
 * verdict; warnings go to stderr. */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include "pop3_standalone.h"

static char first_error[1024];
static bool quiet_warnings;

const char *pop3_standalone_first_error(void) {
  return first_error[0] ? first_error : NULL;
}

void pop3_standalone_quiet(bool quiet) { quiet_warnings = quiet; }

void plugin_log(int level, const char *format, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  /* "pop3 plugin: " is the daemon's context; a tool speaks for itself */
  const char *text = strncmp(msg, "pop3 plugin: ", 13) == 0 ? msg + 13 : msg;
  if (level <= LOG_ERR) {
    if (first_error[0] == '\0')
      snprintf(first_error, sizeof(first_error), "%s", text);
    if (!quiet_warnings)
      fprintf(stderr, "error: %s\n", text);
  } else if (level <= LOG_WARNING && !quiet_warnings) {
    fprintf(stderr, "warning: %s\n", text);
  }
}

/* The daemon's: the message in the context of the plugin being configured,
 * which is always pop3 here. */
void daemon_log(int level, const char *format, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  plugin_log(level, "pop3 plugin: %s", msg);
}

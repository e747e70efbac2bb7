/* mock_collectd.h: just enough of collectd's daemon for unit tests of the
 * configuration module: plugin_log() and daemon_log() that record lines
 * (the cf_util_get_* helpers are src/probe/pop3_cf_util.c, configuration
 * text is read by src/probe/pop3_conffile.c). */
#ifndef MOCK_COLLECTD_H
#define MOCK_COLLECTD_H

#include <stdbool.h>
#include <stddef.h>

#define MOCK_LOG_MAX 64

typedef struct {
  int severity;
  char message[1024];
} mock_log_line_t;

extern mock_log_line_t mock_log[MOCK_LOG_MAX];
extern size_t mock_log_num;

void mock_log_reset(void);
/* Lines logged at exactly this severity (LOG_ERR, LOG_WARNING, ...). */
size_t mock_log_count(int severity);
/* The first line of that severity containing needle, or NULL. */
const char *mock_log_find(int severity, const char *needle);

#endif

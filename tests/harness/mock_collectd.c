/* mock_collectd.c: see mock_collectd.h. */
#include "mock_collectd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

mock_log_line_t mock_log[MOCK_LOG_MAX];
size_t mock_log_num;

void mock_log_reset(void) { mock_log_num = 0; }

void plugin_log(int level, const char *format, ...) {
  if (mock_log_num >= MOCK_LOG_MAX)
    return;
  mock_log_line_t *line = &mock_log[mock_log_num++];
  line->severity = level;
  va_list ap;
  va_start(ap, format);
  vsnprintf(line->message, sizeof(line->message), format, ap);
  va_end(ap);
  if (getenv("MOCK_LOG_PRINT"))
    fprintf(stderr, "[%d] %s\n", level, line->message);
}

size_t mock_log_count(int severity) {
  size_t n = 0;
  for (size_t i = 0; i < mock_log_num; i++)
    n += mock_log[i].severity == severity;
  return n;
}

const char *mock_log_find(int severity, const char *needle) {
  for (size_t i = 0; i < mock_log_num; i++)
    if (mock_log[i].severity == severity &&
        strstr(mock_log[i].message, needle) != NULL)
      return mock_log[i].message;
  return NULL;
}

/* The daemon's, while the pop3 plugin is being configured. */
void daemon_log(int level, const char *format, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  plugin_log(level, "pop3 plugin: %s", msg);
}

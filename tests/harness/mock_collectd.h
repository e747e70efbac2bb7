/* mock_collectd.h: just enough of collectd's daemon for unit tests of the
 * configuration module: logging that records lines, the cf_util_get_*
 * helpers, and builders for oconfig items. */
#ifndef MOCK_COLLECTD_H
#define MOCK_COLLECTD_H

#include <stdbool.h>
#include <stddef.h>

#include "liboconfig/oconfig.h"

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

/* Option builders; each returns a heap item the block takes over. */
oconfig_item_t *opt_string(const char *key, const char *value);
oconfig_item_t *opt_number(const char *key, double value);
oconfig_item_t *opt_bool(const char *key, bool value);
oconfig_item_t *opt_none(const char *key); /* no value at all */
/* <Monitor "name"> holding the options, NULL-terminated. name NULL: no value. */
oconfig_item_t *mock_block(const char *key, const char *name, ...);
void mock_free(oconfig_item_t *ci);

#endif

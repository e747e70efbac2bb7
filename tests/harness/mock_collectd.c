/* mock_collectd.c: see mock_collectd.h. */
#include "mock_collectd.h"
#include "pop3_conffile.h"

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

/* cf_util_get_* and sstrerror come from src/probe/pop3_cf_util.c */

static oconfig_item_t *item(const char *key, int values_num) {
  oconfig_item_t *ci = calloc(1, sizeof(*ci));
  ci->key = strdup(key);
  ci->values_num = values_num;
  ci->values = values_num ? calloc((size_t)values_num, sizeof(*ci->values))
                          : NULL;
  return ci;
}

oconfig_item_t *opt_string(const char *key, const char *value) {
  oconfig_item_t *ci = item(key, 1);
  ci->values[0].type = OCONFIG_TYPE_STRING;
  ci->values[0].value.string = strdup(value);
  return ci;
}

oconfig_item_t *opt_number(const char *key, double value) {
  oconfig_item_t *ci = item(key, 1);
  ci->values[0].type = OCONFIG_TYPE_NUMBER;
  ci->values[0].value.number = value;
  return ci;
}

oconfig_item_t *opt_bool(const char *key, bool value) {
  oconfig_item_t *ci = item(key, 1);
  ci->values[0].type = OCONFIG_TYPE_BOOLEAN;
  ci->values[0].value.boolean = value;
  return ci;
}

oconfig_item_t *opt_none(const char *key) { return item(key, 0); }

oconfig_item_t *mock_block(const char *key, const char *name, ...) {
  oconfig_item_t *block = name ? opt_string(key, name) : item(key, 0);
  va_list ap;
  va_start(ap, name);
  for (oconfig_item_t *child; (child = va_arg(ap, oconfig_item_t *)) != NULL;) {
    block->children = realloc(block->children, (size_t)(block->children_num + 1) *
                                                   sizeof(*block->children));
    child->parent = block;
    block->children[block->children_num++] = *child;
    free(child); /* its contents now live in the array */
  }
  va_end(ap);
  return block;
}

void mock_free(oconfig_item_t *ci) { pop3_conffile_free(ci); }

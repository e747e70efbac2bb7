/* pop3_standalone.c: the few collectd daemon functions the configuration
 * module calls, for tools that run without the daemon (pop3-probe). Errors
 * are remembered so the tool can print the first one as its verdict;
 * warnings go to stderr. */
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

char *sstrerror(int errnum, char *buf, size_t buflen) {
  snprintf(buf, buflen, "%s", strerror(errnum));
  return buf;
}

char *sstrncpy(char *dest, const char *src, size_t n) {
  snprintf(dest, n, "%s", src);
  return dest;
}

int cf_util_get_string(const oconfig_item_t *ci, char **ret_string) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING)
    return -1;
  char *copy = strdup(ci->values[0].value.string);
  if (copy == NULL)
    return -1;
  free(*ret_string);
  *ret_string = copy;
  return 0;
}

int cf_util_get_string_buffer(const oconfig_item_t *ci, char *buffer,
                              size_t buffer_size) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING)
    return -1;
  snprintf(buffer, buffer_size, "%s", ci->values[0].value.string);
  return 0;
}

int cf_util_get_boolean(const oconfig_item_t *ci, bool *ret_bool) {
  if (ci->values_num != 1)
    return -1;
  if (ci->values[0].type == OCONFIG_TYPE_BOOLEAN) {
    *ret_bool = ci->values[0].value.boolean != 0;
    return 0;
  }
  /* collectd also takes these strings */
  if (ci->values[0].type == OCONFIG_TYPE_STRING) {
    const char *s = ci->values[0].value.string;
    if (IS_TRUE(s) || IS_FALSE(s)) {
      *ret_bool = IS_TRUE(s);
      return 0;
    }
  }
  return -1;
}

int cf_util_get_double(const oconfig_item_t *ci, double *ret_value) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER)
    return -1;
  *ret_value = ci->values[0].value.number;
  return 0;
}

int cf_util_get_int(const oconfig_item_t *ci, int *ret_value) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_NUMBER)
    return -1;
  *ret_value = (int)ci->values[0].value.number;
  return 0;
}

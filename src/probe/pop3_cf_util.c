/* pop3_cf_util.c: collectd 5.12's configuration helpers (cf_util_get_*) and
 * the few utilities of its common.c they need or pop3_config.c calls
 * (sstrncpy, sstrerror, service_name_to_port_number), for code that runs
 * without the daemon: pop3-probe, the configuration tests and the plugin
 * host, which exports them to the plugin it loads. They behave as the
 * daemon's do: 0 and the value, or -1 (EINVAL for a NULL argument) after
 * logging the daemon's own message through daemon_log(), which each of
 * those programs provides. */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include <netdb.h>

/* ---- common.c ------------------------------------------------------------ */

char *sstrncpy(char *dest, const char *src, size_t n) {
  if (n == 0)
    return dest;
  strncpy(dest, src, n);
  dest[n - 1] = '\0';
  return dest;
}

/* The XSI strerror_r, as the daemon is built; when it fails the message
 * says so instead. */
char *sstrerror(int errnum, char *buf, size_t buflen) {
  if (buflen == 0)
    return buf;
  buf[0] = '\0';
  if (strerror_r(errnum, buf, buflen) != 0)
    snprintf(buf, buflen, "Error #%i; Additionally, strerror_r failed.",
             errnum);
  return buf;
}

/* The port of a service name or number (getaddrinfo's reading of it), or
 * -1. */
int service_name_to_port_number(const char *service_name) {
  if (service_name == NULL)
    return -1;
  struct addrinfo hints = {.ai_family = AF_UNSPEC};
  struct addrinfo *list = NULL;
  int status = getaddrinfo(NULL, service_name, &hints, &list);
  if (status != 0) {
    P_ERROR("service_name_to_port_number: getaddrinfo failed: %s",
            gai_strerror(status));
    return -1;
  }
  int port = -1;
  for (const struct addrinfo *ai = list; ai != NULL && port <= 0;
       ai = ai->ai_next) {
    if (ai->ai_family == AF_INET)
      port = ntohs(((const struct sockaddr_in *)(void *)ai->ai_addr)->sin_port);
    else if (ai->ai_family == AF_INET6)
      port =
          ntohs(((const struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_port);
  }
  freeaddrinfo(list);
  if (port > 0)
    return port;
  P_ERROR("service_name_to_port_number: Unable to convert service name to "
          "port number.");
  return -1;
}

/* ---- configfile.c: cf_util_get_* ------------------------------------------ */

static bool one_value_of(const oconfig_item_t *ci, int type) {
  return ci->values_num == 1 && ci->values[0].type == type;
}

int cf_util_get_string(const oconfig_item_t *ci, char **ret_string) {
  if (!one_value_of(ci, OCONFIG_TYPE_STRING)) {
    P_ERROR("The `%s' option requires exactly one string argument.", ci->key);
    return -1;
  }
  char *copy = strdup(ci->values[0].value.string);
  if (copy == NULL)
    return -1;
  free(*ret_string);
  *ret_string = copy;
  return 0;
}

int cf_util_get_string_buffer(const oconfig_item_t *ci, char *buffer,
                              size_t buffer_size) {
  if (ci == NULL || buffer == NULL || buffer_size < 1)
    return EINVAL;
  if (!one_value_of(ci, OCONFIG_TYPE_STRING)) {
    P_ERROR("The `%s' option requires exactly one string argument.", ci->key);
    return -1;
  }
  sstrncpy(buffer, ci->values[0].value.string, buffer_size);
  return 0;
}

int cf_util_get_int(const oconfig_item_t *ci, int *ret_value) {
  if (ci == NULL || ret_value == NULL)
    return EINVAL;
  if (!one_value_of(ci, OCONFIG_TYPE_NUMBER)) {
    P_ERROR("The `%s' option requires exactly one numeric argument.", ci->key);
    return -1;
  }
  *ret_value = (int)ci->values[0].value.number;
  return 0;
}

int cf_util_get_double(const oconfig_item_t *ci, double *ret_value) {
  if (ci == NULL || ret_value == NULL)
    return EINVAL;
  if (!one_value_of(ci, OCONFIG_TYPE_NUMBER)) {
    P_ERROR("The `%s' option requires exactly one numeric argument.", ci->key);
    return -1;
  }
  *ret_value = ci->values[0].value.number;
  return 0;
}

/* A boolean, or (deprecated, with a warning) a string such as "yes". */
int cf_util_get_boolean(const oconfig_item_t *ci, bool *ret_bool) {
  if (ci == NULL || ret_bool == NULL)
    return EINVAL;
  if (!one_value_of(ci, OCONFIG_TYPE_BOOLEAN) &&
      !one_value_of(ci, OCONFIG_TYPE_STRING)) {
    P_ERROR("The `%s' option requires exactly one boolean argument.", ci->key);
    return -1;
  }
  if (ci->values[0].type == OCONFIG_TYPE_BOOLEAN) {
    *ret_bool = ci->values[0].value.boolean != 0;
    return 0;
  }
  const char *s = ci->values[0].value.string;
  P_WARNING("Using string value `%s' for boolean option `%s' is deprecated "
            "and will be removed in future releases. Use unquoted true or "
            "false instead.",
            s, ci->key);
  if (IS_TRUE(s)) {
    *ret_bool = true;
  } else if (IS_FALSE(s)) {
    *ret_bool = false;
  } else {
    P_ERROR("Cannot parse string value `%s' of the `%s' option as a boolean "
            "value.",
            s, ci->key);
    return -1;
  }
  return 0;
}

int cf_util_get_flag(const oconfig_item_t *ci, unsigned int *ret_value,
                     unsigned int flag) {
  if (ret_value == NULL)
    return EINVAL;
  bool set = false;
  int status = cf_util_get_boolean(ci, &set);
  if (status != 0)
    return status;
  *ret_value = set ? *ret_value | flag : *ret_value & ~flag;
  return 0;
}

/* A service name or a number 1..65535 (rounded); the port, or below 0. */
int cf_util_get_port_number(const oconfig_item_t *ci) {
  if (!one_value_of(ci, OCONFIG_TYPE_STRING) &&
      !one_value_of(ci, OCONFIG_TYPE_NUMBER)) {
    P_ERROR("The `%s' option requires exactly one string argument.", ci->key);
    return -1;
  }
  if (ci->values[0].type == OCONFIG_TYPE_STRING)
    return service_name_to_port_number(ci->values[0].value.string);
  int port = (int)(ci->values[0].value.number + 0.5);
  if (port < 1 || port > 65535) {
    P_ERROR("The `%s' option requires a service name or a port number. The "
            "number you specified, %i, is not in the valid range of 1-65535.",
            ci->key, port);
    return -1;
  }
  return port;
}

/* A service name as it is, or a port number 1..65535 as its digits. */
int cf_util_get_service(const oconfig_item_t *ci, char **ret_string) {
  if (ci->values_num != 1) {
    P_ERROR("The `%s` option requires exactly one argument.", ci->key);
    return -1;
  }
  if (ci->values[0].type == OCONFIG_TYPE_STRING)
    return cf_util_get_string(ci, ret_string);
  /* the daemon logs this and goes on: cf_util_get_int then refuses it */
  if (ci->values[0].type != OCONFIG_TYPE_NUMBER)
    P_ERROR("The `%s` option requires exactly one string or numeric argument.",
            ci->key);
  int port = 0;
  int status = cf_util_get_int(ci, &port);
  if (status != 0)
    return status;
  if (port < 1 || port > 65535) {
    P_ERROR("The port number given for the `%s` option is out of range (%i).",
            ci->key, port);
    return -1;
  }
  char *digits = malloc(6);
  if (digits == NULL) {
    P_ERROR("cf_util_get_service: Out of memory.");
    return -1;
  }
  snprintf(digits, 6, "%i", port);
  free(*ret_string);
  *ret_string = digits;
  return 0;
}

int cf_util_get_cdtime(const oconfig_item_t *ci, cdtime_t *ret_value) {
  if (ci == NULL || ret_value == NULL)
    return EINVAL;
  if (!one_value_of(ci, OCONFIG_TYPE_NUMBER)) {
    P_ERROR("The `%s' option requires exactly one numeric argument.", ci->key);
    return -1;
  }
  if (ci->values[0].value.number < 0) {
    P_ERROR("The numeric argument of the `%s' option must not be negative.",
            ci->key);
    return -1;
  }
  *ret_value = DOUBLE_TO_CDTIME_T(ci->values[0].value.number);
  return 0;
}

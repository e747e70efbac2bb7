/* pop3_report.c: see pop3_report.h. */
#include "pop3_report.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

void pop3_report_label(const pop3_monitor_t *m, char *buf, size_t size) {
  bool v6 = strchr(m->host, ':') != NULL;
  bool described = m->description != NULL && m->description[0] != '\0';
  snprintf(buf, size, "monitor \"%s\"%s%.64s%s %s%s%s:%d", m->name,
           described ? " (" : "", described ? m->description : "",
           described ? ")" : "", v6 ? "[" : "", m->host, v6 ? "]" : "",
           m->port);
}

void pop3_report_cause(const pop3_error_t *e, char *buf, size_t size) {
  snprintf(buf, size, "%s: %s%s", pop3_phase_name(e->phase), e->message,
           pop3_code_is_transient(e->code) ? " (temporary; will retry)" : "");
}

void pop3_report_capabilities(const pop3_capabilities_t *c, char *buf,
                              size_t size) {
  if (!c->known) {
    snprintf(buf, size, "unknown (no CAPA)");
    return;
  }
  snprintf(buf, size, "%s%s%s%s", c->user ? "USER " : "",
           c->pipelining ? "PIPELINING " : "",
           c->resp_codes ? "RESP-CODES " : "", c->stls ? "STLS " : "");
  size_t used = strlen(buf);
  if (c->sasl[0] != '\0' && used < size)
    used += (size_t)snprintf(buf + used, size - used, "SASL(%s) ", c->sasl);
  if (c->login_delay >= 0 && used < size)
    used += (size_t)snprintf(buf + used, size - used, "LOGIN-DELAY(%d) ",
                             c->login_delay);
  if (c->implementation[0] != '\0' && used < size)
    used += (size_t)snprintf(buf + used, size - used, "IMPLEMENTATION(%s) ",
                             c->implementation);
  if (used > size - 1)
    used = size - 1;
  if (used > 0 && buf[used - 1] == ' ')
    buf[used - 1] = '\0';
}

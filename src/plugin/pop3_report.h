/* pop3_report.h: the words the plugin and pop3-probe share, so an operator
 * reads the same text in the log and on the command line. */
#ifndef POP3_REPORT_H
#define POP3_REPORT_H

#include <stddef.h>

#include "pop3_collect.h"
#include "pop3_monitor.h"

/* phase name + message + transient note */
#define POP3_CAUSE_MAX (POP3_ERROR_MAX + 48)
#define POP3_LABEL_MAX 256

/* monitor "name" (description) host:port, with [] around IPv6 literals */
void pop3_report_label(const pop3_monitor_t *m, char *buf, size_t size);

/* "auth: server refused the login [AUTH]: ..." plus "(temporary; will
 * retry)" for IN-USE, LOGIN-DELAY and SYS/TEMP. */
void pop3_report_cause(const pop3_error_t *e, char *buf, size_t size);

/* "USER PIPELINING SASL(PLAIN LOGIN) IMPLEMENTATION(Dovecot)" */
void pop3_report_capabilities(const pop3_capabilities_t *c, char *buf,
                              size_t size);

#endif

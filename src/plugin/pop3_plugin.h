/* pop3_plugin.h: what the plugin's modules share: dispatching a value (it
 * is counted, so that a -T run waits until the writers have it) and
 * notifying. */
#ifndef POP3_PLUGIN_H
#define POP3_PLUGIN_H

#include "pop3_monitor.h"

void pop3_plugin_dispatch(const pop3_monitor_t *m, const char *type,
                          const char *type_instance, double value);
/* About the monitor, or about one of its values (type and type_instance,
 * else NULL). */
void pop3_plugin_notify(const pop3_monitor_t *m, int severity,
                        const char *type, const char *type_instance,
                        const char *text);

#endif

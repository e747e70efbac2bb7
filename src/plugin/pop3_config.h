/* pop3_config.h: one <Monitor "name"> block -> a validated pop3_monitor_t.
 * Every problem is logged as one ERROR naming the monitor and the option. */
#ifndef POP3_CONFIG_H
#define POP3_CONFIG_H

#include "pop3_monitor.h"

struct oconfig_item_s;

/* NULL when the block is invalid (the reasons are logged). */
pop3_monitor_t *pop3_config_monitor(const struct oconfig_item_s *ci);

#endif

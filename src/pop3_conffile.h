/* pop3_conffile.h: reads a collectd configuration file into the same
 * oconfig_item_t tree collectd builds, so tools outside the daemon (the
 * probe) validate <Monitor> blocks with the plugin's own code. Supports
 * what collectd.conf uses: comments, quoted strings with \" and \\,
 * numbers, true/false, bare words, <Block "args"> nesting, backslash line
 * continuation. Not Include. */
#ifndef POP3_CONFFILE_H
#define POP3_CONFFILE_H

#include <stddef.h>

#include "liboconfig/oconfig.h"

/* NULL on error, with "FILE:LINE: reason" in err. Free with
 * pop3_conffile_free(). */
oconfig_item_t *pop3_conffile_read(const char *path, char *err,
                                   size_t err_size);
void pop3_conffile_free(oconfig_item_t *root);

/* The first child of parent with this key (case-insensitive) whose first
 * value is the string arg (or any, when arg is NULL). */
const oconfig_item_t *pop3_conffile_find(const oconfig_item_t *parent,
                                         const char *key, const char *arg);

#endif

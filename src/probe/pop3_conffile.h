/* pop3_conffile.h: reads a collectd configuration file into the same
 * oconfig_item_t tree collectd 5.12 builds, so tools outside the daemon (the
 * probe) validate <Monitor> blocks with the plugin's own code and see the
 * values collectd sees. The rules are collectd's own:
 *  - quoted strings: a backslash makes the next character literal (\" \\,
 *    and \c is c: no C escapes); a backslash at the end of a line continues
 *    the string without the next line's leading blanks; a raw line break
 *    inside quotes is kept;
 *  - numbers (decimal, 0x hexadecimal, 1.5, 1.5e+3; 010 is ten),
 *    true/yes/on and false/no/off (lower case only), unquoted words of
 *    [0-9A-Za-z_] and IPv4/IPv6 addresses (with a :port); other characters
 *    outside quotes are dropped, as collectd drops them (mail.example.com
 *    unquoted is three words);
 *  - # comments, a backslash at the end of a line between values, CRLF;
 *  - <Block args> ... </Block>, names compared with their case; every line
 *    ends with a line break (the last one too); an empty block is dropped;
 *  - Include "path" (and <Include "path"> Filter "glob" </Include>) at the
 *    top level of a file, as the daemon does it: the path expanded like a
 *    shell word (no command substitution), directories read in name order
 *    without their dot-files, nested up to 8 deep; inside a block, Include
 *    stays an option. A file of an included directory that cannot be read
 *    is left out, as collectd leaves it out.
 * Deliberate differences: a file larger than 16 MiB or holding a NUL byte is
 * refused, and directories nested more than 64 deep are (collectd would
 * recurse without end on a link loop). */
#ifndef POP3_CONFFILE_H
#define POP3_CONFFILE_H

#include <stddef.h>

#include "liboconfig/oconfig.h"

/* The tree of path, or NULL on error with "FILE:LINE: reason" (or "path:
 * reason") in err. On success err holds the first thing collectd would
 * also have skipped past (a dropped character, a file left out), or "".
 * Free the tree with pop3_conffile_free(). */
oconfig_item_t *pop3_conffile_read(const char *path, char *err,
                                   size_t err_size);
void pop3_conffile_free(oconfig_item_t *root);

/* The first child of parent with this key (case-insensitive) whose first
 * value is the string arg (or any, when arg is NULL). */
const oconfig_item_t *pop3_conffile_find(const oconfig_item_t *parent,
                                         const char *key, const char *arg);

#endif

/* pop3_conffile.h: reads a collectd configuration file (or text) into the
 * same oconfig_item_t tree collectd 5.12 builds, so tools outside the daemon
 * (the probe, the tests' plugin host) validate <Monitor> blocks with the
 * plugin's own code and see the values collectd sees; and writes values as
 * configuration text that collectd reads back exactly. The rules are
 * collectd's own:
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
 * recurse without end on a link loop). And one of collectd's own: after a
 * file that fails to parse, collectd's scanner reads the unread rest of it
 * ahead of the next file it reads, which then usually fails too; this
 * reader leaves out only the file that fails
 * (tests/unit/conffile-vs-collectd.sh shows both). */
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
/* The same for len bytes of text (no NUL needed at the end), read as the
 * contents of a file called `name` (which only appears in messages): the
 * same rules, Include included (relative paths from the working
 * directory, as collectd resolves them). */
oconfig_item_t *pop3_conffile_parse(const char *text, size_t len,
                                    const char *name, char *err,
                                    size_t err_size);
/* Frees the tree; every string in it is cleansed first (a configuration
 * holds passwords). */
void pop3_conffile_free(oconfig_item_t *root);

/* Writing configuration text that collectd reads back exactly. Both work
 * like snprintf: at most size bytes are written, NUL included, and the
 * length of the whole is returned. */

/* value as a quoted string: in quotes, a backslash before every double
 * quote and every backslash, every other byte as it is (line breaks too,
 * which the scanner keeps inside quotes). */
size_t pop3_conffile_quote(char *out, size_t size, const char *value);
/* value as a number token: the fewest digits strtod reads back as exactly
 * value (whole numbers as plain digits), 1.0e+999 for infinity; -1 for
 * NaN, which no configuration can hold. */
int pop3_conffile_number(char *out, size_t size, double value);

/* The first child of parent with this key (case-insensitive) whose first
 * value is the string arg (or any, when arg is NULL). */
const oconfig_item_t *pop3_conffile_find(const oconfig_item_t *parent,
                                         const char *key, const char *arg);

#endif

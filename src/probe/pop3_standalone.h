/* pop3_standalone.h: see pop3_standalone.c. */
#ifndef POP3_STANDALONE_H
#define POP3_STANDALONE_H

#include <stdbool.h>

/* The first ERROR the configuration module logged, or NULL. */
const char *pop3_standalone_first_error(void);
/* Keep stderr quiet: the tool reports the first error itself, and the
 * clear-text warning means little for a one-off probe. */
void pop3_standalone_quiet(bool quiet);

#endif

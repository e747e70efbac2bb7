/* pop3_token.h: where a bearer token comes from at each collection, for
 * Auth xoauth2 / oauthbearer: the first line of a file (TokenFile), or of
 * what a program prints (TokenCommand). An external refresher keeps either
 * current; the plugin reads it anew every time. No collectd, no shell.
 *
 * Both return 0 and the token in buf (NUL-terminated, line end removed), or
 * -1 with err set: phase POP3_PHASE_AUTH, failure POP3_FAIL_TOKEN, a message
 * that names the file or program but never carries the token. Every buffer
 * that held the token is cleansed; on failure buf is cleansed too. */
#ifndef POP3_TOKEN_H
#define POP3_TOKEN_H

#include <stddef.h>

#include "pop3_error.h"

/* The first line of a regular file. A FIFO or a device is refused (it could
 * block a collection), and so is an empty first line or one that does not
 * fit in size - 1 bytes. */
int pop3_token_read_file(const char *path, char *buf, size_t size,
                         pop3_error_t *err);

/* Runs argv[0] (an absolute path; argv is NULL-terminated) with argv,
 * without a shell: stdin from /dev/null, stderr discarded, no descriptor of
 * ours inherited, its own process group. The token is the first line of its
 * stdout. The program must exit with status 0 before deadline (seconds of
 * CLOCK_MONOTONIC, as pop3_now()); else its process group is killed with
 * SIGKILL and reaped. Safe in a multi-threaded process (posix_spawn). */
int pop3_token_run_command(char *const argv[], double deadline, char *buf,
                           size_t size, pop3_error_t *err);

/* The token of a monitor: from file when it is not NULL, else from the
 * command (pop3_monitor_t's token_file / token_command). */
int pop3_token_get(const char *file, char *const command[], double deadline,
                   char *buf, size_t size, pop3_error_t *err);

#endif

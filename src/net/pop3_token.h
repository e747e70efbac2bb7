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
#include <sys/stat.h>

#include "pop3_error.h"
#include "pop3_session.h" /* POP3_TOKEN_MAX */

typedef enum {
  POP3_LINE_OK = 0,
  POP3_LINE_CANNOT_OPEN, /* *errnum says why */
  POP3_LINE_NOT_REGULAR, /* a FIFO, a device, a directory, a socket */
  POP3_LINE_CANNOT_READ, /* *errnum says why */
  POP3_LINE_TOO_LONG,    /* the line does not fit in size - 1 bytes */
} pop3_line_status_t;

/* The first line of a regular file (TokenFile, PasswordFile), read without
 * ever waiting: the open does not block and anything but a regular file is
 * refused before a byte is read (a FIFO would block the caller, a device
 * may never end). POP3_LINE_OK: buf holds the line without its LF (a CR
 * before it stays, each caller trims its own way) and *st the file's
 * status. Whatever the outcome, buf is NUL-terminated and the read buffers
 * are cleansed. size must be at least 2. */
pop3_line_status_t pop3_file_first_line(const char *path, char *buf,
                                        size_t size, struct stat *st,
                                        int *errnum);

/* The first line of a regular file, trailing CR and blanks removed. A FIFO
 * or a device is refused (it could block a collection), and so is an empty
 * first line or one that does not fit in size - 1 bytes. */
int pop3_token_read_file(const char *path, char *buf, size_t size,
                         pop3_error_t *err);

/* Runs argv[0] (an absolute path; argv is NULL-terminated) with argv,
 * without a shell: stdin from /dev/null, stderr discarded, no descriptor of
 * ours inherited, default signal dispositions, its own process group. The
 * token is the first line of its stdout. The program must exit with status
 * 0 before deadline (seconds of CLOCK_MONOTONIC, as pop3_now()); else its
 * process group is killed with SIGKILL and reaped. The exit status is
 * honoured whatever this process does with SIGCHLD (ignored, as in
 * collectd, or a handler reaping any child, as collectd's exec plugin
 * installs): a watcher process forked for the run is the program's parent
 * and reports its status through a pipe. Safe in a multi-threaded
 * process; returns by deadline + 0.25 s. */
int pop3_token_run_command(char *const argv[], double deadline, char *buf,
                           size_t size, pop3_error_t *err);

/* The token of a monitor: from file when it is not NULL, else from the
 * command (pop3_monitor_t's token_file / token_command). */
int pop3_token_get(const char *file, char *const command[], double deadline,
                   char *buf, size_t size, pop3_error_t *err);

/* --- TokenCommand off the event loop ---------------------------------------
 * A TokenCommand may run up to the Timeout, so each run gets a thread of its
 * own; its answer waits in the runner's queue and a write to the wake-up
 * descriptor tells the event loop to take it. */

typedef struct {
  void *owner;         /* as given to pop3_token_runner_start() */
  unsigned generation; /* as given: the owner tells a late answer by it */
  int status;          /* 0: token holds the token; -1: error says why */
  pop3_error_t error;
  char token[POP3_TOKEN_MAX + 1];
} pop3_token_answer_t;

typedef struct pop3_token_runner pop3_token_runner_t;

/* wake_fd is an eventfd, written once per answer queued; it must stay open
 * until pop3_token_runner_free() has returned. NULL when out of memory. */
pop3_token_runner_t *pop3_token_runner_new(int wake_fd);
/* Waits for the threads still running (each ends by its deadline + 0.25 s,
 * see pop3_token_run_command) and drops the answers nobody took. */
void pop3_token_runner_free(pop3_token_runner_t *r);

/* Runs argv with pop3_token_run_command() in a new thread. 0, or -1 when
 * no thread could start (no answer will come then). argv must stay valid
 * until the answer is taken or the runner freed. */
int pop3_token_runner_start(pop3_token_runner_t *r, char *const argv[],
                            double deadline, void *owner, unsigned generation);

/* Hands each queued answer to take, newest first, then cleanses and frees
 * it. */
void pop3_token_runner_take(pop3_token_runner_t *r,
                            void (*take)(const pop3_token_answer_t *a,
                                         void *arg),
                            void *arg);

#endif

/* pop3_token.c: a bearer token from a file or a program, read anew at each
 * collection (see pop3_token.h). */
#define _GNU_SOURCE /* pipe2, close_range */
#include "pop3_token.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pop3_time.h"

extern char **environ;

/* Bytes drained (and dropped) after the first line, so that a program
 * printing more is not killed by SIGPIPE; the deadline bounds it too. */
#define DRAIN_MAX (1 << 20)

__attribute__((format(printf, 4, 5))) static int
token_fail(pop3_error_t *err, char *buf, size_t size, const char *format, ...) {
  char message[POP3_ERROR_MAX];
  va_list ap;
  va_start(ap, format);
  vsnprintf(message, sizeof(message), format, ap);
  va_end(ap);
  pop3_error_set(err, POP3_PHASE_AUTH, POP3_FAIL_TOKEN, "%s", message);
  if (buf != NULL && size > 0)
    explicit_bzero(buf, size);
  return -1;
}

/* A path safe to quote in a message: printable, cut to fit. */
static const char *shown(const char *path, char out[POP3_SERVER_TEXT_MAX + 1]) {
  return pop3_sanitize(out, POP3_SERVER_TEXT_MAX + 1, path, strlen(path));
}

/* Collects the first line into buf. Returns true once it is complete (a
 * line end was seen); *too_long when it does not fit. */
typedef struct {
  char *buf;
  size_t size;
  size_t len;
  bool complete;
  bool too_long;
} line_t;

static void line_take(line_t *l, const char *data, size_t n) {
  for (size_t i = 0; i < n && !l->complete && !l->too_long; i++) {
    if (data[i] == '\n') {
      l->complete = true;
    } else if (data[i] == '\r' && l->len + 1 >= l->size) {
      /* a CR before the line end of a token that just fits */
    } else if (l->len + 1 >= l->size) {
      l->too_long = true;
    } else {
      l->buf[l->len++] = data[i];
    }
  }
}

/* Ends the line: NUL, and no trailing CR or blanks. Empty: false. */
static bool line_finish(line_t *l) {
  while (l->len > 0 &&
         (l->buf[l->len - 1] == '\r' || l->buf[l->len - 1] == ' ' ||
          l->buf[l->len - 1] == '\t'))
    l->len--;
  l->buf[l->len] = '\0';
  return l->len > 0;
}

pop3_line_status_t pop3_file_first_line(const char *path, char *buf,
                                        size_t size, struct stat *st,
                                        int *errnum) {
  *errnum = 0;
  buf[0] = '\0';
  /* O_NONBLOCK: opening a FIFO must not wait for a writer, nor a device for
   * a carrier. Symbolic links are followed (no O_NOFOLLOW): secret stores
   * such as Kubernetes secret volumes deliver files through them, and the
   * path is the administrator's anyway. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    *errnum = errno;
    return POP3_LINE_CANNOT_OPEN;
  }
  if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
    close(fd);
    return POP3_LINE_NOT_REGULAR;
  }
  line_t line = {.buf = buf, .size = size};
  char chunk[512];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      *errnum = errno;
      break;
    }
    line_take(&line, chunk, (size_t)n);
    if (n == 0 || line.complete || line.too_long)
      break;
  }
  explicit_bzero(chunk, sizeof(chunk));
  close(fd);
  buf[line.len] = '\0';
  if (*errnum != 0)
    return POP3_LINE_CANNOT_READ;
  return line.too_long ? POP3_LINE_TOO_LONG : POP3_LINE_OK;
}

int pop3_token_read_file(const char *path, char *buf, size_t size,
                         pop3_error_t *err) {
  char name[POP3_SERVER_TEXT_MAX + 1];
  if (buf == NULL || size < 2)
    return token_fail(err, NULL, 0, "no room for a token");
  if (path == NULL || path[0] == '\0')
    return token_fail(err, buf, size, "no token file configured");
  shown(path, name);
  struct stat st;
  int e = 0;
  switch (pop3_file_first_line(path, buf, size, &st, &e)) {
  case POP3_LINE_OK:
    break;
  case POP3_LINE_CANNOT_OPEN:
  case POP3_LINE_CANNOT_READ:
    return token_fail(err, buf, size, "cannot read the token file \"%s\": %s",
                      name, strerror(e));
  case POP3_LINE_NOT_REGULAR:
    return token_fail(err, buf, size,
                      "the token file \"%s\" is not a regular file", name);
  case POP3_LINE_TOO_LONG:
    return token_fail(err, buf, size,
                      "the first line of the token file \"%s\" is longer than "
                      "%zu bytes",
                      name, size - 1);
  }
  line_t line = {.buf = buf, .size = size, .len = strlen(buf)};
  if (!line_finish(&line))
    return token_fail(err, buf, size,
                      "the first line of the token file \"%s\" is empty", name);
  return 0;
}

/* ---- the token command ---------------------------------------------------
 * The program's exit status must come through whatever this process does
 * with SIGCHLD: collectd ignores it (the kernel then reaps children at once
 * and waitpid fails), and its exec plugin reaps any child with waitpid(-1).
 * So the program is not our child. Each run forks a watcher, which restores
 * the default signal dispositions, starts the program as its own child (no
 * one else can wait for it), kills the program's process group at the
 * deadline, reaps it and writes one report on a pipe. This process changes
 * no signal disposition: other plugins share it. It has other threads, so
 * after fork() only async-signal-safe calls are made, up to exec or _exit. */

/* How long past the deadline the watcher may take to report before it is
 * killed itself (it only has to kill and reap the program). */
#define REPORT_GRACE 0.25

typedef enum {
  REPORT_EXITED = 1, /* value: the wait status */
  REPORT_TIMEOUT,    /* killed at the deadline */
  REPORT_CANNOT_RUN, /* value: errno of pipe, fork or exec */
  REPORT_CANNOT_WAIT /* value: errno of waitpid */
} report_kind_t;

typedef struct {
  int kind;
  int value;
} report_t;

/* pipe2 end moved above the standard descriptors: the dup2 onto fd 1 must
 * never be a no-op that leaves FD_CLOEXEC set, nor clobber a pipe. */
static int above_stdio(int fd) {
  if (fd > STDERR_FILENO)
    return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  int e = errno;
  close(fd);
  errno = e;
  return moved;
}

static int pipe_above_stdio(int fds[2]) {
  if (pipe2(fds, O_CLOEXEC) != 0)
    return -1;
  fds[0] = above_stdio(fds[0]);
  fds[1] = above_stdio(fds[1]);
  if (fds[0] >= 0 && fds[1] >= 0)
    return 0;
  int e = errno;
  if (fds[0] >= 0)
    close(fds[0]);
  if (fds[1] >= 0)
    close(fds[1]);
  errno = e;
  return -1;
}

static int remaining_ms(double deadline) {
  double left = deadline - pop3_now();
  if (left <= 0)
    return 0;
  if (left > 3600)
    return 3600 * 1000;
  return (int)(left * 1000) + 1;
}

/* ---- in the watcher and the program: async-signal-safe only -------------- */

static void send_report(int fd, int kind, int value) {
  report_t r = {.kind = kind, .value = value};
  while (write(fd, &r, sizeof(r)) < 0 && errno == EINTR)
    ;
}

/* collectd's handlers, ignored signals and mask are not ours: a stop of
 * collectd's service (SIGTERM to every process) then ends the watcher too. */
static void default_signals(void) {
  struct sigaction dfl = {.sa_handler = SIG_DFL};
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      sigaction(sig, &dfl, NULL); /* fails harmlessly for libc's own */
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
}

static void close_between(int first, unsigned last) {
  if (first >= 0 && (unsigned)first <= last)
    close_range((unsigned)first, last, 0);
}

/* The watcher holds no descriptor of collectd's but its two pipe ends (a
 * socket or pipe of another plugin must not stay open because of it).
 * Without close_range (Linux < 5.9) they stay until it exits. */
static void keep_only(int a, int b) {
  int lo = a < b ? a : b, hi = a < b ? b : a;
  close_between(STDERR_FILENO + 1, (unsigned)lo - 1);
  close_between(lo + 1, (unsigned)hi - 1);
  close_between(hi + 1, ~0U);
}

/* Every descriptor from 3 up is closed by exec. */
static void cloexec_above_stdio(void) {
  if (close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
    return;
  struct rlimit rl; /* Linux < 5.11 */
  int max = 1 << 20;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)max)
    max = (int)rl.rlim_cur;
  for (int fd = STDERR_FILENO + 1; fd < max; fd++)
    fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static int null_onto(int target, int flags) {
  int fd = open("/dev/null", flags | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (fd == target)
    return fcntl(fd, F_SETFD, 0);
  int rc = dup2(fd, target);
  close(fd);
  return rc < 0 ? -1 : 0;
}

/* The program's process: stdin /dev/null, stdout the pipe, stderr
 * /dev/null, its own process group (a timeout kills whatever it started
 * too). On failure errno goes to err_fd, which exec closes on success. */
static _Noreturn void start_program(char *const argv[], pid_t watcher,
                                    int out_fd, int err_fd) {
  int e = 0;
  setpgid(0, 0);
  /* should the watcher be killed, the program goes with it */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != watcher)
    _exit(127);
  if (dup2(out_fd, STDOUT_FILENO) < 0 || null_onto(STDIN_FILENO, O_RDONLY) ||
      null_onto(STDERR_FILENO, O_WRONLY)) {
    e = errno;
  } else {
    cloexec_above_stdio();
    execve(argv[0], argv, environ);
    e = errno;
  }
  while (write(err_fd, &e, sizeof(e)) < 0 && errno == EINTR)
    ;
  _exit(127);
}

/* Waits for exec: EOF on err_fd. 0, or the errno of a failed start; -1
 * when the deadline came first. */
static int await_exec(int err_fd, double deadline) {
  for (;;) {
    struct pollfd p = {.fd = err_fd, .events = POLLIN};
    int r = poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return r < 0 ? errno : -1;
    int e = 0;
    ssize_t n = read(err_fd, &e, sizeof(e));
    if (n < 0 && errno == EINTR)
      continue;
    return n == (ssize_t)sizeof(e) ? (e != 0 ? e : EIO) : 0;
  }
}

static void kill_and_reap(pid_t pid, int *status) {
  kill(-pid, SIGKILL); /* pid is not reaped: neither number can be reused */
  kill(pid, SIGKILL);  /* should it have left its group */
  while (waitpid(pid, status, 0) < 0 && errno == EINTR)
    ;
}

/* Waits for the program until the deadline, then kills it. */
static void await_program(pid_t pid, double deadline, int report_fd) {
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      send_report(report_fd, REPORT_EXITED, status);
      return;
    }
    if (r < 0 && errno != EINTR) {
      int e = errno;
      kill_and_reap(pid, &status);
      send_report(report_fd, REPORT_CANNOT_WAIT, e);
      return;
    }
    double left = deadline - pop3_now();
    if (left <= 0)
      break;
    struct timespec ts = {0, left < 0.005 ? (long)(left * 1e9) : 5000000L};
    nanosleep(&ts, NULL);
  }
  kill_and_reap(pid, &status);
  /* an exit between the last look and the kill still counts as an exit */
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
    send_report(report_fd, REPORT_TIMEOUT, 0);
  else
    send_report(report_fd, REPORT_EXITED, status);
}

static _Noreturn void watch(char *const argv[], int out_fd, int report_fd,
                            double deadline) {
  default_signals(); /* SIGCHLD too: our waitpid sees the program */
  keep_only(out_fd, report_fd);
  int err_pipe[2];
  if (pipe_above_stdio(err_pipe) != 0) {
    send_report(report_fd, REPORT_CANNOT_RUN, errno);
    _exit(0);
  }
  pid_t watcher = getpid();
  pid_t pid = fork();
  if (pid == 0)
    start_program(argv, watcher, out_fd, err_pipe[1]);
  int e = errno;
  close(err_pipe[1]);
  close(out_fd); /* the program holds the only write end now */
  if (pid < 0) {
    send_report(report_fd, REPORT_CANNOT_RUN, e);
    _exit(0);
  }
  int exec_errno = await_exec(err_pipe[0], deadline);
  close(err_pipe[0]);
  if (exec_errno > 0) {
    int status;
    kill_and_reap(pid, &status);
    send_report(report_fd, REPORT_CANNOT_RUN, exec_errno);
  } else {
    await_program(pid, exec_errno == 0 ? deadline : 0, report_fd);
  }
  _exit(0);
}

/* ---- in this process ------------------------------------------------------
 */

typedef struct {
  int out_fd;    /* the program's stdout; -1 once closed */
  int report_fd; /* the watcher's report; -1 once closed */
  line_t line;
  size_t drained;
  int read_errno;
  report_t report;
  size_t report_len;
} run_t;

static void close_output(run_t *r) {
  if (r->out_fd >= 0)
    close(r->out_fd);
  r->out_fd = -1;
}

/* One read of the program's stdout. False when nothing more is to be had
 * now (EOF, an error, nothing ready, or enough drained). */
static bool take_output(run_t *r) {
  char chunk[512];
  ssize_t n = read(r->out_fd, chunk, sizeof(chunk));
  if (n < 0 && errno == EINTR)
    return true;
  if (n < 0 && errno == EAGAIN)
    return false;
  if (n < 0)
    r->read_errno = errno;
  if (n <= 0) {
    close_output(r);
    return false;
  }
  line_take(&r->line, chunk, (size_t)n);
  explicit_bzero(chunk, sizeof(chunk));
  /* what follows the first line is dropped, but read: a program printing
   * more must not die of SIGPIPE; beyond DRAIN_MAX it may */
  if (r->line.complete || r->line.too_long) {
    r->drained += (size_t)n;
    if (r->drained > DRAIN_MAX) {
      close_output(r);
      return false;
    }
  }
  return true;
}

static void take_report(run_t *r) {
  char *into = (char *)&r->report + r->report_len;
  ssize_t n = read(r->report_fd, into, sizeof(r->report) - r->report_len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (n <= 0) { /* the watcher is gone */
    close(r->report_fd);
    r->report_fd = -1;
    return;
  }
  r->report_len += (size_t)n;
}

static bool reported(const run_t *r) {
  return r->report_len == sizeof(r->report);
}

/* Reads stdout and the report until the report is whole or the watcher is
 * gone. False when even the grace after the deadline ran out. */
static bool follow(run_t *r, double deadline) {
  while (!reported(r) && r->report_fd >= 0) {
    int ms = remaining_ms(deadline + REPORT_GRACE);
    if (ms == 0)
      return false;
    struct pollfd p[2] = {{.fd = r->report_fd, .events = POLLIN},
                          {.fd = r->out_fd, .events = POLLIN}};
    int rc = poll(p, r->out_fd >= 0 ? 2 : 1, ms);
    if (rc < 0 && errno != EINTR) {
      r->read_errno = errno;
      return false;
    }
    if (rc > 0 && p[1].revents != 0 && r->out_fd >= 0)
      take_output(r);
    if (rc > 0 && p[0].revents != 0)
      take_report(r);
  }
  /* the program has exited: what it printed is in the pipe already */
  while (reported(r) && r->out_fd >= 0 && !r->line.complete &&
         !r->line.too_long && take_output(r))
    ;
  return true;
}

/* Forks the watcher; 0, or an errno. */
static int start_watcher(char *const argv[], double deadline, run_t *r,
                         pid_t *watcher) {
  int out[2], rep[2];
  if (pipe_above_stdio(out) != 0)
    return errno;
  if (pipe_above_stdio(rep) != 0) {
    int e = errno;
    close(out[0]);
    close(out[1]);
    return e;
  }
  *watcher = fork();
  if (*watcher == 0)
    watch(argv, out[1], rep[1], deadline);
  int e = errno;
  close(out[1]);
  close(rep[1]);
  if (*watcher < 0) {
    close(out[0]);
    close(rep[0]);
    return e;
  }
  /* after the report, the rest of the output is read without waiting */
  fcntl(out[0], F_SETFL, fcntl(out[0], F_GETFL) | O_NONBLOCK);
  r->out_fd = out[0];
  r->report_fd = rep[0];
  return 0;
}

/* The watcher exits right after its report. Reaping it may fail (SIGCHLD
 * ignored, or another reaper was first): it is not needed for the status. A
 * watcher that never reported is alive (its pipe is still open) and is
 * killed; the program follows it (PR_SET_PDEATHSIG). */
static void end_watcher(pid_t watcher, bool in_time) {
  if (!in_time)
    kill(watcher, SIGKILL);
  while (waitpid(watcher, NULL, 0) < 0 && errno == EINTR)
    ;
}

/* The outcome as an error, or 0. */
static int judge(const run_t *r, bool in_time, const char *name,
                 pop3_error_t *err, char *buf, size_t size) {
  const report_t *rep = &r->report;
  if (!in_time || (reported(r) && rep->kind == REPORT_TIMEOUT))
    return token_fail(err, buf, size,
                      "the token command \"%s\" did not finish within the "
                      "Timeout and was killed",
                      name);
  if (!reported(r))
    return token_fail(err, buf, size,
                      "cannot run \"%s\": the process watching it ended "
                      "unexpectedly",
                      name);
  if (rep->kind == REPORT_CANNOT_RUN)
    return token_fail(err, buf, size, "cannot run \"%s\": %s", name,
                      strerror(rep->value));
  if (rep->kind != REPORT_EXITED)
    return token_fail(err, buf, size,
                      "cannot wait for the token command \"%s\": %s", name,
                      strerror(rep->value));
  if (WIFSIGNALED(rep->value))
    return token_fail(err, buf, size,
                      "the token command \"%s\" was killed by signal %d", name,
                      WTERMSIG(rep->value));
  if (!WIFEXITED(rep->value) || WEXITSTATUS(rep->value) != 0)
    return token_fail(err, buf, size,
                      "the token command \"%s\" failed with exit code %d", name,
                      WEXITSTATUS(rep->value));
  return 0;
}

int pop3_token_get(const char *file, char *const command[], double deadline,
                   char *buf, size_t size, pop3_error_t *err) {
  if (file != NULL)
    return pop3_token_read_file(file, buf, size, err);
  return pop3_token_run_command(command, deadline, buf, size, err);
}

int pop3_token_run_command(char *const argv[], double deadline, char *buf,
                           size_t size, pop3_error_t *err) {
  char name[POP3_SERVER_TEXT_MAX + 1];
  if (buf == NULL || size < 2)
    return token_fail(err, NULL, 0, "no room for a token");
  if (argv == NULL || argv[0] == NULL || argv[0][0] == '\0')
    return token_fail(err, buf, size, "no token command configured");
  shown(argv[0], name);
  if (argv[0][0] != '/')
    return token_fail(err, buf, size,
                      "the token command \"%s\" is not an absolute path", name);
  if (remaining_ms(deadline) == 0)
    return token_fail(err, buf, size,
                      "no time left to run the token command \"%s\"", name);

  run_t r = {.out_fd = -1, .report_fd = -1, .line = {.buf = buf, .size = size}};
  pid_t watcher = -1;
  int e = start_watcher(argv, deadline, &r, &watcher);
  if (e != 0)
    return token_fail(err, buf, size, "cannot run \"%s\": %s", name,
                      strerror(e));
  bool in_time = follow(&r, deadline);
  close_output(&r);
  if (r.report_fd >= 0)
    close(r.report_fd);
  end_watcher(watcher, in_time);

  if (judge(&r, in_time, name, err, buf, size) != 0)
    return -1;
  if (r.read_errno != 0)
    return token_fail(err, buf, size,
                      "cannot read the output of the token command \"%s\": %s",
                      name, strerror(r.read_errno));
  if (r.line.too_long)
    return token_fail(err, buf, size,
                      "the token command \"%s\" printed a first line longer "
                      "than %zu bytes",
                      name, size - 1);
  if (!line_finish(&r.line))
    return token_fail(err, buf, size,
                      "the token command \"%s\" printed no token", name);
  return 0;
}

/* --- TokenCommand off the event loop ------------------------------------- */

typedef struct request {
  pop3_token_runner_t *runner;
  char *const *argv;
  double deadline;
  pop3_token_answer_t answer;
  struct request *next;
} request_t;

struct pop3_token_runner {
  int wake_fd;
  pthread_mutex_t lock;
  request_t *answers;     /* done, newest first */
  size_t threads;         /* still running */
  pthread_cond_t threads_done;
};

static void request_free(request_t *req) {
  explicit_bzero(req->answer.token, sizeof(req->answer.token));
  free(req);
}

static void *run_request(void *arg) {
  request_t *req = arg;
  pop3_token_runner_t *r = req->runner;
  pop3_token_answer_t *a = &req->answer;
  a->status = pop3_token_run_command(req->argv, req->deadline, a->token,
                                     sizeof(a->token), &a->error);
  pthread_mutex_lock(&r->lock);
  req->next = r->answers;
  r->answers = req;
  /* the wake-up, too, under the lock and before the count drops:
   * pop3_token_runner_free() waits for the count to reach 0, after which
   * the descriptor may be closed and its owner freed */
  uint64_t one = 1;
  if (write(r->wake_fd, &one, sizeof(one)) < 0) {
    /* already signalled */
  }
  r->threads--;
  pthread_cond_broadcast(&r->threads_done);
  pthread_mutex_unlock(&r->lock);
  return NULL;
}

pop3_token_runner_t *pop3_token_runner_new(int wake_fd) {
  pop3_token_runner_t *r = calloc(1, sizeof(*r));
  if (r == NULL)
    return NULL;
  r->wake_fd = wake_fd;
  pthread_mutex_init(&r->lock, NULL);
  pthread_cond_init(&r->threads_done, NULL);
  return r;
}

void pop3_token_runner_free(pop3_token_runner_t *r) {
  if (r == NULL)
    return;
  pthread_mutex_lock(&r->lock);
  while (r->threads > 0)
    pthread_cond_wait(&r->threads_done, &r->lock);
  pthread_mutex_unlock(&r->lock);
  for (request_t *req = r->answers, *next; req != NULL; req = next) {
    next = req->next;
    request_free(req);
  }
  pthread_mutex_destroy(&r->lock);
  pthread_cond_destroy(&r->threads_done);
  free(r);
}

/* A detached thread: nobody joins it, pop3_token_runner_free() counts. */
static int start_thread(request_t *req) {
  pthread_attr_t attr;
  pthread_t thread;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&thread, &attr, run_request, req);
  pthread_attr_destroy(&attr);
  return rc;
}

int pop3_token_runner_start(pop3_token_runner_t *r, char *const argv[],
                            double deadline, void *owner, unsigned generation) {
  request_t *req = calloc(1, sizeof(*req));
  if (req == NULL)
    return -1;
  *req = (request_t){.runner = r,
                     .argv = argv,
                     .deadline = deadline,
                     .answer = {.owner = owner, .generation = generation}};
  pthread_mutex_lock(&r->lock);
  r->threads++;
  pthread_mutex_unlock(&r->lock);
  if (start_thread(req) == 0)
    return 0;
  pthread_mutex_lock(&r->lock);
  r->threads--;
  pthread_mutex_unlock(&r->lock);
  free(req);
  return -1;
}

void pop3_token_runner_take(pop3_token_runner_t *r,
                            void (*take)(const pop3_token_answer_t *a,
                                         void *arg),
                            void *arg) {
  pthread_mutex_lock(&r->lock);
  request_t *list = r->answers;
  r->answers = NULL;
  pthread_mutex_unlock(&r->lock);
  while (list != NULL) {
    request_t *req = list;
    list = req->next;
    take(&req->answer, arg);
    request_free(req);
  }
}

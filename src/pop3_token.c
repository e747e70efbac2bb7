/* pop3_token.c: a bearer token from a file or a program, read anew at each
 * collection (see pop3_token.h). */
#define _GNU_SOURCE /* pipe2, posix_spawn_file_actions_addclosefrom_np */
#include "pop3_token.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
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
token_fail(pop3_error_t *err, char *buf, size_t size, const char *format,
           ...) {
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
  while (l->len > 0 && (l->buf[l->len - 1] == '\r' ||
                        l->buf[l->len - 1] == ' ' || l->buf[l->len - 1] == '\t'))
    l->len--;
  l->buf[l->len] = '\0';
  return l->len > 0;
}

int pop3_token_read_file(const char *path, char *buf, size_t size,
                         pop3_error_t *err) {
  char name[POP3_SERVER_TEXT_MAX + 1];
  if (buf == NULL || size < 2)
    return token_fail(err, NULL, 0, "no room for a token");
  if (path == NULL || path[0] == '\0')
    return token_fail(err, buf, size, "no token file configured");
  shown(path, name);
  /* O_NONBLOCK: opening a FIFO must not wait for a writer */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0)
    return token_fail(err, buf, size, "cannot read the token file \"%s\": %s",
                      name, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return token_fail(err, buf, size,
                      "the token file \"%s\" is not a regular file", name);
  }
  line_t line = {.buf = buf, .size = size};
  char chunk[512];
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int e = errno;
      explicit_bzero(chunk, sizeof(chunk));
      close(fd);
      return token_fail(err, buf, size,
                        "cannot read the token file \"%s\": %s", name,
                        strerror(e));
    }
    line_take(&line, chunk, (size_t)n);
    if (n == 0 || line.complete || line.too_long)
      break;
  }
  explicit_bzero(chunk, sizeof(chunk));
  close(fd);
  if (line.too_long)
    return token_fail(err, buf, size,
                      "the first line of the token file \"%s\" is longer than "
                      "%zu bytes",
                      name, size - 1);
  if (!line_finish(&line))
    return token_fail(err, buf, size,
                      "the first line of the token file \"%s\" is empty",
                      name);
  return 0;
}

/* ---- the token command --------------------------------------------------- */

/* pipe2 end moved above the standard descriptors: posix_spawn's dup2 onto
 * fd 1 must never be a no-op that leaves FD_CLOEXEC set. */
static int above_stdio(int fd) {
  if (fd > STDERR_FILENO)
    return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
  int e = errno;
  close(fd);
  errno = e;
  return moved;
}

static int spawn(char *const argv[], int out_fd, pid_t *pid) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc != 0)
    return rc;
  rc = posix_spawnattr_init(&attr);
  if (rc != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return rc;
  }
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  if ((rc = posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
                                             O_RDONLY, 0)) == 0 &&
      (rc = posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO)) ==
          0 &&
      (rc = posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null",
                                             O_WRONLY, 0)) == 0 &&
      (rc = posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1)) ==
          0 &&
      /* collectd's signal handlers and mask are not the program's; its own
       * process group lets a timeout kill whatever it started too */
      (rc = posix_spawnattr_setflags(
           &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                      POSIX_SPAWN_SETPGROUP)) == 0 &&
      (rc = posix_spawnattr_setsigmask(&attr, &none)) == 0 &&
      (rc = posix_spawnattr_setsigdefault(&attr, &all)) == 0 &&
      (rc = posix_spawnattr_setpgroup(&attr, 0)) == 0)
    rc = posix_spawn(pid, argv[0], &fa, &attr, argv, environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  return rc;
}

static int remaining_ms(double deadline) {
  double left = deadline - pop3_now();
  if (left <= 0)
    return 0;
  if (left > 3600)
    return 3600 * 1000;
  return (int)(left * 1000) + 1;
}

typedef struct {
  pid_t pid;
  bool exited; /* reaped while reading: status is valid */
  int status;
} child_t;

/* Reads the first line, then drains (and drops) the rest until EOF, or
 * until the program has exited (something it started may hold the pipe
 * open). False when the deadline came first. *read_errno is set on a read
 * error. */
static bool read_output(int fd, double deadline, child_t *child, line_t *line,
                        int *read_errno) {
  char chunk[512];
  size_t drained = 0;
  bool in_time = true;
  for (;;) {
    int ms = remaining_ms(deadline);
    if (ms == 0) {
      in_time = false;
      break;
    }
    if (line->complete || line->too_long) {
      pid_t w = waitpid(child->pid, &child->status, WNOHANG);
      if (w == child->pid) {
        child->exited = true;
        break;
      }
      if (ms > 20)
        ms = 20;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, ms);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      *read_errno = errno;
      break;
    }
    if (r == 0)
      continue; /* the loop head sees the deadline */
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0) {
      *read_errno = errno;
      break;
    }
    if (n == 0)
      break;
    line_take(line, chunk, (size_t)n);
    if (line->complete || line->too_long) {
      drained += (size_t)n;
      if (drained > DRAIN_MAX)
        break;
    }
  }
  explicit_bzero(chunk, sizeof(chunk));
  return in_time;
}

/* Waits for pid until the deadline; then kills its process group (pid is
 * not reaped yet, so neither number can have been reused) and reaps it.
 * Returns 1 with *status when it exited in time, 0 when it was killed, -1
 * when it cannot be waited for (SIGCHLD ignored: reaped already). */
static int reap(pid_t pid, double deadline, bool kill_now, int *status) {
  while (!kill_now) {
    pid_t r = waitpid(pid, status, WNOHANG);
    if (r == pid)
      return 1;
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return -1;
    double left = deadline - pop3_now();
    if (left <= 0)
      break;
    struct timespec ts = {0, left < 0.005 ? (long)(left * 1e9) : 5000000L};
    nanosleep(&ts, NULL);
  }
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL); /* should it have left its group */
  while (waitpid(pid, status, 0) < 0 && errno == EINTR)
    ;
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
                      "the token command \"%s\" is not an absolute path",
                      name);
  if (remaining_ms(deadline) == 0)
    return token_fail(err, buf, size,
                      "no time left to run the token command \"%s\"", name);

  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return token_fail(err, buf, size, "cannot run \"%s\": pipe: %s", name,
                      strerror(errno));
  fds[0] = above_stdio(fds[0]);
  fds[1] = above_stdio(fds[1]);
  if (fds[0] < 0 || fds[1] < 0) {
    int e = errno;
    if (fds[0] >= 0)
      close(fds[0]);
    if (fds[1] >= 0)
      close(fds[1]);
    return token_fail(err, buf, size, "cannot run \"%s\": %s", name,
                      strerror(e));
  }
  pid_t pid = -1;
  int rc = spawn(argv, fds[1], &pid);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    return token_fail(err, buf, size, "cannot run \"%s\": %s", name,
                      strerror(rc));
  }

  line_t line = {.buf = buf, .size = size};
  child_t child = {.pid = pid};
  int read_errno = 0;
  bool in_time = read_output(fds[0], deadline, &child, &line, &read_errno);
  close(fds[0]);
  int status = child.status;
  int waited = child.exited ? 1 : reap(pid, deadline, !in_time, &status);

  if (waited == 0)
    return token_fail(err, buf, size,
                      "the token command \"%s\" did not finish within the "
                      "Timeout and was killed",
                      name);
  if (waited > 0 && WIFSIGNALED(status))
    return token_fail(err, buf, size,
                      "the token command \"%s\" was killed by signal %d",
                      name, WTERMSIG(status));
  if (waited > 0 && WIFEXITED(status) && WEXITSTATUS(status) != 0)
    return token_fail(err, buf, size,
                      "the token command \"%s\" failed with exit code %d",
                      name, WEXITSTATUS(status));
  if (read_errno != 0)
    return token_fail(err, buf, size,
                      "cannot read the output of the token command \"%s\": %s",
                      name, strerror(read_errno));
  if (line.too_long)
    return token_fail(err, buf, size,
                      "the token command \"%s\" printed a first line longer "
                      "than %zu bytes",
                      name, size - 1);
  if (!line_finish(&line))
    return token_fail(err, buf, size,
                      "the token command \"%s\" printed no token", name);
  return 0;
}

/* test_token.c: the bearer-token sources of Auth xoauth2/oauthbearer:
 * TokenFile (pop3_token_read_file) and TokenCommand (pop3_token_run_command),
 * with small shell scripts written to a private directory. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pop3_time.h"
#include "pop3_token.h"

#define TOKEN "ya29.a0AfB_byC-token~value+/="

static char dir[64];

static char *path_of(const char *name) {
  static char paths[8][400];
  static int next;
  char *p = paths[next++ % 8];
  snprintf(p, 400, "%s/%s", dir, name);
  return p;
}

static void write_file(const char *name, const char *content, mode_t mode) {
  const char *p = path_of(name);
  int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  ck_assert_int_ge(fd, 0);
  size_t len = strlen(content);
  ck_assert_int_eq(write(fd, content, len), (ssize_t)len);
  close(fd);
  chmod(p, mode);
}

static void setup(void) {
  snprintf(dir, sizeof(dir), "/tmp/pop3-token-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  write_file("token", TOKEN "\nsecond line\n", 0600);
  write_file("token-crlf", TOKEN "\r\n", 0600);
  write_file("token-no-eol", TOKEN, 0600);
  write_file("empty", "", 0600);
  write_file("blank-line", "\nnext\n", 0600);
  write_file("print.sh", "#!/bin/sh\necho '" TOKEN "'\necho second\n", 0755);
  write_file("print-no-eol.sh", "#!/bin/sh\nprintf '%s' '" TOKEN "'\n", 0755);
  write_file("args.sh", "#!/bin/sh\nprintf '%s|%s|%s\\n' \"$1\" \"$2\" \"$#\"\n",
             0755);
  write_file("sleep.sh",
             "#!/bin/sh\necho $$ > \"$1\"\nsleep 30 &\necho $! >> \"$1\"\n"
             "wait\necho late\n",
             0755);
  write_file("fail.sh", "#!/bin/sh\necho '" TOKEN "'\necho oops >&2\nexit 3\n",
             0755);
  write_file("signal.sh", "#!/bin/sh\necho '" TOKEN "'\nkill -TERM $$\n",
             0755);
  write_file("silent.sh", "#!/bin/sh\nexit 0\n", 0755);
  write_file("stdin.sh",
             "#!/bin/sh\nif read x; then echo has-stdin; else echo no-stdin; "
             "fi\n",
             0755);
  write_file("fd.sh",
             "#!/bin/sh\nif [ -e /proc/$$/fd/$1 ]; then echo leaked; else echo "
             "clean; fi\n",
             0755);
  write_file("stderr.sh",
             "#!/bin/sh\nhead -c 300000 /dev/zero >&2\necho '" TOKEN "'\n",
             0755);
  write_file("lots.sh",
             "#!/bin/sh\necho '" TOKEN "'\nhead -c 300000 /dev/zero\n", 0755);
  write_file("background.sh",
             "#!/bin/sh\necho '" TOKEN "'\nsleep 10 &\nexit 0\n", 0755);
  write_file("not-executable.sh", "#!/bin/sh\necho x\n", 0644);
  write_file("valid-then-fail.sh", "#!/bin/sh\necho '" TOKEN "'\nexit 1\n",
             0755);
  write_file("kill-parent.sh",
             "#!/bin/sh\necho $$ > \"$1\"\nkill -KILL $PPID\nsleep 5\n"
             "echo '" TOKEN "'\n",
             0755);
  mkfifo(path_of("fifo"), 0600);
}

static void teardown(void) {
  DIR *d = opendir(dir);
  if (d != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      if (e->d_name[0] != '.')
        unlink(path_of(e->d_name));
    closedir(d);
  }
  rmdir(dir);
}

static size_t open_fds(void) {
  size_t n = 0;
  DIR *d = opendir("/proc/self/fd");
  ck_assert_ptr_nonnull(d);
  while (readdir(d) != NULL)
    n++;
  closedir(d);
  return n;
}

static void assert_failed(int rc, const pop3_error_t *err, const char *needle,
                          const char *buf, size_t size) {
  ck_assert_int_eq(rc, -1);
  ck_assert_int_eq(err->phase, POP3_PHASE_AUTH);
  ck_assert_int_eq(err->failure, POP3_FAIL_TOKEN);
  ck_assert_msg(strstr(err->message, needle) != NULL, "\"%s\" lacks \"%s\"",
                err->message, needle);
  ck_assert_msg(strstr(err->message, TOKEN) == NULL, "token in \"%s\"",
                err->message);
  for (size_t i = 0; i < size; i++)
    ck_assert_msg(buf[i] == 0, "buffer not cleansed at %zu", i);
}

/* ---- TokenFile ---------------------------------------------------------- */

START_TEST(file_first_line) {
  static const char *const names[] = {"token", "token-crlf", "token-no-eol"};
  for (size_t i = 0; i < 3; i++) {
    char buf[4097];
    pop3_error_t err = {0};
    size_t before = open_fds();
    ck_assert_int_eq(pop3_token_read_file(path_of(names[i]), buf, sizeof(buf),
                                          &err),
                     0);
    ck_assert_str_eq(buf, TOKEN);
    ck_assert_uint_eq(open_fds(), before);
  }
}
END_TEST

START_TEST(file_exact_fit) {
  char buf[sizeof(TOKEN)];
  pop3_error_t err;
  ck_assert_int_eq(
      pop3_token_read_file(path_of("token-crlf"), buf, sizeof(buf), &err), 0);
  ck_assert_str_eq(buf, TOKEN);
  char small[sizeof(TOKEN) - 1];
  assert_failed(
      pop3_token_read_file(path_of("token"), small, sizeof(small), &err), &err,
      "is longer than 28 bytes", small, sizeof(small));
}
END_TEST

START_TEST(file_problems) {
  char buf[256];
  pop3_error_t err;
  assert_failed(pop3_token_read_file(path_of("missing"), buf, sizeof(buf), &err),
                &err, "cannot read the token file \"", buf, sizeof(buf));
  ck_assert_ptr_nonnull(strstr(err.message, "No such file or directory"));
  ck_assert_ptr_nonnull(strstr(err.message, "/missing\""));
  assert_failed(pop3_token_read_file(path_of("empty"), buf, sizeof(buf), &err),
                &err, "is empty", buf, sizeof(buf));
  assert_failed(
      pop3_token_read_file(path_of("blank-line"), buf, sizeof(buf), &err), &err,
      "is empty", buf, sizeof(buf));
  assert_failed(pop3_token_read_file(dir, buf, sizeof(buf), &err), &err,
                "is not a regular file", buf, sizeof(buf));
  /* a FIFO without a writer: refused at once, never waited on */
  double start = pop3_now();
  assert_failed(pop3_token_read_file(path_of("fifo"), buf, sizeof(buf), &err),
                &err, "is not a regular file", buf, sizeof(buf));
  ck_assert(pop3_now() - start < 1.0);
  /* a device that never ends: refused before a byte is read */
  start = pop3_now();
  assert_failed(pop3_token_read_file("/dev/zero", buf, sizeof(buf), &err),
                &err, "the token file \"/dev/zero\" is not a regular file", buf,
                sizeof(buf));
  ck_assert(pop3_now() - start < 1.0);
  assert_failed(pop3_token_read_file("", buf, sizeof(buf), &err), &err,
                "no token file configured", buf, sizeof(buf));
}
END_TEST

/* ---- TokenCommand ------------------------------------------------------- */

static int run(const char *script, const char *arg, double seconds, char *buf,
               size_t size, pop3_error_t *err) {
  char *argv[] = {path_of(script), (char *)arg, NULL};
  return pop3_token_run_command(argv, pop3_now() + seconds, buf, size, err);
}

START_TEST(command_prints_a_token) {
  char buf[4097];
  pop3_error_t err = {0};
  size_t before = open_fds();
  ck_assert_int_eq(run("print.sh", NULL, 5, buf, sizeof(buf), &err), 0);
  ck_assert_str_eq(buf, TOKEN);
  ck_assert_int_eq(run("print-no-eol.sh", NULL, 5, buf, sizeof(buf), &err), 0);
  ck_assert_str_eq(buf, TOKEN);
  ck_assert_uint_eq(open_fds(), before);
  /* every child was reaped */
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
  ck_assert_int_eq(errno, ECHILD);
}
END_TEST

START_TEST(command_gets_argv_without_a_shell) {
  char buf[256];
  pop3_error_t err;
  char *argv[] = {path_of("args.sh"), "two words", "$(id) `id` ; echo x",
                  NULL};
  ck_assert_int_eq(
      pop3_token_run_command(argv, pop3_now() + 5, buf, sizeof(buf), &err), 0);
  ck_assert_str_eq(buf, "two words|$(id) `id` ; echo x|2");
}
END_TEST

/* Whether pid is gone (or a zombie) within 2 s. */
static bool process_gone(int pid) {
  for (int i = 0; i < 100; i++) {
    char stat_path[64], line[256] = "";
    snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", pid);
    FILE *st = fopen(stat_path, "r");
    if (st == NULL)
      return true;
    bool read_ok = fgets(line, sizeof(line), st) != NULL;
    fclose(st);
    const char *close = strrchr(line, ')');
    if (read_ok && close != NULL && close[2] == 'Z')
      return true;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return false;
}

START_TEST(command_past_the_deadline_is_killed) {
  char buf[256];
  pop3_error_t err;
  char *pids = path_of("sleep.pids");
  double start = pop3_now();
  size_t before = open_fds();
  int rc = run("sleep.sh", pids, 0.5, buf, sizeof(buf), &err);
  double took = pop3_now() - start;
  assert_failed(rc, &err, "did not finish within the Timeout and was killed",
                buf, sizeof(buf));
  ck_assert_msg(took >= 0.45 && took < 1.5, "took %.2f s", took);
  ck_assert_uint_eq(open_fds(), before);
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1); /* reaped, no zombie */
  /* its own child (sleep 30, same process group) was killed too */
  FILE *fh = fopen(pids, "r");
  ck_assert_ptr_nonnull(fh);
  int shell = 0, sleeper = 0;
  ck_assert_int_eq(fscanf(fh, "%d %d", &shell, &sleeper), 2);
  fclose(fh);
  ck_assert_msg(process_gone(sleeper), "the grandchild %d survived", sleeper);
}
END_TEST

START_TEST(command_failures) {
  char buf[256];
  pop3_error_t err;
  assert_failed(run("fail.sh", NULL, 5, buf, sizeof(buf), &err), &err,
                "failed with exit code 3", buf, sizeof(buf));
  ck_assert_ptr_nonnull(strstr(err.message, "/fail.sh\""));
  assert_failed(run("signal.sh", NULL, 5, buf, sizeof(buf), &err), &err,
                "was killed by signal 15", buf, sizeof(buf));
  assert_failed(run("silent.sh", NULL, 5, buf, sizeof(buf), &err), &err,
                "printed no token", buf, sizeof(buf));
  assert_failed(run("missing-program", NULL, 5, buf, sizeof(buf), &err), &err,
                "cannot run \"", buf, sizeof(buf));
  ck_assert_ptr_nonnull(strstr(err.message, "No such file or directory"));
  assert_failed(run("not-executable.sh", NULL, 5, buf, sizeof(buf), &err),
                &err, "Permission denied", buf, sizeof(buf));
  char *relative[] = {"bin/token", NULL};
  assert_failed(
      pop3_token_run_command(relative, pop3_now() + 5, buf, sizeof(buf), &err),
      &err, "is not an absolute path", buf, sizeof(buf));
  char *none[] = {NULL};
  assert_failed(
      pop3_token_run_command(none, pop3_now() + 5, buf, sizeof(buf), &err),
      &err, "no token command configured", buf, sizeof(buf));
  assert_failed(run("print.sh", NULL, -1, buf, sizeof(buf), &err), &err,
                "no time left", buf, sizeof(buf));
  char small[8];
  assert_failed(run("print.sh", NULL, 5, small, sizeof(small), &err), &err,
                "printed a first line longer than 7 bytes", small,
                sizeof(small));
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
}
END_TEST

START_TEST(command_environment) {
  char buf[256];
  pop3_error_t err;
  /* stdin is /dev/null, not ours */
  ck_assert_int_eq(run("stdin.sh", NULL, 5, buf, sizeof(buf), &err), 0);
  ck_assert_str_eq(buf, "no-stdin");
  /* a descriptor we opened without O_CLOEXEC is not inherited */
  int fd = open("/dev/null", O_RDONLY);
  ck_assert_int_ge(fd, 3);
  char number[16];
  snprintf(number, sizeof(number), "%d", fd);
  ck_assert_int_eq(run("fd.sh", number, 5, buf, sizeof(buf), &err), 0);
  ck_assert_str_eq(buf, "clean");
  close(fd);
  /* stderr is discarded, even a lot of it */
  ck_assert_int_eq(run("stderr.sh", NULL, 5, buf, sizeof(buf), &err), 0);
  ck_assert_str_eq(buf, TOKEN);
  /* more output than a pipe holds: drained, not a SIGPIPE */
  ck_assert_int_eq(run("lots.sh", NULL, 5, buf, sizeof(buf), &err), 0);
  ck_assert_str_eq(buf, TOKEN);
  /* a background child holding stdout does not hold the collection */
  double start = pop3_now();
  ck_assert_int_eq(run("background.sh", NULL, 5, buf, sizeof(buf), &err), 0);
  ck_assert_str_eq(buf, TOKEN);
  ck_assert_msg(pop3_now() - start < 2.0, "took %.2f s", pop3_now() - start);
}
END_TEST

/* collectd ignores SIGPIPE and may block signals in its threads; neither
 * reaches the program. */
START_TEST(command_with_signals_blocked) {
  signal(SIGPIPE, SIG_IGN);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  char buf[256];
  pop3_error_t err;
  assert_failed(run("sleep.sh", path_of("pids2"), 0.3, buf, sizeof(buf), &err),
                &err, "did not finish", buf, sizeof(buf));
  ck_assert_int_eq(run("lots.sh", NULL, 5, buf, sizeof(buf), &err), 0);
  ck_assert_str_eq(buf, TOKEN);
}
END_TEST

/* ---- the exit status, whatever SIGCHLD does -------------------------------- */

/* A token printed by a program that then fails is not a token; the status
 * must come through as it does in a plain process. */
static void assert_statuses_honoured(void) {
  char buf[256];
  pop3_error_t err;
  size_t before = open_fds();
  for (int i = 0; i < 5; i++) {
    assert_failed(run("valid-then-fail.sh", NULL, 5, buf, sizeof(buf), &err),
                  &err, "failed with exit code 1", buf, sizeof(buf));
    char *shell[] = {"/bin/sh", "-c", "echo '" TOKEN "'; exit 1", NULL};
    assert_failed(
        pop3_token_run_command(shell, pop3_now() + 5, buf, sizeof(buf), &err),
        &err, "\"/bin/sh\" failed with exit code 1", buf, sizeof(buf));
    assert_failed(run("fail.sh", NULL, 5, buf, sizeof(buf), &err), &err,
                  "failed with exit code 3", buf, sizeof(buf));
    assert_failed(run("signal.sh", NULL, 5, buf, sizeof(buf), &err), &err,
                  "was killed by signal 15", buf, sizeof(buf));
    ck_assert_int_eq(run("print.sh", NULL, 5, buf, sizeof(buf), &err), 0);
    ck_assert_str_eq(buf, TOKEN);
  }
  assert_failed(run("missing-program", NULL, 5, buf, sizeof(buf), &err), &err,
                "No such file or directory", buf, sizeof(buf));
  double start = pop3_now();
  assert_failed(run("sleep.sh", path_of("pids3"), 0.5, buf, sizeof(buf), &err),
                &err, "did not finish within the Timeout and was killed", buf,
                sizeof(buf));
  ck_assert_msg(pop3_now() - start < 1.5, "took %.2f s", pop3_now() - start);
  ck_assert_uint_eq(open_fds(), before);
}

/* collectd 5.12 runs with SIGCHLD ignored: the kernel reaps children at once
 * and waitpid() cannot tell how they ended. */
START_TEST(command_status_with_sigchld_ignored) {
  struct sigaction ignore = {.sa_handler = SIG_IGN};
  ck_assert_int_eq(sigaction(SIGCHLD, &ignore, NULL), 0);
  assert_statuses_honoured();
}
END_TEST

static volatile sig_atomic_t handled;

/* What collectd's exec plugin installs: any child's status is taken. */
static void reap_any_child(int sig) {
  (void)sig;
  int saved = errno;
  handled++;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
  errno = saved;
}

START_TEST(command_status_with_a_reaping_handler) {
  struct sigaction reap = {.sa_handler = reap_any_child,
                           .sa_flags = SA_RESTART};
  ck_assert_int_eq(sigaction(SIGCHLD, &reap, NULL), 0);
  sigset_t chld; /* an earlier test may have blocked it (CK_FORK=no) */
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  ck_assert_int_eq(sigprocmask(SIG_UNBLOCK, &chld, NULL), 0);
  assert_statuses_honoured();
  ck_assert_msg(handled > 0, "the handler never ran");
}
END_TEST

/* The process watching the program is killed: the run ends at once with an
 * error, and the program goes too. */
START_TEST(command_watcher_killed) {
  char buf[256];
  pop3_error_t err;
  char *pid_file = path_of("orphan.pid");
  double start = pop3_now();
  assert_failed(run("kill-parent.sh", pid_file, 5, buf, sizeof(buf), &err),
                &err, "the process watching it ended unexpectedly", buf,
                sizeof(buf));
  ck_assert_msg(pop3_now() - start < 2.0, "took %.2f s", pop3_now() - start);
  FILE *fh = fopen(pid_file, "r");
  ck_assert_ptr_nonnull(fh);
  int program = 0;
  ck_assert_int_eq(fscanf(fh, "%d", &program), 1);
  fclose(fh);
  ck_assert_msg(process_gone(program), "the program %d survived", program);
  ck_assert_int_eq(waitpid(-1, NULL, WNOHANG), -1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("token");
  TCase *tc = tcase_create("token");
  tcase_set_timeout(tc, 30);
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_test(tc, file_first_line);
  tcase_add_test(tc, file_exact_fit);
  tcase_add_test(tc, file_problems);
  tcase_add_test(tc, command_prints_a_token);
  tcase_add_test(tc, command_gets_argv_without_a_shell);
  tcase_add_test(tc, command_past_the_deadline_is_killed);
  tcase_add_test(tc, command_failures);
  tcase_add_test(tc, command_environment);
  tcase_add_test(tc, command_with_signals_blocked);
  tcase_add_test(tc, command_status_with_sigchld_ignored);
  tcase_add_test(tc, command_status_with_a_reaping_handler);
  tcase_add_test(tc, command_watcher_killed);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

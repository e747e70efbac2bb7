/* fake_server.c: see fake_server.h. */
#include "fake_server.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "plugin_host.h" /* ph_now */

static void die(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void die(const char *format, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, format);
  vsnprintf(msg, sizeof(msg), format, ap);
  va_end(ap);
  fprintf(stderr, "fake server: %s\n", msg);
  /* inside a test this fails the test (the forked child exits) */
  exit(3);
}

static const char *env(const char *key) {
  const char *v = getenv(key);
  if (v == NULL || v[0] == '\0')
    die("the environment lacks %s", key);
  return v;
}

static void sleep_for(double seconds) {
  struct timespec ts = {(time_t)seconds,
                        (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

void fake_write_file(const char *path, const char *text) {
  char tmp[600];
  snprintf(tmp, sizeof(tmp), "%s.tmp", path);
  FILE *fh = fopen(tmp, "w");
  if (fh == NULL)
    die("cannot write %s: %s", tmp, strerror(errno));
  fputs(text, fh);
  fclose(fh);
  if (rename(tmp, path) != 0)
    die("cannot rename %s: %s", tmp, strerror(errno));
}

/* The control file: "scenario [cert=... key=...]" */
void fake_control(const fake_t *f, const char *scenario, const char *cert) {
  char line[1024];
  if (cert != NULL)
    snprintf(line, sizeof(line), "%s cert=%s/%s.pem key=%s/%s.key\n", scenario,
             env("FAULT_CERTS"), cert, env("FAULT_CERTS"), cert);
  else
    snprintf(line, sizeof(line), "%s\n", scenario);
  fake_write_file(f->control, line);
}

/* Starts fake_pop3.py; `name` names its files in FAULT_LOGS. port 0: free. */
void fake_start(fake_t *f, const char *name, const char *scenario,
                const char *cert, const char *host, int port,
                const char *password) {
  memset(f, 0, sizeof(*f));
  snprintf(f->port_file, sizeof(f->port_file), "%s/%s.port", env("FAULT_LOGS"),
           name);
  snprintf(f->log, sizeof(f->log), "%s.log", f->port_file);
  snprintf(f->control, sizeof(f->control), "%s/%s.control", env("FAULT_LOGS"),
           name);
  unlink(f->port_file);
  fake_control(f, scenario, cert);
  char port_arg[16];
  snprintf(port_arg, sizeof(port_arg), "%d", port);
  /* the default certificate, for scenarios the control file does not name */
  char cert_path[512], key_path[512];
  snprintf(cert_path, sizeof(cert_path), "%s/good.pem", env("FAULT_CERTS"));
  snprintf(key_path, sizeof(key_path), "%s/good.key", env("FAULT_CERTS"));
  fflush(NULL);
  f->pid = fork();
  if (f->pid < 0)
    die("fork: %s", strerror(errno));
  if (f->pid == 0) {
    /* keep the server out of the test's descriptor and signal state */
    for (int fd = 3; fd < 1024; fd++)
      close(fd);
    execl("/usr/bin/python3", "python3", env("FAULT_SERVER"),
          "--exit-with-parent", "--scenario",
          "ok", "--control", f->control, "--port-file", f->port_file,
          "--host", host, "--port", port_arg, "--password", password,
          "--cert", cert_path, "--key", key_path, (char *)NULL);
    _exit(127);
  }
  for (int i = 0; i < 400; i++) { /* at most 10 s */
    FILE *fh = fopen(f->port_file, "r");
    if (fh != NULL) {
      int n = fscanf(fh, "%d", &f->port);
      fclose(fh);
      if (n == 1 && f->port > 0)
        return;
    }
    if (waitpid(f->pid, NULL, WNOHANG) == f->pid) {
      f->pid = 0;
      die("fake server %s (%s) exited at start", name, scenario);
    }
    sleep_for(0.025);
  }
  die("fake server %s did not start", name);
}

void fake_stop(fake_t *f) {
  if (f->pid <= 0)
    return;
  kill(f->pid, SIGTERM);
  for (int i = 0; i < 100 && waitpid(f->pid, NULL, WNOHANG) == 0; i++)
    sleep_for(0.02);
  kill(f->pid, SIGKILL);
  waitpid(f->pid, NULL, 0);
  f->pid = 0;
}

/* Lines of the server's log containing needle. */
int fake_log_count(const fake_t *f, const char *needle) {
  FILE *fh = fopen(f->log, "r");
  if (fh == NULL)
    return 0;
  char line[2048];
  int n = 0;
  while (fgets(line, sizeof(line), fh) != NULL)
    n += strstr(line, needle) != NULL;
  fclose(fh);
  return n;
}

bool fake_wait_log(const fake_t *f, const char *needle, int n,
                   double timeout) {
  double deadline = ph_now() + timeout;
  while (fake_log_count(f, needle) < n) {
    if (ph_now() > deadline)
      return false;
    sleep_for(0.01);
  }
  return true;
}

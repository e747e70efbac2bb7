/* fake_server.h: tests/harness/fake_pop3.py run by a C test (the fault
 * matrix, the spreading test): started on a free port with its files in
 * $FAULT_LOGS and the certificates of $FAULT_CERTS, told which scenario to
 * play through a control file, its log read back, stopped by PID. */
#ifndef FAKE_SERVER_H
#define FAKE_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

typedef struct {
  pid_t pid;
  int port;
  char port_file[512];
  char log[520];
  char control[512];
} fake_t;

/* Starts fake_pop3.py; `name` names its files in FAULT_LOGS; cert names a
 * certificate of FAULT_CERTS for scenarios that need one (NULL: none);
 * port 0: a free one. Exits the process (which fails the test it runs in)
 * when the server does not start within 10 s. */
void fake_start(fake_t *f, const char *name, const char *scenario,
                const char *cert, const char *host, int port,
                const char *password);
/* Plays scenario from the next connection on. */
void fake_control(const fake_t *f, const char *scenario, const char *cert);
/* SIGTERM, a bounded wait, SIGKILL; safe to repeat. */
void fake_stop(fake_t *f);
/* Lines of the server's log containing needle. */
int fake_log_count(const fake_t *f, const char *needle);
/* Until the log has n such lines, at most timeout seconds. */
bool fake_wait_log(const fake_t *f, const char *needle, int n,
                   double timeout);
/* Writes a file whole (through a rename), or exits. */
void fake_write_file(const char *path, const char *text);

#endif

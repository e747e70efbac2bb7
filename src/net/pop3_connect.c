/* pop3_connect.c: one address after another (see pop3_connect.h). */
#include "pop3_connect.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pop3_time.h"

void pop3_dialer_reset(pop3_dialer_t *d) {
  d->addresses.count = 0;
  d->next = 0;
  d->last_timed_out = false;
  d->tried_len = 0;
  d->tried[0] = '\0';
}

static const struct sockaddr *address(const pop3_dialer_t *d, size_t i) {
  return (const struct sockaddr *)&d->addresses.addrs[i];
}

void pop3_dialer_current(const pop3_dialer_t *d, char *buf, size_t size) {
  pop3_address_format(address(d, d->next - 1), buf, size);
}

void pop3_dialer_failed(pop3_dialer_t *d, int error) {
  char shown[64];
  pop3_dialer_current(d, shown, sizeof(shown));
  d->last_timed_out = error == ETIMEDOUT;
  if (d->tried_len < sizeof(d->tried))
    d->tried_len += (size_t)snprintf(
        d->tried + d->tried_len, sizeof(d->tried) - d->tried_len, "%s%s: %s",
        d->tried_len > 0 ? "; " : "", shown, strerror(error));
}

void pop3_dialer_again(pop3_dialer_t *d) { d->next--; }

/* A non-blocking socket for sa, or -1 with errno set. */
static int open_socket(const struct sockaddr *sa) {
  int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  /* every write is a whole command burst: Nagle would only hold a burst
   * back until the previous segment (e.g. TLS Finished) is acknowledged */
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

pop3_dial_t pop3_dialer_next(pop3_dialer_t *d, double deadline, int *fd,
                             double *attempt_deadline) {
  while (d->next < d->addresses.count) {
    size_t i = d->next++;
    *fd = open_socket(address(d, i));
    if (*fd < 0) {
      pop3_dialer_failed(d, errno);
      continue;
    }
    double now = pop3_now();
    size_t left = d->addresses.count - i;
    *attempt_deadline = now + (deadline - now) / (double)left;
    if (connect(*fd, address(d, i), d->addresses.lens[i]) == 0)
      return POP3_DIAL_CONNECTED;
    if (errno == EINPROGRESS)
      return POP3_DIAL_IN_PROGRESS;
    pop3_dialer_failed(d, errno);
    close(*fd);
  }
  *fd = -1;
  return POP3_DIAL_NONE_LEFT;
}

int pop3_dial_outcome(int fd) {
  int error = 0;
  socklen_t len = sizeof(error);
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0)
    error = errno;
  return error;
}

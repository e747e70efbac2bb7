/* pop3_transport.c: the clear-text transport (see pop3_transport.h). */
#include "pop3_transport.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* A call interrupted by a signal is retried at the next readiness, like a
 * full buffer. */
static bool must_wait(int error) {
  return error == EAGAIN || error == EWOULDBLOCK || error == EINTR;
}

static pop3_io_t plain_failed(pop3_transport_t *t, int error) {
  snprintf(t->error, sizeof(t->error), "%s", strerror(error));
  return POP3_IO_ERROR;
}

static pop3_io_t plain_handshake(pop3_transport_t *t) {
  (void)t;
  return POP3_IO_DONE;
}

static pop3_io_t plain_read(pop3_transport_t *t, char *buf, size_t size,
                            size_t *n) {
  ssize_t got = recv(t->fd, buf, size, MSG_DONTWAIT);
  if (got > 0) {
    *n = (size_t)got;
    return POP3_IO_DONE;
  }
  if (got == 0)
    return POP3_IO_CLOSED;
  return must_wait(errno) ? POP3_IO_WANT_READ : plain_failed(t, errno);
}

/* MSG_NOSIGNAL: a peer that went away is an error here, not a SIGPIPE. */
static pop3_io_t plain_write(pop3_transport_t *t, const char *buf, size_t len,
                             size_t *n) {
  ssize_t sent = send(t->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  if (sent > 0) {
    *n = (size_t)sent;
    return POP3_IO_DONE;
  }
  return must_wait(errno) ? POP3_IO_WANT_WRITE : plain_failed(t, errno);
}

/* Nothing of its own to end: the socket is the caller's. */
static void plain_close(pop3_transport_t *t) { (void)t; }

static const pop3_transport_ops_t plain_ops = {
    .handshake = plain_handshake,
    .read = plain_read,
    .write = plain_write,
    .close = plain_close,
};

void pop3_transport_plain(pop3_transport_t *t, int fd) {
  t->ops = &plain_ops;
  t->fd = fd;
  t->state = NULL;
}

/* pop3_transport.h: how the engine moves bytes over a connected socket,
 * without knowing whether they travel in clear text or inside TLS.
 *
 * A transport is a small table of functions plus the state they share. The
 * plain one (pop3_transport_plain) sends and receives on the socket; the TLS
 * one (pop3_tls.h) runs OpenSSL over the same socket. STLS swaps the first
 * for the second in place. Every call returns at once (the socket is
 * non-blocking) with one pop3_io_t saying what happened; on POP3_IO_ERROR
 * the transport's `error` says why, in words for the log.
 *
 * The socket stays the caller's: a transport never closes it, so the engine
 * alone decides when it is watched and when it goes away. */
#ifndef POP3_TRANSPORT_H
#define POP3_TRANSPORT_H

#include <stddef.h>

#include "pop3_error.h"

typedef enum {
  POP3_IO_DONE,       /* done; for a read or a write, *n bytes (> 0) moved */
  POP3_IO_WANT_READ,  /* call again once the socket is readable */
  POP3_IO_WANT_WRITE, /* call again once the socket is writable */
  POP3_IO_CLOSED,     /* the peer ended the stream (reads only) */
  POP3_IO_ERROR,      /* failed for good; `error` says why */
} pop3_io_t;

typedef struct pop3_transport pop3_transport_t;

typedef struct {
  /* Completes the set-up (the TLS handshake); the plain one has none. */
  pop3_io_t (*handshake)(pop3_transport_t *t);
  pop3_io_t (*read)(pop3_transport_t *t, char *buf, size_t size, size_t *n);
  pop3_io_t (*write)(pop3_transport_t *t, const char *buf, size_t len,
                     size_t *n);
  /* Ends the transport's use of the socket and frees its state; never
   * waits for the peer. */
  void (*close)(pop3_transport_t *t);
} pop3_transport_ops_t;

struct pop3_transport {
  const pop3_transport_ops_t *ops; /* NULL: no transport (yet) */
  int fd;                          /* the socket, non-blocking */
  void *state;                     /* the implementation's own */
  char error[POP3_ERROR_MAX];      /* why the last call said POP3_IO_ERROR */
};

/* Clear text on fd: send(2) and recv(2). Allocates nothing. */
void pop3_transport_plain(pop3_transport_t *t, int fd);

static inline pop3_io_t pop3_transport_handshake(pop3_transport_t *t) {
  return t->ops->handshake(t);
}

static inline pop3_io_t pop3_transport_read(pop3_transport_t *t, char *buf,
                                            size_t size, size_t *n) {
  return t->ops->read(t, buf, size, n);
}

static inline pop3_io_t pop3_transport_write(pop3_transport_t *t,
                                             const char *buf, size_t len,
                                             size_t *n) {
  return t->ops->write(t, buf, len, n);
}

/* Closes whatever transport t holds, if any; t holds none afterwards. */
static inline void pop3_transport_close(pop3_transport_t *t) {
  if (t->ops == NULL)
    return;
  t->ops->close(t);
  t->ops = NULL;
  t->state = NULL;
}

#endif

/* pop3_connect.h: connecting to a host's addresses one after another,
 * without blocking. Each attempt gets an even share of the time left, so
 * that one silent address cannot eat the whole Timeout; each failure is
 * noted in `tried`, which the final error quotes. */
#ifndef POP3_CONNECT_H
#define POP3_CONNECT_H

#include <stdbool.h>
#include <stddef.h>

#include "pop3_error.h"
#include "pop3_resolve.h"

typedef struct {
  pop3_addresses_t addresses; /* to try, in order */
  size_t next;                /* the one after the current attempt */
  bool last_timed_out;        /* the latest failure was a timeout */
  size_t tried_len;
  char tried[POP3_ERROR_MAX]; /* "192.0.2.1:110: Connection refused; ..." */
} pop3_dialer_t;

typedef enum {
  POP3_DIAL_CONNECTED,   /* *fd is connected */
  POP3_DIAL_IN_PROGRESS, /* *fd connects: once it is writable, ask
                          * pop3_dial_outcome() */
  POP3_DIAL_NONE_LEFT,   /* every address failed (*fd is -1) */
} pop3_dial_t;

/* No address yet, nothing tried. */
void pop3_dialer_reset(pop3_dialer_t *d);

/* Starts connecting to the next address, on a new non-blocking socket,
 * passing over those that fail at once. The attempt may last until
 * *attempt_deadline: the time left before deadline, shared evenly between
 * the addresses not yet tried. */
pop3_dial_t pop3_dialer_next(pop3_dialer_t *d, double deadline, int *fd,
                             double *attempt_deadline);

/* The current attempt failed with error (ETIMEDOUT when its share of the
 * time ran out). */
void pop3_dialer_failed(pop3_dialer_t *d, int error);

/* The next pop3_dialer_next() tries the current address again. */
void pop3_dialer_again(pop3_dialer_t *d);

/* The current address, as "[::1]:110". */
void pop3_dialer_current(const pop3_dialer_t *d, char *buf, size_t size);

/* How the connect of a socket that became writable went: 0 (connected),
 * EINPROGRESS (not yet), or the error. */
int pop3_dial_outcome(int fd);

#endif

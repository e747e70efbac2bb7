/* pop3_session.h: the POP3 client protocol core, sans I/O.
 *
 * The session is fed the bytes the server sent and says what the driver must
 * do next: send bytes, start TLS, wait for more input, or stop. It owns no
 * socket, never allocates, and keeps at most one response line buffered.
 *
 * Driver loop:
 *   pop3_session_init(&s, &opts);
 *   for (;;) switch (pop3_session_want(&s)) {
 *   case POP3_WANT_WRITE: out = pop3_session_output(&s, &len); send it;
 *                         pop3_session_output_sent(&s, len); break;
 *   case POP3_WANT_TLS:   handshake; pop3_session_tls_started(&s); break;
 *   case POP3_WANT_READ:  n = recv(); n == 0 ? pop3_session_eof(&s)
 *                         : feed all n bytes (loop on the return value,
 *                           re-checking pop3_session_want between calls);
 *   case POP3_WANT_NOTHING: done: pop3_session_failed() / _stat(). }
 *
 * The flow: greeting -> CAPA -> [STLS -> TLS -> CAPA] -> USER -> PASS ->
 * STAT -> QUIT. The session never sends a command that changes the mailbox.
 */
#ifndef POP3_SESSION_H
#define POP3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pop3_error.h"

/* Longest accepted response line, CRLF included (RFC 1939 allows 512 for a
 * status line; capability lines get the same room twice over). */
#define POP3_LINE_MAX 1024
/* Longest command, CRLF included (RFC 2449). */
#define POP3_COMMAND_MAX 255
/* Room for a burst of pipelined commands. */
#define POP3_OUTPUT_MAX (4 * POP3_COMMAND_MAX)
#define POP3_IMPLEMENTATION_MAX 128
#define POP3_SASL_MAX 128

typedef enum {
  POP3_WANT_READ = 0,  /* feed more server bytes (or report EOF) */
  POP3_WANT_WRITE,     /* send pop3_session_output() */
  POP3_WANT_TLS,       /* run the TLS handshake, then pop3_session_tls_started */
  POP3_WANT_NOTHING,   /* finished, successfully or not */
} pop3_want_t;

typedef struct {
  bool known;       /* CAPA answered +OK; the flags below are meaningful */
  bool stls;
  bool user;
  bool pipelining;
  bool resp_codes;
  bool apop_hint;   /* not in CAPA; reserved for later auth work */
  int login_delay;  /* seconds from "LOGIN-DELAY n", -1 when absent */
  char implementation[POP3_IMPLEMENTATION_MAX]; /* sanitised, "" if none */
  char sasl[POP3_SASL_MAX];                     /* raw mechanism list */
} pop3_capabilities_t;

typedef struct {
  const char *user;     /* must stay valid for the session's life */
  const char *password; /* idem; copies made into the output are cleansed */
  bool starttls;        /* upgrade with STLS before logging in, or fail */
} pop3_session_options_t;

/* Internal state: callers treat it as opaque. */
typedef enum {
  POP3_STATE_GREETING = 0,
  POP3_STATE_CAPA,       /* waiting for the CAPA status line */
  POP3_STATE_CAPA_LIST,  /* reading capability lines up to "." */
  POP3_STATE_STLS,
  POP3_STATE_TLS_PENDING,
  POP3_STATE_USER,
  POP3_STATE_PASS,
  POP3_STATE_STAT,
  POP3_STATE_QUIT,
  POP3_STATE_DONE,
  POP3_STATE_FAILED,
} pop3_state_t;

typedef struct {
  pop3_session_options_t options;
  pop3_state_t state;
  bool tls_active;

  char line[POP3_LINE_MAX];
  size_t line_len;

  char output[POP3_OUTPUT_MAX];
  size_t output_len;

  pop3_capabilities_t capabilities;
  char greeting[POP3_SERVER_TEXT_MAX + 1]; /* sanitised greeting text */

  bool have_stat;
  uint64_t message_count;
  uint64_t mailbox_size;

  pop3_error_t error;
} pop3_session_t;

void pop3_session_init(pop3_session_t *s, const pop3_session_options_t *opts);

pop3_want_t pop3_session_want(const pop3_session_t *s);

/* Consumes bytes up to and including at most one complete line and returns
 * how many it took; call again with the rest after checking
 * pop3_session_want(). Returns 0 once the session wants anything but READ.
 * Plaintext that follows the STLS +OK in the same call fails the session
 * (RFC 2595, CVE-2021-22947): the driver must feed every byte it has read
 * before starting TLS and never feed plaintext read afterwards. Bytes fed
 * while it wants TLS fail it the same way (the call still returns 0). */
size_t pop3_session_feed(pop3_session_t *s, const char *data, size_t len);

/* The server closed the connection. Fine while waiting for the QUIT answer
 * (or after STAT), a failure anywhere else. */
void pop3_session_eof(pop3_session_t *s);

/* Bytes to send next; NULL and *len == 0 when nothing is pending. */
const char *pop3_session_output(const pop3_session_t *s, size_t *len);
/* n bytes of the output went out; cleanses them (they may hold the password). */
void pop3_session_output_sent(pop3_session_t *s, size_t n);

/* The TLS handshake requested by POP3_WANT_TLS succeeded: forget the
 * capabilities learnt in clear text and ask CAPA again. */
void pop3_session_tls_started(pop3_session_t *s);

/* Marks the session failed with an error found by the driver. Once STAT was
 * answered it only ends the session, which stays successful (as for any
 * failure while waiting for the QUIT answer); a session that already failed
 * keeps its first error. */
void pop3_session_fail(pop3_session_t *s, const pop3_error_t *err);

bool pop3_session_failed(const pop3_session_t *s);
const pop3_error_t *pop3_session_error(const pop3_session_t *s);
/* True once STAT was answered; the values stay valid even if QUIT fails. */
bool pop3_session_stat(const pop3_session_t *s, uint64_t *count,
                       uint64_t *size);
const pop3_capabilities_t *pop3_session_capabilities(const pop3_session_t *s);
/* The phase the session is in (for timeouts reported by the driver). */
pop3_phase_t pop3_session_phase(const pop3_session_t *s);

/* Cleanses the session (it may hold the password in its output buffer). */
void pop3_session_clear(pop3_session_t *s);

#endif

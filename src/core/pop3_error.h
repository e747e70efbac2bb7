/* pop3_error.h: a failed collection described as data (phase, kind, response
 * code, one-line message), shared by the protocol core and the drivers. */
#ifndef POP3_ERROR_H
#define POP3_ERROR_H

#include <stdbool.h>
#include <stddef.h>

/* Longest message kept for an error, NUL included; server text is cut to fit. */
#define POP3_ERROR_MAX 384
/* Longest piece of server text quoted in a message (after escaping). */
#define POP3_SERVER_TEXT_MAX 160

/* Where in a collection something went wrong. */
typedef enum {
  POP3_PHASE_RESOLVE = 0,
  POP3_PHASE_CONNECT,
  POP3_PHASE_TLS,
  POP3_PHASE_GREETING, /* greeting and CAPA */
  POP3_PHASE_AUTH,
  POP3_PHASE_STAT,
  POP3_PHASE_QUIT,
} pop3_phase_t;

typedef enum {
  POP3_FAIL_NONE = 0,
  POP3_FAIL_REFUSED,       /* the server answered -ERR */
  POP3_FAIL_PROTOCOL,      /* the answer is not valid POP3 */
  POP3_FAIL_LINE_TOO_LONG, /* a response line exceeded POP3_LINE_MAX */
  POP3_FAIL_CLOSED,        /* the server closed the connection early */
  POP3_FAIL_NO_STLS,       /* StartTLS required, server does not offer STLS */
  POP3_FAIL_TLS_INJECTION, /* plaintext followed the STLS +OK */
  POP3_FAIL_BAD_ARGUMENT,  /* user or password unusable in a command */
  /* failures found by the connection driver, not the protocol core */
  POP3_FAIL_RESOLVE,
  POP3_FAIL_CONNECT,
  POP3_FAIL_TIMEOUT,
  POP3_FAIL_TLS,
  POP3_FAIL_IO,
  /* authentication set-up, found by the core or the token helpers */
  POP3_FAIL_NO_MECHANISM,  /* the login method asked for is not offered */
  POP3_FAIL_TOKEN,         /* TokenFile / TokenCommand gave no token */
} pop3_failure_t;

/* RFC 2449 / RFC 3206 response codes of a -ERR answer. */
typedef enum {
  POP3_CODE_NONE = 0,
  POP3_CODE_IN_USE,
  POP3_CODE_LOGIN_DELAY,
  POP3_CODE_SYS_TEMP,
  POP3_CODE_SYS_PERM,
  POP3_CODE_AUTH,
  POP3_CODE_OTHER,
} pop3_code_t;

typedef struct {
  pop3_phase_t phase;
  pop3_failure_t failure;
  pop3_code_t code;
  /* seconds from "[LOGIN-DELAY n]", 0 when absent */
  unsigned login_delay;
  /* one line, printable ASCII only, no password, e.g.
   * "server refused the login [AUTH]: \"Authentication failed.\"" */
  char message[POP3_ERROR_MAX];
} pop3_error_t;

const char *pop3_phase_name(pop3_phase_t phase);   /* "resolve", "connect", ... */
const char *pop3_code_name(pop3_code_t code);      /* "IN-USE", ... "" for NONE */
/* IN-USE, LOGIN-DELAY and SYS/TEMP: worth retrying later, not a broken setup. */
bool pop3_code_is_transient(pop3_code_t code);

/* Sets every field; message is printf-formatted and cut to POP3_ERROR_MAX. */
void pop3_error_set(pop3_error_t *err, pop3_phase_t phase,
                    pop3_failure_t failure, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

/* Copies untrusted server text into dst as printable ASCII: control and
 * non-ASCII bytes become \xNN, '"' and '\\' are escaped, output is cut at
 * POP3_SERVER_TEXT_MAX (and dst_size) with "..." marking the cut.
 * Always NUL-terminates when dst_size > 0. Returns dst. */
char *pop3_sanitize(char *dst, size_t dst_size, const char *src, size_t len);

#endif

/* pop3_session.h: the POP3 client protocol core, sans I/O.
 *
 * The session is fed the bytes the server sent and says what the driver must
 * do next: send bytes, start TLS, wait for more input, or stop. It owns no
 * socket and no thread, never allocates (its memory is the pop3_session_t
 * the driver provides, plus a few KB of stack while it builds a SASL
 * message), and keeps at most one response line buffered
 * (POP3_LINE_MAX bytes): a longer line fails the session.
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
 *   pop3_session_clear(&s);
 *
 * The flow: greeting -> CAPA -> [STLS -> TLS -> CAPA] -> login -> STAT ->
 * [TOP n 0 ...] -> QUIT, where login is USER/PASS, APOP or a SASL exchange
 * (AUTH PLAIN, LOGIN, XOAUTH2, OAUTHBEARER), and TOP reads the headers of a
 * few messages for their age (options.age_scan). When the server offers
 * PIPELINING the login commands, STAT and the first TOPs go out in one
 * burst (QUIT waits for the last answer: nothing may follow it). With
 * capabilities remembered
 * from an earlier collection (options.cached) CAPA is skipped: the burst
 * follows the greeting (or the TLS handshake) at once; a reply showing the
 * memory is wrong makes the session ask CAPA and log in again, lock-step.
 * The session never sends a command that changes the mailbox.
 *
 * Each state of pop3_state_t names the answer the session waits for; the
 * session changes state in one place, which calls options.trace when set.
 * The SASL messages, base64 and the APOP digest are in pop3_sasl.h. */
#ifndef POP3_SESSION_H
#define POP3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pop3_date.h"
#include "pop3_error.h"

/* Longest accepted response line, CRLF included (RFC 1939 allows 512 for a
 * status line; capability lines get the same room twice over). */
#define POP3_LINE_MAX 1024
/* Longest command, CRLF included (RFC 2449). */
#define POP3_COMMAND_MAX 255
/* Room for a burst of pipelined commands, or one SASL response carrying a
 * long bearer token (base64 of up to ~5.2 KB). */
#define POP3_OUTPUT_MAX 8192
/* Longest bearer token (Microsoft's are about 2 KB). */
#define POP3_TOKEN_MAX 4096
/* Longest password for the SASL mechanisms (USER/PASS and APOP are bounded
 * by POP3_COMMAND_MAX anyway). */
#define POP3_SECRET_MAX 4096
/* Longest user name inside a SASL response. */
#define POP3_SASL_USER_MAX 255
/* Longest APOP timestamp kept from the greeting, brackets included. */
#define POP3_TIMESTAMP_MAX 256
/* The most capability lines, and bytes, a CAPA answer may have: real
 * servers send about 10 lines; a list without end must not run forever. */
#define POP3_CAPA_LINES_MAX 100
#define POP3_CAPA_BYTES_MAX 16384
/* Message age: the most messages read at each end of the mailbox, and the
 * most header bytes read of one message (a longer header ends the session,
 * which keeps its STAT values). */
#define POP3_AGE_SCAN_MAX 16
#define POP3_AGE_HEADER_MAX 65536
/* The mail loop: the most messages searched for probes (from the end),
 * and the most probes handled in one session (the next takes the rest). */
#define POP3_LOOP_SCAN_MAX 32
#define POP3_LOOP_PROBES_MAX 16
/* A unique id (UIDL), RFC 1939: 1 to 70 characters. */
#define POP3_UID_MAX 70
/* Commands that can be pipelined behind the one answered next: the login's,
 * STAT, a batch of TOP with their UIDL, and a NOOP. */
#define POP3_PIPELINE_MAX (6 + 2 * POP3_LOOP_SCAN_MAX)
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
  bool top;
  bool apop_hint;   /* not in CAPA: the greeting carries an APOP timestamp */
  int login_delay;  /* seconds from "LOGIN-DELAY n", -1 when absent */
  char implementation[POP3_IMPLEMENTATION_MAX]; /* sanitised, "" if none */
  char sasl[POP3_SASL_MAX];                     /* raw mechanism list */
} pop3_capabilities_t;

/* How to log in. AUTO: SASL PLAIN when CAPA lists it, else USER/PASS (also
 * when CAPA is not supported), else SASL LOGIN when listed, else USER/PASS
 * anyway (the server's answer then says why not); never APOP. A method
 * named explicitly that CAPA (when answered) does not list fails the
 * session in the auth phase with POP3_FAIL_NO_MECHANISM, naming what the
 * server offers. */
typedef enum {
  POP3_AUTH_AUTO = 0,
  POP3_AUTH_USER,        /* USER / PASS (RFC 1939) */
  POP3_AUTH_APOP,        /* APOP with the greeting's timestamp (RFC 1939) */
  POP3_AUTH_PLAIN,       /* AUTH PLAIN (RFC 5034, RFC 4616) */
  POP3_AUTH_LOGIN,       /* AUTH LOGIN */
  POP3_AUTH_XOAUTH2,     /* AUTH XOAUTH2 (Google, Microsoft) */
  POP3_AUTH_OAUTHBEARER, /* AUTH OAUTHBEARER (RFC 7628) */
} pop3_auth_t;

/* "auto", "user", "apop", "plain", "login", "xoauth2", "oauthbearer". */
const char *pop3_auth_name(pop3_auth_t auth);
/* Case-insensitive inverse of pop3_auth_name; -1 for an unknown name. */
int pop3_auth_parse(const char *name, pop3_auth_t *out);
/* Whether the mechanism logs in with a bearer token, not a password. */
bool pop3_auth_uses_token(pop3_auth_t auth);

/* The states of a session: each names the answer it waits for. Drivers
 * need them only to read a trace (options.trace, pop3_state_name); what to
 * do next is pop3_session_want's. */
typedef enum {
  POP3_STATE_GREETING = 0,
  POP3_STATE_CAPA,        /* waiting for the CAPA status line */
  POP3_STATE_CAPA_LIST,   /* reading capability lines up to "." */
  POP3_STATE_STLS,
  POP3_STATE_TLS_PENDING, /* the driver runs the TLS handshake */
  POP3_STATE_USER,
  POP3_STATE_PASS,
  POP3_STATE_STAT,
  POP3_STATE_QUIT,
  POP3_STATE_DONE,        /* ended with the STAT values */
  POP3_STATE_FAILED,      /* ended with an error */
  POP3_STATE_APOP,
  POP3_STATE_AUTH,        /* in a SASL exchange: a challenge or the status */
  POP3_STATE_AUTH_CANCEL, /* sent "*", waiting for the -ERR */
  POP3_STATE_TOP,         /* the status line of a TOP answer */
  POP3_STATE_TOP_LIST,    /* reading header lines up to "." */
  POP3_STATE_NOOP,        /* the answer to the NOOP of a silence probe */
  POP3_STATE_UIDL,        /* a message's unique id (the mail loop) */
  POP3_STATE_DELE,        /* deleting one of the mail loop's own probes */
} pop3_state_t;

/* "GREETING", "CAPA", "CAPA_LIST", "STLS", "TLS_PENDING", "USER", "PASS",
 * "STAT", "QUIT", "DONE", "FAILED", "APOP", "AUTH", "AUTH_CANCEL", "TOP",
 * "TOP_LIST", "NOOP", "UIDL", "DELE"; "unknown" for any other value. */
const char *pop3_state_name(pop3_state_t state);

typedef struct {
  const char *user;     /* must stay valid for the session's life */
  const char *password; /* idem; copies made into the output are cleansed */
  bool starttls;        /* upgrade with STLS before logging in, or fail */
  /* capabilities remembered from an earlier collection of this server
   * (post-TLS ones when StartTLS), or NULL; used only when ->known */
  const pop3_capabilities_t *cached;
  /* allowed to pipeline STAT behind the login command(s); the
   * driver sets it false for a server once pop3_session_lost_pipelined()
   * was seen */
  bool pipeline_login;
  /* methods (bit 1u << pop3_auth_t) after which STAT is not
   * pipelined: the driver found the server mishandles such a burst */
  unsigned lockstep_methods;
  pop3_auth_t auth;
  const char *token;    /* bearer token for xoauth2/oauthbearer; as password */
  const char *host;     /* for OAUTHBEARER's host=, may be NULL */
  int port;             /* for OAUTHBEARER's port=, 0: left out */
  /* Called at every change of state with the state left and the state
   * entered, and when a state is entered anew (STAT asked again after a
   * lost burst: from == to); not by pop3_session_init, which starts in
   * POP3_STATE_GREETING. It runs inside the session's calls, after the
   * change: it may read the session through the accessors below, never
   * change it. NULL: no trace. For tests and debugging. */
  void (*trace)(void *arg, pop3_state_t from, pop3_state_t to);
  void *trace_arg;      /* passed to trace as is */
  /* Message age: 0 off; n reads the header (TOP m 0) of the first n and the
   * last n messages after STAT (at most POP3_AGE_SCAN_MAX). With PIPELINING
   * the first batch goes in STAT's burst and the last costs one more
   * round trip. */
  unsigned age_scan;
  /* The mail loop: 0 off; n searches the headers of the last n messages
   * (at most POP3_LOOP_SCAN_MAX) for the field loop_header, and deletes
   * those loop_probe says are this monitor's own probes, and nothing else.
   * A probe's unique id (UIDL) is read with its header and again just
   * before DELE, which goes only when the two are equal. loop_probe is
   * called with the field's unfolded value (not NUL-terminated, any bytes)
   * and gives the probe's send time (Unix ms); it must not block. */
  unsigned loop_scan;
  const char *loop_header;
  bool (*loop_probe)(void *arg, const char *value, size_t len,
                     int64_t *sent_ms);
  void *loop_arg;
} pop3_session_options_t;

/* What the headers read for the message age said. */
typedef struct {
  bool wanted;          /* options.age_scan > 0 and STAT was answered */
  bool done;            /* nothing more will be read for it */
  unsigned read;        /* headers read whole */
  unsigned dated;       /* ... of which had a usable date */
  int64_t oldest;       /* earliest date (Unix time), when dated > 0 */
  int64_t newest;       /* latest date */
  pop3_date_source_t oldest_source, newest_source;
  /* why the age is missing or covers fewer messages than asked, one line,
   * "" when all went well */
  char problem[POP3_ERROR_MAX];
} pop3_age_t;

/* One of the mail loop's probes, found in the mailbox. */
typedef struct {
  uint64_t n;          /* its number in this session */
  int64_t sent_ms;     /* when it was sent (Unix ms), from its token */
  int64_t received;    /* its top-most Received: date (Unix s), when dated */
  bool dated;
  bool verified;       /* its UIDL was the same just before DELE */
  bool deleted;        /* DELE answered +OK: the server deletes it at QUIT */
  char uid[POP3_UID_MAX + 1];
} pop3_probe_t;

/* What the mail loop found. */
typedef struct {
  bool wanted;         /* options.loop_scan > 0 and STAT was answered */
  bool done;           /* nothing more will be asked for it */
  unsigned scanned;    /* headers searched */
  unsigned lookalikes; /* headers with the field that are no probe of ours */
  unsigned found_len;
  pop3_probe_t found[POP3_LOOP_PROBES_MAX];
  /* why probes were not deleted, one line, "" when all went well */
  char problem[POP3_ERROR_MAX];
} pop3_loop_t;

/* One session. The driver allocates it (about 10 KB; pop3_session_init
 * needs no more) and keeps it until pop3_session_clear. It is declared here
 * only so that drivers can embed it: every field is private to
 * pop3_session.c, read and changed through the functions below. */
typedef struct {
  pop3_session_options_t options;
  pop3_state_t state; /* changed by one function only, which traces it */
  bool tls_active;
  pop3_auth_t auth_used; /* the login mechanism tried last, AUTO: none yet */

  size_t line_len;    /* bytes of an incomplete line in line[] */
  size_t output_len;  /* bytes of output[] still to send */
  size_t output_peak; /* most bytes the output held: what clear cleanses */

  pop3_capabilities_t capabilities;
  char greeting[POP3_SERVER_TEXT_MAX + 1]; /* sanitised greeting text */
  char timestamp[POP3_TIMESTAMP_MAX + 1];  /* raw APOP timestamp, "" if none */

  struct {               /* options.cached standing in for CAPA */
    bool use;            /* the cache stands in for CAPA in this session */
    bool login;          /* the login running was chosen from the cache */
    bool fell_back;      /* the cache proved stale: CAPA, then lock-step */
    bool stale;          /* pop3_session_cache_stale */
    bool ran_capa;       /* pop3_session_ran_capa */
  } cache;

  struct {               /* commands sent before the answers they follow */
    bool login;          /* the login commands go out together */
    bool stat;           /* STAT follows the login in the same burst */
    bool stat_sent;      /* STAT went out before the login was answered */
    bool probing;        /* NOOP sent after a silence: lost or late? */
    bool lost;           /* the NOOP was answered first: STAT was lost */
    bool stat_late;      /* the pipelined STAT was answered, only late */
    bool failed;         /* answers did not fit the pipelined burst */
    /* answers to commands already sent, expected after the one `state`
     * waits for, in order */
    pop3_state_t queued[POP3_PIPELINE_MAX];
    size_t queued_len;
    unsigned skip;       /* answers of an abandoned burst still to come */
  } pipeline;

  struct {               /* a SASL exchange (AUTH) */
    unsigned step;       /* client responses sent (the initial one counts) */
    bool initial;        /* the AUTH command carried the initial response */
    char token_status[64]; /* sanitised "status" of a bearer error challenge */
    char challenge[64];    /* sanitised unexpected challenge */
  } sasl;

  struct {               /* the capability list being read */
    unsigned lines;
    size_t bytes;
  } capa;

  struct {               /* the answer to STAT */
    bool have;
    uint64_t count;
    uint64_t size;
  } stat;

  struct {               /* message age (options.age_scan > 0) */
    /* messages whose TOP went out and is not answered yet, in order */
    uint64_t asked[2 * POP3_AGE_SCAN_MAX];
    size_t asked_len;
    uint64_t next;       /* the next message to ask for (1: none yet) */
    uint64_t current;    /* the message whose header is being read */
    size_t bytes;        /* header bytes of the current answer so far */
    bool skipping;       /* dropping the rest of an over-long line */
    bool stopped;        /* ask for no more headers */
    pop3_headers_t headers;
    pop3_age_t result;
  } age;

  struct {               /* the mail loop (options.loop_scan > 0) */
    bool stopped;        /* delete nothing more */
    unsigned checked;    /* probes whose UIDL was asked again */
    unsigned answered;   /* ... and answered */
    unsigned deleting;   /* probes whose DELE went out (or was skipped) */
    unsigned deleted;    /* ... and answered */
    pop3_loop_t result;
  } loop;

  pop3_error_t error;

  /* The buffers come last: pop3_session_init() leaves them alone (their
   * lengths say what is valid), so a collection does not pay for zeroing
   * 9 KB it mostly never uses. */
  char line[POP3_LINE_MAX];     /* the one response line being received */
  char output[POP3_OUTPUT_MAX]; /* commands not sent yet */
} pop3_session_t;

/* Starts a session in POP3_STATE_GREETING with a copy of *opts (the strings
 * it points to are not copied: they must outlive the session). */
void pop3_session_init(pop3_session_t *s, const pop3_session_options_t *opts);

/* What the driver does next (see the loop above). */
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

/* The session ended with an error (POP3_STATE_FAILED). */
bool pop3_session_failed(const pop3_session_t *s);
/* The error, meaningful once pop3_session_failed(); the session keeps its
 * first error. */
const pop3_error_t *pop3_session_error(const pop3_session_t *s);
/* True once STAT was answered; the values stay valid even if QUIT fails. */
bool pop3_session_stat(const pop3_session_t *s, uint64_t *count,
                       uint64_t *size);
const pop3_capabilities_t *pop3_session_capabilities(const pop3_session_t *s);
/* The phase the session is in (for timeouts reported by the driver); once
 * failed, the phase of its error. */
pop3_phase_t pop3_session_phase(const pop3_session_t *s);
/* The values are complete: STAT was answered and, with the message age on,
 * its headers were read (or given up). The driver hands them over then; the
 * session goes on to QUIT. */
bool pop3_session_values_ready(const pop3_session_t *s);
/* The message age found; NULL when the age is off or STAT was not answered.
 * Meaningful once pop3_session_values_ready(). */
const pop3_age_t *pop3_session_age(const pop3_session_t *s);
/* What the mail loop found and deleted; NULL when it is off or STAT was not
 * answered. Meaningful once pop3_session_values_ready(). */
const pop3_loop_t *pop3_session_loop(const pop3_session_t *s);
/* The state the session is in (for traces and tests). */
pop3_state_t pop3_session_state(const pop3_session_t *s);
/* Part of a response line has arrived, not its end (for timeouts: the
 * server is sending, too slowly). */
bool pop3_session_in_line(const pop3_session_t *s);
/* Still waiting for the greeting (for timeouts: silence on a plain
 * connection often means an implicit-TLS port). */
bool pop3_session_awaits_greeting(const pop3_session_t *s);

/* The driver has waited a while (its choice, e.g. a fraction of the
 * Timeout) without input. When the login was answered +OK and the session
 * waits for the answer to a STAT it pipelined behind it, the server may have
 * lost the commands that came in the same write as the login (one that
 * hands the connection over after the login), or it may just be slow: NOOP
 * goes out (the session wants WRITE) and the next answer tells. A STAT
 * answer means late: the session goes on as if nothing happened. A bare
 * +OK is the NOOP's: STAT was lost, pop3_session_lost_pipelined() turns
 * true and STAT and QUIT follow lock-step. Otherwise it does nothing. */
void pop3_session_stalled(pop3_session_t *s);
/* STAT was lost behind the login (see pop3_session_stalled): the driver
 * should stop pipelining after this login method for this server. */
bool pop3_session_lost_pipelined(const pop3_session_t *s);
/* The login commands went out in one burst (the server offers PIPELINING). */
bool pop3_session_login_pipelined(const pop3_session_t *s);
/* Remembered capabilities stood in for CAPA, and held. */
bool pop3_session_used_cache(const pop3_session_t *s);
/* STAT went out in the same burst as the login commands. */
bool pop3_session_stat_pipelined(const pop3_session_t *s);
/* The pipelined STAT was answered, but only after pop3_session_stalled(). */
bool pop3_session_stat_late(const pop3_session_t *s);
/* The session failed on an answer that does not fit the pipelined burst
 * (STAT refused without a response code, a malformed or missing answer, an
 * unexpected challenge): some servers mishandle commands sent behind a
 * login. The driver may run the collection again on a fresh connection
 * with the login method in options.lockstep_methods; the error stands if it
 * does not. */
bool pop3_session_burst_failed(const pop3_session_t *s);
/* A reply showed options.cached to be wrong (STLS refused, or a login
 * command the cache chose refused without an RFC 2449/3206 response code);
 * the driver should forget it. After a refused login the session went on
 * with a fresh CAPA; a refused STLS still failed it. */
bool pop3_session_cache_stale(const pop3_session_t *s);
/* CAPA was answered in this session (after TLS, when StartTLS): the driver
 * may refresh its cache from pop3_session_capabilities(). */
bool pop3_session_ran_capa(const pop3_session_t *s);
/* The login mechanism actually used (the last one tried); POP3_AUTH_AUTO
 * when the session did not get to log in. */
pop3_auth_t pop3_session_auth_used(const pop3_session_t *s);

/* Cleanses the session (it may hold the password or token, or their base64
 * forms, in its output buffer): every field is zeroed, and every byte of
 * the output buffer it ever wrote. The line buffer holds only server text
 * and is left. */
void pop3_session_clear(pop3_session_t *s);

#endif

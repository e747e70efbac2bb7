/* pop3_loop.h: the mail loop's probe messages and the tokens that mark
 * them. Every period a monitor sends one probe by SMTP; the collection
 * finds it by its X-Collectd-Pop3-Loop header, measures the delivery time
 * and deletes it. A token says when the probe was sent and that this
 * monitor sent it: it is signed with a key derived from the monitor's
 * secret, so probes left over from before a restart are still recognised
 * (nothing is kept on disk), and a message that only looks like a probe
 * (same header, a foreign or altered token) is never taken for one.
 *
 * Token: "<sent_ms>.<nonce>.<mac>": sent_ms in decimal (Unix time in ms),
 * nonce 16 lower-case hex digits from getrandom(2), mac the first 32 hex
 * digits of HMAC-SHA256(key, monitor "\n" sent_ms "\n" nonce).
 * Key: HMAC-SHA256("collectd-pop3 mail loop", secret "\n" monitor).
 *
 * No state of its own: every function is thread-safe. */
#ifndef POP3_LOOP_H
#define POP3_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POP3_LOOP_HEADER "X-Collectd-Pop3-Loop"
#define POP3_LOOP_TOKEN_MAX 80 /* token text, NUL included */

/* Whoever holds a key cleanses it when done (OPENSSL_cleanse or
 * explicit_bzero): it signs probes that the plugin deletes. */
typedef struct {
  unsigned char key[32];
} pop3_loop_key_t;

/* The key that signs a monitor's probes. secret is the monitor's POP3
 * password (or the loop's SMTP password when POP3 logs in with a bearer
 * token): whoever knows it could also read and delete the mail anyway.
 * An empty secret makes a key anyone can derive from the monitor name. On
 * the rare failure of OpenSSL (out of memory) the key is random: probes
 * are then not recognised after a restart, but never forgeable. */
void pop3_loop_key(pop3_loop_key_t *k, const char *secret,
                   const char *monitor);

/* A new token for a probe sent at sent_ms (Unix ms, >= 0). 0, or -1 when
 * the kernel has no randomness yet (early boot: getrandom never blocks
 * here) or sent_ms is negative; out is then "". */
int pop3_loop_token(const pop3_loop_key_t *k, const char *monitor,
                    int64_t sent_ms, char out[POP3_LOOP_TOKEN_MAX]);

/* Whether value (the header field's body after "X-Collectd-Pop3-Loop:";
 * len bytes, not NUL-terminated, any bytes, any length) is
 * "<monitor> <token>" of one of this monitor's probes. Blanks (SP, HTAB,
 * and CR/LF of a folded field) around the value are allowed; the last
 * blank-separated word is the token, everything before it (trimmed) the
 * monitor name, compared exactly. true: the probe's send time is in
 * *sent_ms (may be NULL). The MAC is compared in constant time. */
bool pop3_loop_verify(const pop3_loop_key_t *k, const char *monitor,
                      const char *value, size_t len, int64_t *sent_ms);

/* Text that can go in a header line or an SMTP command: not empty, and no
 * control character (CR, LF, ...) that could end the line early or start
 * another. */
bool pop3_loop_text_safe(const char *s);

/* The probe message into buf, NUL-terminated, CRLF line ends: From:, To:,
 * Subject: "collectd pop3 mail loop probe (<monitor>)", Date: (sent_ms in
 * UTC), a unique Message-ID, X-Collectd-Pop3-Loop: <monitor> <token> (one
 * line, never folded), MIME-Version, Content-Type text/plain us-ascii,
 * Auto-Submitted: auto-generated (RFC 3834: no auto-replies), and a short
 * body. Returns its length (without the NUL), or -1 when it does not fit
 * in size, when a header line would exceed RFC 5322's 998 octets, or when
 * from, to or monitor is empty or holds a control character (CR, LF, ...)
 * or token is not a token. */
int pop3_loop_message(char *buf, size_t size, const char *from,
                      const char *to, const char *monitor, const char *token,
                      int64_t sent_ms);

#endif

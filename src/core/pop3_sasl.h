/* pop3_sasl.h: what the login mechanisms put on the wire, sans I/O.
 *
 * base64 (RFC 4648), the client messages of SASL PLAIN (RFC 4616), LOGIN,
 * XOAUTH2 and OAUTHBEARER (RFC 7628), the "status" of a bearer token's
 * error challenge, and APOP (RFC 1939) with its own MD5 (RFC 1321).
 *
 * Every function writes into memory the caller gives it, with explicit
 * lengths; none allocates, none keeps state between calls, none needs a
 * crypto library. Buffers that held a secret are the caller's to cleanse
 * (explicit_bzero); the MD5 context cleanses itself in pop3_md5_final. */
#ifndef POP3_SASL_H
#define POP3_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- base64 (RFC 4648 section 4, the standard alphabet) ----------------- */

/* Encoded length of len bytes, padding included. */
size_t pop3_base64_length(size_t len);

/* Writes exactly pop3_base64_length(len) characters to dst, padded with
 * '=', without a NUL. */
void pop3_base64_encode(const void *src, size_t len, char *dst);

/* Decodes len characters of src into dst (size bytes). Padding is optional
 * (any trailing '=' are dropped first); anything outside the alphabet, a
 * length that leaves a lone character, or a result longer than size is an
 * error. Returns the decoded length, or -1 on error (dst may then hold part
 * of the result). */
long pop3_base64_decode(const char *src, size_t len, unsigned char *dst,
                        size_t size);

/* ---- SASL client messages (before base64) -------------------------------- */

/* Each builds the one client message of its mechanism and returns its
 * length. The message is written to dst only when it fits in size bytes,
 * so dst may be NULL (with size 0) to measure; otherwise dst is left
 * untouched. The inputs are NUL-terminated and were checked by the caller
 * (no line breaks; for the bearer mechanisms no control bytes). */

/* PLAIN (RFC 4616): authzid NUL authcid NUL passwd, with no authzid. */
size_t pop3_sasl_plain(const char *user, const char *password,
                       unsigned char *dst, size_t size);

/* XOAUTH2 (Google, Microsoft):
 * "user=" user ^A "auth=Bearer " token ^A ^A. */
size_t pop3_sasl_xoauth2(const char *user, const char *token,
                         unsigned char *dst, size_t size);

/* OAUTHBEARER (RFC 7628 3.1): the gs2 header "n,a=" user "," (',' and '='
 * in the user name escaped as "=2C" and "=3D", RFC 5801), then
 * ^A "host=" host (when host is neither NULL nor empty), ^A "port=" port
 * (when 1..65535), ^A "auth=Bearer " token ^A ^A. */
size_t pop3_sasl_oauthbearer(const char *user, const char *host, int port,
                             const char *token, unsigned char *dst,
                             size_t size);

/* LOGIN: the value answering challenge number step (0: the user name, 1:
 * the password; sent base64-encoded), or NULL after those. */
const char *pop3_sasl_login_reply(unsigned step, const char *user,
                                  const char *password);

/* The reply to a bearer token's error challenge, after which the server
 * sends its -ERR: an empty line for XOAUTH2, base64 of %x01 for OAUTHBEARER
 * (RFC 7628 3.2.3). */
#define POP3_SASL_XOAUTH2_ERROR_REPLY ""
#define POP3_SASL_OAUTHBEARER_ERROR_REPLY "AQ=="
/* The client line that cancels an exchange (RFC 5034 4). */
#define POP3_SASL_CANCEL "*"

/* Longest decoded error challenge pop3_sasl_token_status reads; a POP3
 * response line (1024 octets) always decodes to less. */
#define POP3_SASL_CHALLENGE_MAX 1024

/* The "status" member of a bearer error challenge (RFC 7628 3.2.2, and
 * Google's XOAUTH2). challenge is the base64 text after "+ ", len bytes.
 * dst (size bytes, always NUL-terminated when size > 0) gets the status,
 * quoted or not, or the whole JSON text when it has none, sanitised as
 * pop3_sanitize does; "(not base64)" when challenge is not base64 or
 * decodes to more than POP3_SASL_CHALLENGE_MAX bytes. */
void pop3_sasl_token_status(const char *challenge, size_t len, char *dst,
                            size_t size);

/* ---- MD5 (RFC 1321) and APOP (RFC 1939 7) -------------------------------- */

#define POP3_MD5_SIZE 16

typedef struct {
  uint32_t state[4];
  uint64_t length;        /* bytes hashed so far */
  unsigned char block[64]; /* the part of a block not hashed yet */
} pop3_md5_t;

void pop3_md5_init(pop3_md5_t *md5);
void pop3_md5_update(pop3_md5_t *md5, const void *data, size_t len);
/* Writes the digest and cleanses the context. */
void pop3_md5_final(pop3_md5_t *md5, unsigned char digest[POP3_MD5_SIZE]);

/* The APOP timestamp in a greeting's text (len bytes): the first '<' and
 * the next '>', at least one byte between them, all printable ASCII
 * without blanks or a second '<', at most max bytes brackets included.
 * Returns its length (brackets included) with *start on its '<', or 0 when
 * the text has none. Kept raw by the caller: the digest covers the exact
 * bytes. */
size_t pop3_apop_timestamp(const char *text, size_t len, size_t max,
                           const char **start);

/* md5(timestamp password) as 32 lower-case hex digits and a NUL; every
 * intermediate copy is cleansed. */
void pop3_apop_digest(const char *timestamp, const char *password,
                      char hex[2 * POP3_MD5_SIZE + 1]);

#endif

/* test_sasl.c: unit tests for pop3_sasl.c: base64 (RFC 4648 vectors, round
 * trips against OpenSSL's encoder), the SASL client messages (RFC 4616,
 * RFC 7628 and Google's XOAUTH2 examples), the bearer error status, MD5
 * (RFC 1321's test suite, and OpenSSL's MD5 at every length and split) and
 * APOP (RFC 1939's example). OpenSSL serves only as an independent
 * reference; the module itself uses none. */
#include <check.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_sasl.h"

#define LIT(s) s, sizeof(s) - 1

/* ---- base64 -------------------------------------------------------------- */

static const struct {
  const char *raw, *b64;
} rfc4648[] = {
    {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
    {"foo", "Zm9v"},  {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void assert_encodes(const void *raw, size_t len, const char *b64) {
  char out[256];
  memset(out, '#', sizeof(out));
  ck_assert_uint_eq(pop3_base64_length(len), strlen(b64));
  pop3_base64_encode(raw, len, out);
  ck_assert_msg(memcmp(out, b64, strlen(b64)) == 0, "encoded \"%.*s\", not %s",
                (int)strlen(b64), out, b64);
  ck_assert_int_eq(out[strlen(b64)], '#'); /* no NUL, nothing more */
}

static void assert_decodes(const char *b64, const void *raw, size_t len) {
  unsigned char out[256];
  long n = pop3_base64_decode(b64, strlen(b64), out, sizeof(out));
  ck_assert_msg(n == (long)len, "\"%s\" decoded to %ld bytes, not %zu", b64, n,
                len);
  ck_assert(len == 0 || memcmp(out, raw, len) == 0);
}

START_TEST(test_base64_rfc4648) {
  for (size_t i = 0; i < sizeof(rfc4648) / sizeof(rfc4648[0]); i++) {
    const char *raw = rfc4648[i].raw, *b64 = rfc4648[i].b64;
    assert_encodes(raw, strlen(raw), b64);
    assert_decodes(b64, raw, strlen(raw));
    /* padding is optional when decoding */
    char bare[16];
    snprintf(bare, sizeof(bare), "%.*s", (int)strcspn(b64, "="), b64);
    assert_decodes(bare, raw, strlen(raw));
  }
  /* every byte value, and the two characters beyond letters and digits */
  assert_encodes(LIT("\x00\x10\x83\x10\x51\x87\x20\x92\x8b\x30\xd3\x8f"
                     "\x41\x14\x93\x51\x55\x97\x61\x96\x9b\x71\xd7\x9f"
                     "\x82\x18\xa3\x92\x59\xa7\xa2\x9a\xab\xb2\xdb\xaf"
                     "\xc3\x1c\xb3\xd3\x5d\xb7\xe3\x9e\xbb\xf3\xdf\xbf"),
                 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 "0123456789+/");
  assert_encodes(LIT("\xff\xfe\xfd"), "//79");
}
END_TEST

/* Every length from 0 to 300, every byte value: the encoding is OpenSSL's,
 * and decoding gives the input back. */
START_TEST(test_base64_round_trips) {
  unsigned char raw[300], back[300];
  char ours[404], theirs[405];
  for (size_t i = 0; i < sizeof(raw); i++)
    raw[i] = (unsigned char)(i * 37 + 11);
  for (size_t len = 0; len <= sizeof(raw); len++) {
    size_t b64_len = pop3_base64_length(len);
    ck_assert_uint_le(b64_len, sizeof(ours));
    pop3_base64_encode(raw, len, ours);
    int n = EVP_EncodeBlock((unsigned char *)theirs, raw, (int)len);
    ck_assert_int_eq(n, (int)b64_len);
    ck_assert_msg(memcmp(ours, theirs, b64_len) == 0, "length %zu", len);
    ck_assert_int_eq(pop3_base64_decode(ours, b64_len, back, sizeof(back)),
                     (long)len);
    ck_assert(memcmp(back, raw, len) == 0);
    /* exactly the room it needs is enough, one byte less is not */
    ck_assert_int_eq(pop3_base64_decode(ours, b64_len, back, len), (long)len);
    if (len > 0)
      ck_assert_int_eq(pop3_base64_decode(ours, b64_len, back, len - 1), -1);
  }
}
END_TEST

START_TEST(test_base64_rejects) {
  unsigned char out[64];
  static const char *const bad[] = {
      "Zm9v!",    /* not in the alphabet */
      "Zm 9v",    /* nor is a blank */
      "Zm9v\n",   /* nor a line break */
      "Zg==Zg==", /* padding inside */
      "Zm9vY",    /* a group of one character */
      "Z",        /* one character */
      "Zm9v-_",   /* the URL-safe alphabet is not base64 here */
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    ck_assert_msg(pop3_base64_decode(bad[i], strlen(bad[i]), out,
                                     sizeof(out)) == -1,
                  "\"%s\" was accepted", bad[i]);
  /* a NUL inside the given length is not base64 either */
  ck_assert_int_eq(pop3_base64_decode("Zm\0v", 4, out, sizeof(out)), -1);
  /* trailing '=' are dropped, however many */
  assert_decodes("Zg=", "f", 1);
  assert_decodes("Zg=====", "f", 1);
  assert_decodes("====", "", 0);
  /* the length is explicit: text after it is not read */
  ck_assert_int_eq(pop3_base64_decode("Zm9v!!!!", 4, out, sizeof(out)), 3);
}
END_TEST

/* ---- SASL messages -------------------------------------------------------- */

/* Builds with the function given, checks the bytes and the base64 form,
 * the measuring call and that a buffer one byte short is left alone. */
#define CHECK_MESSAGE(call_with, expected, expected_b64)                       \
  do {                                                                         \
    unsigned char buf[512];                                                    \
    size_t len = sizeof(expected) - 1;                                         \
    ck_assert_uint_eq(call_with(NULL, 0), len);                                \
    memset(buf, '#', sizeof(buf));                                             \
    ck_assert_uint_eq(call_with(buf, len - 1), len);                           \
    for (size_t i = 0; i < sizeof(buf); i++)                                   \
      ck_assert_int_eq(buf[i], '#');                                           \
    ck_assert_uint_eq(call_with(buf, sizeof(buf)), len);                       \
    ck_assert_msg(memcmp(buf, expected, len) == 0, "message differs");         \
    ck_assert_int_eq(buf[len], '#');                                           \
    if (expected_b64 != NULL)                                                  \
      assert_encodes(buf, len, expected_b64);                                  \
  } while (0)

#define PLAIN_RFC4616(dst, size) pop3_sasl_plain("tim", "tanstaaftanstaaf", dst, size)
#define PLAIN_ALICE(dst, size) pop3_sasl_plain("alice", "s3cr3t-Pa55", dst, size)
#define PLAIN_EMPTY(dst, size) pop3_sasl_plain("u", "", dst, size)

START_TEST(test_sasl_plain) {
  /* RFC 4616 section 4's example, without an authorization identity */
  CHECK_MESSAGE(PLAIN_RFC4616, "\0tim\0tanstaaftanstaaf",
                "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
  CHECK_MESSAGE(PLAIN_ALICE, "\0alice\0s3cr3t-Pa55", "AGFsaWNlAHMzY3IzdC1QYTU1");
  CHECK_MESSAGE(PLAIN_EMPTY, "\0u\0", "AHUA");
}
END_TEST

#define XOAUTH2_GOOGLE(dst, size)                                              \
  pop3_sasl_xoauth2("someuser@example.com",                                    \
                    "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", dst, size)

START_TEST(test_sasl_xoauth2) {
  /* the example of Google's XOAUTH2 protocol description */
  CHECK_MESSAGE(XOAUTH2_GOOGLE,
                "user=someuser@example.com\001auth=Bearer "
                "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\001\001",
                "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGO"
                "WRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==");
}
END_TEST

#define OAUTHBEARER_RFC7628(dst, size)                                         \
  pop3_sasl_oauthbearer("user@example.com", "server.example.com", 143,         \
                        "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", dst,     \
                        size)
#define OAUTHBEARER_ESCAPED(dst, size)                                         \
  pop3_sasl_oauthbearer("a,b=c", NULL, 0, "tok", dst, size)
#define OAUTHBEARER_EMPTY_HOST(dst, size)                                      \
  pop3_sasl_oauthbearer("u", "", 65535, "t", dst, size)
#define OAUTHBEARER_BAD_PORT(dst, size)                                        \
  pop3_sasl_oauthbearer("u", "h", 65536, "t", dst, size)
#define OAUTHBEARER_NEGATIVE_PORT(dst, size)                                   \
  pop3_sasl_oauthbearer("u", "h", -1, "t", dst, size)

START_TEST(test_sasl_oauthbearer) {
  /* RFC 7628 section 4.1's initial client response */
  CHECK_MESSAGE(OAUTHBEARER_RFC7628,
                "n,a=user@example.com,\001host=server.example.com\001"
                "port=143\001auth=Bearer "
                "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\001\001",
                "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tA"
                "XBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSF"
                "JoZG1semRHRXVZMjl0Q2c9PQEB");
  /* RFC 5801's escapes in the gs2 header; no host, no port */
  CHECK_MESSAGE(OAUTHBEARER_ESCAPED, "n,a=a=2Cb=3Dc,\001auth=Bearer tok\001\001",
                "bixhPWE9MkNiPTNEYywBYXV0aD1CZWFyZXIgdG9rAQE=");
  CHECK_MESSAGE(OAUTHBEARER_EMPTY_HOST,
                "n,a=u,\001port=65535\001auth=Bearer t\001\001", NULL);
  CHECK_MESSAGE(OAUTHBEARER_BAD_PORT, "n,a=u,\001host=h\001auth=Bearer t\001\001",
                NULL);
  CHECK_MESSAGE(OAUTHBEARER_NEGATIVE_PORT,
                "n,a=u,\001host=h\001auth=Bearer t\001\001", NULL);
}
END_TEST

START_TEST(test_sasl_login_and_replies) {
  ck_assert_str_eq(pop3_sasl_login_reply(0, "alice", "pw"), "alice");
  ck_assert_str_eq(pop3_sasl_login_reply(1, "alice", "pw"), "pw");
  ck_assert_ptr_null(pop3_sasl_login_reply(2, "alice", "pw"));
  ck_assert_ptr_null(pop3_sasl_login_reply(99, "alice", "pw"));
  /* "Username:" and "Password:", as servers send them */
  assert_decodes("VXNlcm5hbWU6", "Username:", 9);
  assert_decodes("UGFzc3dvcmQ6", "Password:", 9);
  assert_encodes("alice", 5, "YWxpY2U=");
  /* the dummy reply to a bearer error: %x01 for OAUTHBEARER (RFC 7628) */
  assert_decodes(POP3_SASL_OAUTHBEARER_ERROR_REPLY, "\001", 1);
  ck_assert_str_eq(POP3_SASL_XOAUTH2_ERROR_REPLY, "");
  ck_assert_str_eq(POP3_SASL_CANCEL, "*");
}
END_TEST

static const char *token_status(const char *json, size_t size) {
  static char b64[512], status[128];
  ck_assert_uint_le(size, sizeof(status));
  size_t len = strlen(json);
  pop3_base64_encode(json, len, b64);
  memset(status, '#', sizeof(status));
  pop3_sasl_token_status(b64, pop3_base64_length(len), status, size);
  return status;
}

START_TEST(test_sasl_token_status) {
  /* RFC 7628 3.2.2's error, and Google's */
  ck_assert_str_eq(token_status("{\"status\":\"invalid_token\",\"scope\":"
                                "\"example_scope\"}",
                                64),
                   "invalid_token");
  ck_assert_str_eq(token_status("{\"status\":\"401\",\"schemes\":\"bearer\","
                                "\"scope\":\"mail\"}",
                                64),
                   "401");
  ck_assert_str_eq(token_status("{\"status\" : 400, \"x\":1}", 64), "400");
  ck_assert_str_eq(token_status("{\"status\":403}", 64), "403");
  ck_assert_str_eq(token_status("{\"status\":\"unterminated", 64),
                   "unterminated");
  /* no status: the whole text, sanitised */
  ck_assert_str_eq(token_status("{\"error\":\"x\001y\"}", 64),
                   "{\\\"error\\\":\\\"x\\x01y\\\"}");
  /* cut to the buffer */
  ck_assert_str_eq(token_status("{\"status\":\"abcdefghijkl\"}", 8),
                   "abcd...");
  /* not base64 */
  char status[64];
  pop3_sasl_token_status(LIT("{not base64}"), status, sizeof(status));
  ck_assert_str_eq(status, "(not base64)");
  pop3_sasl_token_status(LIT(""), status, sizeof(status));
  ck_assert_str_eq(status, "");
  /* longer than any POP3 line could carry */
  static char huge[2 * POP3_SASL_CHALLENGE_MAX];
  memset(huge, 'A', sizeof(huge));
  pop3_sasl_token_status(huge, sizeof(huge), status, sizeof(status));
  ck_assert_str_eq(status, "(not base64)");
}
END_TEST

/* ---- MD5 and APOP ------------------------------------------------------- */

static void hex(const unsigned char digest[POP3_MD5_SIZE], char out[33]) {
  for (int i = 0; i < POP3_MD5_SIZE; i++)
    snprintf(out + 2 * i, 3, "%02x", digest[i]);
}

static const char *md5_hex(const void *data, size_t len) {
  static char out[33];
  unsigned char digest[POP3_MD5_SIZE];
  pop3_md5_t md5;
  pop3_md5_init(&md5);
  pop3_md5_update(&md5, data, len);
  pop3_md5_final(&md5, digest);
  hex(digest, out);
  return out;
}

START_TEST(test_md5_rfc1321) {
  /* RFC 1321, appendix A.5 */
  static const struct {
    const char *in, *digest;
  } suite[] = {
      {"", "d41d8cd98f00b204e9800998ecf8427e"},
      {"a", "0cc175b9c0f1b6a831c399e269772661"},
      {"abc", "900150983cd24fb0d6963f7d28e17f72"},
      {"message digest", "f96b697d7cb7938d525a2f31aaf161d0"},
      {"abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"},
      {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
       "d174ab98d277d9f5a5611c2c9f419d9f"},
      {"1234567890123456789012345678901234567890123456789012345678901234567890"
       "1234567890",
       "57edf4a22be3c955ac49da2e2107b67a"},
  };
  for (size_t i = 0; i < sizeof(suite) / sizeof(suite[0]); i++)
    ck_assert_str_eq(md5_hex(suite[i].in, strlen(suite[i].in)),
                     suite[i].digest);

  /* a million "a", fed in pieces of 997 bytes */
  static char a[997];
  memset(a, 'a', sizeof(a));
  pop3_md5_t md5;
  pop3_md5_init(&md5);
  size_t left = 1000000;
  while (left > 0) {
    size_t n = left < sizeof(a) ? left : sizeof(a);
    pop3_md5_update(&md5, a, n);
    left -= n;
  }
  unsigned char digest[POP3_MD5_SIZE];
  char out[33];
  pop3_md5_final(&md5, digest);
  hex(digest, out);
  ck_assert_str_eq(out, "7707d6ae4e027c70eea2a935c2296f21");
  /* the context holds nothing afterwards */
  static const pop3_md5_t zero;
  ck_assert(memcmp(&md5, &zero, sizeof(md5)) == 0);
}
END_TEST

/* Every length up to 3 blocks and a half (the padding's edge cases at 55,
 * 56, 63, 64 and 119, 120 among them), whole and split at every byte,
 * against OpenSSL's MD5. */
START_TEST(test_md5_against_openssl) {
  unsigned char data[224];
  for (size_t i = 0; i < sizeof(data); i++)
    data[i] = (unsigned char)(i * 131 + 7);
  for (size_t len = 0; len <= sizeof(data); len++) {
    unsigned char theirs[EVP_MAX_MD_SIZE];
    unsigned int theirs_len = 0;
    ck_assert(EVP_Digest(data, len, theirs, &theirs_len, EVP_md5(), NULL));
    ck_assert_uint_eq(theirs_len, POP3_MD5_SIZE);
    for (size_t split = 0; split <= len; split++) {
      pop3_md5_t md5;
      unsigned char ours[POP3_MD5_SIZE];
      pop3_md5_init(&md5);
      pop3_md5_update(&md5, data, split);
      pop3_md5_update(&md5, data + split, len - split);
      pop3_md5_final(&md5, ours);
      ck_assert_msg(memcmp(ours, theirs, POP3_MD5_SIZE) == 0,
                    "length %zu split at %zu", len, split);
    }
  }
}
END_TEST

START_TEST(test_apop) {
  /* RFC 1939 section 7 */
  char digest[2 * POP3_MD5_SIZE + 1];
  memset(digest, '#', sizeof(digest));
  pop3_apop_digest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf", digest);
  ck_assert_str_eq(digest, "c4c9334bac560ecc979e58001b3e22fb");
  /* the same as MD5 of the two strings run together */
  ck_assert_str_eq(md5_hex(LIT("<1896.697170952@dbc.mtview.ca.us>tanstaaf")),
                   digest);
  pop3_apop_digest("<a@b>", "", digest);
  ck_assert_str_eq(digest, md5_hex(LIT("<a@b>")));
}
END_TEST

static const char *timestamp(const char *text, size_t max) {
  static char out[64];
  const char *start = NULL;
  size_t len = pop3_apop_timestamp(text, strlen(text), max, &start);
  if (len == 0)
    return NULL;
  ck_assert_ptr_nonnull(start);
  ck_assert_uint_lt(len, sizeof(out));
  memcpy(out, start, len);
  out[len] = '\0';
  return out;
}

START_TEST(test_apop_timestamp) {
  ck_assert_str_eq(
      timestamp("POP3 server ready <1896.697170952@dbc.mtview.ca.us>", 256),
      "<1896.697170952@dbc.mtview.ca.us>");
  ck_assert_str_eq(timestamp("<a> then <b>", 256), "<a>");
  ck_assert_str_eq(timestamp("ready <x@y> more text", 256), "<x@y>");
  ck_assert_str_eq(timestamp("<abc>", 5), "<abc>"); /* exactly max */
  ck_assert_ptr_null(timestamp("<abcd>", 5));        /* one more */
  ck_assert_ptr_null(timestamp("no timestamp", 256));
  ck_assert_ptr_null(timestamp("<>", 256));
  ck_assert_ptr_null(timestamp("<a b@c>", 256));
  ck_assert_ptr_null(timestamp("<a<b>", 256));
  ck_assert_ptr_null(timestamp("<a\tb>", 256));
  ck_assert_ptr_null(timestamp("<caf\xc3\xa9>", 256));
  ck_assert_ptr_null(timestamp("unclosed <abc", 256));
  ck_assert_ptr_null(timestamp("> <", 256));
  /* the length is explicit: a '>' beyond it does not count */
  const char *start = NULL;
  ck_assert_uint_eq(pop3_apop_timestamp("<ab>", 3, 256, &start), 0);
  ck_assert_uint_eq(pop3_apop_timestamp("", 0, 256, &start), 0);
}
END_TEST

static Suite *sasl_suite(void) {
  Suite *suite = suite_create("pop3_sasl");
  TCase *tc = tcase_create("base64");
  tcase_add_test(tc, test_base64_rfc4648);
  tcase_add_test(tc, test_base64_round_trips);
  tcase_add_test(tc, test_base64_rejects);
  suite_add_tcase(suite, tc);

  tc = tcase_create("sasl");
  tcase_add_test(tc, test_sasl_plain);
  tcase_add_test(tc, test_sasl_xoauth2);
  tcase_add_test(tc, test_sasl_oauthbearer);
  tcase_add_test(tc, test_sasl_login_and_replies);
  tcase_add_test(tc, test_sasl_token_status);
  suite_add_tcase(suite, tc);

  tc = tcase_create("md5");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_md5_rfc1321);
  tcase_add_test(tc, test_md5_against_openssl);
  tcase_add_test(tc, test_apop);
  tcase_add_test(tc, test_apop_timestamp);
  suite_add_tcase(suite, tc);
  return suite;
}

int main(void) {
  SRunner *runner = srunner_create(sasl_suite());
  srunner_run_all(runner, CK_NORMAL);
  int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

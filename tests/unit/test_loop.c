/* test_loop.c: the mail loop's tokens and probe message (pop3_loop.c):
 * unique tokens, verification of this monitor's own probes only (also after
 * a restart), hostile header values, and the message's form. OpenSSL's
 * one-shot HMAC() is the independent reference for the key and the MAC. */
#define _GNU_SOURCE
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "pop3_loop.h"

#define MON "mail.example.org probe"
#define PASS "s3cret pass"

static pop3_loop_key_t key_of(const char *secret, const char *monitor) {
  pop3_loop_key_t k;
  pop3_loop_key(&k, secret, monitor);
  return k;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void make_token(const pop3_loop_key_t *k, const char *monitor,
                       int64_t sent, char out[POP3_LOOP_TOKEN_MAX]) {
  ck_assert_int_eq(pop3_loop_token(k, monitor, sent, out), 0);
}

/* "<monitor> <token>" as it follows the header's colon */
static size_t value_of(char *buf, size_t size, const char *monitor,
                       const char *token) {
  int n = snprintf(buf, size, " %s %s", monitor, token);
  ck_assert(n > 0 && (size_t)n < size);
  return (size_t)n;
}

static bool verify_str(const pop3_loop_key_t *k, const char *monitor,
                       const char *value, int64_t *sent) {
  return pop3_loop_verify(k, monitor, value, strlen(value), sent);
}

/* ---- tokens ----------------------------------------------------------------- */

static int cmp_token(const void *a, const void *b) {
  return strcmp((const char *)a, (const char *)b);
}

START_TEST(tokens_unique_and_well_formed) {
  enum { N = 10000 };
  pop3_loop_key_t k = key_of(PASS, MON);
  char(*tokens)[POP3_LOOP_TOKEN_MAX] = calloc(N, POP3_LOOP_TOKEN_MAX);
  ck_assert_ptr_nonnull(tokens);
  int64_t sent = now_ms(); /* the same millisecond for all: the nonce differs */
  for (int i = 0; i < N; i++) {
    make_token(&k, MON, sent, tokens[i]);
    const char *t = tokens[i];
    size_t len = strlen(t);
    ck_assert_uint_lt(len, POP3_LOOP_TOKEN_MAX);
    char digits[32];
    snprintf(digits, sizeof(digits), "%" PRId64 ".", sent);
    ck_assert_msg(strncmp(t, digits, strlen(digits)) == 0, "token %s", t);
    ck_assert_uint_eq(len, strlen(digits) + 16 + 1 + 32);
    ck_assert_int_eq(t[strlen(digits) + 16], '.');
    ck_assert_uint_eq(strspn(t + strlen(digits), "0123456789abcdef."),
                      len - strlen(digits));
  }
  qsort(tokens, N, POP3_LOOP_TOKEN_MAX, cmp_token);
  for (int i = 1; i < N; i++)
    ck_assert_msg(strcmp(tokens[i - 1], tokens[i]) != 0, "duplicate %s",
                  tokens[i]);
  free(tokens);
}
END_TEST

START_TEST(token_refuses_negative_time) {
  pop3_loop_key_t k = key_of(PASS, MON);
  char t[POP3_LOOP_TOKEN_MAX] = "x";
  ck_assert_int_eq(pop3_loop_token(&k, MON, -1, t), -1);
  ck_assert_str_eq(t, "");
}
END_TEST

/* The key and the MAC, recomputed with HMAC() from the documented recipe. */
START_TEST(key_and_mac_match_the_recipe) {
  pop3_loop_key_t k = key_of(PASS, MON);
  const char *label = "collectd-pop3 mail loop";
  const char *data = PASS "\n" MON;
  unsigned char want[32];
  unsigned int len = 0;
  ck_assert_ptr_nonnull(HMAC(EVP_sha256(), label, (int)strlen(label),
                             (const unsigned char *)data, strlen(data), want,
                             &len));
  ck_assert_uint_eq(len, 32);
  ck_assert_mem_eq(k.key, want, 32);

  char t[POP3_LOOP_TOKEN_MAX];
  make_token(&k, MON, 1700000000123, t);
  char sent[32], nonce[17], mac[33];
  ck_assert_int_eq(sscanf(t, "%31[0-9].%16[0-9a-f].%32[0-9a-f]", sent, nonce,
                          mac),
                   3);
  ck_assert_str_eq(sent, "1700000000123");
  char input[256];
  snprintf(input, sizeof(input), "%s\n%s\n%s", MON, sent, nonce);
  unsigned char full[32];
  ck_assert_ptr_nonnull(HMAC(EVP_sha256(), k.key, 32,
                             (const unsigned char *)input, strlen(input), full,
                             &len));
  char hex[33];
  for (int i = 0; i < 16; i++)
    snprintf(hex + 2 * i, 3, "%02x", full[i]);
  ck_assert_str_eq(mac, hex);
}
END_TEST

/* ---- verification ------------------------------------------------------------ */

START_TEST(verify_accepts_own_and_round_trips_time) {
  pop3_loop_key_t k = key_of(PASS, MON);
  const int64_t times[] = {0, 1, 999, 1700000000123, now_ms(), INT64_MAX};
  for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
    char t[POP3_LOOP_TOKEN_MAX], v[256];
    make_token(&k, MON, times[i], t);
    size_t n = value_of(v, sizeof(v), MON, t);
    int64_t sent = -5;
    ck_assert_msg(pop3_loop_verify(&k, MON, v, n, &sent), "%s", v);
    ck_assert_int_eq(sent, times[i]);
    ck_assert(pop3_loop_verify(&k, MON, v, n, NULL));
  }
}
END_TEST

/* After a restart nothing is left but the secret: the key derived again
 * still recognises a probe sent twenty years ago. */
START_TEST(verify_after_restart_twenty_years_old) {
  int64_t old = now_ms() - (int64_t)20 * 366 * 86400 * 1000;
  char t[POP3_LOOP_TOKEN_MAX], v[256];
  {
    pop3_loop_key_t before = key_of(PASS, MON);
    make_token(&before, MON, old, t);
  }
  pop3_loop_key_t after = key_of(PASS, MON);
  size_t n = value_of(v, sizeof(v), MON, t);
  int64_t sent = 0;
  ck_assert(pop3_loop_verify(&after, MON, v, n, &sent));
  ck_assert_int_eq(sent, old);
}
END_TEST

START_TEST(verify_allows_blanks_and_folding) {
  pop3_loop_key_t k = key_of(PASS, MON);
  char t[POP3_LOOP_TOKEN_MAX], v[512];
  make_token(&k, MON, 1234567, t);
  const char *forms[] = {"%s %s", "  \t%s \t %s \t\r\n", "%s\r\n %s",
                         "\r\n\t%s\r\n\t%s\r\n"};
  for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(v, sizeof(v), forms[i], MON, t);
#pragma GCC diagnostic pop
    int64_t sent = 0;
    ck_assert_msg(verify_str(&k, MON, v, &sent), "form %zu", i);
    ck_assert_int_eq(sent, 1234567);
  }
  /* 1 MB of blanks around a good value */
  size_t big = 1 << 20;
  char *pad = malloc(2 * big + 200);
  ck_assert_ptr_nonnull(pad);
  memset(pad, ' ', big);
  size_t n = big + (size_t)sprintf(pad + big, "%s %s", MON, t);
  memset(pad + n, '\t', big);
  ck_assert(pop3_loop_verify(&k, MON, pad, n + big, NULL));
  free(pad);
}
END_TEST

START_TEST(verify_rejects_other_monitors) {
  pop3_loop_key_t k = key_of(PASS, MON);
  char t[POP3_LOOP_TOKEN_MAX], v[256];
  make_token(&k, MON, 42000, t);
  /* the token, under another name: the name is compared exactly */
  const char *others[] = {"mail.example.org", "mail.example.org  probe",
                          "mail.example.org probe2", "Mail.example.org probe",
                          "x mail.example.org probe", "probe"};
  for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
    value_of(v, sizeof(v), others[i], t);
    ck_assert_msg(!verify_str(&k, MON, v, NULL), "%s", v);
  }
  /* another monitor that shares the password: another key, another MAC */
  pop3_loop_key_t other = key_of(PASS, "other");
  char t2[POP3_LOOP_TOKEN_MAX];
  make_token(&other, "other", 42000, t2);
  value_of(v, sizeof(v), MON, t2);
  ck_assert(!verify_str(&k, MON, v, NULL));
  value_of(v, sizeof(v), "other", t2);
  ck_assert(!verify_str(&k, MON, v, NULL));
  ck_assert(verify_str(&other, "other", v, NULL));
  /* the same monitor name with another password */
  pop3_loop_key_t foreign = key_of("another password", MON);
  make_token(&foreign, MON, 42000, t2);
  value_of(v, sizeof(v), MON, t2);
  ck_assert(!verify_str(&k, MON, v, NULL));
  ck_assert(verify_str(&foreign, MON, v, NULL));
}
END_TEST

START_TEST(verify_rejects_every_altered_byte) {
  pop3_loop_key_t k = key_of(PASS, MON);
  char t[POP3_LOOP_TOKEN_MAX], v[256];
  make_token(&k, MON, now_ms(), t);
  size_t n = value_of(v, sizeof(v), MON, t);
  size_t start = n - strlen(t);
  int accepted = 0;
  for (size_t i = start; i < n; i++) {
    char saved = v[i];
    for (int c = 0; c < 256; c++) {
      if ((char)c == saved)
        continue;
      v[i] = (char)c;
      if (pop3_loop_verify(&k, MON, v, n, NULL)) {
        accepted++;
        fprintf(stderr, "accepted: byte %zu = 0x%02x\n", i - start, c);
      }
    }
    v[i] = saved;
  }
  ck_assert_int_eq(accepted, 0);
  ck_assert(pop3_loop_verify(&k, MON, v, n, NULL));
}
END_TEST

START_TEST(verify_rejects_truncated_and_extended) {
  pop3_loop_key_t k = key_of(PASS, MON);
  char t[POP3_LOOP_TOKEN_MAX], v[256];
  make_token(&k, MON, 777, t);
  size_t n = value_of(v, sizeof(v), MON, t);
  for (size_t len = 0; len < n; len++)
    ck_assert_msg(!pop3_loop_verify(&k, MON, v, len, NULL), "len %zu", len);
  /* the token cut at either end */
  for (size_t cut = 1; cut < strlen(t); cut++) {
    value_of(v, sizeof(v), MON, t + cut);
    ck_assert_msg(!verify_str(&k, MON, v, NULL), "%s", v);
  }
  const char *extra[] = {"%s %s x", "%s %s %s", "%s %s.", "%s %s0", "%s 0%s",
                         "%s %s.0", "%s x%s", "%s%s"};
  for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
    snprintf(v, sizeof(v), extra[i], MON, t, t);
#pragma GCC diagnostic pop
    ck_assert_msg(!verify_str(&k, MON, v, NULL), "%s", v);
  }
}
END_TEST

START_TEST(verify_rejects_empty_junk_and_nul) {
  pop3_loop_key_t k = key_of(PASS, MON);
  const char *junk[] = {"", " ", "\t\r\n", MON, MON " ", "x", "1.2.3",
                        MON " 1.0000000000000000.00000000000000000000000000000000"};
  for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
    ck_assert_msg(!verify_str(&k, MON, junk[i], NULL), "%s", junk[i]);
  ck_assert(!pop3_loop_verify(&k, MON, NULL, 0, NULL));
  ck_assert(!pop3_loop_verify(&k, "", " x", 2, NULL));

  /* 1 MB of random bytes, and the same ending in a space and a good token */
  char t[POP3_LOOP_TOKEN_MAX];
  make_token(&k, MON, 5, t);
  size_t big = 1 << 20;
  char *buf = malloc(big + 200);
  ck_assert_ptr_nonnull(buf);
  srand(7);
  for (size_t i = 0; i < big; i++)
    buf[i] = (char)(rand() & 0xff);
  ck_assert(!pop3_loop_verify(&k, MON, buf, big, NULL));
  size_t n = big + (size_t)sprintf(buf + big, " %s", t);
  ck_assert(!pop3_loop_verify(&k, MON, buf, n, NULL));
  free(buf);

  /* NUL bytes inside, at either end of the monitor, inside the token */
  char v[256];
  size_t len = value_of(v, sizeof(v), MON, t);
  size_t tok = len - strlen(t);
  size_t spots[] = {1, 4, tok - 2, tok, tok + 3, len - 1};
  for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
    char w[256];
    memcpy(w, v, len);
    w[spots[i]] = '\0';
    ck_assert_msg(!pop3_loop_verify(&k, MON, w, len, NULL), "NUL at %zu",
                  spots[i]);
  }
  /* a NUL after the value is outside of it: len decides */
  char w[256];
  memcpy(w, v, len);
  w[len] = '\0';
  ck_assert(pop3_loop_verify(&k, MON, w, len, NULL));
}
END_TEST

/* ---- the message --------------------------------------------------------------- */

#define FROM "sender@loop.test"
#define TO "probe@loop.test"

static int message(char *buf, size_t size, const char *monitor,
                   const char *token, int64_t sent) {
  return pop3_loop_message(buf, size, FROM, TO, monitor, token, sent);
}

/* The value of the first header field named name (no folding: the
 * message never folds), or NULL. */
static const char *header(const char *msg, const char *name, char *out,
                          size_t size) {
  size_t nl = strlen(name);
  for (const char *p = msg; *p != '\0' && strncmp(p, "\r\n", 2) != 0;) {
    const char *end = strstr(p, "\r\n");
    ck_assert_ptr_nonnull(end);
    if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      snprintf(out, size, "%.*s", (int)(end - p - nl - 1), p + nl + 1);
      return out;
    }
    p = end + 2;
  }
  return NULL;
}

START_TEST(message_form) {
  pop3_loop_key_t k = key_of(PASS, MON);
  char t[POP3_LOOP_TOKEN_MAX], buf[4096], v[1024];
  int64_t sent = 1700000000123;
  make_token(&k, MON, sent, t);
  int n = message(buf, sizeof(buf), MON, t, sent);
  ck_assert_int_gt(n, 0);
  ck_assert_uint_eq(strlen(buf), (size_t)n);

  /* CRLF only: every CR before an LF, every LF after a CR */
  for (int i = 0; i < n; i++) {
    if (buf[i] == '\r')
      ck_assert_msg(i + 1 < n && buf[i + 1] == '\n', "bare CR at %d", i);
    if (buf[i] == '\n')
      ck_assert_msg(i > 0 && buf[i - 1] == '\r', "bare LF at %d", i);
    ck_assert_msg((buf[i] >= 0x20 && buf[i] < 0x7f) || buf[i] == '\r' ||
                      buf[i] == '\n',
                  "byte 0x%02x at %d", (unsigned char)buf[i], i);
  }
  ck_assert(n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n');
  /* lines within RFC 5322's 78 characters, but for the token's line (one
   * line, so that a line-by-line header scan sees it whole): 998 */
  for (const char *p = buf; *p != '\0';) {
    const char *end = strstr(p, "\r\n");
    bool token_line = strncmp(p, POP3_LOOP_HEADER ":", 21) == 0;
    ck_assert_uint_le((size_t)(end - p), token_line ? 998 : 78);
    p = end + 2;
  }
  const char *body = strstr(buf, "\r\n\r\n");
  ck_assert_ptr_nonnull(body);
  ck_assert_ptr_null(strstr(body + 4, "\r\n.")); /* no dot-stuffing needed */
  ck_assert(strncmp(body + 4, ".", 1) != 0 &&
            strncmp(body + 4, "From ", 5) != 0);

  char line[256];
  snprintf(line, sizeof(line), "\r\n" POP3_LOOP_HEADER ": %s %s\r\n", MON, t);
  ck_assert_ptr_nonnull(strstr(buf, line));
  ck_assert_str_eq(header(buf, "From", v, sizeof(v)), " " FROM);
  ck_assert_str_eq(header(buf, "To", v, sizeof(v)), " " TO);
  ck_assert_str_eq(header(buf, "Subject", v, sizeof(v)),
                   " collectd pop3 mail loop probe (" MON ")");
  ck_assert_str_eq(header(buf, "Date", v, sizeof(v)),
                   " Tue, 14 Nov 2023 22:13:20 +0000");
  ck_assert_str_eq(header(buf, "MIME-Version", v, sizeof(v)), " 1.0");
  ck_assert_str_eq(header(buf, "Content-Type", v, sizeof(v)),
                   " text/plain; charset=us-ascii");
  ck_assert_str_eq(header(buf, "Auto-Submitted", v, sizeof(v)),
                   " auto-generated");
  char id[128];
  ck_assert_ptr_nonnull(header(buf, "Message-ID", id, sizeof(id)));
  ck_assert_msg(strncmp(id, " <1700000000123.", 16) == 0 &&
                    strstr(id, "@collectd-pop3.invalid>") != NULL,
                "%s", id);

  /* what the collection sees verifies */
  ck_assert_ptr_nonnull(header(buf, POP3_LOOP_HEADER, v, sizeof(v)));
  int64_t back = 0;
  ck_assert(verify_str(&k, MON, v, &back));
  ck_assert_int_eq(back, sent);

  /* another probe: another Message-ID */
  char t2[POP3_LOOP_TOKEN_MAX], buf2[4096], id2[128];
  make_token(&k, MON, sent, t2);
  ck_assert_int_gt(message(buf2, sizeof(buf2), MON, t2, sent), 0);
  ck_assert_ptr_nonnull(header(buf2, "Message-ID", id2, sizeof(id2)));
  ck_assert_str_ne(id, id2);
}
END_TEST

START_TEST(message_dates) {
  pop3_loop_key_t k = key_of(PASS, MON);
  char t[POP3_LOOP_TOKEN_MAX], buf[4096], v[128];
  const struct {
    int64_t ms;
    const char *date;
  } cases[] = {{0, " Thu, 01 Jan 1970 00:00:00 +0000"},
               {999, " Thu, 01 Jan 1970 00:00:00 +0000"},
               {951782400000, " Tue, 29 Feb 2000 00:00:00 +0000"},
               {4102444799999, " Thu, 31 Dec 2099 23:59:59 +0000"}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    make_token(&k, MON, cases[i].ms, t);
    ck_assert_int_gt(message(buf, sizeof(buf), MON, t, cases[i].ms), 0);
    ck_assert_str_eq(header(buf, "Date", v, sizeof(v)), cases[i].date);
  }
}
END_TEST

START_TEST(message_refuses_bad_input) {
  pop3_loop_key_t k = key_of(PASS, MON);
  char t[POP3_LOOP_TOKEN_MAX], buf[4096];
  make_token(&k, MON, 1000, t);
  const char *bad[] = {"",
                       "a@b\r\nBcc: victim@example.org",
                       "a@b\nX: y",
                       "a@b\r",
                       "a\tb@c",
                       "a@b\x7f",
                       "a@b\x1b[0m"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    ck_assert_int_eq(pop3_loop_message(buf, sizeof(buf), bad[i], TO, MON, t, 1000),
                     -1);
    ck_assert_int_eq(pop3_loop_message(buf, sizeof(buf), FROM, bad[i], MON, t, 1000),
                     -1);
    ck_assert_int_eq(pop3_loop_message(buf, sizeof(buf), FROM, TO, bad[i], t, 1000),
                     -1);
    ck_assert_str_eq(buf, "");
  }
  ck_assert_int_eq(pop3_loop_message(buf, sizeof(buf), NULL, TO, MON, t, 1000), -1);
  ck_assert_int_eq(pop3_loop_message(buf, sizeof(buf), FROM, NULL, MON, t, 1000), -1);
  ck_assert_int_eq(pop3_loop_message(buf, sizeof(buf), FROM, TO, NULL, t, 1000), -1);
  /* blanks around the name would not survive verification */
  ck_assert_int_eq(message(buf, sizeof(buf), " " MON, t, 1000), -1);
  ck_assert_int_eq(message(buf, sizeof(buf), MON " ", t, 1000), -1);
  /* not a token */
  const char *tokens[] = {NULL, "", "1.2.3", "x", "1000.abc\r\nBcc: x"};
  for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
    ck_assert_int_eq(message(buf, sizeof(buf), MON, tokens[i], 1000), -1);
  char upper[POP3_LOOP_TOKEN_MAX];
  snprintf(upper, sizeof(upper), "%s", t);
  for (char *p = upper; *p != '\0'; p++)
    if (*p >= 'a' && *p <= 'f')
      *p = (char)(*p - 'a' + 'A');
  ck_assert_int_eq(message(buf, sizeof(buf), MON, upper, 1000), -1);
  ck_assert_int_eq(message(buf, sizeof(buf), MON, t, -1), -1);
}
END_TEST

START_TEST(message_fits_or_fails) {
  pop3_loop_key_t k = key_of(PASS, MON);
  char t[POP3_LOOP_TOKEN_MAX], buf[4096], small[4096];
  make_token(&k, MON, 1000, t);
  int n = message(buf, sizeof(buf), MON, t, 1000);
  ck_assert_int_gt(n, 0);
  for (size_t size = 0; size <= (size_t)n; size++)
    ck_assert_msg(message(small, size, MON, t, 1000) == -1, "size %zu", size);
  ck_assert_int_eq(message(small, (size_t)n + 1, MON, t, 1000), n);
  ck_assert_str_eq(small, buf);

  /* a header line over RFC 5322's 998 octets: refused, never folded */
  char *monitor = malloc(1100);
  ck_assert_ptr_nonnull(monitor);
  memset(monitor, 'm', 1099);
  monitor[1099] = '\0';
  pop3_loop_key_t km = key_of(PASS, monitor);
  char tm[POP3_LOOP_TOKEN_MAX], *big = malloc(8192);
  ck_assert_ptr_nonnull(big);
  make_token(&km, monitor, 1000, tm);
  ck_assert_int_eq(message(big, 8192, monitor, tm, 1000), -1);
  /* the longest that fits: "X-Collectd-Pop3-Loop: " + name + " " + token */
  size_t longest = 998 - strlen(POP3_LOOP_HEADER ": ") - 1 - strlen(tm);
  monitor[longest] = '\0';
  km = key_of(PASS, monitor);
  make_token(&km, monitor, 1000, tm);
  ck_assert_int_gt(message(big, 8192, monitor, tm, 1000), 0);
  monitor[longest] = 'm';
  monitor[longest + 1] = '\0';
  ck_assert_int_eq(message(big, 8192, monitor, tm, 1000), -1);
  free(big);
  free(monitor);
}
END_TEST

int main(void) {
  Suite *s = suite_create("loop");
  TCase *tokens = tcase_create("tokens");
  tcase_add_test(tokens, tokens_unique_and_well_formed);
  tcase_add_test(tokens, token_refuses_negative_time);
  tcase_add_test(tokens, key_and_mac_match_the_recipe);
  suite_add_tcase(s, tokens);
  TCase *verify = tcase_create("verify");
  tcase_add_test(verify, verify_accepts_own_and_round_trips_time);
  tcase_add_test(verify, verify_after_restart_twenty_years_old);
  tcase_add_test(verify, verify_allows_blanks_and_folding);
  tcase_add_test(verify, verify_rejects_other_monitors);
  tcase_add_test(verify, verify_rejects_every_altered_byte);
  tcase_add_test(verify, verify_rejects_truncated_and_extended);
  tcase_add_test(verify, verify_rejects_empty_junk_and_nul);
  tcase_set_timeout(verify, 30);
  suite_add_tcase(s, verify);
  TCase *msg = tcase_create("message");
  tcase_add_test(msg, message_form);
  tcase_add_test(msg, message_dates);
  tcase_add_test(msg, message_refuses_bad_input);
  tcase_add_test(msg, message_fits_or_fails);
  suite_add_tcase(s, msg);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

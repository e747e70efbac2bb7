/* test_date.c: unit tests for pop3_date.c: RFC 5322 date-times (section 3.3,
 * the obsolete forms of 4.3, the forms servers write), what is refused, a
 * round trip of pseudo-random times formatted here with gmtime_r, and the
 * header scan for the top-most Received: date (folding, fallback to Date:,
 * truncated lines, a body, a 1 MB field).
 *
 * Expected Unix times were computed outside this code, with Python's
 * email.utils.parsedate_to_datetime(TEXT).timestamp() on the RFC form of
 * the same instant (shown in the comment when the text differs) and
 * checked with `date -u -d ... +%s`; offsets of a day or more, which both
 * refuse, are the +0000 time minus the offset. */
#define _GNU_SOURCE
#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pop3_date.h"

#define LIT(s) s, sizeof(s) - 1
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* 1 Dec 2026 10:00:00 +0000 */
#define DEC1 INT64_C(1796119200)

static void assert_parses(const char *text, size_t len, int64_t want) {
  int64_t got = -1;
  ck_assert_msg(pop3_date_parse(text, len, &got), "\"%.*s\" was refused",
                (int)len, text);
  ck_assert_msg(got == want, "\"%.*s\" gave %" PRId64 ", not %" PRId64,
                (int)len, text, got, want);
}

static void assert_refused(const char *text, size_t len) {
  int64_t got = 12345;
  ck_assert_msg(!pop3_date_parse(text, len, &got),
                "\"%.*s\" was accepted as %" PRId64, (int)len, text, got);
  ck_assert_msg(got == 12345, "\"%.*s\": the result was written though refused",
                (int)len, text);
}

/* ---- pop3_date_parse ----------------------------------------------------- */

static const struct {
  const char *text;
  size_t len;
  int64_t want;
} accepted[] = {
    /* RFC 5322 3.3, with and without the day name */
    {LIT("Tue, 1 Dec 2026 10:00:00 +0000"), DEC1},
    {LIT("Tue, 01 Dec 2026 10:00:00 +0000"), DEC1},
    {LIT("1 Dec 2026 10:00:00 +0000"), DEC1},
    {LIT("Tue, 1 Dec 2026 10:00:00 +0100"), INT64_C(1796115600)},
    {LIT("Mon, 30 Nov 2026 22:15:07 +0100"), INT64_C(1796073307)},
    {LIT("Fri, 13 Mar 2026 07:08:09 +0000"), INT64_C(1773385689)},
    {LIT("Tue, 1 Dec 2026 10:00:30 +0000"), DEC1 + 30},
    /* the day name without comma, odd spacing, any case, the full name */
    {LIT("Tue 1 Dec 2026 10:00:00 +0000"), DEC1},
    {LIT("Tue,1 Dec 2026 10:00:00 +0000"), DEC1},
    {LIT("  Tue ,  1   Dec\t2026  10:00:00   +0000  "), DEC1},
    {LIT("tUE, 1 dEC 2026 10:00:00 +0000"), DEC1},
    {LIT("TUESDAY, 1 DEC 2026 10:00:00 +0000"), DEC1},
    /* the day name is not checked against the date (a Monday here) */
    {LIT("Sun, 1 Dec 2026 10:00:00 +0000"), DEC1},
    /* hh:mm; a single-digit hour */
    {LIT("1 Dec 2026 10:00 +0000"), DEC1},
    {LIT("1 Dec 2026 9:05:00 +0000"), INT64_C(1796115900)},
    {LIT("1 Dec 2026 09:05 +0000"), INT64_C(1796115900)},
    /* obsolete years: 2 digits 00-49 -> 20xx, 50-99 -> 19xx; 3 digits + 1900 */
    {LIT("1 Dec 26 10:00:00 +0000"), DEC1},
    {LIT("1 Dec 49 10:00:00 +0000"), INT64_C(2521965600)}, /* 2049 */
    {LIT("1 Dec 50 10:00:00 +0000"), INT64_C(-602258400)}, /* 1950 */
    {LIT("1 Dec 99 10:00:00 +0000"), INT64_C(944042400)},  /* 1999 */
    {LIT("1 Dec 00 10:00:00 +0000"), INT64_C(975664800)},  /* 2000 */
    {LIT("1 Dec 126 10:00:00 +0000"), DEC1},               /* 2026 */
    {LIT("1 Dec 099 10:00:00 +0000"), INT64_C(944042400)}, /* 1999 */
    /* a leap second is the first second of the next minute */
    {LIT("Sat, 31 Dec 2016 23:59:60 +0000"), INT64_C(1483228800)},
    {LIT("Sat, 31 Dec 2016 23:59:59 +0000"), INT64_C(1483228799)},
    /* the calendar */
    {LIT("29 Feb 2024 12:00:00 +0000"), INT64_C(1709208000)},
    {LIT("29 Feb 2000 12:00:00 +0000"), INT64_C(951825600)},
    {LIT("28 Feb 2023 12:00:00 +0000"), INT64_C(1677585600)},
    {LIT("1 Mar 2100 00:00:00 +0000"), INT64_C(4107542400)},
    {LIT("15 Jun 2126 08:30:00 +0000"), INT64_C(4937185800)},
    {LIT("1 Jan 1970 00:00:00 +0000"), 0},
    {LIT("1 Jan 1970 00:00:00 +0100"), -3600},
    {LIT("1 Jan 1900 00:00:00 +0000"), INT64_C(-2208988800)},
    {LIT("31 Dec 9999 23:59:59 +0000"), INT64_C(253402300799)},
    /* numeric zones */
    {LIT("1 Dec 2026 10:00:00 -0000"), DEC1},
    {LIT("1 Dec 2026 10:00:00 -0800"), INT64_C(1796148000)},
    {LIT("1 Dec 2026 10:00:00 +0530"), INT64_C(1796099400)},
    {LIT("1 Dec 2026 10:00:00 -0930"), INT64_C(1796153400)},
    {LIT("1 Dec 2026 10:00:00 +9959"), DEC1 - (99 * 3600 + 59 * 60)},
    {LIT("1 Dec 2026 10:00:00 -9959"), DEC1 + (99 * 3600 + 59 * 60)},
    /* obsolete zones (RFC 5322 4.3) */
    {LIT("1 Dec 2026 10:00:00 UT"), DEC1},
    {LIT("1 Dec 2026 10:00:00 GMT"), DEC1},
    {LIT("1 Dec 2026 10:00:00 UTC"), DEC1},
    {LIT("1 Dec 2026 10:00:00 gmt"), DEC1},
    {LIT("1 Dec 2026 10:00:00 EST"), INT64_C(1796137200)}, /* -0500 */
    {LIT("1 Dec 2026 10:00:00 EDT"), INT64_C(1796133600)}, /* -0400 */
    {LIT("1 Dec 2026 10:00:00 CST"), INT64_C(1796140800)}, /* -0600 */
    {LIT("1 Dec 2026 10:00:00 CDT"), INT64_C(1796137200)}, /* -0500 */
    {LIT("1 Dec 2026 10:00:00 MST"), INT64_C(1796144400)}, /* -0700 */
    {LIT("1 Dec 2026 10:00:00 MDT"), INT64_C(1796140800)}, /* -0600 */
    {LIT("1 Dec 2026 10:00:00 PST"), INT64_C(1796148000)}, /* -0800 */
    {LIT("1 Dec 2026 10:00:00 pdt"), INT64_C(1796144400)}, /* -0700 */
    /* military letters and unknown names mean -0000 */
    {LIT("1 Dec 2026 10:00:00 Z"), DEC1},
    {LIT("1 Dec 2026 10:00:00 A"), DEC1},
    {LIT("1 Dec 2026 10:00:00 M"), DEC1},
    {LIT("1 Dec 2026 10:00:00 y"), DEC1},
    {LIT("1 Dec 2026 10:00:00 CET"), DEC1},
    {LIT("1 Dec 2026 10:00:00 AEST"), DEC1},
    /* no zone: UTC */
    {LIT("1 Dec 2026 10:00:00"), DEC1},
    {LIT("Tue, 1 Dec 2026 10:00"), DEC1},
    {LIT("1 Dec 2026 10:00:00 (no zone given)"), DEC1},
    /* a zone name after the offset says no more than the offset */
    {LIT("1 Dec 2026 10:00:00 +0000 GMT"), DEC1},
    {LIT("1 Dec 2026 10:00:00 -0800 PST"), INT64_C(1796148000)},
    {LIT("1 Dec 2026 11:00:00 +0100 CET"), DEC1},
    {LIT("1 Dec 2026 12:00:00 +0200 (CEST) CEST"), DEC1},
    {LIT("1 Dec 2026 12:00:00 +0200 CEST (CEST)"), DEC1},
    /* CFWS: comments, nested, with quoted-pairs, anywhere */
    {LIT("Tue, 1 Dec 2026 10:00:00 +0000 (UTC)"), DEC1},
    {LIT("1 Dec 2026 10:00:00 -0800 (PST)"), INT64_C(1796148000)},
    {LIT("Tue, 1 Dec 2026 02:00:00 -0800 (PST) (and more)"), DEC1},
    {LIT("(c)Tue(c),(c)1(c)Dec(c)2026(c)10(c):(c)00(c):(c)00(c)+0000(c)"),
     DEC1},
    {LIT("Tue, 1 Dec 2026 10:00:00 +0000 (a (nested (comment)) here)"), DEC1},
    {LIT("Tue, 1 Dec 2026 10:00:00 +0000 (quoted \\) and \\( pairs)"), DEC1},
    {LIT("Tue, 1 Dec 2026 10:00:00 +0000 (8-bit \xc3\xa9 and \x01)"), DEC1},
    {LIT("Tue, 1 Dec 2026 10 : 00 : 00 +0000"), DEC1},
    /* folding kept as it came */
    {LIT("Tue, 1 Dec 2026\r\n 10:00:00 +0000"), DEC1},
    {LIT("\tTue, 1 Dec 2026\n\t10:00:00\n +0000\r\n"), DEC1},
    /* dashes (qmail, old Exchange) */
    {LIT("1-Dec-2026 10:00:00 +0000"), DEC1},
    {LIT("Tue, 01-Dec-2026 10:00:00 +0000"), DEC1},
    {LIT("1-Dec-26 10:00:00 GMT"), DEC1},
    {LIT("1 - Dec - 2026 10:00:00 +0000"), DEC1},
    /* what servers write in Received: */
    {LIT(" Tue,  1 Dec 2026 11:00:00 +0100 (CET)"), DEC1},     /* Postfix */
    {LIT(" 1 Dec 2026 10:00:00 -0000"), DEC1},                 /* qmail */
    {LIT(" Tue, 01 Dec 2026 05:00:00 -0500"), DEC1},           /* Exim */
    {LIT("\r\n\tTue, 1 Dec 2026 10:00:00 +0000 (UTC)"), DEC1}, /* Exchange */
    {LIT(" Tue, 01 Dec 2026 02:00:00 -0800 (PST)"), DEC1},     /* Google */
};

START_TEST(test_parse_accepts) {
  for (size_t i = 0; i < ARRAY_LEN(accepted); i++)
    assert_parses(accepted[i].text, accepted[i].len, accepted[i].want);
}
END_TEST

static const struct {
  const char *text;
  size_t len;
} refused[] = {
    /* nothing */
    {LIT("")},
    {LIT("   ")},
    {LIT("(a comment only)")},
    /* impossible dates and times */
    {LIT("30 Feb 2026 10:00:00 +0000")},
    {LIT("29 Feb 2023 10:00:00 +0000")},
    {LIT("29 Feb 2100 10:00:00 +0000")},
    {LIT("31 Apr 2026 10:00:00 +0000")},
    {LIT("32 Dec 2026 10:00:00 +0000")},
    {LIT("0 Dec 2026 10:00:00 +0000")},
    {LIT("00 Dec 2026 10:00:00 +0000")},
    {LIT("1 Dec 2026 24:00:00 +0000")},
    {LIT("1 Dec 2026 25:00:00 +0000")},
    {LIT("1 Dec 2026 10:60:00 +0000")},
    {LIT("1 Dec 2026 10:00:61 +0000")},
    {LIT("1 Dec 2026 10:00:99 +0000")},
    /* years */
    {LIT("31 Dec 1899 23:59:59 +0000")},
    {LIT("1 Dec 0099 10:00:00 +0000")},
    {LIT("1 Dec 0000 10:00:00 +0000")},
    {LIT("1 Dec 10000 10:00:00 +0000")},
    {LIT("1 Dec 2 10:00:00 +0000")},
    /* zones */
    {LIT("1 Dec 2026 10:00:00 +0060")},
    {LIT("1 Dec 2026 10:00:00 -0099")},
    {LIT("1 Dec 2026 10:00:00 +000")},
    {LIT("1 Dec 2026 10:00:00 +00000")},
    {LIT("1 Dec 2026 10:00:00 +01:00")},
    {LIT("1 Dec 2026 10:00:00 +")},
    {LIT("1 Dec 2026 10:00:00 + 0100")},
    {LIT("1 Dec 2026 10:00:00 +0000GMT")},
    {LIT("1 Dec 2026 10:00:00 GMT+0100")},
    /* digit counts */
    {LIT("001 Dec 2026 10:00:00 +0000")},
    {LIT("1 Dec 2026 010:00:00 +0000")},
    {LIT("1 Dec 2026 10:000:00 +0000")},
    {LIT("1 Dec 2026 10:0:00 +0000")},
    {LIT("1 Dec 2026 10:00:0 +0000")},
    {LIT("1 Dec 2026 10:00:000 +0000")},
    {LIT("99999999999999999999999 Dec 2026 10:00:00 +0000")},
    {LIT("1 Dec 99999999999999999999999 10:00:00 +0000")},
    {LIT("1 Dec 2026 10:00:00 +99999999999999999999")},
    /* missing or misplaced parts */
    {LIT("1 Dec 2026")},
    {LIT("1 Dec 2026 10")},
    {LIT("1 Dec 2026 10:")},
    {LIT("Dec 2026 10:00:00 +0000")},
    {LIT("Tue, Dec 1 2026 10:00:00 +0000")},
    {LIT("Tue Dec  1 10:00:00 2026")},
    {LIT("1 Dec 2026 10:00:00 +0000 2026")},
    {LIT("1Dec2026 10:00:00 +0000")},
    {LIT("1 Dec202610:00:00 +0000")},
    {LIT("2026-12-01T10:00:00Z")},
    {LIT("1 December 2026 10:00:00 +0000")},
    {LIT("1 Dez 2026 10:00:00 +0000")},
    /* the day name */
    {LIT("Foo, 1 Dec 2026 10:00:00 +0000")},
    {LIT(", 1 Dec 2026 10:00:00 +0000")},
    {LIT("Tue1 Dec 2026 10:00:00 +0000")},
    {LIT("Tue,, 1 Dec 2026 10:00:00 +0000")},
    /* junk after the zone, and comments left open */
    {LIT("1 Dec 2026 10:00:00 +0000 +0000")},
    {LIT("1 Dec 2026 10:00:00 +0000 GMT GMT")},
    {LIT("1 Dec 2026 10:00:00 +0000;")},
    {LIT("1 Dec 2026 10:00:00 +0000 x1")},
    {LIT("1 Dec 2026 10:00:00 +0000 and so on")},
    {LIT("1 Dec 2026 10:00:00 +0000 CENTRAL")},
    {LIT("1 Dec 2026 10:00:00 yesterday")},
    {LIT("1 Dec 2026 10:00:00 +0000 (open")},
    {LIT("1 Dec 2026 10:00:00 +0000 (a (b)")},
    {LIT("1 Dec 2026 10:00:00 +0000 (quoted \\)")},
    {LIT("1 Dec 2026 10:00:00 +0000 (\\")},
    {LIT("1 Dec 2026 10:00:00 +0000 )")},
    {LIT("1 Dec 2026 10:00:00 +0000 \\(x)")},
    /* bytes that are no part of a date */
    {LIT("1 D\xc3\xa9"
         "c 2026 10:00:00 +0000")},
    {LIT("1 Dec 2026\x00 10:00:00 +0000")},
    {LIT("1 Dec 2026 10:00:00 +0000\x00")},
    {LIT("\xff")},
    {LIT("1 Dec 2026 10:00:00 +0000\v")},
};

START_TEST(test_parse_refuses) {
  for (size_t i = 0; i < ARRAY_LEN(refused); i++)
    assert_refused(refused[i].text, refused[i].len);
  int64_t t;
  ck_assert(!pop3_date_parse(NULL, 0, &t));
}
END_TEST

/* The length is explicit: the parser reads no byte beyond it, and needs no
 * NUL. */
START_TEST(test_parse_explicit_length) {
  static const char text[] = "Tue, 1 Dec 2026 10:00:00 +0000 junk!";
  assert_parses(text, 30, DEC1);
  assert_refused(text, sizeof(text) - 1);
  /* the length ends inside the zone */
  assert_refused(text, 29);
}
END_TEST

/* Every prefix of a date, copied to a buffer of exactly that size (a read
 * past the end would be caught under the sanitizers). */
START_TEST(test_parse_prefixes) {
  static const char text[] = "Tue, 1 Dec 2026 10:00:00 +0000 (UTC)";
  size_t n = sizeof(text) - 1;
  for (size_t len = 0; len <= n; len++) {
    char *copy = malloc(len > 0 ? len : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, text, len);
    int64_t t = 0;
    bool ok = pop3_date_parse(copy, len, &t);
    /* "... 10:00", "... 10:00:00" and the whole date with or without the
     * comment parse; a cut zone or comment does not */
    bool want = len == 21 || len == 24 || len == 25 || len == 30 || len == 31 ||
                len == n;
    ck_assert_msg(ok == want, "prefix of %zu bytes: %s", len,
                  ok ? "accepted" : "refused");
    if (ok)
      ck_assert_int_eq(t, DEC1);
    free(copy);
  }
}
END_TEST

/* ---- round trip ---------------------------------------------------------- */

static uint64_t next_rand(uint64_t *state) { /* xorshift64 */
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

/* Times from 1900 to 9999 in every kind of zone, written here from
 * gmtime_r's fields in one of several styles, parse back to themselves. */
START_TEST(test_parse_round_trip) {
  static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
                                     "Thu", "Fri", "Sat"};
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
                                       "May", "Jun", "Jul", "Aug",
                                       "Sep", "Oct", "Nov", "Dec"};
  const int64_t lowest = INT64_C(-2208988800);   /* 1 Jan 1900 00:00:00 */
  const int64_t highest = INT64_C(253402300799); /* 31 Dec 9999 23:59:59 */
  uint64_t rng = 0x2545f4914f6cdd1dull;
  for (int i = 0; i < 200000; i++) {
    /* the local time first, so that it stays within 1900..9999 */
    int64_t local =
        lowest + (int64_t)(next_rand(&rng) % (uint64_t)(highest - lowest + 1));
    if (i < 4) /* the ends of the range */
      local = (i % 2 == 0) ? lowest : highest;
    int hours = (int)(next_rand(&rng) % 100),
        minutes = (int)(next_rand(&rng) % 60);
    if (next_rand(&rng) % 4 != 0) { /* mostly the zones of this world */
      hours = (int)(next_rand(&rng) % 15);
      minutes = (int)(next_rand(&rng) % 4) * 15;
    }
    int sign = next_rand(&rng) % 2 ? 1 : -1;
    int64_t offset = sign * (hours * 3600 + minutes * 60);
    int64_t want = local - offset;
    time_t tt = (time_t)local;
    struct tm tm;
    ck_assert_ptr_nonnull(gmtime_r(&tt, &tm));
    int year = tm.tm_year + 1900;

    uint64_t style = next_rand(&rng);
    char text[160];
    char day_name[16] = "", year_text[16], seconds[16] = "", zone[16];
    if (style & 1)
      snprintf(day_name, sizeof(day_name), "%s,%s", days[tm.tm_wday],
               (style & 2) ? " " : "");
    if (year >= 1950 && year <= 2049 && (style & 4))
      snprintf(year_text, sizeof(year_text), "%02d", year % 100);
    else if (year < 2900 && (style & 8) && (style & 16))
      snprintf(year_text, sizeof(year_text), "%03d", year - 1900);
    else
      snprintf(year_text, sizeof(year_text), "%d", year);
    if (tm.tm_sec != 0 || (style & 32))
      snprintf(seconds, sizeof(seconds), ":%02d", tm.tm_sec);
    snprintf(zone, sizeof(zone), "%c%02d%02d", sign > 0 ? '+' : '-', hours,
             minutes);
    const char *sep = (style & 64) ? "-" : " ";
    snprintf(text, sizeof(text),
             (style & 512) ? "%s%s%02d%s%s%s%s %02d:%02d%s %s%s"
                           : "%s%s%d%s%s%s%s %02d:%02d%s %s%s",
             day_name, (style & 128) ? "  " : "", tm.tm_mday, sep,
             months[tm.tm_mon], sep, year_text, tm.tm_hour, tm.tm_min, seconds,
             zone, (style & 256) ? " (comment)" : "");
    assert_parses(text, strlen(text), want);
  }
}
END_TEST

/* ---- the header scan ----------------------------------------------------- */

/* Feeds lines (NULL-terminated list) and returns what the scanner found. */
static pop3_date_source_t scan(const char *const *lines, int64_t *t) {
  pop3_headers_t h;
  pop3_headers_init(&h);
  for (size_t i = 0; lines[i] != NULL; i++)
    pop3_headers_line(&h, lines[i], strlen(lines[i]), false);
  pop3_date_source_t source = POP3_DATE_RECEIVED;
  *t = -1;
  bool ok = pop3_headers_date(&h, t, &source);
  ck_assert(ok == (source != POP3_DATE_NONE));
  return source;
}

#define ASSERT_SCAN(want_source, want_time, ...)                               \
  do {                                                                         \
    const char *const lines_[] = {__VA_ARGS__, NULL};                          \
    int64_t t_;                                                                \
    pop3_date_source_t s_ = scan(lines_, &t_);                                 \
    ck_assert_msg(s_ == (want_source), "source %s, not %s",                    \
                  pop3_date_source_name(s_),                                   \
                  pop3_date_source_name(want_source));                         \
    if ((want_source) != POP3_DATE_NONE)                                       \
      ck_assert_msg(t_ == (want_time), "%" PRId64 ", not %" PRId64, t_,        \
                    (int64_t)(want_time));                                     \
  } while (0)

START_TEST(test_headers_received_first) {
  /* the top-most Received: wins over the later ones and over Date: */
  ASSERT_SCAN(POP3_DATE_RECEIVED, DEC1, "Return-Path: <a@example.org>",
              "Received: from mx.example.org by pop.example.net; "
              "Tue, 1 Dec 2026 10:00:00 +0000",
              "Received: from a.example by mx.example.org; "
              "Tue, 1 Dec 2026 09:59:58 +0000",
              "Date: Tue, 1 Dec 2026 09:59:00 +0000", "Subject: hello", "");
  /* Received: after Date: still wins */
  ASSERT_SCAN(POP3_DATE_RECEIVED, DEC1, "Date: Tue, 1 Dec 2026 09:00:00 +0000",
              "Received: by x; Tue, 1 Dec 2026 10:00:00 +0000", "");
  /* the date follows the last ';' */
  ASSERT_SCAN(POP3_DATE_RECEIVED, DEC1,
              "Received: from a (b; c) by d with ESMTP id 1; for <u@x>; "
              "Tue, 1 Dec 2026 10:00:00 +0000 (UTC)",
              "");
  /* no empty line at the end */
  ASSERT_SCAN(POP3_DATE_RECEIVED, DEC1,
              "Received: by x; Tue, 1 Dec 2026 10:00:00 +0000");
  /* the name in any case, blanks before the colon */
  ASSERT_SCAN(POP3_DATE_RECEIVED, DEC1,
              "rECEIVED: by x; Tue, 1 Dec 2026 10:00:00 +0000", "");
  ASSERT_SCAN(POP3_DATE_RECEIVED, DEC1,
              "Received :by x; Tue, 1 Dec 2026 10:00:00 +0000", "");
  ASSERT_SCAN(POP3_DATE_RECEIVED, DEC1,
              "Received \t : by x;Tue, 1 Dec 2026 10:00:00 +0000", "");
  /* not Received: */
  ASSERT_SCAN(POP3_DATE_DATE, DEC1,
              "X-Received: by x; Tue, 1 Dec 2026 11:00:00 +0000",
              "Received-SPF: pass; Tue, 1 Dec 2026 11:00:00 +0000",
              "Received by x; Tue, 1 Dec 2026 11:00:00 +0000",
              "Date: Tue, 1 Dec 2026 10:00:00 +0000", "");
}
END_TEST

START_TEST(test_headers_folding) {
  /* the date on a continuation line (Postfix, Exchange) */
  ASSERT_SCAN(POP3_DATE_RECEIVED, DEC1,
              "Received: from mx.example.org (mx.example.org [192.0.2.1])",
              "\tby pop.example.net (Postfix) with ESMTPS id 4Zx",
              "\tfor <u@example.net>; Tue,  1 Dec 2026 11:00:00 +0100 (CET)",
              "Date: Tue, 1 Dec 2026 09:00:00 +0000", "");
  /* the ';' on one line, the date folded over three */
  ASSERT_SCAN(POP3_DATE_RECEIVED, DEC1, "Received: by x;", " Tue, 1 Dec",
              "  2026 10:00:00", "\t+0000", "");
  /* a later ';' starts the date afresh */
  ASSERT_SCAN(POP3_DATE_RECEIVED, DEC1,
              "Received: by x; Tue, 1 Dec 2026 09:00:00 +0000",
              " ; Tue, 1 Dec 2026 10:00:00 +0000", "");
  /* a Date: folded */
  ASSERT_SCAN(POP3_DATE_DATE, DEC1, "Date:", " Tue, 1 Dec 2026", " 10:00:00",
              " +0000", "");
  /* continuation lines before any field belong to nothing */
  ASSERT_SCAN(POP3_DATE_DATE, DEC1, " ; Tue, 1 Dec 2026 09:00:00 +0000",
              "Date: Tue, 1 Dec 2026 10:00:00 +0000", "");
}
END_TEST

START_TEST(test_headers_fallback) {
  /* Received: without ';': Date: */
  ASSERT_SCAN(POP3_DATE_DATE, DEC1,
              "Received: by x with local (Exim 4.96) id 1 Tue, 1 Dec 2026 "
              "09:00:00 +0000",
              "Date: Tue, 1 Dec 2026 10:00:00 +0000", "");
  /* the top-most Received: has a bad date: Date:, not the next Received: */
  ASSERT_SCAN(POP3_DATE_DATE, DEC1, "Received: by x; yesterday",
              "Received: by y; Tue, 1 Dec 2026 09:00:00 +0000",
              "Date: Tue, 1 Dec 2026 10:00:00 +0000", "");
  /* Date: only */
  ASSERT_SCAN(POP3_DATE_DATE, DEC1, "From: a@example.org",
              "date: Tue, 1 Dec 2026 10:00:00 +0000", "Subject: s", "");
  ASSERT_SCAN(POP3_DATE_DATE, DEC1, "Date : Tue, 1 Dec 2026 10:00:00 +0000");
  /* only the first Date: */
  ASSERT_SCAN(POP3_DATE_DATE, DEC1, "Date: Tue, 1 Dec 2026 10:00:00 +0000",
              "Date: Tue, 1 Dec 2026 11:00:00 +0000", "");
  ASSERT_SCAN(POP3_DATE_NONE, 0, "Date: soon",
              "Date: Tue, 1 Dec 2026 11:00:00 +0000", "");
  /* neither */
  ASSERT_SCAN(POP3_DATE_NONE, 0, "From: a@example.org", "Subject: s", "");
  ASSERT_SCAN(POP3_DATE_NONE, 0, "");
  ASSERT_SCAN(POP3_DATE_NONE, 0, "Received: by x", "Date: never", "");
  /* lines that are no field */
  ASSERT_SCAN(POP3_DATE_NONE, 0, "no colon here",
              ": Tue, 1 Dec 2026 10:00:00 +0000",
              "Rec\xc3\xa9ived: by x; "
              "Tue, 1 Dec 2026 10:00:00 +0000",
              "");
  pop3_headers_t h;
  pop3_headers_init(&h);
  int64_t t = 7;
  pop3_date_source_t source = POP3_DATE_DATE;
  ck_assert(!pop3_headers_date(&h, &t, &source));
  ck_assert_int_eq(source, POP3_DATE_NONE);
}
END_TEST

START_TEST(test_headers_body_ignored) {
  ASSERT_SCAN(POP3_DATE_DATE, DEC1, "Date: Tue, 1 Dec 2026 10:00:00 +0000", "",
              "Received: by x; Tue, 1 Dec 2026 11:00:00 +0000",
              "Date: Tue, 1 Dec 2026 11:00:00 +0000");
  ASSERT_SCAN(POP3_DATE_NONE, 0, "Subject: s", "",
              "Received: by x; Tue, 1 Dec 2026 11:00:00 +0000");
  /* a line of blanks is a continuation, not the end */
  ASSERT_SCAN(POP3_DATE_RECEIVED, DEC1, "Received: by x;", "  ",
              " Tue, 1 Dec 2026 10:00:00 +0000", "");
}
END_TEST

static void feed(pop3_headers_t *h, const char *line, bool truncated) {
  pop3_headers_line(h, line, strlen(line), truncated);
}

static pop3_date_source_t result(const pop3_headers_t *h, int64_t *t) {
  pop3_date_source_t source;
  pop3_headers_date(h, t, &source);
  return source;
}

START_TEST(test_headers_truncated) {
  pop3_headers_t h;
  int64_t t;
  /* the line with the date was cut: no Received: date, Date: instead */
  pop3_headers_init(&h);
  feed(&h, "Received: by x; Tue, 1 Dec 2026 10:00:00 +0000", true);
  feed(&h, "Date: Tue, 1 Dec 2026 09:00:00 +0000", false);
  feed(&h, "", false);
  ck_assert_int_eq(result(&h, &t), POP3_DATE_DATE);
  ck_assert_int_eq(t, DEC1 - 3600);
  /* cut before the ';' of a continuation: the ';' starts afresh */
  pop3_headers_init(&h);
  feed(&h, "Received: from a-very-long-name", true);
  feed(&h, "\tby x; Tue, 1 Dec 2026 10:00:00 +0000", false);
  feed(&h, "", false);
  ck_assert_int_eq(result(&h, &t), POP3_DATE_RECEIVED);
  ck_assert_int_eq(t, DEC1);
  /* a cut continuation after the date spoils it */
  pop3_headers_init(&h);
  feed(&h, "Received: by x; Tue, 1 Dec 2026 10:00:00 +0000", false);
  feed(&h, " (comment", true);
  feed(&h, "", false);
  ck_assert_int_eq(result(&h, &t), POP3_DATE_NONE);
  /* a cut Date: has no date */
  pop3_headers_init(&h);
  feed(&h, "Date: Tue, 1 Dec 2026 10:00:00 +0000", true);
  ck_assert_int_eq(result(&h, &t), POP3_DATE_NONE);
  /* a cut line of another field changes nothing */
  pop3_headers_init(&h);
  feed(&h, "Received: by x; Tue, 1 Dec 2026 10:00:00 +0000", false);
  feed(&h, "Subject: a very long subject", true);
  feed(&h, "", false);
  ck_assert_int_eq(result(&h, &t), POP3_DATE_RECEIVED);
  ck_assert_int_eq(t, DEC1);
  /* a cut line of which nothing was kept is not the end of the header */
  pop3_headers_init(&h);
  feed(&h, "Subject: s", false);
  pop3_headers_line(&h, "", 0, true);
  feed(&h, "Date: Tue, 1 Dec 2026 10:00:00 +0000", false);
  ck_assert_int_eq(result(&h, &t), POP3_DATE_DATE);
}
END_TEST

START_TEST(test_headers_settled) {
  pop3_headers_t h;
  int64_t t;
  pop3_headers_init(&h);
  ck_assert(!pop3_headers_settled(&h));
  feed(&h, "Return-Path: <a@example.org>", false);
  ck_assert(!pop3_headers_settled(&h));
  feed(&h, "Received: by x;", false);
  feed(&h, " Tue, 1 Dec 2026 10:00:00 +0000", false);
  /* a continuation could still follow */
  ck_assert(!pop3_headers_settled(&h));
  feed(&h, "Received: by y; Tue, 1 Dec 2026 09:00:00 +0000", false);
  ck_assert(pop3_headers_settled(&h));
  feed(&h, "Date: Tue, 1 Dec 2026 08:00:00 +0000", false);
  ck_assert(pop3_headers_settled(&h));
  ck_assert_int_eq(result(&h, &t), POP3_DATE_RECEIVED);
  ck_assert_int_eq(t, DEC1);

  /* a Received: without a date settles once Date: is complete */
  pop3_headers_init(&h);
  feed(&h, "Received: by x", false);
  feed(&h, "Subject: s", false);
  ck_assert(!pop3_headers_settled(&h));
  feed(&h, "Date: Tue, 1 Dec 2026 10:00:00 +0000", false);
  ck_assert(!pop3_headers_settled(&h));
  feed(&h, "", false);
  ck_assert(pop3_headers_settled(&h));
  ck_assert_int_eq(result(&h, &t), POP3_DATE_DATE);
  ck_assert_int_eq(t, DEC1);

  /* Date: alone never settles before the end: a Received: may follow */
  pop3_headers_init(&h);
  feed(&h, "Date: Tue, 1 Dec 2026 10:00:00 +0000", false);
  feed(&h, "Subject: s", false);
  ck_assert(!pop3_headers_settled(&h));
  feed(&h, "", false);
  ck_assert(!pop3_headers_settled(&h));
  ck_assert_int_eq(result(&h, &t), POP3_DATE_DATE);
}
END_TEST

/* A 1 MB field arrives as a thousand lines of 1000 bytes: the scanner keeps
 * no more than its struct, and a date-time that does not fit is no date. */
START_TEST(test_headers_huge_field) {
  static char line[1001];
  pop3_headers_t h;
  int64_t t;
  ck_assert_uint_lt(sizeof(pop3_headers_t), 1024);

  /* after the last ';': a megabyte of comment, never closed in time */
  pop3_headers_init(&h);
  feed(&h, "Received: by x; Tue, 1 Dec 2026 10:00:00 +0000 (", false);
  memset(line, 'x', 1000);
  line[0] = '\t';
  for (int i = 0; i < 1000; i++)
    feed(&h, line, false);
  feed(&h, " )", false);
  feed(&h, "", false);
  ck_assert_int_eq(result(&h, &t), POP3_DATE_NONE);

  /* the same with a Date: after it */
  pop3_headers_init(&h);
  feed(&h, "Received: by x; Tue, 1 Dec 2026 10:00:00 +0000 (", false);
  for (int i = 0; i < 1000; i++)
    feed(&h, line, false);
  feed(&h, " )", false);
  feed(&h, "Date: Tue, 1 Dec 2026 09:00:00 +0000", false);
  feed(&h, "", false);
  ck_assert_int_eq(result(&h, &t), POP3_DATE_DATE);
  ck_assert_int_eq(t, DEC1 - 3600);

  /* a megabyte before the last ';' costs nothing */
  pop3_headers_init(&h);
  feed(&h, "Received: from x", false);
  for (int i = 0; i < 1000; i++)
    feed(&h, line, false);
  feed(&h, " by y; Tue, 1 Dec 2026 10:00:00 +0000", false);
  feed(&h, "", false);
  ck_assert_int_eq(result(&h, &t), POP3_DATE_RECEIVED);
  ck_assert_int_eq(t, DEC1);

  /* a megabyte of blanks is one blank */
  pop3_headers_init(&h);
  feed(&h, "Date: Tue, 1 Dec 2026", false);
  memset(line, ' ', 1000);
  for (int i = 0; i < 1000; i++)
    feed(&h, line, false);
  feed(&h, "\t10:00:00 +0000", false);
  feed(&h, "", false);
  ck_assert_int_eq(result(&h, &t), POP3_DATE_DATE);
  ck_assert_int_eq(t, DEC1);

  /* a megabyte of one-byte ';' lines and a date at the end */
  pop3_headers_init(&h);
  feed(&h, "Received: by x", false);
  for (int i = 0; i < 1000000; i++)
    feed(&h, " ;", false);
  feed(&h, " Tue, 1 Dec 2026 10:00:00 +0000", false);
  ck_assert_int_eq(result(&h, &t), POP3_DATE_RECEIVED);
  ck_assert_int_eq(t, DEC1);
}
END_TEST

/* Exactly POP3_HEADER_VALUE_MAX bytes fit; one more does not. */
START_TEST(test_headers_value_limit) {
  char line[POP3_HEADER_VALUE_MAX + 64];
  const char *date = " Tue, 1 Dec 2026 10:00:00 +0000 (";
  for (int extra = 0; extra <= 1; extra++) {
    size_t n = strlen(date);
    memcpy(line, date, n);
    while (n < POP3_HEADER_VALUE_MAX - 1 + (size_t)extra)
      line[n++] = 'c';
    line[n++] = ')';
    pop3_headers_t h;
    int64_t t;
    pop3_headers_init(&h);
    feed(&h, "Received: by x;", false);
    pop3_headers_line(&h, line, n, false);
    ck_assert_int_eq(result(&h, &t),
                     extra ? POP3_DATE_NONE : POP3_DATE_RECEIVED);
  }
}
END_TEST

START_TEST(test_source_names) {
  ck_assert_str_eq(pop3_date_source_name(POP3_DATE_RECEIVED), "Received");
  ck_assert_str_eq(pop3_date_source_name(POP3_DATE_DATE), "Date");
  ck_assert_str_eq(pop3_date_source_name(POP3_DATE_NONE), "none");
  ck_assert_str_eq(pop3_date_source_name((pop3_date_source_t)99), "none");
}
END_TEST

static Suite *date_suite(void) {
  Suite *suite = suite_create("pop3_date");
  TCase *tc = tcase_create("parse");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_parse_accepts);
  tcase_add_test(tc, test_parse_refuses);
  tcase_add_test(tc, test_parse_explicit_length);
  tcase_add_test(tc, test_parse_prefixes);
  tcase_add_test(tc, test_parse_round_trip);
  suite_add_tcase(suite, tc);

  tc = tcase_create("headers");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_headers_received_first);
  tcase_add_test(tc, test_headers_folding);
  tcase_add_test(tc, test_headers_fallback);
  tcase_add_test(tc, test_headers_body_ignored);
  tcase_add_test(tc, test_headers_truncated);
  tcase_add_test(tc, test_headers_settled);
  tcase_add_test(tc, test_headers_huge_field);
  tcase_add_test(tc, test_headers_value_limit);
  tcase_add_test(tc, test_source_names);
  suite_add_tcase(suite, tc);
  return suite;
}

int main(void) {
  SRunner *runner = srunner_create(date_suite());
  srunner_run_all(runner, CK_NORMAL);
  int failed = srunner_ntests_failed(runner);
  srunner_free(runner);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

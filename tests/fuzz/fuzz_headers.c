/* fuzz_headers.c: libFuzzer target for pop3_date.c: the RFC 5322 date
 * parser and the header scan for a message's arrival date.
 *
 * Input: the header section of a message as a TOP answer gives it, lines
 * ended by LF (one CR before it is dropped, as the protocol core does);
 * lines longer than TRUNCATE_AT bytes are cut there and fed as truncated.
 * The whole input, and each line, also goes to pop3_date_parse.
 *
 * Invariants (abort on violation):
 *   - a parsed date lies in 1 Jan 1900 00:00:00 .. 31 Dec 9999 23:59:60,
 *     widened by the largest zone offset the syntax allows (99 h 59 min);
 *   - the same text parses the same way twice;
 *   - the scanner's answer equals a plain reference computed here from the
 *     whole unfolded fields (no bound on their length): the date after the
 *     last ';' of the top-most Received: when that field had a ';', no
 *     truncated line from the one with that ';' on, a date-time short
 *     enough to keep (runs of blanks counting as one) and parseable; else
 *     the first Date: field under the same conditions; else none;
 *   - the source is one of the three, and its name one of three words;
 *   - once settled, the scanner stays settled and its answer no longer
 *     changes.
 *
 * make fuzz FUZZ_TIME=60 runs it; the seed corpus is
 * tests/fuzz/corpus-headers/. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop3_date.h"

#define CHECK(cond, ...)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_headers: invariant broken: %s: ", #cond);          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* Short enough that the fuzzer reaches it often. */
#define TRUNCATE_AT 120

#define ZONE_SLACK (99 * 3600 + 59 * 60)
#define LOWEST (INT64_C(-2208988800) - ZONE_SLACK)       /* 1 Jan 1900 */
#define HIGHEST (INT64_C(253402300799) + 1 + ZONE_SLACK) /* 31 Dec 9999 */

static bool parse_checked(const char *text, size_t len, int64_t *t) {
  int64_t first = 0, second = 0;
  bool ok = pop3_date_parse(text, len, &first);
  CHECK(pop3_date_parse(text, len, &second) == ok, "%zu bytes", len);
  if (!ok)
    return false;
  CHECK(first == second, "%lld then %lld", (long long)first, (long long)second);
  CHECK(first >= LOWEST && first <= HIGHEST, "%lld", (long long)first);
  *t = first;
  return true;
}

/* ---- the reference: whole fields, unfolded in memory --------------------- */

typedef struct {
  bool present;
  char *text; /* the unfolded value; input-sized */
  size_t len;
  size_t last_semicolon; /* offset + 1 of the last ';', 0 when none */
  size_t truncated_end;  /* end offset of the last truncated line + 1, or 0 */
} field_t;

static void field_append(field_t *f, const char *line, size_t len,
                         bool truncated) {
  memcpy(f->text + f->len, line, len);
  for (size_t i = 0; i < len; i++)
    if (line[i] == ';')
      f->last_semicolon = f->len + i + 1;
  f->len += len;
  if (truncated)
    f->truncated_end = f->len + 1;
}

/* Length with each run of SP and HTAB counted as one byte. */
static size_t squeezed_length(const char *text, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (!((text[i] == ' ' || text[i] == '\t') && i > 0 &&
          (text[i - 1] == ' ' || text[i - 1] == '\t')))
      n++;
  return n;
}

/* The date of a reference field, from the given offset on. */
static bool field_date(const field_t *f, size_t from, int64_t *t) {
  if (!f->present || f->truncated_end > from)
    return false;
  if (squeezed_length(f->text + from, f->len - from) > POP3_HEADER_VALUE_MAX)
    return false;
  return parse_checked(f->text + from, f->len - from, t);
}

static size_t value_offset(const char *line, size_t len, size_t *name_len) {
  size_t i = 0;
  while (i < len && (unsigned char)line[i] > ' ' &&
         (unsigned char)line[i] < 127 && line[i] != ':')
    i++;
  *name_len = i;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  return (*name_len > 0 && i < len && line[i] == ':') ? i + 1 : 0;
}

static bool name_is(const char *s, size_t len, const char *name) {
  return strlen(name) == len && strncasecmp(s, name, len) == 0;
}

/* ---- the target ---------------------------------------------------------- */

typedef struct {
  const char *line;
  size_t len;
  bool truncated;
} line_t;

/* Splits data into lines as the protocol core hands them over; *count of
 * them. */
static line_t *split_lines(const char *data, size_t size, size_t *count) {
  line_t *lines = malloc((size + 1) * sizeof(*lines));
  CHECK(lines != NULL, "out of memory");
  size_t n = 0, start = 0;
  for (size_t i = 0; i <= size; i++) {
    if (i < size && data[i] != '\n')
      continue;
    if (i == size && i == start)
      break; /* nothing after the last LF */
    size_t len = i - start;
    if (len > 0 && data[start + len - 1] == '\r' && i < size)
      len--;
    bool truncated = len > TRUNCATE_AT;
    lines[n++] =
        (line_t){data + start, truncated ? TRUNCATE_AT : len, truncated};
    start = i + 1;
  }
  *count = n;
  return lines;
}

static pop3_date_source_t answer(const pop3_headers_t *h, int64_t *t) {
  pop3_date_source_t source = (pop3_date_source_t)77;
  *t = 0;
  bool ok = pop3_headers_date(h, t, &source);
  CHECK(source == POP3_DATE_NONE || source == POP3_DATE_RECEIVED ||
            source == POP3_DATE_DATE,
        "source %d", (int)source);
  CHECK(ok == (source != POP3_DATE_NONE), "ok %d, source %d", ok, (int)source);
  const char *name = pop3_date_source_name(source);
  CHECK(strcmp(name, "none") == 0 || strcmp(name, "Received") == 0 ||
            strcmp(name, "Date") == 0,
        "name %s", name);
  return source;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  int64_t t;
  parse_checked(text, size, &t);

  size_t count;
  line_t *lines = split_lines(text, size, &count);
  field_t received = {0}, date = {0};
  received.text = malloc(size + 1);
  date.text = malloc(size + 1);
  CHECK(received.text != NULL && date.text != NULL, "out of memory");
  field_t *current = NULL;
  bool ended = false;

  pop3_headers_t h;
  pop3_headers_init(&h);
  bool settled = false;
  pop3_date_source_t settled_source = POP3_DATE_NONE;
  int64_t settled_time = 0;

  for (size_t i = 0; i < count; i++) {
    const line_t *l = &lines[i];
    parse_checked(l->line, l->len, &t);
    pop3_headers_line(&h, l->line, l->len, l->truncated);

    if (settled) {
      CHECK(pop3_headers_settled(&h), "unsettled at line %zu", i);
      int64_t now;
      CHECK(answer(&h, &now) == settled_source &&
                (settled_source == POP3_DATE_NONE || now == settled_time),
            "the answer changed after settling, line %zu", i);
    } else if (pop3_headers_settled(&h)) {
      settled = true;
      settled_source = answer(&h, &settled_time);
    }

    /* the reference */
    if (ended)
      continue;
    if (l->len == 0 && !l->truncated) {
      ended = true;
    } else if (l->len == 0 || l->line[0] == ' ' || l->line[0] == '\t') {
      if (current != NULL)
        field_append(current, l->line, l->len, l->truncated);
    } else {
      size_t name_len, at = value_offset(l->line, l->len, &name_len);
      current = NULL;
      if (at > 0 && !received.present && name_is(l->line, name_len, "received"))
        current = &received;
      else if (at > 0 && !date.present && name_is(l->line, name_len, "date"))
        current = &date;
      if (current != NULL) {
        current->present = true;
        field_append(current, l->line + at, l->len - at, l->truncated);
      }
    }
  }

  int64_t want_time = 0, got_time;
  pop3_date_source_t want = POP3_DATE_NONE;
  if (received.last_semicolon > 0 &&
      field_date(&received, received.last_semicolon, &want_time))
    want = POP3_DATE_RECEIVED;
  else if (field_date(&date, 0, &want_time))
    want = POP3_DATE_DATE;
  pop3_date_source_t got = answer(&h, &got_time);
  CHECK(got == want, "scanner says %s, the reference %s",
        pop3_date_source_name(got), pop3_date_source_name(want));
  CHECK(want == POP3_DATE_NONE || got_time == want_time,
        "scanner says %lld, the reference %lld", (long long)got_time,
        (long long)want_time);
  if (settled)
    CHECK(got == settled_source &&
              (got == POP3_DATE_NONE || got_time == settled_time),
          "the final answer differs from the settled one");

  free(received.text);
  free(date.text);
  free(lines);
  return 0;
}

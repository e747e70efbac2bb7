/* pop3_date.c: RFC 5322 date-times and the header scan for a message's
 * arrival date (see pop3_date.h for what is accepted and why). ASCII only
 * and a calendar of its own, on purpose: ctype and strptime follow the
 * locale, mktime the local time zone, and timegm is no standard C. */
#include "pop3_date.h"

#include <string.h>

/* ---- characters ---------------------------------------------------------- */

static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alpha(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
static unsigned char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + ('a' - 'A')) : c;
}
/* Blanks of FWS; CR and LF too, for text whose folding was kept. */
static bool is_blank(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Whether s[0..len) equals word, ignoring case. */
static bool word_is(const char *s, size_t len, const char *word) {
  size_t n = strlen(word);
  if (len != n)
    return false;
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)s[i]) != lower((unsigned char)word[i]))
      return false;
  return true;
}

/* ---- the date-time tokens ------------------------------------------------ */

typedef struct {
  const char *text;
  size_t len, pos;
} cursor_t;

static bool at_end(const cursor_t *c) { return c->pos >= c->len; }
static unsigned char peek(const cursor_t *c) {
  return at_end(c) ? 0 : (unsigned char)c->text[c->pos];
}

/* Skips CFWS: blanks and comments, which nest and may hold quoted-pairs.
 * False for a comment left open. */
static bool skip_cfws(cursor_t *c) {
  size_t depth = 0;
  while (!at_end(c)) {
    unsigned char ch = peek(c);
    if (depth > 0 && ch == '\\') {
      c->pos++;
      if (at_end(c))
        return false;
    } else if (ch == '(') {
      depth++;
    } else if (depth > 0 && ch == ')') {
      depth--;
    } else if (depth == 0 && !is_blank(ch)) {
      return true;
    }
    c->pos++;
  }
  return depth == 0;
}

/* A run of digits: its value when it has 1..max_digits digits. */
static bool take_number(cursor_t *c, unsigned max_digits, int *value) {
  size_t start = c->pos;
  int v = 0;
  while (is_digit(peek(c))) {
    if (c->pos - start >= max_digits)
      return false;
    v = v * 10 + (peek(c) - '0');
    c->pos++;
  }
  *value = v;
  return c->pos > start;
}

/* A run of letters, as a slice. */
static size_t take_word(cursor_t *c, const char **word) {
  *word = c->text + c->pos;
  size_t start = c->pos;
  while (is_alpha(peek(c)))
    c->pos++;
  return c->pos - start;
}

static bool take_char(cursor_t *c, unsigned char ch) {
  if (peek(c) != ch || at_end(c))
    return false;
  c->pos++;
  return true;
}

static const char *const day_names[7][2] = {
    {"mon", "monday"},   {"tue", "tuesday"}, {"wed", "wednesday"},
    {"thu", "thursday"}, {"fri", "friday"},  {"sat", "saturday"},
    {"sun", "sunday"},
};
static const char *const month_names[12] = {"jan", "feb", "mar", "apr",
                                            "may", "jun", "jul", "aug",
                                            "sep", "oct", "nov", "dec"};

/* The obsolete North American zones of RFC 5322 4.3, in minutes east. */
static const struct {
  const char *name;
  int minutes;
} named_zones[] = {
    {"est", -5 * 60}, {"edt", -4 * 60}, {"cst", -6 * 60}, {"cdt", -5 * 60},
    {"mst", -7 * 60}, {"mdt", -6 * 60}, {"pst", -8 * 60}, {"pdt", -7 * 60},
};

/* [day-name [","]]: the name is optional and not checked against the date. */
static bool take_day_of_week(cursor_t *c) {
  if (!is_alpha(peek(c)))
    return true;
  const char *word;
  size_t n = take_word(c, &word);
  bool known = false;
  for (int i = 0; i < 7 && !known; i++)
    known =
        word_is(word, n, day_names[i][0]) || word_is(word, n, day_names[i][1]);
  size_t after_name = c->pos;
  if (!known || !skip_cfws(c))
    return false;
  /* a comma, a blank or a comment must end the name: not "Tue1 Dec" */
  return take_char(c, ',') || c->pos > after_name;
}

/* The separator between day, month and year: CFWS, or one '-'. */
static bool take_date_separator(cursor_t *c) {
  size_t before = c->pos;
  if (!skip_cfws(c))
    return false;
  if (take_char(c, '-'))
    return skip_cfws(c);
  return c->pos > before;
}

static bool take_month(cursor_t *c, int *month) {
  const char *word;
  size_t n = take_word(c, &word);
  for (int i = 0; i < 12; i++)
    if (word_is(word, n, month_names[i])) {
      *month = i + 1;
      return true;
    }
  return false;
}

static bool take_year(cursor_t *c, int *year) {
  size_t start = c->pos;
  if (!take_number(c, 4, year))
    return false;
  switch (c->pos - start) {
  case 2: /* RFC 5322 4.3 */
    *year += *year < 50 ? 2000 : 1900;
    break;
  case 3:
    *year += 1900;
    break;
  default:
    break;
  }
  return *year >= 1900 && *year <= 9999;
}

/* hour ":" minute [":" second], CFWS allowed around the colons (4.3). */
static bool take_time(cursor_t *c, int *hour, int *minute, int *second) {
  if (!take_number(c, 2, hour) || !skip_cfws(c) || !take_char(c, ':') ||
      !skip_cfws(c))
    return false;
  size_t start = c->pos;
  if (!take_number(c, 2, minute) || c->pos - start != 2 || !skip_cfws(c))
    return false;
  *second = 0;
  if (take_char(c, ':')) {
    if (!skip_cfws(c))
      return false;
    start = c->pos;
    if (!take_number(c, 2, second) || c->pos - start != 2)
      return false;
  }
  return *hour <= 23 && *minute <= 59 && *second <= 60;
}

/* Zone names have "usually between 3 and 5" letters (RFC 5322 4.3); a
 * longer word is prose, not a zone. */
#define ZONE_NAME_MAX 5

/* The zone in minutes east of UTC; none at all is UTC. */
static bool take_zone(cursor_t *c, int *minutes) {
  *minutes = 0;
  if (at_end(c))
    return true;
  unsigned char sign = peek(c);
  if (sign == '+' || sign == '-') {
    c->pos++;
    size_t start = c->pos;
    int hhmm;
    if (!take_number(c, 4, &hhmm) || c->pos - start != 4 || hhmm % 100 >= 60)
      return false;
    *minutes = (hhmm / 100) * 60 + hhmm % 100;
    if (sign == '-')
      *minutes = -*minutes;
    /* "+0100 CET" and the like: a name after the offset says no more */
    size_t before = c->pos;
    if (!skip_cfws(c))
      return false;
    if (c->pos > before && is_alpha(peek(c))) {
      const char *word;
      return take_word(c, &word) <= ZONE_NAME_MAX;
    }
    return true;
  }
  const char *word;
  size_t n = take_word(c, &word);
  if (n == 0 || n > ZONE_NAME_MAX)
    return false;
  for (size_t i = 0; i < sizeof(named_zones) / sizeof(named_zones[0]); i++)
    if (word_is(word, n, named_zones[i].name))
      *minutes = named_zones[i].minutes;
  /* UT, GMT, military letters and unknown names: -0000 (RFC 5322 4.3) */
  return true;
}

/* ---- calendar ------------------------------------------------------------ */

static bool is_leap_year(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int year, int month) {
  static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

/* Days from 1970-01-01 to the proleptic Gregorian date (H. Hinnant's
 * days_from_civil); years here are 1900..9999, so nothing overflows. */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;                                  /* 0..399 */
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* 0..365 */
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* 0..146096 */
  return era * 146097 + doe - 719468;
}

bool pop3_date_parse(const char *text, size_t len, int64_t *unix_time) {
  cursor_t c = {text, len, 0};
  int day, month, year, hour, minute, second, zone;
  if (text == NULL || len == 0)
    return false;
  if (!skip_cfws(&c) || !take_day_of_week(&c) || !skip_cfws(&c) ||
      !take_number(&c, 2, &day) || !take_date_separator(&c) ||
      !take_month(&c, &month) || !take_date_separator(&c) ||
      !take_year(&c, &year) || !skip_cfws(&c) ||
      !take_time(&c, &hour, &minute, &second) || !skip_cfws(&c) ||
      !take_zone(&c, &zone) || !skip_cfws(&c) || !at_end(&c))
    return false;
  if (day < 1 || day > days_in_month(year, month))
    return false;
  int64_t days = days_from_civil(year, month, day);
  *unix_time = days * 86400 + (int64_t)hour * 3600 + (int64_t)minute * 60 +
               second - (int64_t)zone * 60;
  return true;
}

/* ---- the header scan ----------------------------------------------------- */

enum {
  FIELD_NONE = 0, /* no field yet, or one that does not count */
  FIELD_RECEIVED, /* the top-most Received: */
  FIELD_DATE,     /* the first Date: */
  FIELD_WATCHED,  /* the first field named by pop3_headers_watch */
};

void pop3_headers_init(pop3_headers_t *h) { memset(h, 0, sizeof(*h)); }

void pop3_headers_watch(pop3_headers_t *h, const char *name) {
  h->watch = name;
}

/* The date of the field being unfolded, as it stands. */
static bool value_date(const pop3_headers_t *h, int64_t *unix_time) {
  if (h->value_bad || (h->field == FIELD_RECEIVED && !h->value_semicolon))
    return false;
  return pop3_date_parse(h->value, h->value_len, unix_time);
}

static void finish_field(pop3_headers_t *h) {
  if (h->field == FIELD_RECEIVED) {
    h->received_ok = value_date(h, &h->received_time);
    h->received_done = true;
  } else if (h->field == FIELD_DATE) {
    h->date_ok = value_date(h, &h->date_time);
    h->date_done = true;
  } else if (h->field == FIELD_WATCHED) {
    h->watched_ok = !h->value_bad;
    memcpy(h->watched, h->value, h->value_len);
    h->watched_len = h->value_len;
    h->watched_done = true;
  }
  h->field = FIELD_NONE;
}

static void start_value(pop3_headers_t *h) {
  h->value_len = 0;
  h->value_bad = false;
  h->value_blank = false;
}

/* Appends unfolded value text. A run of blanks is kept as one SP (FWS means
 * the same however long); in Received: each ';' starts the value afresh,
 * since only the date-time after the last one counts. */
static void append_value(pop3_headers_t *h, const char *text, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)text[i];
    if (h->field == FIELD_RECEIVED && ch == ';') {
      h->value_semicolon = true;
      start_value(h);
      continue;
    }
    if (h->value_bad)
      continue;
    if (ch == ' ' || ch == '\t') {
      if (h->value_blank)
        continue;
      h->value_blank = true;
      ch = ' ';
    } else {
      h->value_blank = false;
    }
    if (h->value_len >= sizeof(h->value)) {
      h->value_bad = true; /* too long to be a date: no date, not a wrong one */
      continue;
    }
    h->value[h->value_len++] = (char)ch;
  }
}

/* "name" [WSP] ":" at the start of line: the offset of the value, or 0 when
 * the line does not begin a field. */
static size_t field_name(const char *line, size_t len, size_t *name_len) {
  size_t i = 0;
  while (i < len && (unsigned char)line[i] > ' ' &&
         (unsigned char)line[i] < 127 && line[i] != ':')
    i++;
  *name_len = i;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  if (*name_len == 0 || i >= len || line[i] != ':')
    return 0;
  return i + 1;
}

void pop3_headers_line(pop3_headers_t *h, const char *line, size_t len,
                       bool truncated) {
  if (h->ended)
    return;
  if (len == 0 && !truncated) {
    finish_field(h);
    h->ended = true;
    return;
  }
  bool continuation = len == 0 || line[0] == ' ' || line[0] == '\t';
  if (continuation) {
    /* a truncated line of unknown content is taken as part of the field */
    if (h->field != FIELD_NONE)
      append_value(h, line, len);
  } else {
    finish_field(h);
    size_t name_len, value_at = field_name(line, len, &name_len);
    if (value_at > 0 && word_is(line, name_len, "received") &&
        !h->received_done)
      h->field = FIELD_RECEIVED;
    else if (value_at > 0 && word_is(line, name_len, "date") && !h->date_done)
      h->field = FIELD_DATE;
    else if (value_at > 0 && h->watch != NULL &&
             word_is(line, name_len, h->watch) && !h->watched_done)
      h->field = FIELD_WATCHED;
    if (h->field != FIELD_NONE) {
      start_value(h);
      h->value_semicolon = false;
      append_value(h, line + value_at, len - value_at);
    }
  }
  if (truncated)
    h->value_bad = true; /* until a later ';' of Received: starts afresh */
}

bool pop3_headers_settled(const pop3_headers_t *h) {
  return h->received_done && (h->received_ok || h->date_done) &&
         (h->watch == NULL || h->watched_done);
}

bool pop3_headers_watched(const pop3_headers_t *h, const char **value,
                          size_t *len) {
  bool open = h->field == FIELD_WATCHED;
  if (open ? h->value_bad : !(h->watched_done && h->watched_ok))
    return false;
  *value = open ? h->value : h->watched;
  *len = open ? h->value_len : h->watched_len;
  return true;
}

bool pop3_headers_date(const pop3_headers_t *h, int64_t *unix_time,
                       pop3_date_source_t *source) {
  int64_t t;
  bool received_ok = h->received_ok, date_ok = h->date_ok;
  int64_t received_time = h->received_time, date_time = h->date_time;
  /* a field still open when the lines stopped is complete now */
  if (h->field == FIELD_RECEIVED && value_date(h, &t)) {
    received_ok = true;
    received_time = t;
  } else if (h->field == FIELD_DATE && value_date(h, &t)) {
    date_ok = true;
    date_time = t;
  }
  if (received_ok) {
    *unix_time = received_time;
    *source = POP3_DATE_RECEIVED;
    return true;
  }
  if (date_ok) {
    *unix_time = date_time;
    *source = POP3_DATE_DATE;
    return true;
  }
  *source = POP3_DATE_NONE;
  return false;
}

const char *pop3_date_source_name(pop3_date_source_t source) {
  switch (source) {
  case POP3_DATE_RECEIVED:
    return "Received";
  case POP3_DATE_DATE:
    return "Date";
  case POP3_DATE_NONE:
  default:
    return "none";
  }
}

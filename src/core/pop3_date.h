/* pop3_date.h: a message's arrival date from its header section, sans I/O.
 *
 * pop3_date_parse reads one RFC 5322 date-time (section 3.3, the obsolete
 * forms of section 4.3, and a few forms real servers write). The header
 * scanner takes the lines of a `TOP n 0` answer one at a time and finds the
 * date of the top-most Received: field (the mailbox's own server wrote it;
 * its date-time follows the last ';' of the unfolded value), or, when that
 * field has no usable date or there is none, the Date: field.
 *
 * Nothing here allocates or keeps global state; inputs carry explicit
 * lengths and need not be NUL-terminated; the scanner's memory is the
 * struct the caller owns, whatever the input.
 *
 * What the parser accepts:
 *   [day-name [","]] day month year hour ":" minute [":" second] [zone]
 * with CFWS (blanks, line breaks, nested comments with quoted-pairs)
 * between any two tokens and after the zone, and nothing else after it.
 *   - day-name: Mon..Sun or the full English name, any case; not checked
 *     against the date (RFC 5322 leaves the consistency to the writer).
 *   - day 1-2 digits; month Jan..Dec, any case; day, month and year may be
 *     separated by '-' instead of blanks (1-Dec-2026: qmail, old Exchange).
 *   - year: 4 digits 1900..9999; 3 digits + 1900; 2 digits: 00-49 are
 *     2000-2049, 50-99 are 1950-1999 (RFC 5322 4.3).
 *   - hour 1-2 digits 0..23 (single-digit hours do occur), minute and second
 *     2 digits 0..59; second 60 (a leap second) is taken as the first second
 *     of the next minute, as POSIX time counts it.
 *   - zone: +hhmm / -hhmm (hh 00..99, mm 00..59); UT, UTC, GMT, Z, EST, EDT,
 *     CST, CDT, MST, MDT, PST, PDT; any other alphabetic zone of up to 5
 *     letters, military letters included, counts as -0000, i.e. UTC (RFC
 *     5322 4.3). A name after a numeric zone ("+0100 CET") is ignored. A
 *     missing zone is taken as UTC too: the date is still right within a
 *     day, which is better than none for a message's age.
 * Rejected: empty input; an impossible date or time (Feb 30, day 0, hour 24,
 * minute 60); years outside 1900..9999; numbers with more digits than their
 * field has; an unclosed comment; anything but CFWS after the zone. */
#ifndef POP3_DATE_H
#define POP3_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses an RFC 5322 date-time, obsolete forms included, into Unix time
 * (seconds, UTC). text need not be NUL-terminated. */
bool pop3_date_parse(const char *text, size_t len, int64_t *unix_time);

typedef enum {
  POP3_DATE_NONE = 0, /* no usable date */
  POP3_DATE_RECEIVED, /* the top-most Received: field */
  POP3_DATE_DATE,     /* the Date: field */
} pop3_date_source_t;

/* Bytes of one field value kept while it is being unfolded (for Received:
 * only what follows the last ';'). The longest sensible date-time is about
 * 31 bytes, plus a zone comment such as "(Coordinated Universal Time)" and
 * folding blanks (runs of blanks are kept as one): 256 leaves room for
 * eight times that, and a value that does not fit has no usable date. */
#define POP3_HEADER_VALUE_MAX 256

/* The scanner's state; its fields are private. */
typedef struct {
  int64_t received_time, date_time;
  uint16_t value_len;   /* bytes in value */
  uint8_t field;        /* which field the current line continues */
  bool ended;           /* the empty line was seen */
  bool value_bad;       /* the kept value cannot give a date */
  bool value_semicolon; /* the current Received: value had a ';' */
  bool value_blank;     /* value ends with a blank (runs are kept as one) */
  bool received_done, received_ok; /* the top-most Received: field */
  bool date_done, date_ok;         /* the first Date: field */
  bool watched_done, watched_ok;   /* the first field named `watch` */
  uint16_t watched_len;
  const char *watch;               /* pop3_headers_watch, or NULL */
  char value[POP3_HEADER_VALUE_MAX];
  char watched[POP3_HEADER_VALUE_MAX]; /* its unfolded value */
} pop3_headers_t;

void pop3_headers_init(pop3_headers_t *h);

/* After init: also keep the unfolded value of the first field called name
 * (matched without regard to case; name must outlive the scan). Runs of
 * blanks are kept as one SP; a value longer than POP3_HEADER_VALUE_MAX, or
 * cut by a truncated line, is not kept. */
void pop3_headers_watch(pop3_headers_t *h, const char *name);
/* That field's value (not NUL-terminated), when the header had it. */
bool pop3_headers_watched(const pop3_headers_t *h, const char **value,
                          size_t *len);

/* One line of the header section: no CRLF, dot-stuffing already removed.
 * truncated: the line was longer than the caller keeps and this is only its
 * beginning (the rest is dropped by the caller); the field it belongs to
 * then has no usable date, unless a later ';' of a Received: field starts
 * its date-time afresh. The empty line ends the header section; later
 * lines are ignored. Field names are matched without regard to case, with
 * blanks allowed before the colon (RFC 5322 4.5); continuation lines start
 * with SP or HTAB. Only the first Received: and the first Date: field
 * count. */
void pop3_headers_line(pop3_headers_t *h, const char *line, size_t len,
                       bool truncated);

/* Whether the scanner can already tell the date: the top-most Received:
 * field is complete and has a date, or it has none and the first Date:
 * field is complete; and the watched field, if any, is complete. The caller may stop feeding lines; the answer of
 * pop3_headers_date no longer changes. A field is complete when the next
 * field or the empty line begins. */
bool pop3_headers_settled(const pop3_headers_t *h);

/* After the last line (whether or not the empty line came): the date found
 * and where it came from; POP3_DATE_NONE and false when none. */
bool pop3_headers_date(const pop3_headers_t *h, int64_t *unix_time,
                       pop3_date_source_t *source);

/* "Received", "Date", "none" */
const char *pop3_date_source_name(pop3_date_source_t source);

#endif

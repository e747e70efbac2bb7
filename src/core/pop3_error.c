/* pop3_error.c: names, formatting and sanitising for pop3_error_t. */
#include "pop3_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *pop3_phase_name(pop3_phase_t phase) {
  switch (phase) {
  case POP3_PHASE_RESOLVE:
    return "resolve";
  case POP3_PHASE_CONNECT:
    return "connect";
  case POP3_PHASE_TLS:
    return "tls";
  case POP3_PHASE_GREETING:
    return "greeting";
  case POP3_PHASE_AUTH:
    return "auth";
  case POP3_PHASE_STAT:
    return "stat";
  case POP3_PHASE_QUIT:
    return "quit";
  }
  return "unknown";
}

const char *pop3_code_name(pop3_code_t code) {
  switch (code) {
  case POP3_CODE_NONE:
    return "";
  case POP3_CODE_IN_USE:
    return "IN-USE";
  case POP3_CODE_LOGIN_DELAY:
    return "LOGIN-DELAY";
  case POP3_CODE_SYS_TEMP:
    return "SYS/TEMP";
  case POP3_CODE_SYS_PERM:
    return "SYS/PERM";
  case POP3_CODE_AUTH:
    return "AUTH";
  case POP3_CODE_OTHER:
    return "OTHER";
  }
  return "";
}

bool pop3_code_is_transient(pop3_code_t code) {
  return code == POP3_CODE_IN_USE || code == POP3_CODE_LOGIN_DELAY ||
         code == POP3_CODE_SYS_TEMP;
}

/* Messages end up in single log lines: whatever a caller formatted, a line
 * break or control byte must not reach the log. */
static void keep_printable(char *s) {
  for (; *s != '\0'; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
      *s = '?';
}

void pop3_error_set(pop3_error_t *err, pop3_phase_t phase,
                    pop3_failure_t failure, const char *format, ...) {
  err->phase = phase;
  err->failure = failure;
  err->code = POP3_CODE_NONE;
  err->login_delay = 0;

  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(err->message, sizeof(err->message), format, ap);
  va_end(ap);
  if (n < 0)
    err->message[0] = '\0';
  keep_printable(err->message);
}

/* Writes the escaped form of c into piece (at least 5 bytes); returns its
 * length. */
static size_t escape_byte(unsigned char c, char *piece) {
  static const char hex[] = "0123456789abcdef";
  if (c == '"' || c == '\\') {
    piece[0] = '\\';
    piece[1] = (char)c;
    return 2;
  }
  if (c < 0x20 || c > 0x7e) {
    piece[0] = '\\';
    piece[1] = 'x';
    piece[2] = hex[c >> 4];
    piece[3] = hex[c & 0x0f];
    return 4;
  }
  piece[0] = (char)c;
  return 1;
}

static size_t escaped_length(const char *src, size_t len) {
  char piece[4];
  size_t total = 0;
  for (size_t i = 0; i < len; i++)
    total += escape_byte((unsigned char)src[i], piece);
  return total;
}

char *pop3_sanitize(char *dst, size_t dst_size, const char *src, size_t len) {
  if (dst_size == 0)
    return dst;
  size_t limit = dst_size - 1;
  if (limit > POP3_SERVER_TEXT_MAX)
    limit = POP3_SERVER_TEXT_MAX;

  /* When the text does not fit, keep room for the "..." that says so, and
   * never cut an escape sequence in half. */
  bool cut = escaped_length(src, len) > limit;
  size_t marker = cut ? (limit < 3 ? limit : 3) : 0;
  size_t room = limit - marker;

  size_t out = 0;
  for (size_t i = 0; i < len; i++) {
    char piece[4];
    size_t n = escape_byte((unsigned char)src[i], piece);
    if (out + n > room)
      break;
    memcpy(dst + out, piece, n);
    out += n;
  }
  memset(dst + out, '.', marker);
  dst[out + marker] = '\0';
  return dst;
}

/* pop3_conffile.c: collectd's configuration reader, rule for rule (see
 * pop3_conffile.h). The scanner is a table of POSIX extended regular
 * expressions, one per rule of collectd 5.12's liboconfig scanner, tried
 * with the same "longest match, then first rule" choice flex makes; glibc's
 * regexec gives the longest match when asked for the match's extent. */
#define _GNU_SOURCE /* strndup */
#include "pop3_conffile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <libgen.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <wordexp.h>

/* A configuration file larger than this is refused rather than read. */
#define CONF_FILE_MAX (16 * 1024 * 1024)
/* collectd's limit on nested Include. */
#define INCLUDE_DEPTH_MAX 8
/* collectd's limit on a path built from a directory and an entry. */
#define INCLUDE_PATH_MAX 1024
/* Directories inside included directories: collectd has no limit (a
 * symbolic link loop would never end); this reader stops here. */
#define DIR_DEPTH_MAX 64

/* ---- the scanner's rules ------------------------------------------------ */

#define EOL_RE "(\r\n|\n)"
/* a quoted string's body: anything but a backslash or a quote, or a
 * backslash and any character but a newline */
#define QUOTED_RE "([^\\\"]|\\\\[^\n])*"
#define NUMBER_RE                                                              \
  "(([+-]?[0-9]*\\.[0-9]+([eE][+-][0-9]+)?)|(0[xX][0-9a-fA-F]+)|(0[0-7]+)|"    \
  "([+-]?[0-9]+))"
#define IP_BYTE_RE "(2(5[0-5]|[0-4][0-9])|1[0-9][0-9]|[1-9]?[0-9])"
#define PORT_RE                                                                \
  "(6(5(5(3[0-5]|[0-2][0-9])|[0-4][0-9][0-9])|[0-4][0-9][0-9][0-9])|"          \
  "[1-5][0-9][0-9][0-9][0-9]|[1-9][0-9]?[0-9]?[0-9]?)"
#define IPV4_RE                                                                \
  "(" IP_BYTE_RE "\\." IP_BYTE_RE "\\." IP_BYTE_RE "\\." IP_BYTE_RE            \
  "(:" PORT_RE ")?)"
#define H16 "([0-9A-Fa-f]{1,4})"
#define V6_PART_RE "(" H16 ":" H16 "|" IPV4_RE ")"
#define IPV6_BASE_RE                                                           \
  "((" H16 ":){6}" V6_PART_RE "|::(" H16 ":){5}" V6_PART_RE "|(" H16           \
  ")?::(" H16 ":){4}" V6_PART_RE "|((" H16 ":){0,1}" H16 ")?::(" H16           \
  ":){3}" V6_PART_RE "|((" H16 ":){0,2}" H16 ")?::(" H16 ":){2}" V6_PART_RE    \
  "|((" H16 ":){0,3}" H16 ")?::" H16 ":" V6_PART_RE "|((" H16 ":){0,4}" H16    \
  ")?::" V6_PART_RE "|((" H16 ":){0,5}" H16 ")?::" H16 "|((" H16 ":){0,6}" H16 \
  ")?::)"
#define IPV6_RE "((" IPV6_BASE_RE ")|([[]" IPV6_BASE_RE "[]](:" PORT_RE ")?))"

typedef enum {
  T_NONE = 0, /* ignored text */
  T_EOF,
  T_EOL,
  T_SLASH,
  T_OPEN,
  T_CLOSE,
  T_TRUE,
  T_FALSE,
  T_NUMBER,
  T_QUOTED,
  T_UNQUOTED,
  T_ML_START, /* a quoted string continued on the next line */
  T_ML_MORE,
  T_ML_END,
} token_kind_t;

typedef struct {
  const char *pattern;
  const char *first; /* the bytes a match can start with; NULL: any */
  token_kind_t kind;
  bool multiline; /* a rule of the continued-string state */
  bool at_bol;    /* only at the start of a line */
} rule_t;

/* In the scanner's order: of two matches of the same length, the first rule
 * wins. */
static const rule_t rules[] = {
    {"^[ \t\b]", " \t\b", T_NONE, false, false},
    {"^#[^\n]*", "#", T_NONE, false, false},
    {"^\\\\" EOL_RE, "\\", T_NONE, false, false},
    {"^" EOL_RE, "\r\n", T_EOL, false, false},
    {"^/", "/", T_SLASH, false, false},
    {"^<", "<", T_OPEN, false, false},
    {"^>", ">", T_CLOSE, false, false},
    {"^(true|yes|on)", "tyo", T_TRUE, false, false},
    {"^(false|no|off)", "fno", T_FALSE, false, false},
    {"^" IPV4_RE, "0123456789", T_UNQUOTED, false, false},
    {"^" IPV6_RE, "0123456789abcdefABCDEF:[", T_UNQUOTED, false, false},
    {"^" NUMBER_RE, "0123456789+-.", T_NUMBER, false, false},
    {"^\"" QUOTED_RE "\"", "\"", T_QUOTED, false, false},
    {"^[0-9A-Za-z_]+", NULL, T_UNQUOTED, false, false},
    {"^\"" QUOTED_RE "\\\\" EOL_RE, "\"", T_ML_START, false, false},
    {"^[ \t\b]+", " \t\b", T_NONE, true, true},
    {"^[^ \t\b]" QUOTED_RE "\\\\" EOL_RE, NULL, T_ML_MORE, true, false},
    {"^[^ \t\b]" QUOTED_RE "\"", NULL, T_ML_END, true, false},
};
#define RULES (sizeof(rules) / sizeof(rules[0]))

/* ---- the reader's state ------------------------------------------------- */

typedef struct {
  regex_t re[RULES];
  bool compiled;
  char *err; /* the fatal error */
  size_t err_size;
  char note[512]; /* the first thing skipped past, "" if none */
  bool failed;
  int dir_depth;
} context_t;

typedef struct {
  context_t *ctx;
  const char *path; /* the file's name, in messages */
  const char *text; /* the whole text; no NUL byte in it */
  size_t len, pos;
  int line; /* of the next byte */
  bool multiline;
  char *ml; /* the continued string so far */
  size_t ml_len;
  int ml_line; /* where it started */
} scanner_t;

typedef struct {
  token_kind_t kind;
  char *text; /* T_QUOTED (unquoted already), T_UNQUOTED */
  double number;
  int line;
  char shown[48]; /* for messages */
} token_t;

__attribute__((format(printf, 2, 3))) static int fail(context_t *ctx,
                                                      const char *format, ...) {
  if (!ctx->failed) {
    va_list ap;
    va_start(ap, format);
    vsnprintf(ctx->err, ctx->err_size, format, ap);
    va_end(ap);
  }
  ctx->failed = true;
  return -1;
}

__attribute__((format(printf, 2, 3))) static void
note(context_t *ctx, const char *format, ...) {
  if (ctx->note[0] != '\0')
    return;
  va_list ap;
  va_start(ap, format);
  vsnprintf(ctx->note, sizeof(ctx->note), format, ap);
  va_end(ap);
}

/* Text read from a configuration may hold a password: it is cleansed
 * before its memory is given back. */
static void free_secret(char *s) {
  if (s == NULL)
    return;
  explicit_bzero(s, strlen(s));
  free(s);
}

static int compile_rules(context_t *ctx) {
  for (size_t i = 0; i < RULES; i++) {
    if (regcomp(&ctx->re[i], rules[i].pattern, REG_EXTENDED) != 0) {
      while (i-- > 0)
        regfree(&ctx->re[i]);
      return fail(ctx, "cannot compile the scanner's rules");
    }
  }
  ctx->compiled = true;
  return 0;
}

static void free_rules(context_t *ctx) {
  if (!ctx->compiled)
    return;
  for (size_t i = 0; i < RULES; i++)
    regfree(&ctx->re[i]);
}

/* ---- scanning ------------------------------------------------------------ */

static void consume(scanner_t *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s->text[s->pos + i] == '\n')
      s->line++;
  s->pos += n;
}

static bool at_bol(const scanner_t *s) {
  return s->pos == 0 || s->text[s->pos - 1] == '\n';
}

/* The rule flex would take here, and its length; -1 when none matches
 * (flex then copies one byte to its output and goes on). */
static int longest_match(const scanner_t *s, size_t *len) {
  const char *here = s->text + s->pos;
  int best = -1;
  *len = 0;
  for (size_t i = 0; i < RULES; i++) {
    const rule_t *r = &rules[i];
    if (r->multiline != s->multiline || (r->at_bol && !at_bol(s)) ||
        (r->first != NULL && strchr(r->first, *here) == NULL))
      continue;
    /* REG_STARTEND: the end is given, not found by strlen each time */
    regmatch_t m[1] = {{.rm_so = 0, .rm_eo = (regoff_t)(s->len - s->pos)}};
    if (regexec(&s->ctx->re[i], here, 1, m, REG_STARTEND) != 0)
      continue;
    if ((size_t)m[0].rm_eo > *len) {
      *len = (size_t)m[0].rm_eo;
      best = (int)i;
    }
  }
  return best;
}

/* Appends a piece of a continued string, without its backslash and line
 * end when it has them. */
static int ml_append(scanner_t *s, const char *piece, size_t len,
                     bool continued) {
  if (continued)
    len -= piece[len - 2] == '\r' ? 3 : 2;
  char *grown = malloc(s->ml_len + len + 1);
  if (grown == NULL)
    return fail(s->ctx, "out of memory");
  if (s->ml_len > 0)
    memcpy(grown, s->ml, s->ml_len);
  free_secret(s->ml); /* not realloc: no copy is left behind */
  s->ml = grown;
  memcpy(s->ml + s->ml_len, piece, len);
  s->ml_len += len;
  s->ml[s->ml_len] = '\0';
  return 0;
}

/* A quoted string's value: the quotes removed, then every backslash
 * removed and the character after it kept as it is. */
static char *unquote(const char *raw) {
  size_t len = strlen(raw);
  char *out = strdup(raw);
  if (out == NULL || len < 2 || raw[0] != '"' || raw[len - 1] != '"')
    return out;
  size_t w = 0;
  for (size_t r = 1; r < len - 1; r++) {
    if (raw[r] == '\\' && ++r >= len - 1)
      break;
    out[w++] = raw[r];
  }
  out[w] = '\0';
  return out;
}

static void describe(token_t *t, const char *text, size_t len) {
  static const char *const names[] = {[T_EOF] = "the end of the file",
                                      [T_EOL] = "the end of the line",
                                      [T_QUOTED] = "a quoted string"};
  if (t->kind < sizeof(names) / sizeof(names[0]) && names[t->kind] != NULL) {
    snprintf(t->shown, sizeof(t->shown), "%s", names[t->kind]);
    return;
  }
  snprintf(t->shown, sizeof(t->shown), "'%.*s'", len > 40 ? 40 : (int)len,
           text);
}

/* Fills the token from the match of `kind` at the scanner's position. */
static int make_token(scanner_t *s, token_kind_t kind, size_t len, token_t *t) {
  const char *text = s->text + s->pos;
  *t = (token_t){.kind = kind, .line = s->line};
  describe(t, text, len);
  if (kind == T_QUOTED || kind == T_UNQUOTED || kind == T_NUMBER) {
    char *raw = strndup(text, len);
    if (raw == NULL)
      return fail(s->ctx, "out of memory");
    if (kind == T_NUMBER)
      t->number = strtod(raw, NULL);
    else
      t->text = kind == T_QUOTED ? unquote(raw) : strdup(raw);
    free_secret(raw);
    if (kind != T_NUMBER && t->text == NULL)
      return fail(s->ctx, "out of memory");
  }
  return 0;
}

static bool is_piece(token_kind_t kind) {
  return kind == T_ML_START || kind == T_ML_MORE || kind == T_ML_END;
}

/* A piece of a quoted string continued over lines, at the scanner's
 * position: the first, a middle one, or the last, which makes the token. */
static int string_piece(scanner_t *s, token_kind_t kind, size_t len,
                        token_t *t) {
  if (kind == T_ML_START) {
    free_secret(s->ml);
    s->ml = NULL;
    s->ml_len = 0;
    s->ml_line = s->line;
  }
  int rc = ml_append(s, s->text + s->pos, len, kind != T_ML_END);
  s->multiline = kind != T_ML_END;
  if (rc != 0 || kind != T_ML_END)
    return rc;
  *t = (token_t){.kind = T_QUOTED, .line = s->ml_line};
  describe(t, "", 0);
  t->text = unquote(s->ml);
  return t->text != NULL ? 0 : fail(s->ctx, "out of memory");
}

/* The next token; ignored text, continued strings and stray bytes are
 * handled on the way. */
static int next_token(scanner_t *s, token_t *t) {
  for (;;) {
    if (s->pos >= s->len) {
      *t = (token_t){.kind = T_EOF, .line = s->line};
      describe(t, "", 0);
      return 0;
    }
    size_t len = 0;
    int rule = longest_match(s, &len);
    if (rule < 0) {
      char c = s->text[s->pos];
      note(s->ctx, "%s:%d: collectd ignores the character '%c'", s->path,
           s->line, isprint((unsigned char)c) ? c : '?');
      consume(s, 1);
      continue;
    }
    token_kind_t kind = rules[rule].kind;
    int rc = is_piece(kind)   ? string_piece(s, kind, len, t)
             : kind != T_NONE ? make_token(s, kind, len, t)
                              : 0;
    consume(s, len);
    if (rc != 0)
      return -1;
    if (kind == T_ML_END || (kind != T_NONE && !is_piece(kind)))
      return 0;
  }
}

/* ---- the grammar ----------------------------------------------------------
 * file: statement*; statement: option | block | EOL;
 * option: KEY argument+ EOL; block: '<' KEY argument* '>' EOL statement*
 * '<' '/' KEY '>' EOL, the two keys equal (case counts); a block with no
 * argument and no child is dropped. KEY is an unquoted string; an argument
 * a number, true/yes/on, false/no/off, or a quoted or unquoted string. */

typedef struct {
  scanner_t *s;
  token_t tok;
} parser_t;

static void free_contents(oconfig_item_t *ci);

static void drop_token(token_t *t) {
  free_secret(t->text);
  t->text = NULL;
}

static int advance(parser_t *p) {
  drop_token(&p->tok);
  return next_token(p->s, &p->tok);
}

static int unexpected(parser_t *p, const char *wanted) {
  return fail(p->s->ctx, "%s:%d: %s expected, found %s", p->s->path,
              p->tok.line, wanted, p->tok.shown);
}

static int expect(parser_t *p, token_kind_t kind, const char *wanted) {
  if (p->tok.kind != kind)
    return unexpected(p, wanted);
  return advance(p);
}

static bool is_argument(token_kind_t kind) {
  return kind == T_NUMBER || kind == T_TRUE || kind == T_FALSE ||
         kind == T_QUOTED || kind == T_UNQUOTED;
}

static oconfig_item_t *add_child(oconfig_item_t *parent, char *key) {
  oconfig_item_t *children =
      realloc(parent->children,
              (size_t)(parent->children_num + 1) * sizeof(*parent->children));
  if (children == NULL)
    return NULL;
  parent->children = children;
  oconfig_item_t *child = &children[parent->children_num++];
  memset(child, 0, sizeof(*child));
  child->key = key;
  child->parent = parent;
  /* realloc may have moved the siblings: their children point back */
  for (int i = 0; i < parent->children_num; i++)
    for (int j = 0; j < children[i].children_num; j++)
      children[i].children[j].parent = &children[i];
  return child;
}

static int add_value(oconfig_item_t *item, oconfig_value_t value) {
  oconfig_value_t *values = realloc(
      item->values, (size_t)(item->values_num + 1) * sizeof(*item->values));
  if (values == NULL)
    return -1;
  item->values = values;
  item->values[item->values_num++] = value;
  return 0;
}

/* The arguments up to something that is not one; takes their text. */
static int parse_arguments(parser_t *p, oconfig_item_t *item) {
  while (is_argument(p->tok.kind)) {
    oconfig_value_t v = {.type = OCONFIG_TYPE_STRING};
    if (p->tok.kind == T_NUMBER) {
      v.type = OCONFIG_TYPE_NUMBER;
      v.value.number = p->tok.number;
    } else if (p->tok.kind == T_TRUE || p->tok.kind == T_FALSE) {
      v.type = OCONFIG_TYPE_BOOLEAN;
      v.value.boolean = p->tok.kind == T_TRUE;
    } else {
      v.value.string = p->tok.text;
      p->tok.text = NULL;
    }
    if (add_value(item, v) != 0) {
      if (v.type == OCONFIG_TYPE_STRING)
        free(v.value.string);
      return fail(p->s->ctx, "out of memory");
    }
    if (advance(p) != 0)
      return -1;
  }
  return 0;
}

/* The key at the current token, taken. */
static char *take_key(parser_t *p, const char *wanted) {
  if (p->tok.kind != T_UNQUOTED) {
    unexpected(p, wanted);
    return NULL;
  }
  char *key = p->tok.text;
  p->tok.text = NULL;
  return key;
}

static int parse_statements(parser_t *p, oconfig_item_t *parent, int opened);

static int parse_option(parser_t *p, oconfig_item_t *parent) {
  char *key = take_key(p, "an option name");
  oconfig_item_t *item = key != NULL ? add_child(parent, key) : NULL;
  if (item == NULL) {
    free(key);
    return key != NULL ? fail(p->s->ctx, "out of memory") : -1;
  }
  if (advance(p) != 0 || parse_arguments(p, item) != 0)
    return -1;
  if (item->values_num == 0)
    return unexpected(p, "a value");
  return expect(p, T_EOL, "the end of the line");
}

/* After "</": the key, which must be the open block's, '>' and EOL. */
static int parse_block_end(parser_t *p, const oconfig_item_t *block,
                           int opened) {
  if (p->tok.kind != T_UNQUOTED)
    return unexpected(p, "a block name");
  if (strcmp(p->tok.text, block->key) != 0)
    return fail(p->s->ctx,
                "%s:%d: </%s> does not close <%s> (opened on line %d)",
                p->s->path, p->tok.line, p->tok.text, block->key, opened);
  if (advance(p) != 0 || expect(p, T_CLOSE, "'>'") != 0)
    return -1;
  return expect(p, T_EOL, "the end of the line");
}

/* After '<' that does not start an end tag. */
static int parse_block(parser_t *p, oconfig_item_t *parent) {
  int opened = p->tok.line;
  char *key = take_key(p, "a block name");
  oconfig_item_t *item = key != NULL ? add_child(parent, key) : NULL;
  if (item == NULL) {
    free(key);
    return key != NULL ? fail(p->s->ctx, "out of memory") : -1;
  }
  if (advance(p) != 0 || parse_arguments(p, item) != 0 ||
      expect(p, T_CLOSE, "'>'") != 0 ||
      expect(p, T_EOL, "the end of the line") != 0 ||
      parse_statements(p, item, opened) != 0)
    return -1;
  if (item->values_num == 0 && item->children_num == 0) {
    free_contents(item); /* collectd keeps no empty block */
    parent->children_num--;
  }
  return 0;
}

/* Statements up to the end of the file (parent is the root, opened 0) or
 * to the end tag of the block parent opened on line `opened`. */
static int parse_statements(parser_t *p, oconfig_item_t *parent, int opened) {
  for (;;) {
    int rc = 0;
    switch (p->tok.kind) {
    case T_EOF:
      if (opened == 0)
        return 0;
      return fail(p->s->ctx, "%s:%d: <%s> is not closed", p->s->path, opened,
                  parent->key);
    case T_EOL:
      rc = advance(p);
      break;
    case T_UNQUOTED:
      rc = parse_option(p, parent);
      break;
    case T_OPEN:
      if (advance(p) != 0)
        return -1;
      if (p->tok.kind != T_SLASH) {
        rc = parse_block(p, parent);
        break;
      }
      if (opened == 0)
        return fail(p->s->ctx, "%s:%d: an end tag without an open block",
                    p->s->path, p->tok.line);
      return advance(p) == 0 ? parse_block_end(p, parent, opened) : -1;
    default:
      return unexpected(p, "an option or a block");
    }
    if (rc != 0)
      return -1;
  }
}

/* ---- files, directories and Include ---------------------------------- */

/* Why this reader refuses the text, or NULL. */
static const char *text_problem(const char *text, size_t len) {
  if (len > CONF_FILE_MAX)
    return "larger than 16 MiB";
  if (memchr(text, 0, len) != NULL)
    return "contains a NUL byte";
  return NULL;
}

/* The whole file, NUL-terminated; NULL (failed) when it cannot be read or
 * text_problem() refuses it. Free it with free_secret(). */
static char *slurp(context_t *ctx, const char *path, size_t *len) {
  enum { CHUNK = 65536 };
  FILE *fh = fopen(path, "r");
  if (fh == NULL) {
    fail(ctx, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  char *text = NULL;
  size_t n = 0, cap = 0, got = 1;
  const char *problem = NULL;
  while (problem == NULL && got > 0 && n <= CONF_FILE_MAX) {
    if (n == cap) { /* grown by hand: no copy of the old text is left */
      char *grown = malloc(cap + CHUNK + 1);
      if (grown == NULL) {
        problem = "out of memory";
        break;
      }
      if (n > 0)
        memcpy(grown, text, n);
      if (text != NULL)
        explicit_bzero(text, n);
      free(text);
      text = grown;
      cap += CHUNK;
    }
    got = fread(text + n, 1, cap - n, fh);
    n += got;
    if (got == 0 && ferror(fh))
      problem = "cannot be read";
  }
  fclose(fh);
  if (problem == NULL)
    problem = text_problem(text, n);
  if (problem != NULL) {
    fail(ctx, "%s: %s", path, problem);
    if (text != NULL)
      explicit_bzero(text, n);
    free(text);
    return NULL;
  }
  text[n] = '\0';
  *len = n;
  return text;
}

/* The statements of text, read as the file `name`; NULL on error. */
static oconfig_item_t *parse_text(context_t *ctx, const char *name,
                                  const char *text, size_t len) {
  scanner_t s = {.ctx = ctx, .path = name, .text = text, .len = len,
                 .line = 1};
  oconfig_item_t *root = calloc(1, sizeof(*root));
  parser_t p = {.s = &s};
  int rc = root == NULL ? fail(ctx, "out of memory") : next_token(&s, &p.tok);
  if (rc == 0)
    rc = parse_statements(&p, root, 0);
  drop_token(&p.tok);
  free_secret(s.ml);
  if (rc != 0) {
    pop3_conffile_free(root);
    return NULL;
  }
  return root;
}

/* One file, parsed; NULL on error. */
static oconfig_item_t *parse_file(context_t *ctx, const char *path) {
  size_t len = 0;
  char *text = slurp(ctx, path, &len);
  if (text == NULL)
    return NULL;
  oconfig_item_t *root = parse_text(ctx, path, text, len);
  free_secret(text);
  return root;
}

static oconfig_item_t *read_generic(context_t *ctx, const char *path,
                                    const char *pattern, int depth);

/* Points every child (and grandchild) of root back to its parent. */
static void reparent(oconfig_item_t *root) {
  for (int i = 0; i < root->children_num; i++) {
    root->children[i].parent = root;
    for (int j = 0; j < root->children[i].children_num; j++)
      root->children[i].children[j].parent = &root->children[i];
  }
}

/* Replaces `count` children of dst from `at` (0 or 1) with src's children,
 * which are moved; frees src. */
static int splice(oconfig_item_t *dst, int at, int count, oconfig_item_t *src) {
  size_t size = sizeof(*dst->children);
  int after = dst->children_num - at - count;
  int n = at + src->children_num + after;
  oconfig_item_t *children = malloc((size_t)(n > 0 ? n : 1) * size);
  if (children == NULL) {
    pop3_conffile_free(src);
    return -1;
  }
  for (int i = at; i < at + count; i++)
    free_contents(&dst->children[i]);
  if (at > 0)
    memcpy(children, dst->children, (size_t)at * size);
  if (src->children_num > 0)
    memcpy(children + at, src->children, (size_t)src->children_num * size);
  if (after > 0)
    memcpy(children + at + src->children_num, dst->children + at + count,
           (size_t)after * size);
  free(dst->children);
  dst->children = children;
  dst->children_num = n;
  reparent(dst);
  free(src->children);
  free(src->values);
  free(src->key);
  free(src);
  return 0;
}

static int append_children(oconfig_item_t *dst, oconfig_item_t *src) {
  return splice(dst, dst->children_num, 0, src);
}

/* Include "path" at the top level of a file, with an optional Filter
 * "pattern" in its block: replaced by what path holds. Only the top level,
 * as in collectd 5.12. */
static int include_all(context_t *ctx, oconfig_item_t *root, int depth) {
  for (int i = 0; i < root->children_num; i++) {
    oconfig_item_t *inc = &root->children[i];
    if (strcasecmp(inc->key, "Include") != 0)
      continue;
    if (inc->values_num != 1 || inc->values[0].type != OCONFIG_TYPE_STRING) {
      note(ctx, "Include needs exactly one string argument");
      continue;
    }
    const char *pattern = NULL;
    for (int j = 0; j < inc->children_num; j++) {
      const oconfig_item_t *c = &inc->children[j];
      if (strcasecmp(c->key, "Filter") != 0)
        note(ctx, "option %s is not allowed in <Include>", c->key);
      else if (c->values_num == 1 && c->values[0].type == OCONFIG_TYPE_STRING)
        pattern = c->values[0].value.string;
    }
    char *path = strdup(inc->values[0].value.string);
    char *filter = pattern != NULL ? strdup(pattern) : NULL;
    oconfig_item_t *found = path != NULL && (pattern == NULL || filter != NULL)
                                ? read_generic(ctx, path, filter, depth + 1)
                                : NULL;
    free(path);
    free(filter);
    if (found == NULL && !ctx->failed)
      return fail(ctx, "Include \"%s\": the file does not match its Filter",
                  inc->values[0].value.string);
    if (found == NULL || splice(root, i, 1, found) != 0)
      return fail(ctx, "cannot include %s: out of memory",
                  inc->values[0].value.string);
    i--; /* the first included statement is looked at next */
  }
  return 0;
}

static oconfig_item_t *read_file(context_t *ctx, const char *file,
                                 const char *pattern, int depth) {
  if (pattern != NULL) {
    char *copy = strdup(file);
    bool skip = copy == NULL || fnmatch(pattern, basename(copy), 0) != 0;
    free(copy);
    if (skip) /* NULL without a failure: left out quietly */
      return NULL;
  }
  oconfig_item_t *root = parse_file(ctx, file);
  if (root != NULL && include_all(ctx, root, depth) != 0) {
    pop3_conffile_free(root);
    return NULL;
  }
  return root;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

/* The entries of dir that do not start with '.', by name; NULL on error. */
static char **list_dir(context_t *ctx, const char *dir, size_t *count) {
  DIR *dh = opendir(dir);
  if (dh == NULL) {
    fail(ctx, "cannot read the directory %s: %s", dir, strerror(errno));
    return NULL;
  }
  char **names = NULL;
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(dh)) != NULL) {
    if (de->d_name[0] == '.' || de->d_name[0] == '\0')
      continue;
    char *name = NULL;
    char **grown = realloc(names, (n + 1) * sizeof(*names));
    if (grown != NULL)
      names = grown;
    if (grown == NULL || asprintf(&name, "%s/%s", dir, de->d_name) < 0 ||
        strlen(name) >= INCLUDE_PATH_MAX) {
      fail(ctx, "%s/%s: name too long, or out of memory", dir, de->d_name);
      free(name);
      free_names(names, n);
      closedir(dh);
      return NULL;
    }
    names[n++] = name;
  }
  closedir(dh);
  if (n > 0)
    qsort(names, n, sizeof(*names), by_name);
  *count = n;
  if (names == NULL && (names = calloc(1, sizeof(*names))) == NULL)
    fail(ctx, "out of memory");
  return names;
}

/* Every entry of dir, through read_generic; one that cannot be read is
 * left out, as collectd does. */
static oconfig_item_t *read_dir(context_t *ctx, const char *dir,
                                const char *pattern, int depth) {
  if (ctx->dir_depth >= DIR_DEPTH_MAX) {
    fail(ctx, "%s: directories nested more than %d deep (a link loop?)", dir,
         DIR_DEPTH_MAX);
    return NULL;
  }
  size_t n = 0;
  char **names = list_dir(ctx, dir, &n);
  oconfig_item_t *root = names != NULL ? calloc(1, sizeof(*root)) : NULL;
  if (names != NULL && root == NULL)
    fail(ctx, "out of memory");
  ctx->dir_depth++;
  for (size_t i = 0; i < n; i++) {
    if (!ctx->failed) {
      oconfig_item_t *part = read_generic(ctx, names[i], pattern, depth);
      if (part != NULL && append_children(root, part) != 0)
        fail(ctx, "out of memory");
      if (part == NULL && ctx->failed) {
        note(ctx, "collectd leaves out %s: %s", names[i], ctx->err);
        ctx->failed = false;
      }
    }
  }
  ctx->dir_depth--;
  free_names(names, n);
  if (ctx->failed) {
    pop3_conffile_free(root);
    return NULL;
  }
  return root;
}

/* One word of an Include: a file or a directory; left out (NULL, nothing
 * failed, *skipped) when it is neither or does not exist. */
static oconfig_item_t *read_word(context_t *ctx, const char *word,
                                 const char *pattern, int depth,
                                 bool *skipped) {
  struct stat st;
  *skipped = true;
  if (stat(word, &st) != 0)
    note(ctx, "cannot read %s: %s", word, strerror(errno));
  else if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
    note(ctx, "%s is neither a file nor a directory", word);
  else
    *skipped = false;
  if (*skipped)
    return NULL;
  return S_ISREG(st.st_mode) ? read_file(ctx, word, pattern, depth)
                             : read_dir(ctx, word, pattern, depth);
}

/* path as the shell expands it (no command substitution), every word in
 * turn. NULL when one cannot be read, or is a file the Filter does not
 * match (then without failing: a directory leaves it out quietly). */
static oconfig_item_t *read_generic(context_t *ctx, const char *path,
                                    const char *pattern, int depth) {
  if (depth >= INCLUDE_DEPTH_MAX) {
    fail(ctx, "not including %s: Include is nested more than %d deep", path,
         INCLUDE_DEPTH_MAX);
    return NULL;
  }
  wordexp_t we;
  if (wordexp(path, &we, WRDE_NOCMD) != 0) {
    fail(ctx, "cannot expand the path %s", path);
    return NULL;
  }
  qsort(we.we_wordv, we.we_wordc, sizeof(*we.we_wordv), by_name);
  oconfig_item_t *root = calloc(1, sizeof(*root));
  if (root == NULL)
    fail(ctx, "out of memory");
  for (size_t i = 0; root != NULL && i < we.we_wordc; i++) {
    bool skipped;
    oconfig_item_t *part =
        read_word(ctx, we.we_wordv[i], pattern, depth, &skipped);
    if (skipped)
      continue;
    if (part == NULL || append_children(root, part) != 0) {
      if (part != NULL)
        fail(ctx, "out of memory");
      pop3_conffile_free(root);
      root = NULL;
    }
  }
  wordfree(&we);
  return root;
}

/* The reader's result: the tree, or NULL and the reason in err; an empty
 * configuration is refused, as collectd refuses to start with one. */
static oconfig_item_t *finish(context_t *ctx, oconfig_item_t *root,
                              const char *name) {
  if (root != NULL && root->children_num == 0) {
    pop3_conffile_free(root);
    if (ctx->note[0] != '\0')
      snprintf(ctx->err, ctx->err_size, "%s", ctx->note);
    else
      snprintf(ctx->err, ctx->err_size,
               "%s: empty (collectd refuses to start)", name);
    return NULL;
  }
  if (root != NULL)
    snprintf(ctx->err, ctx->err_size, "%s", ctx->note);
  return root;
}

oconfig_item_t *pop3_conffile_read(const char *path, char *err,
                                   size_t err_size) {
  context_t ctx = {.err = err, .err_size = err_size};
  err[0] = '\0';
  oconfig_item_t *root = NULL;
  if (compile_rules(&ctx) == 0)
    root = read_generic(&ctx, path, NULL, 0);
  free_rules(&ctx);
  return finish(&ctx, root, path);
}

oconfig_item_t *pop3_conffile_parse(const char *text, size_t len,
                                    const char *name, char *err,
                                    size_t err_size) {
  context_t ctx = {.err = err, .err_size = err_size};
  err[0] = '\0';
  oconfig_item_t *root = NULL;
  const char *problem = text_problem(text, len);
  if (problem != NULL)
    fail(&ctx, "%s: %s", name, problem);
  else if (compile_rules(&ctx) == 0)
    root = parse_text(&ctx, name, text, len);
  if (root != NULL && include_all(&ctx, root, 0) != 0) {
    pop3_conffile_free(root);
    root = NULL;
  }
  free_rules(&ctx);
  return finish(&ctx, root, name);
}

/* ---- writing values the scanner reads back --------------------------------- */

size_t pop3_conffile_quote(char *out, size_t size, const char *value) {
  size_t n = 0;
#define PUT(c)                                                                 \
  do {                                                                         \
    if (n + 1 < size)                                                          \
      out[n] = (c);                                                            \
    n++;                                                                       \
  } while (0)
  PUT('"');
  for (const char *c = value; *c != '\0'; c++) {
    if (*c == '"' || *c == '\\')
      PUT('\\');
    PUT(*c);
  }
  PUT('"');
#undef PUT
  if (size > 0)
    out[n < size ? n : size - 1] = '\0';
  return n;
}

int pop3_conffile_number(char *out, size_t size, double value) {
  if (isnan(value))
    return -1;
  if (isinf(value)) /* strtod's reading of a number beyond DBL_MAX */
    return snprintf(out, size, "%s1.0e+999", value < 0 ? "-" : "");
  /* whole numbers as digits; no leading zero, which would be octal */
  if (value == floor(value) && fabs(value) < 1e15)
    return snprintf(out, size, "%.0f", value);
  /* else the fewest significant digits that give the value back */
  char digits[40];
  int precision = 1;
  for (; precision < 17; precision++) {
    snprintf(digits, sizeof(digits), "%.*g", precision, value);
    if (strtod(digits, NULL) == value)
      break;
  }
  snprintf(digits, sizeof(digits), "%.*g", precision, value);
  char *e = strchr(digits, 'e');
  if (e == NULL)
    return snprintf(out, size, "%s", digits);
  /* the scanner's exponent form needs a fraction: 1.0e+20, not 1e+20 */
  bool has_point = memchr(digits, '.', (size_t)(e - digits)) != NULL;
  return snprintf(out, size, "%.*s%s%s", (int)(e - digits), digits,
                  has_point ? "" : ".0", e);
}

static void free_contents(oconfig_item_t *ci) {
  for (int i = 0; i < ci->values_num; i++)
    if (ci->values[i].type == OCONFIG_TYPE_STRING)
      free_secret(ci->values[i].value.string);
  free(ci->values);
  for (int i = 0; i < ci->children_num; i++)
    free_contents(&ci->children[i]);
  free(ci->children);
  free(ci->key);
}

void pop3_conffile_free(oconfig_item_t *root) {
  if (root == NULL)
    return;
  free_contents(root);
  free(root);
}

const oconfig_item_t *pop3_conffile_find(const oconfig_item_t *parent,
                                         const char *key, const char *arg) {
  for (int i = 0; i < parent->children_num; i++) {
    const oconfig_item_t *c = &parent->children[i];
    if (strcasecmp(c->key, key) != 0)
      continue;
    if (arg == NULL ||
        (c->values_num > 0 && c->values[0].type == OCONFIG_TYPE_STRING &&
         strcmp(c->values[0].value.string, arg) == 0))
      return c;
  }
  return NULL;
}

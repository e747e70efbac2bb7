/* pop3_conffile.c: a small reader for collectd's configuration syntax. */
#include "pop3_conffile.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
  const char *path;
  int line;
  char *err;
  size_t err_size;
} reader_t;

static int syntax_error(reader_t *r, const char *what) {
  snprintf(r->err, r->err_size, "%s:%d: %s", r->path, r->line, what);
  return -1;
}

static oconfig_item_t *add_child(oconfig_item_t *parent, const char *key,
                                 size_t key_len) {
  oconfig_item_t *children = realloc(
      parent->children,
      (size_t)(parent->children_num + 1) * sizeof(*parent->children));
  if (children == NULL)
    return NULL;
  parent->children = children;
  oconfig_item_t *child = &children[parent->children_num++];
  memset(child, 0, sizeof(*child));
  child->key = strndup(key, key_len);
  child->parent = parent;
  /* realloc may have moved the siblings: their children point back */
  for (int i = 0; i < parent->children_num; i++)
    for (int j = 0; j < children[i].children_num; j++)
      children[i].children[j].parent = &children[i];
  return child->key != NULL ? child : NULL;
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

/* A quoted string starting at *p (on the quote); *p ends after it. */
static int parse_quoted(reader_t *r, const char **p, oconfig_value_t *out) {
  const char *s = *p + 1;
  size_t cap = strlen(s) + 1, n = 0;
  char *buf = malloc(cap);
  if (buf == NULL)
    return syntax_error(r, "out of memory");
  for (; *s != '"'; s++) {
    if (*s == '\0' || *s == '\n') {
      free(buf);
      return syntax_error(r, "unterminated string");
    }
    if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
      s++;
    buf[n++] = *s;
  }
  buf[n] = '\0';
  *p = s + 1;
  out->type = OCONFIG_TYPE_STRING;
  out->value.string = buf;
  return 0;
}

static int parse_bare(reader_t *r, const char **p, oconfig_value_t *out) {
  const char *s = *p;
  size_t len = strcspn(s, " \t\r\n>#");
  *p = s + len;
  char word[256];
  if (len == 0 || len >= sizeof(word))
    return syntax_error(r, "bad value");
  memcpy(word, s, len);
  word[len] = '\0';
  if (strcasecmp(word, "true") == 0 || strcasecmp(word, "false") == 0) {
    out->type = OCONFIG_TYPE_BOOLEAN;
    out->value.boolean = strcasecmp(word, "true") == 0;
    return 0;
  }
  char *end = NULL;
  errno = 0;
  double number = strtod(word, &end);
  if (*end == '\0' && errno == 0) {
    out->type = OCONFIG_TYPE_NUMBER;
    out->value.number = number;
    return 0;
  }
  out->type = OCONFIG_TYPE_STRING;
  out->value.string = strdup(word);
  return out->value.string != NULL ? 0 : syntax_error(r, "out of memory");
}

/* Values after a key, up to the end of the line (or '>' in a block tag). */
static int parse_values(reader_t *r, const char *p, oconfig_item_t *item,
                        bool in_tag) {
  for (;;) {
    p += strspn(p, " \t\r");
    if (*p == '\0' || *p == '\n' || *p == '#')
      return in_tag ? syntax_error(r, "missing '>'") : 0;
    if (in_tag && *p == '>')
      return 0;
    oconfig_value_t v;
    int rc = *p == '"' ? parse_quoted(r, &p, &v) : parse_bare(r, &p, &v);
    if (rc != 0 || add_value(item, v) != 0)
      return -1;
  }
}

static int parse_line(reader_t *r, char *line, oconfig_item_t **current) {
  char *p = line + strspn(line, " \t\r");
  if (*p == '\0' || *p == '\n' || *p == '#')
    return 0;
  if (p[0] == '<' && p[1] == '/') {
    size_t len = strcspn(p + 2, ">");
    if ((*current)->parent == NULL ||
        strncasecmp(p + 2, (*current)->key, len) != 0 ||
        strlen((*current)->key) != len)
      return syntax_error(r, "closing tag does not match the open block");
    *current = (*current)->parent;
    return 0;
  }
  bool tag = *p == '<';
  if (tag)
    p++;
  size_t key_len = strcspn(p, " \t\r\n>");
  if (key_len == 0)
    return syntax_error(r, "missing option name");
  oconfig_item_t *item = add_child(*current, p, key_len);
  if (item == NULL)
    return syntax_error(r, "out of memory");
  if (parse_values(r, p + key_len, item, tag) != 0)
    return -1;
  if (tag)
    *current = item;
  return 0;
}

oconfig_item_t *pop3_conffile_read(const char *path, char *err,
                                   size_t err_size) {
  reader_t r = {.path = path, .err = err, .err_size = err_size};
  FILE *fh = fopen(path, "r");
  if (fh == NULL) {
    snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  oconfig_item_t *root = calloc(1, sizeof(*root));
  oconfig_item_t *current = root;
  char *line = NULL, *joined = NULL;
  size_t cap = 0;
  int rc = root != NULL ? 0 : -1;
  while (rc == 0 && getline(&line, &cap, fh) > 0) {
    r.line++;
    size_t len = strcspn(line, "\r\n");
    line[len] = '\0';
    bool continues = len > 0 && line[len - 1] == '\\';
    if (continues)
      line[len - 1] = '\0';
    size_t have = joined ? strlen(joined) : 0;
    char *grown = realloc(joined, have + strlen(line) + 1);
    if (grown == NULL) {
      rc = syntax_error(&r, "out of memory");
      break;
    }
    joined = grown;
    strcpy(joined + have, line);
    if (continues)
      continue;
    rc = parse_line(&r, joined, &current);
    free(joined);
    joined = NULL;
  }
  free(line);
  free(joined);
  fclose(fh);
  if (rc == 0 && current != root)
    rc = syntax_error(&r, "a block is not closed");
  if (rc != 0) {
    pop3_conffile_free(root);
    return NULL;
  }
  return root;
}

static void free_contents(oconfig_item_t *ci) {
  for (int i = 0; i < ci->values_num; i++)
    if (ci->values[i].type == OCONFIG_TYPE_STRING)
      free(ci->values[i].value.string);
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
    if (arg == NULL || (c->values_num > 0 &&
                        c->values[0].type == OCONFIG_TYPE_STRING &&
                        strcmp(c->values[0].value.string, arg) == 0))
      return c;
  }
  return NULL;
}

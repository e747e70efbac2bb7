/* test_config.c: every option of a <Monitor> block, and every bad value
 * rejected with one ERROR naming the monitor and the option. */
#include <check.h>
#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "mock_collectd.h"
#include "pop3_conffile.h"
#include "pop3_config.h"

#define SECRET "pw-Sekr3t-never-logged"

/* One option of a <Monitor> block, written as collectd.conf text. */
typedef struct {
  const char *key;
  char type; /* 's' string, 'n' number, 'b' boolean, 'l' several strings,
              * 'r' the values' text as it is */
  const char *s;
  double n;
  bool b;
  const char *const *list; /* 'l': NULL-terminated */
} opt_t;

#define S(k, v) {.key = k, .type = 's', .s = v}
#define N(k, v) {.key = k, .type = 'n', .n = v}
#define B(k, v) {.key = k, .type = 'b', .b = v}
#define RAW(k, v) {.key = k, .type = 'r', .s = v}
#define L(k, ...)                                                              \
  {.key = k, .type = 'l', .list = (const char *const[]){__VA_ARGS__, NULL}}
#define TOKEN "ya29.a0-token-never-logged"
#define HOST S("Host", "127.0.0.1")
#define USER S("User", "alice")
#define PASS S("Password", SECRET)
/* A <MailLoop> block with the given option lines */
#define LOOP(lines) RAW("<MailLoop>", "\n" lines "\n  </MailLoop>")
#define LOOP_BASE                                                              \
  "    Host \"smtp.example.com\"\n    From \"probe@example.com\"\n"           \
  "    To \"support@example.com\"\n"
#define SMTP_SECRET "smtp-Sekr3t-never-logged"

static char password_file[64];
static char open_password_file[64];
static char empty_file[64];
static char token_file[64];
static char open_token_file[64];
static char fifo_file[80];
static char long_password_file[64];   /* a 4000-byte first line */
static char longest_password_file[64]; /* 4096 bytes, then CRLF */
static char too_long_password_file[64];
static char long_password[4001];

static void write_quoted(FILE *fh, const char *value) {
  size_t n = pop3_conffile_quote(NULL, 0, value);
  char *quoted = malloc(n + 1);
  ck_assert_ptr_nonnull(quoted);
  ck_assert_uint_eq(pop3_conffile_quote(quoted, n + 1, value), n);
  fputs(quoted, fh);
  free(quoted);
}

/* <Monitor "name"> (<Monitor> when name is NULL) holding the options, as
 * collectd.conf text; free() it. */
static char *config_text(const char *name, const opt_t *opts) {
  char *text = NULL;
  size_t len = 0;
  FILE *fh = open_memstream(&text, &len);
  ck_assert_ptr_nonnull(fh);
  fputs("<Monitor", fh);
  if (name != NULL) {
    fputc(' ', fh);
    write_quoted(fh, name);
  }
  fputs(">\n", fh);
  for (const opt_t *o = opts; o->key != NULL; o++) {
    fprintf(fh, "  %s ", o->key);
    char number[64];
    switch (o->type) {
    case 's':
      write_quoted(fh, o->s);
      break;
    case 'l':
      for (int i = 0; o->list[i] != NULL; i++) {
        fputs(i > 0 ? " " : "", fh);
        write_quoted(fh, o->list[i]);
      }
      break;
    case 'n':
      ck_assert_int_gt(pop3_conffile_number(number, sizeof(number), o->n), 0);
      fputs(number, fh);
      break;
    case 'b':
      fputs(o->b ? "true" : "false", fh);
      break;
    default:
      fputs(o->s, fh);
    }
    fputc('\n', fh);
  }
  fputs("</Monitor>\n", fh);
  ck_assert_int_eq(fclose(fh), 0);
  return text;
}

/* The block read by pop3_conffile as collectd reads it, then validated. */
static pop3_monitor_t *parse(const char *name, const opt_t *opts) {
  char *text = config_text(name, opts);
  char err[512];
  oconfig_item_t *root =
      pop3_conffile_parse(text, strlen(text), "test", err, sizeof(err));
  ck_assert_msg(root != NULL, "%s in:\n%s", err, text);
  ck_assert_msg(err[0] == '\0', "%s in:\n%s", err, text);
  free(text);
  mock_log_reset();
  pop3_monitor_t *m =
      pop3_config_monitor(pop3_conffile_find(root, "Monitor", NULL));
  pop3_conffile_free(root);
  return m;
}

static void assert_no_secret_logged(void) {
  for (size_t i = 0; i < mock_log_num; i++) {
    ck_assert_msg(strstr(mock_log[i].message, SECRET) == NULL,
                  "password logged: %s", mock_log[i].message);
    ck_assert_msg(strstr(mock_log[i].message, TOKEN) == NULL,
                  "token logged: %s", mock_log[i].message);
  }
}

START_TEST(test_defaults) {
  const opt_t opts[] = {HOST, USER, PASS, {0}};
  pop3_monitor_t *m = parse("inbox", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(m->name, "inbox");
  ck_assert_str_eq(m->host, "127.0.0.1");
  ck_assert_int_eq(m->port, 110);
  ck_assert(!m->ssl && !m->starttls && !m->detect);
  ck_assert(m->verify_peer && m->verify_host);
  ck_assert(m->collect_timings && m->collect_certificate &&
            m->collect_availability);
  ck_assert_double_eq(m->timeout, 5.0);
  ck_assert_double_eq(m->interval, 30.0);
  ck_assert_ptr_null(m->ca_cert);
  ck_assert_ptr_null(m->description);
  ck_assert_str_eq(m->password, SECRET);
  ck_assert_uint_eq(mock_log_count(LOG_ERR), 0);
  /* loopback: no clear-text warning */
  ck_assert_uint_eq(mock_log_count(LOG_WARNING), 0);
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_every_option) {
  const opt_t opts[] = {S("Host", "mail.example.com"),
                        B("SSL", true),
                        S("User", "support@example.com"),
                        PASS,
                        N("Timeout", 2.5),
                        N("Interval", 60),
                        B("Detect", true),
                        S("Description", "Ticket intake"),
                        S("CACert", "/etc/hostname"),
                        B("VerifyPeer", true),
                        B("VerifyHost", true),
                        {0}};
  pop3_monitor_t *m = parse("support-inbox", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->port, 995); /* SSL changes the default port */
  ck_assert(m->ssl && !m->starttls && m->detect);
  ck_assert_double_eq(m->timeout, 2.5);
  ck_assert_double_eq(m->interval, 60.0);
  ck_assert_str_eq(m->description, "Ticket intake");
  ck_assert_str_eq(m->ca_cert, "/etc/hostname");
  ck_assert_str_eq(m->user, "support@example.com");
  ck_assert_uint_eq(mock_log_count(LOG_ERR), 0);
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_explicit_port_and_starttls) {
  const opt_t opts[] = {S("host", "::1"), N("port", 1110), B("starttls", true),
                        USER, PASS, {0}};
  pop3_monitor_t *m = parse("v6", opts); /* option names ignore case */
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->port, 1110);
  ck_assert(m->starttls && !m->ssl);
  ck_assert_str_eq(m->host, "::1");
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_collect_switches) {
  const opt_t opts[] = {HOST, USER, PASS, B("CollectTimings", false),
                        B("CollectCertificate", false),
                        B("CollectAvailability", false), {0}};
  pop3_monitor_t *m = parse("quiet", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert(!m->collect_timings && !m->collect_certificate &&
            !m->collect_availability);
  ck_assert(!m->collect_age); /* off by default: it costs a round trip */
  ck_assert(m->spread); /* on by default: a fleet reaches a server evenly */
  ck_assert_uint_eq(m->age_scan, 1);
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_mail_loop) {
  const opt_t opts[] = {HOST, USER, PASS,
                        LOOP(LOOP_BASE "    User \"probe@example.com\"\n"
                                       "    Password \"" SMTP_SECRET "\""),
                        {0}};
  pop3_monitor_t *m = parse("loop", opts);
  ck_assert_ptr_nonnull(m);
  const pop3_loop_config_t *l = m->loop;
  ck_assert_ptr_nonnull(l);
  ck_assert_str_eq(l->host, "smtp.example.com");
  ck_assert_int_eq(l->port, 587);           /* submission */
  ck_assert(l->starttls && !l->ssl);        /* fail closed by default */
  ck_assert(l->verify_peer && l->verify_host);
  ck_assert_str_eq(l->from, "probe@example.com");
  ck_assert_str_eq(l->to, "support@example.com");
  ck_assert_str_eq(l->password, SMTP_SECRET);
  ck_assert_double_eq(l->interval, 300);
  ck_assert_double_eq(l->lost_after, 900);
  ck_assert_uint_eq(l->search, 10);
  /* the probes are signed with the POP3 password, as documented */
  pop3_loop_key_t key;
  pop3_loop_key(&key, SECRET, "loop");
  ck_assert_mem_eq(l->key.key, key.key, sizeof(key.key));
  ck_assert_uint_eq(mock_log_count(LOG_ERR), 0);
  ck_assert_uint_eq(mock_log_count(LOG_WARNING), 0);
  for (size_t i = 0; i < mock_log_num; i++)
    ck_assert(strstr(mock_log[i].message, SMTP_SECRET) == NULL);
  assert_no_secret_logged();
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_mail_loop_ssl_and_token_login) {
  const opt_t ssl[] = {HOST, USER, PASS, LOOP(LOOP_BASE "    SSL true"), {0}};
  pop3_monitor_t *m = parse("s", ssl);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->loop->port, 465);
  ck_assert(m->loop->ssl && !m->loop->starttls);
  pop3_monitor_free(m);
  /* a bearer-token login has no password: the loop's own signs the probes */
  const opt_t token[] = {HOST, USER, S("Auth", "xoauth2"),
                         S("TokenFile", token_file),
                         LOOP(LOOP_BASE "    User \"p@example.com\"\n"
                                        "    Password \"" SMTP_SECRET "\""),
                         {0}};
  m = parse("t", token);
  ck_assert_ptr_nonnull(m);
  pop3_loop_key_t key;
  pop3_loop_key(&key, SMTP_SECRET, "t");
  ck_assert_mem_eq(m->loop->key.key, key.key, sizeof(key.key));
  pop3_monitor_free(m);
  const opt_t none[] = {HOST, USER, S("Auth", "xoauth2"),
                        S("TokenFile", token_file), LOOP(LOOP_BASE), {0}};
  ck_assert_ptr_null(parse("t", none));
  ck_assert_ptr_nonnull(mock_log_find(LOG_ERR, "<MailLoop> needs a secret"));
}
END_TEST

START_TEST(test_message_age) {
  const opt_t opts[] = {HOST, USER, PASS, B("CollectMessageAge", true),
                        N("MessageAgeScan", 16), {0}};
  pop3_monitor_t *m = parse("age", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert(m->collect_age);
  ck_assert_uint_eq(m->age_scan, 16);
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_port_as_string) {
  const opt_t opts[] = {HOST, S("Port", "2110"), USER, PASS, {0}};
  pop3_monitor_t *m = parse("p", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->port, 2110);
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_password_file) {
  const opt_t opts[] = {HOST, USER, S("PasswordFile", password_file), {0}};
  pop3_monitor_t *m = parse("pf", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(m->password, SECRET); /* first line, line end removed */
  ck_assert_uint_eq(mock_log_count(LOG_WARNING), 0);
  assert_no_secret_logged();
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_password_file_readable_by_others_warns) {
  const opt_t opts[] = {HOST, USER, S("PasswordFile", open_password_file), {0}};
  pop3_monitor_t *m = parse("pf", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_nonnull(mock_log_find(LOG_WARNING, "readable by group"));
  assert_no_secret_logged();
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_cleartext_to_remote_host_warns) {
  const opt_t opts[] = {S("Host", "mail.example.com"), USER, PASS, {0}};
  pop3_monitor_t *m = parse("remote", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_nonnull(mock_log_find(LOG_WARNING, "clear text"));
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_verification_off_warns) {
  const opt_t opts[] = {HOST, B("SSL", true), B("VerifyPeer", false), USER,
                        PASS, {0}};
  pop3_monitor_t *m = parse("noverify", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert(!m->verify_peer && m->verify_host);
  ck_assert_ptr_nonnull(mock_log_find(LOG_WARNING, "verification is off"));
  pop3_monitor_free(m);
}
END_TEST

/* --- Auth, TokenFile, TokenCommand ---------------------------------------- */

START_TEST(test_auth_default_and_names) {
  const opt_t plain[] = {HOST, USER, PASS, {0}};
  pop3_monitor_t *m = parse("a", plain);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->auth, POP3_AUTH_AUTO);
  ck_assert_ptr_null(m->token_file);
  ck_assert_ptr_null(m->token_command);
  pop3_monitor_free(m);

  static const struct {
    const char *name;
    pop3_auth_t auth;
  } names[] = {{"auto", POP3_AUTH_AUTO},   {"User", POP3_AUTH_USER},
               {"APOP", POP3_AUTH_APOP},   {"plain", POP3_AUTH_PLAIN},
               {"LOGIN", POP3_AUTH_LOGIN}};
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    const opt_t opts[] = {HOST, USER, PASS, S("Auth", names[i].name), {0}};
    m = parse("a", opts);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->auth, names[i].auth);
    ck_assert_str_eq(m->password, SECRET);
    ck_assert_uint_eq(mock_log_count(LOG_ERR), 0);
    pop3_monitor_free(m);
  }
}
END_TEST

START_TEST(test_token_file) {
  const opt_t opts[] = {HOST, USER, S("Auth", "XOAuth2"),
                        S("TokenFile", token_file), {0}};
  pop3_monitor_t *m = parse("t", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->auth, POP3_AUTH_XOAUTH2);
  ck_assert_str_eq(m->token_file, token_file); /* the path, read later */
  ck_assert_ptr_null(m->password);
  ck_assert_ptr_null(m->token_command);
  ck_assert_uint_eq(mock_log_count(LOG_ERR), 0);
  ck_assert_uint_eq(mock_log_count(LOG_WARNING), 0);
  assert_no_secret_logged();
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_token_file_readable_by_others_warns) {
  const opt_t opts[] = {HOST, USER, S("Auth", "oauthbearer"),
                        S("TokenFile", open_token_file), {0}};
  pop3_monitor_t *m = parse("t", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_nonnull(mock_log_find(LOG_WARNING, "readable by group"));
  assert_no_secret_logged();
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_token_command) {
  const opt_t opts[] = {HOST, USER, S("Auth", "oauthbearer"),
                        L("TokenCommand", "/bin/cat", token_file, "a b"),
                        {0}};
  pop3_monitor_t *m = parse("t", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->auth, POP3_AUTH_OAUTHBEARER);
  ck_assert_ptr_null(m->token_file);
  ck_assert_ptr_nonnull(m->token_command);
  ck_assert_str_eq(m->token_command[0], "/bin/cat");
  ck_assert_str_eq(m->token_command[1], token_file);
  ck_assert_str_eq(m->token_command[2], "a b");
  ck_assert_ptr_null(m->token_command[3]);
  ck_assert_uint_eq(mock_log_count(LOG_ERR), 0);
  pop3_monitor_free(m);

  /* the program alone */
  const opt_t alone[] = {HOST, USER, S("Auth", "xoauth2"),
                         S("TokenCommand", "/bin/true"), {0}};
  m = parse("t", alone);
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(m->token_command[0], "/bin/true");
  ck_assert_ptr_null(m->token_command[1]);
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_clear_text_warnings_by_method) {
  /* APOP sends a digest, not the password */
  const opt_t apop[] = {S("Host", "mail.example.com"), USER, PASS,
                        S("Auth", "apop"), {0}};
  pop3_monitor_t *m = parse("remote", apop);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_null(mock_log_find(LOG_WARNING, "clear text"));
  pop3_monitor_free(m);
  /* a bearer token in clear text is named as such */
  const opt_t bearer[] = {S("Host", "mail.example.com"), USER,
                          S("Auth", "xoauth2"), S("TokenFile", token_file),
                          {0}};
  m = parse("remote", bearer);
  ck_assert_ptr_nonnull(m);
  ck_assert_ptr_nonnull(
      mock_log_find(LOG_WARNING, "the bearer token travels to mail.example"));
  pop3_monitor_free(m);
}
END_TEST

/* --- PasswordFile and TokenFile that are not regular files --------------- */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A FIFO without a writer would block collectd's configuration phase, and a
 * device such as /dev/zero never ends: both are refused at once. */
START_TEST(test_password_file_not_regular) {
  const char *paths[] = {fifo_file, "/dev/zero", "/tmp"};
  for (size_t i = 0; i < 3; i++) {
    const opt_t opts[] = {HOST, USER, S("PasswordFile", paths[i]), {0}};
    double start = now();
    pop3_monitor_t *m = parse("pf", opts);
    ck_assert_msg(now() - start < 1.0, "%s: took %.2f s", paths[i],
                  now() - start);
    ck_assert_ptr_null(m);
    char expect[128];
    snprintf(expect, sizeof(expect),
             "monitor \"pf\": option PasswordFile: \"%s\" is not a regular "
             "file",
             paths[i]);
    ck_assert_msg(mock_log_find(LOG_ERR, expect) != NULL, "no \"%s\" (first: %s)",
                  expect, mock_log_num ? mock_log[0].message : "none");
    ck_assert_uint_eq(mock_log_count(LOG_ERR), 1);
  }
}
END_TEST

START_TEST(test_token_file_not_regular) {
  const char *paths[] = {fifo_file, "/dev/zero"};
  for (size_t i = 0; i < 2; i++) {
    const opt_t opts[] = {HOST, USER, S("Auth", "xoauth2"),
                          S("TokenFile", paths[i]), {0}};
    double start = now();
    pop3_monitor_t *m = parse("tf", opts);
    ck_assert_msg(now() - start < 1.0, "%s: took %.2f s", paths[i],
                  now() - start);
    ck_assert_ptr_null(m);
    char expect[128];
    snprintf(expect, sizeof(expect),
             "monitor \"tf\": option TokenFile: the token file \"%s\" is not "
             "a regular file",
             paths[i]);
    ck_assert_msg(mock_log_find(LOG_ERR, expect) != NULL, "no \"%s\"", expect);
    ck_assert_uint_eq(mock_log_count(LOG_ERR), 1);
  }
}
END_TEST

/* --- password length: SASL takes up to 4096 bytes, USER/PASS 248 ---------- */

static char *repeat(char c, size_t n) {
  char *s = malloc(n + 1);
  ck_assert_ptr_nonnull(s);
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

START_TEST(test_long_password_for_sasl_and_apop) {
  static const char *const methods[] = {"auto", "plain", "login", "apop"};
  char *longest = repeat('p', 4096);
  for (size_t i = 0; i < 4; i++) {
    const opt_t opts[] = {HOST, USER, S("Auth", methods[i]),
                          S("Password", longest), {0}};
    pop3_monitor_t *m = parse("long", opts);
    ck_assert_msg(m != NULL, "Auth %s: %s", methods[i],
                  mock_log_num ? mock_log[0].message : "");
    ck_assert_str_eq(m->password, longest);
    ck_assert_uint_eq(mock_log_count(LOG_ERR), 0);
    pop3_monitor_free(m);
  }
  free(longest);
  /* from a file: the whole first line, never cut */
  const opt_t file[] = {HOST, USER, S("Auth", "plain"),
                        S("PasswordFile", long_password_file), {0}};
  pop3_monitor_t *m = parse("long", file);
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(m->password, long_password);
  pop3_monitor_free(m);
  const opt_t crlf[] = {HOST, USER, S("PasswordFile", longest_password_file),
                        {0}};
  m = parse("long", crlf);
  ck_assert_ptr_nonnull(m);
  ck_assert_uint_eq(strlen(m->password), 4096);
  pop3_monitor_free(m);
}
END_TEST

START_TEST(test_password_fitting_user_pass) {
  char *fits = repeat('p', 248);
  const opt_t opts[] = {HOST, USER, S("Auth", "user"), S("Password", fits),
                        {0}};
  pop3_monitor_t *m = parse("user", opts);
  ck_assert_ptr_nonnull(m);
  ck_assert_str_eq(m->password, fits);
  pop3_monitor_free(m);
  free(fits);
}
END_TEST

static const struct {
  const char *auth; /* NULL: Auth not set */
  size_t length;
  bool from_file;
  const char *expect;
} long_password_cases[] = {
    {"user", 249, false,
     "monitor \"lp\": option Password: 249 bytes is too long for Auth user "
     "(PASS fits 248 in a 255-octet POP3 command); use Auth plain or login"},
    {"USER", 4000, true,
     "monitor \"lp\": option PasswordFile: 4000 bytes is too long for Auth "
     "user"},
    {"plain", 4097, false,
     "monitor \"lp\": option Password: longer than 4096 bytes"},
    {NULL, 4097, false, "monitor \"lp\": option Password: longer than 4096"},
    {"apop", 4097, false, "monitor \"lp\": option Password: longer than 4096"},
    {"login", 4097, true,
     "monitor \"lp\": option PasswordFile: \"%s\" has a first line longer "
     "than 4096 bytes"},
};

START_TEST(test_password_too_long) {
  const typeof(long_password_cases[0]) *c = &long_password_cases[_i];
  char *password = repeat('p', c->length);
  const char *file = c->length == 4000 ? long_password_file
                                       : too_long_password_file;
  opt_t opts[] = {HOST, USER,
                  c->from_file ? (opt_t)S("PasswordFile", file)
                               : (opt_t)S("Password", password),
                  c->auth ? (opt_t)S("Auth", c->auth) : (opt_t){0}, {0}};
  ck_assert_ptr_null(parse("lp", opts));
  char expect[512];
  snprintf(expect, sizeof(expect), c->expect, file);
  ck_assert_msg(mock_log_find(LOG_ERR, expect) != NULL,
                "case %d: no \"%s\" (first: %s)", _i, expect,
                mock_log_num ? mock_log[0].message : "none");
  ck_assert_uint_eq(mock_log_count(LOG_ERR), 1);
  for (size_t i = 0; i < mock_log_num; i++)
    ck_assert_msg(strstr(mock_log[i].message, "pppppppp") == NULL,
                  "password logged: %s", mock_log[i].message);
  free(password);
}
END_TEST

/* --- bad configurations: each rejected with one clear ERROR ------------- */

typedef struct {
  const char *monitor;
  opt_t opts[12];
  const char *expect; /* substring of the ERROR line */
} bad_case_t;

static char long_text[2048];
static char long_host[300];
static char long_user[300];
static char long_name[200];

static const bad_case_t bad_cases[] = {
    {"m", {USER, PASS}, "option Host is missing"},
    {"m", {HOST, PASS}, "option User is missing"},
    {"m", {HOST, USER}, "option Password (or PasswordFile) is missing"},
    {"m", {S("Host", ""), USER, PASS}, "option Host: \"\" is empty"},
    {"m", {S("Host", "pop3://mail.example.com"), USER, PASS}, "scheme"},
    {"m", {S("Host", "https://mail.example.com"), USER, PASS}, "scheme"},
    {"m", {S("Host", "mail.example.com/inbox"), USER, PASS}, "path"},
    {"m", {S("Host", "mail.example.com:995"), USER, PASS}, "port suffix"},
    {"m", {S("Host", "[::1]"), USER, PASS}, "is in brackets"},
    {"m", {S("Host", "mail example.com"), USER, PASS}, "characters not allowed"},
    {"m", {S("Host", long_host), USER, PASS}, "longer than 253"},
    {"m", {N("Host", 12), USER, PASS}, "option Host: expected exactly one string"},
    {"m", {HOST, N("Port", 0), USER, PASS}, "option Port: 0 is not a port"},
    {"m", {HOST, N("Port", 65536), USER, PASS}, "option Port: 65536 is not a port"},
    {"m", {HOST, N("Port", -1), USER, PASS}, "option Port: -1 is not a port"},
    {"m", {HOST, N("Port", 110.5), USER, PASS}, "option Port: 110.5 is not"},
    {"m", {HOST, S("Port", "pop3s"), USER, PASS}, "option Port: \"pop3s\" is not"},
    {"m", {HOST, B("Port", true), USER, PASS}, "option Port: expected exactly one port"},
    {"m", {HOST, S("SSL", "yes"), USER, PASS}, "option SSL: expected exactly one true or false"},
    {"m", {HOST, RAW("StartTLS", "true false"), USER, PASS}, "option StartTLS: expected"},
    {"m", {HOST, B("SSL", true), B("StartTLS", true), USER, PASS}, "SSL and StartTLS exclude"},
    {"m", {HOST, S("User", ""), PASS}, "option User: is empty"},
    {"m", {HOST, S("User", "a\r\nDELE 1"), PASS}, "option User: contains a line break"},
    {"m", {HOST, S("User", long_user), PASS}, "option User: is too long"},
    {"m", {HOST, USER, S("Password", "")}, "option Password: is empty"},
    {"m", {HOST, USER, S("Password", "x\nDELE 1")}, "option Password: contains a line break"},
    {"m", {HOST, USER, PASS, S("PasswordFile", "/nonexistent/pass")}, "Password and PasswordFile exclude"},
    {"m", {HOST, USER, S("PasswordFile", "/nonexistent/pass")}, "option PasswordFile: cannot read \"/nonexistent/pass\""},
    {"m", {HOST, USER, S("PasswordFile", empty_file)}, "option PasswordFile"},
    {"m", {HOST, USER, PASS, N("Timeout", 0)}, "option Timeout: must be a positive"},
    {"m", {HOST, USER, PASS, N("Timeout", -3)}, "option Timeout: must be a positive"},
    {"m", {HOST, USER, PASS, N("Timeout", 30)}, "option Timeout: 30 must be below the Interval (30)"},
    {"m", {HOST, USER, PASS, N("Timeout", 90), N("Interval", 60)}, "must be below the Interval (60)"},
    {"m", {HOST, USER, PASS, S("Timeout", "5s")}, "option Timeout: expected exactly one number"},
    {"m", {HOST, USER, PASS, N("Interval", 10)}, "option Interval: 10 is below the minimum of 30"},
    {"m", {HOST, USER, PASS, S("Interval", "60")}, "option Interval: expected"},
    {"m", {HOST, USER, PASS, S("CACert", "/nonexistent/ca.pem"), B("SSL", true)}, "option CACert: cannot read"},
    {"m", {HOST, USER, PASS, S("CACert", "/etc"), B("SSL", true)}, "option CACert: \"/etc\" is not a file"},
    {"m", {HOST, USER, PASS, S("VerifyPeer", "no")}, "option VerifyPeer: expected"},
    {"m", {HOST, USER, PASS, N("VerifyHost", 1)}, "option VerifyHost: expected"},
    {"m", {HOST, USER, PASS, S("CollectTimings", "no")}, "option CollectTimings: expected"},
    {"m", {HOST, USER, PASS, N("CollectCertificate", 0)}, "option CollectCertificate: expected"},
    {"m", {HOST, USER, PASS, RAW("CollectAvailability", "true true")}, "option CollectAvailability: expected"},
    {"m", {HOST, USER, PASS, S("CollectMessageAge", "yes")}, "option CollectMessageAge: expected"},
    {"m", {HOST, USER, PASS, N("MessageAgeScan", 0)}, "option MessageAgeScan: 0 is not a whole number from 1 to 16"},
    {"m", {HOST, USER, PASS, N("MessageAgeScan", 17)}, "option MessageAgeScan: 17 is not a whole number from 1 to 16"},
    {"m", {HOST, USER, PASS, N("MessageAgeScan", 2.5)}, "option MessageAgeScan: 2.5 is not a whole number"},
    {"m", {HOST, USER, PASS, S("MessageAgeScan", "2")}, "option MessageAgeScan: expected"},
    {"m", {HOST, USER, PASS, S("Spread", "no")}, "option Spread: expected"},
    {"m", {HOST, USER, PASS, LOOP("    From \"a@b\"\n    To \"c@d\"")}, "option MailLoop/Host is missing"},
    {"m", {HOST, USER, PASS, LOOP("    Host \"smtp\"\n    To \"c@d\"")}, "option MailLoop/From is missing"},
    {"m", {HOST, USER, PASS, LOOP("    Host \"smtp\"\n    From \"a@b\"")}, "option MailLoop/To is missing"},
    {"m", {HOST, USER, PASS, LOOP("    Host \"smtp\"\n    From \"nobody\"\n    To \"c@d\"")}, "option MailLoop/From: \"nobody\" is not a mail address"},
    {"m", {HOST, USER, PASS, LOOP("    Host \"smtp\"\n    From \"a@b\"\n    To \"c d@e\"")}, "option MailLoop/To: \"c d@e\" contains a blank"},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE "    SSL true\n    StartTLS true")}, "options MailLoop/SSL and MailLoop/StartTLS exclude"},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE "    User \"probe\"")}, "options MailLoop/User and MailLoop/Password (or PasswordFile) go together"},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE "    Password \"" SMTP_SECRET "\"")}, "go together"},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE "    Interval 10")}, "option MailLoop/Interval: 10 is below the monitor's Interval (30)"},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE "    LostAfter 30")}, "option MailLoop/LostAfter: 30 must be above the monitor's Interval (30)"},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE "    Timeout 300")}, "option MailLoop/Timeout: 300 must be below MailLoop/Interval (300)"},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE "    Search 33")}, "option MailLoop/Search: 33 is not a whole number from 1 to 32"},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE "    Port 0")}, "option MailLoop/Port: 0 is not a port number"},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE "    Host \"smtp://x\"")}, "option MailLoop/Host: \"smtp://x\" must not carry a scheme"},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE "    Bogus 1")}, "unknown option \"MailLoop/Bogus\""},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE), LOOP(LOOP_BASE)}, "more than one <MailLoop> block"},
    {"m", {HOST, USER, PASS, RAW("<MailLoop \"x\">", "\n" LOOP_BASE "  </MailLoop>")}, "<MailLoop> takes no argument"},
    {"m", {HOST, USER, PASS, LOOP(LOOP_BASE "    CACert \"/nonexistent/ca.pem\"")}, "option MailLoop/CACert: cannot read"},
    {"m", {HOST, USER, PASS, B("Detect", true), S("Bogus", "x")}, "unknown option \"Bogus\""},
    {"m", {HOST, USER, PASS, S("Description", long_text)}, "option Description: value longer than"},
    {"", {HOST, USER, PASS}, "the monitor name is empty"},
    {" padded", {HOST, USER, PASS}, "must not start or end with white space"},
    {"a/b", {HOST, USER, PASS}, "must not contain \"/\""},
    {long_name, {HOST, USER, PASS}, "the monitor name is too long"},
    {NULL, {HOST, USER, PASS}, "<Monitor> needs exactly one name"},
    /* Auth, TokenFile, TokenCommand */
    {"m", {HOST, USER, PASS, S("Auth", "cram-md5")},
     "option Auth: \"cram-md5\" is not one of auto, user, apop, plain, login, "
     "xoauth2, oauthbearer"},
    {"m", {HOST, USER, PASS, S("Auth", "")}, "option Auth: \"\" is not one of"},
    {"m", {HOST, USER, PASS, N("Auth", 1)},
     "option Auth: expected exactly one string"},
    {"m", {HOST, USER, S("Auth", "xoauth2")},
     "Auth xoauth2 needs TokenFile or TokenCommand"},
    {"m", {HOST, USER, S("Auth", "oauthbearer")},
     "Auth oauthbearer needs TokenFile or TokenCommand"},
    {"m", {HOST, USER, PASS, S("Auth", "xoauth2"), S("TokenFile", token_file)},
     "option Password is not used with Auth xoauth2: the bearer token comes "
     "from TokenFile or TokenCommand"},
    {"m", {HOST, USER, S("PasswordFile", password_file), S("Auth", "xoauth2"),
           S("TokenFile", token_file)},
     "option PasswordFile is not used with Auth xoauth2"},
    {"m", {HOST, USER, S("Auth", "oauthbearer"), S("TokenFile", token_file),
           S("TokenCommand", "/bin/true")},
     "options TokenFile and TokenCommand exclude each other"},
    {"m", {HOST, USER, PASS, S("Auth", "plain"), S("TokenFile", token_file)},
     "option TokenFile is only used with Auth xoauth2 or oauthbearer (Auth is "
     "plain)"},
    {"m", {HOST, USER, PASS, S("TokenCommand", "/bin/true")},
     "option TokenCommand is only used with Auth xoauth2 or oauthbearer (Auth "
     "is auto)"},
    {"m", {HOST, USER, S("Auth", "xoauth2"),
           S("TokenFile", "/nonexistent/token")},
     "option TokenFile: cannot read the token file \"/nonexistent/token\": No "
     "such file"},
    {"m", {HOST, USER, S("Auth", "xoauth2"), S("TokenFile", empty_file)},
     "option TokenFile: the first line of the token file"},
    {"m", {HOST, USER, S("Auth", "xoauth2"), S("TokenFile", "/etc")},
     "option TokenFile: the token file \"/etc\" is not a regular file"},
    {"m", {HOST, USER, S("Auth", "xoauth2"), N("TokenFile", 3)},
     "option TokenFile: expected exactly one string"},
    {"m", {HOST, USER, S("Auth", "xoauth2"), S("TokenCommand", "bin/token")},
     "option TokenCommand: \"bin/token\" is not an absolute path"},
    {"m", {HOST, USER, S("Auth", "xoauth2"), RAW("TokenCommand", "\"/bin/true\" 5")},
     "option TokenCommand: expected a program (an absolute path) and its "
     "arguments"},
    {"m", {HOST, USER, S("Auth", "xoauth2"), N("TokenCommand", 5)},
     "option TokenCommand: expected a program"},
    {"m", {HOST, USER, S("Auth", "xoauth2"),
           L("TokenCommand", "/nonexistent/prog", "x")},
     "option TokenCommand: cannot run \"/nonexistent/prog\""},
    {"m", {HOST, USER, S("Auth", "xoauth2"), S("TokenCommand", "/etc")},
     "option TokenCommand: \"/etc\" is not a file"},
    {"m", {HOST, USER, S("Auth", "login")},
     "option Password (or PasswordFile) is missing"},
};

START_TEST(test_bad_config) {
  const bad_case_t *c = &bad_cases[_i];
  pop3_monitor_t *m = parse(c->monitor, c->opts);
  ck_assert_msg(m == NULL, "case %d accepted", _i);
  const char *line = mock_log_find(LOG_ERR, c->expect);
  ck_assert_msg(line != NULL, "case %d: no ERROR containing '%s' (first: %s)",
                _i, c->expect, mock_log_num ? mock_log[0].message : "none");
  ck_assert_msg(strncmp(line, "pop3 plugin: ", 13) == 0, "prefix: %s", line);
  if (c->monitor != NULL && c->monitor[0] != '\0' && strlen(c->monitor) < 64) {
    char quoted[80];
    snprintf(quoted, sizeof(quoted), "\"%s\"", c->monitor);
    ck_assert_msg(strstr(line, quoted) != NULL, "monitor not named: %s", line);
  }
  ck_assert_msg(mock_log_count(LOG_ERR) == 1, "case %d: %zu ERROR lines", _i,
                mock_log_count(LOG_ERR));
  assert_no_secret_logged();
}
END_TEST

/* --- reading collectd.conf (pop3-probe --config) ------------------------ */

static oconfig_item_t *read_conf(const char *text, char *err, size_t size) {
  char path[64] = "/tmp/pop3-conf-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  oconfig_item_t *root = pop3_conffile_read(path, err, size);
  unlink(path);
  return root;
}

START_TEST(test_conffile_reads_collectd_syntax) {
  char err[256] = "";
  oconfig_item_t *root = read_conf(
      "# a comment\n"
      "LoadPlugin pop3\n"
      "<Plugin \"pop3\">\n"
      "  <Monitor \"inbox\">   # trailing comment\n"
      "    Host \"127.0.0.1\"\n"
      "    Port 2110\n"
      "    StartTLS true\n"
      "    User \"al\\\"ice\"\n"
      "    Password \\\n"
      "      \"" SECRET "\"\n"
      "  </Monitor>\n"
      "</Plugin>\n",
      err, sizeof(err));
  ck_assert_msg(root != NULL, "%s", err);
  const oconfig_item_t *plugin = pop3_conffile_find(root, "plugin", "pop3");
  ck_assert_ptr_nonnull(plugin);
  const oconfig_item_t *block = pop3_conffile_find(plugin, "Monitor", "inbox");
  ck_assert_ptr_nonnull(block);
  ck_assert_ptr_eq(block->parent, plugin);
  ck_assert_ptr_null(pop3_conffile_find(plugin, "Monitor", "other"));
  mock_log_reset();
  pop3_monitor_t *m = pop3_config_monitor(block);
  ck_assert_ptr_nonnull(m);
  ck_assert_int_eq(m->port, 2110);
  ck_assert(m->starttls);
  ck_assert_str_eq(m->user, "al\"ice");
  ck_assert_str_eq(m->password, SECRET); /* joined across the line break */
  pop3_monitor_free(m);
  pop3_conffile_free(root);
}
END_TEST

/* Values as collectd 5.12 reads them: each row was checked against the
 * real daemon (its exec plugin hands an Exec line's values to a program as
 * arguments; tests/e2e/e2e-token.sh repeats that comparison). */
typedef struct {
  char type; /* 's' string, 'n' number, 'b' boolean */
  const char *s;
  double n;
} value_t;

#define VS(x) {'s', x, 0}
#define VN(x) {'n', NULL, x}
#define VB(x) {'b', NULL, x}

static const struct {
  const char *text; /* after "Key " */
  value_t want[16];
  int count;
} value_cases[] = {
    {"\"ab\\cd\"", {VS("abcd")}, 1},         /* any \c is c */
    {"\"a\\\\b\"", {VS("a\\b")}, 1},
    {"\"a\\\"b\"", {VS("a\"b")}, 1},
    {"\"tab\\there\"", {VS("tabthere")}, 1}, /* no C escapes */
    {"\"\\\\\\\\\"", {VS("\\\\")}, 1},
    {"\"x\\\\\" \"y\"", {VS("x\\"), VS("y")}, 2},
    {"\"\"", {VS("")}, 1},
    {"\"a#b\"", {VS("a#b")}, 1},
    {"\"\xc3\xa9 \xc3\xbc\"", {VS("\xc3\xa9 \xc3\xbc")}, 1},
    /* a quoted string continued: the next line's leading blanks go */
    {"\"multi\\\n    line\"", {VS("multiline")}, 1},
    {"\"multi\\\nline\\\n\t  three\"", {VS("multilinethree")}, 1},
    {"\"p\\\n  q\" r", {VS("pq"), VS("r")}, 2},
    {"\"abc\\\n  \"def\"", {VS("abc\"def")}, 1},
    /* \ CR LF inside quotes is an escaped CR, not a continuation */
    {"\"crlf\\\r\n  x\"", {VS("crlf\r\n  x")}, 1},
    {"\"line1\nline2\"", {VS("line1\nline2")}, 1},
    /* a continuation between values */
    {"\"a\" \\\n   \"b\"", {VS("a"), VS("b")}, 2},
    {"\"a\" # comment \"b\"", {VS("a")}, 1},
    {"\"a\"b\"c\"", {VS("a"), VS("b"), VS("c")}, 3},
    {"\"a\"\b\"b\"", {VS("a"), VS("b")}, 2}, /* backspace is a blank */
    {"\"a\"\r\"b\"", {VS("a"), VS("b")}, 2}, /* a lone CR is ignored */
    {"abc_123 0x1F 010 1e5 -1 +5 1.5 .5",
     {VS("abc_123"), VN(31), VN(10), VS("1e5"), VN(-1), VN(5), VN(1.5),
      VN(0.5)},
     8},
    {"1.5e+3 1.5e3 00 08 0x 12abc -abc",
     {VN(1500), VN(1.5), VS("e3"), VN(0), VN(8), VS("0x"), VS("12abc"),
      VS("abc")},
     8},
    {"127.0.0.1 127.0.0.1:8080 ::1 [::1]:80 fe80::1 dead:beef::",
     {VS("127.0.0.1"), VS("127.0.0.1:8080"), VS("::1"), VS("[::1]:80"),
      VS("fe80::1"), VS("dead:beef::")},
     6},
    {"1.2.3 1.2.3.4.5 256.1.1.1 12:30",
     {VN(1.2), VN(0.3), VS("1.2.3.4"), VN(0.5), VN(256.1), VN(0.1), VN(0.1),
      VN(12), VN(30)},
     9},
    {"true yes on false no off True onion ON",
     {VB(1), VB(1), VB(1), VB(0), VB(0), VB(0), VS("True"), VS("onion"),
      VS("ON")},
     9},
    /* characters with no rule are dropped (flex echoes them) */
    {"mail.example.com", {VS("mail"), VS("example"), VS("com")}, 3},
    {"'single' @a %b", {VS("single"), VS("a"), VS("b")}, 3},
};

START_TEST(test_conffile_values) {
  char text[512], err[256] = "";
  snprintf(text, sizeof(text), "Key %s\n", value_cases[_i].text);
  /* a file, then the same text from memory */
  for (int from_text = 0; from_text <= 1; from_text++) {
  oconfig_item_t *root =
      from_text ? pop3_conffile_parse(text, strlen(text), "text", err,
                                      sizeof(err))
                : read_conf(text, err, sizeof(err));
  ck_assert_msg(root != NULL, "case %d: %s", _i, err);
  ck_assert_int_eq(root->children_num, 1);
  const oconfig_item_t *item = &root->children[0];
  ck_assert_str_eq(item->key, "Key");
  ck_assert_int_eq(item->values_num, value_cases[_i].count);
  for (int k = 0; k < item->values_num; k++) {
    const value_t *w = &value_cases[_i].want[k];
    const oconfig_value_t *v = &item->values[k];
    ck_assert_msg(v->type == (w->type == 's'   ? OCONFIG_TYPE_STRING
                              : w->type == 'n' ? OCONFIG_TYPE_NUMBER
                                               : OCONFIG_TYPE_BOOLEAN),
                  "case %d value %d: type %d", _i, k, v->type);
    if (w->type == 's')
      ck_assert_str_eq(v->value.string, w->s);
    else if (w->type == 'n')
      ck_assert_double_eq_tol(v->value.number, w->n, 1e-9);
    else
      ck_assert_int_eq(v->value.boolean, (int)w->n);
  }
  pop3_conffile_free(root);
  }
}
END_TEST

/* What collectd 5.12 accepts as a whole file. */
START_TEST(test_conffile_structure) {
  char err[256] = "";
  /* an empty block (no value, no child) is dropped; comments after tags,
   * blanks inside them, CRLF line ends */
  oconfig_item_t *root = read_conf(
      "<Empty>\r\n</Empty>\r\n< Plugin pop3 > # c\r\n  Key 1\r\n< / Plugin >"
      "\r\n",
      err, sizeof(err));
  ck_assert_msg(root != NULL, "%s", err);
  ck_assert_int_eq(root->children_num, 1);
  ck_assert_str_eq(root->children[0].key, "Plugin");
  ck_assert_int_eq(root->children[0].children_num, 1);
  ck_assert_ptr_eq(root->children[0].children[0].parent, &root->children[0]);
  pop3_conffile_free(root);
  /* an unterminated quote is a stray character: dropped, with a note */
  root = read_conf("Host \"127.0.0.1\n", err, sizeof(err));
  ck_assert_ptr_nonnull(root);
  ck_assert_str_eq(root->children[0].values[0].value.string, "127.0.0.1");
  ck_assert_ptr_nonnull(strstr(err, ":1: collectd ignores the character '\"'"));
  pop3_conffile_free(root);
}
END_TEST

/* Each rejected by collectd 5.12 too ("Parse error"). */
static const struct {
  const char *text, *expect;
} bad_conffiles[] = {
    {"<Plugin pop3>\n  <Monitor \"a\">\n  </Monitor>\n", ":1: <Plugin> is not closed"},
    {"<Plugin pop3>\n</Monitor>\n", ":2: </Monitor> does not close <Plugin> (opened on line 1)"},
    {"<Plugin pop3>\n</plugin>\n", ":2: </plugin> does not close <Plugin>"},
    {"<Plugin pop3\n", ":1: '>' expected, found the end of the line"},
    {"</Plugin>\n", ":1: an end tag without an open block"},
    {"Interval 10", ":1: the end of the line expected, found the end of the file"},
    {"<Plugin pop3>\n</Plugin>", ":2: the end of the line expected"},
    {"Interval\n", ":1: a value expected, found the end of the line"},
    {"<Plugin pop3> Key 1\n</Plugin>\n", ":1: the end of the line expected, found 'Key'"},
    {"\"Interval\" 10\n", ":1: an option or a block expected, found a quoted string"},
    {"10 10\n", ":1: an option or a block expected, found '10'"},
    {"Hostname a/b\n", ":1: the end of the line expected, found '/'"},
    {"Hostname \"abc\\\n", ":2: a value expected, found the end of the file"},
    {"< \"Plugin\" >\n</Plugin>\n", ":1: a block name expected, found a quoted string"},
    {"# only a comment\n\n", ": empty (collectd refuses to start)"},
    {"Key \"a\0b\"\n", ": contains a NUL byte"},
};

START_TEST(test_conffile_errors_name_the_line) {
  char err[256] = "";
  const char *text = bad_conffiles[_i].text;
  /* the NUL case: written with its NUL */
  char buf[64];
  size_t len = strlen(text);
  if (strncmp(text, "Key \"a", 6) == 0) {
    memcpy(buf, "Key \"a\0b\"\n", 10);
    len = 10;
    text = buf;
  }
  char path[64] = "/tmp/pop3-conf-XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
  close(fd);
  oconfig_item_t *root = pop3_conffile_read(path, err, sizeof(err));
  unlink(path);
  ck_assert_ptr_null(root);
  ck_assert_msg(strstr(err, bad_conffiles[_i].expect) != NULL, "%s", err);
  ck_assert_msg(strncmp(err, path, strlen(path)) == 0, "path not named: %s",
                err);
}
END_TEST

START_TEST(test_conffile_missing_file) {
  char err[256] = "";
  ck_assert_ptr_null(pop3_conffile_read("/nonexistent/c.conf", err, sizeof(err)));
  ck_assert_ptr_nonnull(strstr(err, "cannot read /nonexistent/c.conf"));
}
END_TEST

/* Text from memory: the same reader, the name given in its messages, and
 * Include from the working directory. */
START_TEST(test_conffile_parse_text) {
  char err[256] = "";
  const char *text = "<Plugin pop3>\n  Key \"v\"\n</Plugin>"; /* no final EOL */
  ck_assert_ptr_null(
      pop3_conffile_parse(text, strlen(text), "flags", err, sizeof(err)));
  ck_assert_str_eq(err, "flags:3: the end of the line expected, found the end "
                        "of the file");
  /* only len bytes are read: the final line break is there */
  text = "Key 1\nKey 2\n<garbage";
  oconfig_item_t *root =
      pop3_conffile_parse(text, 12, "flags", err, sizeof(err));
  ck_assert_msg(root != NULL, "%s", err);
  ck_assert_int_eq(root->children_num, 2);
  pop3_conffile_free(root);
  ck_assert_ptr_null(pop3_conffile_parse("Key \"a\0b\"\n", 10, "flags", err,
                                         sizeof(err)));
  ck_assert_str_eq(err, "flags: contains a NUL byte");
  ck_assert_ptr_null(pop3_conffile_parse("", 0, "flags", err, sizeof(err)));
  ck_assert_str_eq(err, "flags: empty (collectd refuses to start)");
  /* Include at the top level, relative to the working directory */
  char dir[64] = "/tmp/pop3-parse-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[128];
  snprintf(path, sizeof(path), "%s/inc.conf", dir);
  FILE *fh = fopen(path, "w");
  ck_assert_ptr_nonnull(fh);
  fputs("Included true\n", fh);
  fclose(fh);
  char cwd[512];
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
  ck_assert_int_eq(chdir(dir), 0);
  text = "First 1\nInclude \"inc.conf\"\n";
  root = pop3_conffile_parse(text, strlen(text), "flags", err, sizeof(err));
  ck_assert_int_eq(chdir(cwd), 0);
  unlink(path);
  rmdir(dir);
  ck_assert_msg(root != NULL, "%s", err);
  ck_assert_int_eq(root->children_num, 2);
  ck_assert_str_eq(root->children[1].key, "Included");
  ck_assert_ptr_eq(root->children[1].parent, root);
  pop3_conffile_free(root);
}
END_TEST

/* "Key <written value>\n", read back; the tree (free it) and its value. */
static oconfig_item_t *read_back(const char *written,
                                 const oconfig_value_t **value) {
  size_t len = strlen(written) + 5; /* "Key " and the line break */
  char *text = malloc(len + 1);
  ck_assert_ptr_nonnull(text);
  snprintf(text, len + 1, "Key %s\n", written);
  char err[256];
  oconfig_item_t *root = pop3_conffile_parse(text, len, "written", err,
                                             sizeof(err));
  ck_assert_msg(root != NULL && err[0] == '\0', "%s: %s", written, err);
  ck_assert_int_eq(root->children_num, 1);
  ck_assert_int_eq(root->children[0].values_num, 1);
  *value = &root->children[0].values[0];
  free(text);
  return root;
}

static void assert_quote_round_trip(const char *value) {
  size_t n = pop3_conffile_quote(NULL, 0, value);
  char *quoted = malloc(n + 1);
  ck_assert_ptr_nonnull(quoted);
  ck_assert_uint_eq(pop3_conffile_quote(quoted, n + 1, value), n);
  ck_assert_uint_eq(strlen(quoted), n);
  const oconfig_value_t *v;
  oconfig_item_t *root = read_back(quoted, &v);
  ck_assert_int_eq(v->type, OCONFIG_TYPE_STRING);
  ck_assert_msg(strcmp(v->value.string, value) == 0,
                "written as %s, read back as %s", quoted, v->value.string);
  pop3_conffile_free(root);
  free(quoted);
}

/* Every string survives the writer and collectd's scanner: quotes,
 * backslashes (a trailing one, one before a line break), line breaks,
 * blanks, '#', every byte from 1 to 255, and random strings of them. */
START_TEST(test_quote_round_trip) {
  static const char *const values[] = {
      "", "plain", "pa\"ss", "back\\slash", "\\", "\\\\", "\"",
      "\"\"", "end\\", "\\\"", "a\\\nb", "a\\\r\nb", "line\nbreak",
      "cr\rlf\r\n", "\n", " lead and trail ", "#not a comment",
      "<Plugin x>", "tab\there", "\xc3\xa9\xff\x01", "true", "10"};
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
    assert_quote_round_trip(values[i]);
  char every[256];
  for (int c = 1; c < 256; c++)
    every[c - 1] = (char)c;
  every[255] = '\0';
  assert_quote_round_trip(every);
  /* random strings, one option each, read back in one file */
  enum { ROUNDS = 2000 };
  static char random[ROUNDS][40];
  unsigned seed = 12345;
  char *text = NULL;
  size_t text_len = 0;
  FILE *fh = open_memstream(&text, &text_len);
  ck_assert_ptr_nonnull(fh);
  for (int round = 0; round < ROUNDS; round++) {
    size_t len = (size_t)(rand_r(&seed) % 39);
    /* mostly the characters that matter to the scanner */
    static const char interesting[] = "\"\\\n\r \t#<>a";
    for (size_t i = 0; i < len; i++)
      random[round][i] =
          rand_r(&seed) % 3 != 0
              ? interesting[rand_r(&seed) % (sizeof(interesting) - 1)]
              : (char)(1 + rand_r(&seed) % 255);
    random[round][len] = '\0';
    char quoted[2 * sizeof(random[0]) + 3];
    ck_assert_uint_lt(pop3_conffile_quote(quoted, sizeof(quoted), random[round]),
                      sizeof(quoted));
    fprintf(fh, "K%d %s\n", round, quoted);
  }
  ck_assert_int_eq(fclose(fh), 0);
  char err[256];
  oconfig_item_t *root =
      pop3_conffile_parse(text, text_len, "random", err, sizeof(err));
  ck_assert_msg(root != NULL && err[0] == '\0', "%s", err);
  ck_assert_int_eq(root->children_num, ROUNDS);
  for (int round = 0; round < ROUNDS; round++) {
    const oconfig_item_t *c = &root->children[round];
    ck_assert_int_eq(c->values_num, 1);
    ck_assert_int_eq(c->values[0].type, OCONFIG_TYPE_STRING);
    ck_assert_msg(strcmp(c->values[0].value.string, random[round]) == 0,
                  "random string %d not read back", round);
  }
  pop3_conffile_free(root);
  free(text);
  /* snprintf's contract: cut, terminated, the whole length returned */
  char small[4];
  ck_assert_uint_eq(pop3_conffile_quote(small, sizeof(small), "a\"b"), 6);
  ck_assert_str_eq(small, "\"a\\");
}
END_TEST

/* Every number is read back exactly; NaN cannot be written. */
START_TEST(test_number_round_trip) {
  static const double values[] = {
      0, -0.0, 1, -1, 110, 3600, 65536, 2.5, -110.5, 0.1, 1.0 / 3, 1e15,
      1e16, 123456789012345678.0, 1e-7, 5e-324, 1.7976931348623157e308,
      -2.2250738585072014e-308, 1e300, 0.5, 1e5};
  for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
    char number[64];
    int n = pop3_conffile_number(number, sizeof(number), values[i]);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq((int)strlen(number), n);
    const oconfig_value_t *v;
    oconfig_item_t *root = read_back(number, &v);
    ck_assert_msg(v->type == OCONFIG_TYPE_NUMBER, "%s: not a number", number);
    ck_assert_msg(v->value.number == values[i] &&
                      signbit(v->value.number) == signbit(values[i]),
                  "%.17g written as %s, read back as %.17g", values[i], number,
                  v->value.number);
    pop3_conffile_free(root);
  }
  char number[64];
  ck_assert_int_gt(pop3_conffile_number(number, sizeof(number), INFINITY), 0);
  const oconfig_value_t *v;
  oconfig_item_t *root = read_back(number, &v);
  ck_assert(v->type == OCONFIG_TYPE_NUMBER && isinf(v->value.number) &&
            v->value.number > 0);
  pop3_conffile_free(root);
  ck_assert_int_gt(pop3_conffile_number(number, sizeof(number), -INFINITY), 0);
  root = read_back(number, &v);
  ck_assert(isinf(v->value.number) && v->value.number < 0);
  pop3_conffile_free(root);
  ck_assert_int_eq(pop3_conffile_number(number, sizeof(number), NAN), -1);
  /* plain digits where they are exact */
  pop3_conffile_number(number, sizeof(number), 3600);
  ck_assert_str_eq(number, "3600");
  pop3_conffile_number(number, sizeof(number), 0.1);
  ck_assert_str_eq(number, "0.1");
  pop3_conffile_number(number, sizeof(number), 1e20);
  ck_assert_str_eq(number, "1.0e+20");
}
END_TEST

/* --- Include, as collectd's daemon does it ------------------------------- */

static char include_dir[64];

static void put(const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof(path), "%s/%s", include_dir, name);
  FILE *fh = fopen(path, "w");
  ck_assert_ptr_nonnull(fh);
  fputs(text, fh);
  fclose(fh);
}

static void include_setup(void) {
  snprintf(include_dir, sizeof(include_dir), "/tmp/pop3-include-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(include_dir));
  char path[256];
  snprintf(path, sizeof(path), "%s/conf.d", include_dir);
  ck_assert_int_eq(mkdir(path, 0700), 0);
  put("conf.d/20-b.conf", "<Plugin pop3>\n  Key \"b\"\n</Plugin>\n");
  put("conf.d/10-a.conf", "<Plugin pop3>\n  Key \"a\"\n</Plugin>\n");
  put("conf.d/notes.txt", "this is not < a configuration\n");
  put("conf.d/.hidden.conf", "Broken \"\n<\n");
  put("one.conf", "Key \"one\"\nInclude \"two.conf\"\n");
  put("two.conf", "Key \"two\"\n");
  put("loop.conf", "Include \"loop.conf\"\n");
  put("broken.conf", "Key\n");
}

static void include_teardown(void) {
  static const char *const names[] = {
      "conf.d/20-b.conf", "conf.d/10-a.conf", "conf.d/notes.txt",
      "conf.d/.hidden.conf", "conf.d/30-broken.conf", "one.conf", "two.conf",
      "loop.conf", "broken.conf", "main.conf", "conf.d", ""};
  char path[256];
  for (size_t i = 0; names[i][0] != '\0'; i++) {
    snprintf(path, sizeof(path), "%s/%s", include_dir, names[i]);
    if (unlink(path) != 0)
      rmdir(path);
  }
  rmdir(include_dir);
}

/* main.conf with `body`, read; chdir'd so relative Include paths work. */
static oconfig_item_t *read_main(const char *body, char *err, size_t size) {
  put("main.conf", body);
  char path[256];
  snprintf(path, sizeof(path), "%s/main.conf", include_dir);
  ck_assert_int_eq(chdir(include_dir), 0);
  oconfig_item_t *root = pop3_conffile_read(path, err, size);
  ck_assert_int_eq(chdir("/"), 0);
  return root;
}

static const char *string_of(const oconfig_item_t *ci) {
  return ci->values_num > 0 && ci->values[0].type == OCONFIG_TYPE_STRING
             ? ci->values[0].value.string
             : "";
}

START_TEST(test_include_directory_with_filter) {
  char err[512] = "", text[512];
  snprintf(text, sizeof(text),
           "Key \"first\"\n<Include \"%s/conf.d\">\n  Filter \"*.conf\"\n"
           "</Include>\nKey \"last\"\n",
           include_dir);
  oconfig_item_t *root = read_main(text, err, sizeof(err));
  ck_assert_msg(root != NULL, "%s", err);
  /* in place, the directory's files by name; .hidden and notes.txt out */
  ck_assert_int_eq(root->children_num, 4);
  ck_assert_str_eq(string_of(&root->children[0]), "first");
  ck_assert_str_eq(string_of(&root->children[1].children[0]), "a");
  ck_assert_str_eq(string_of(&root->children[2].children[0]), "b");
  ck_assert_str_eq(string_of(&root->children[3]), "last");
  ck_assert_ptr_eq(root->children[2].children[0].parent, &root->children[2]);
  ck_assert_ptr_nonnull(pop3_conffile_find(root, "Plugin", "pop3"));
  pop3_conffile_free(root);
  /* a file of the directory that cannot be parsed is left out, noted */
  put("conf.d/30-broken.conf", "<Plugin pop3>\n");
  root = read_main(text, err, sizeof(err));
  ck_assert_msg(root != NULL, "%s", err);
  ck_assert_int_eq(root->children_num, 4);
  ck_assert_ptr_nonnull(strstr(err, "collectd leaves out"));
  ck_assert_ptr_nonnull(strstr(err, "30-broken.conf"));
  pop3_conffile_free(root);
}
END_TEST

START_TEST(test_include_files_and_globs) {
  char err[512] = "";
  /* relative to the working directory, nested, and a glob */
  oconfig_item_t *root =
      read_main("Include \"one.conf\"\nInclude \"conf.d/*-a.conf\"\n"
                "Include \"nothing-*.conf\"\n",
                err, sizeof(err));
  ck_assert_msg(root != NULL, "%s", err);
  ck_assert_int_eq(root->children_num, 3);
  ck_assert_str_eq(string_of(&root->children[0]), "one");
  ck_assert_str_eq(string_of(&root->children[1]), "two");
  ck_assert_str_eq(string_of(&root->children[2].children[0]), "a");
  /* a glob that matches nothing is left out */
  ck_assert_ptr_nonnull(strstr(err, "cannot read nothing-*.conf"));
  pop3_conffile_free(root);
  /* only at the top level: inside a block, Include is an option */
  root = read_main("<Plugin pop3>\n  Include \"one.conf\"\n</Plugin>\n", err,
                   sizeof(err));
  ck_assert_ptr_nonnull(root);
  ck_assert_str_eq(root->children[0].children[0].key, "Include");
  pop3_conffile_free(root);
}
END_TEST

START_TEST(test_include_errors) {
  char err[512] = "";
  ck_assert_ptr_null(read_main("Include \"loop.conf\"\n", err, sizeof(err)));
  ck_assert_msg(strstr(err, "nested more than 8 deep") != NULL, "%s", err);
  ck_assert_ptr_null(read_main("Include \"broken.conf\"\n", err, sizeof(err)));
  ck_assert_msg(strstr(err, "broken.conf:1: a value expected") != NULL, "%s",
                err);
  ck_assert_ptr_null(read_main(
      "<Include \"two.conf\">\n  Filter \"*.txt\"\n</Include>\n", err,
      sizeof(err)));
  ck_assert_msg(strstr(err, "does not match its Filter") != NULL, "%s", err);
  ck_assert_ptr_null(
      read_main("Include \"$(touch /tmp/x)\"\n", err, sizeof(err)));
  ck_assert_msg(strstr(err, "cannot expand the path") != NULL, "%s", err);
}
END_TEST

/* test_config --dump-exec FILE: every Exec line of <Plugin exec> blocks as
 * collectd's exec plugin would pass its values to the program (argv[1]
 * on: strings as they are, numbers "%lf", booleans true/false), each as
 * 'x' and its bytes in hex; for tests/e2e/e2e-token.sh's comparison. */
static void dump_value(const oconfig_value_t *v) {
  char number[64];
  const char *text = number;
  if (v->type == OCONFIG_TYPE_STRING)
    text = v->value.string;
  else if (v->type == OCONFIG_TYPE_NUMBER)
    snprintf(number, sizeof(number), "%lf", v->value.number);
  else
    text = v->value.boolean ? "true" : "false";
  printf(" x");
  for (const unsigned char *c = (const unsigned char *)text; *c; c++)
    printf("%02x", *c);
}

static int dump_exec(const char *path) {
  char err[1024];
  oconfig_item_t *root = pop3_conffile_read(path, err, sizeof(err));
  if (root == NULL) {
    fprintf(stderr, "%s\n", err);
    return EXIT_FAILURE;
  }
  for (int i = 0; i < root->children_num; i++) {
    const oconfig_item_t *p = &root->children[i];
    if (strcasecmp(p->key, "Plugin") != 0 ||
        strcasecmp(string_of(p), "exec") != 0)
      continue;
    for (int j = 0; j < p->children_num; j++) {
      const oconfig_item_t *e = &p->children[j];
      if (strcasecmp(e->key, "Exec") != 0)
        continue;
      printf("exec");
      for (int k = 2; k < e->values_num; k++)
        dump_value(&e->values[k]);
      printf("\n");
    }
  }
  pop3_conffile_free(root);
  return EXIT_SUCCESS;
}

/* test_config --dump FILE: the whole tree as JSON, for
 * tests/unit/conffile-vs-collectd.sh: [{"key": K, "values": [V...],
 * "children": [...]}...], a value {"s": hex of its bytes}, {"n": "%.17g"}
 * or {"b": true|false}. */
static void dump_items(const oconfig_item_t *parent) {
  printf("[");
  for (int i = 0; i < parent->children_num; i++) {
    const oconfig_item_t *c = &parent->children[i];
    printf("%s{\"key\": \"", i > 0 ? ", " : "");
    for (const char *k = c->key; *k; k++)
      printf(isalnum((unsigned char)*k) || *k == '_' ? "%c" : "\\u%04x",
             *k);
    printf("\", \"values\": [");
    for (int j = 0; j < c->values_num; j++) {
      const oconfig_value_t *v = &c->values[j];
      printf("%s", j > 0 ? ", " : "");
      if (v->type == OCONFIG_TYPE_STRING) {
        printf("{\"s\": \"");
        for (const unsigned char *b = (const unsigned char *)v->value.string;
             *b; b++)
          printf("%02x", *b);
        printf("\"}");
      } else if (v->type == OCONFIG_TYPE_NUMBER) {
        printf("{\"n\": \"%.17g\"}", v->value.number);
      } else {
        printf("{\"b\": %s}", v->value.boolean ? "true" : "false");
      }
    }
    printf("], \"children\": ");
    dump_items(c);
    printf("}");
  }
  printf("]");
}

static int dump(const char *path) {
  char err[1024];
  oconfig_item_t *root = pop3_conffile_read(path, err, sizeof(err));
  if (root == NULL) {
    fprintf(stderr, "%s\n", err);
    return EXIT_FAILURE;
  }
  if (err[0] != '\0')
    fprintf(stderr, "note: %s\n", err);
  dump_items(root);
  printf("\n");
  pop3_conffile_free(root);
  return EXIT_SUCCESS;
}

/* test_config --write-values s:TEXT n:NUMBER ...: the values as
 * pop3_conffile writes them, on one line; exit 2 for a value it cannot
 * write. */
static int write_values(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    const char *arg = argv[i];
    printf("%s", i > 0 ? " " : "");
    if (strncmp(arg, "s:", 2) == 0) {
      size_t n = pop3_conffile_quote(NULL, 0, arg + 2);
      char *quoted = malloc(n + 1);
      if (quoted == NULL)
        return EXIT_FAILURE;
      pop3_conffile_quote(quoted, n + 1, arg + 2);
      fputs(quoted, stdout);
      free(quoted);
    } else if (strncmp(arg, "n:", 2) == 0) {
      char number[64];
      if (pop3_conffile_number(number, sizeof(number),
                               strtod(arg + 2, NULL)) < 0)
        return 2;
      fputs(number, stdout);
    } else {
      fprintf(stderr, "--write-values: s:TEXT or n:NUMBER, not %s\n", arg);
      return 2;
    }
  }
  printf("\n");
  return EXIT_SUCCESS;
}

static void write_file(char *path, size_t size, const char *content,
                       mode_t mode) {
  snprintf(path, size, "/tmp/pop3-test-XXXXXX");
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
  fchmod(fd, mode);
  close(fd);
}

static void setup(void) {
  write_file(password_file, sizeof(password_file), SECRET "\nsecond line\n",
             0600);
  write_file(open_password_file, sizeof(open_password_file), SECRET "\n", 0644);
  write_file(empty_file, sizeof(empty_file), "", 0600);
  write_file(token_file, sizeof(token_file), TOKEN "\n", 0600);
  write_file(open_token_file, sizeof(open_token_file), TOKEN "\n", 0644);
  memset(long_password, 'p', sizeof(long_password) - 1);
  char *text = malloc(8192);
  ck_assert_ptr_nonnull(text);
  snprintf(text, 8192, "%s\nsecond line\n", long_password);
  write_file(long_password_file, sizeof(long_password_file), text, 0600);
  memset(text, 'p', 4096);
  memcpy(text + 4096, "\r\n", 3);
  write_file(longest_password_file, sizeof(longest_password_file), text, 0600);
  memset(text, 'p', 4097);
  memcpy(text + 4097, "\n", 2);
  write_file(too_long_password_file, sizeof(too_long_password_file), text,
             0600);
  free(text);
  snprintf(fifo_file, sizeof(fifo_file), "%.60s.fifo", password_file);
  ck_assert_int_eq(mkfifo(fifo_file, 0600), 0);
  memset(long_text, 'x', sizeof(long_text) - 1);
  memset(long_host, 'h', sizeof(long_host) - 1);
  memset(long_user, 'u', sizeof(long_user) - 1);
  memset(long_name, 'n', sizeof(long_name) - 1);
}

static void teardown(void) {
  unlink(password_file);
  unlink(open_password_file);
  unlink(empty_file);
  unlink(token_file);
  unlink(open_token_file);
  unlink(long_password_file);
  unlink(longest_password_file);
  unlink(too_long_password_file);
  unlink(fifo_file);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--dump-exec") == 0)
    return dump_exec(argv[2]);
  if (argc == 3 && strcmp(argv[1], "--dump") == 0)
    return dump(argv[2]);
  if (argc >= 2 && strcmp(argv[1], "--write-values") == 0)
    return write_values(argc - 2, argv + 2);
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("monitor");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_every_option);
  tcase_add_test(tc, test_explicit_port_and_starttls);
  tcase_add_test(tc, test_port_as_string);
  tcase_add_test(tc, test_collect_switches);
  tcase_add_test(tc, test_message_age);
  tcase_add_test(tc, test_mail_loop);
  tcase_add_test(tc, test_mail_loop_ssl_and_token_login);
  tcase_add_test(tc, test_password_file);
  tcase_add_test(tc, test_password_file_readable_by_others_warns);
  tcase_add_test(tc, test_cleartext_to_remote_host_warns);
  tcase_add_test(tc, test_verification_off_warns);
  tcase_add_test(tc, test_auth_default_and_names);
  tcase_add_test(tc, test_token_file);
  tcase_add_test(tc, test_token_file_readable_by_others_warns);
  tcase_add_test(tc, test_token_command);
  tcase_add_test(tc, test_clear_text_warnings_by_method);
  tcase_add_test(tc, test_password_file_not_regular);
  tcase_add_test(tc, test_token_file_not_regular);
  tcase_add_test(tc, test_long_password_for_sasl_and_apop);
  tcase_add_test(tc, test_password_fitting_user_pass);
  tcase_add_loop_test(tc, test_password_too_long, 0,
                      (int)(sizeof(long_password_cases) /
                            sizeof(long_password_cases[0])));
  tcase_add_loop_test(tc, test_bad_config, 0,
                      (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
  suite_add_tcase(s, tc);
  TCase *conf = tcase_create("conffile");
  tcase_add_test(conf, test_conffile_reads_collectd_syntax);
  tcase_add_loop_test(conf, test_conffile_values, 0,
                      (int)(sizeof(value_cases) / sizeof(value_cases[0])));
  tcase_add_test(conf, test_conffile_structure);
  tcase_add_loop_test(conf, test_conffile_errors_name_the_line, 0,
                      (int)(sizeof(bad_conffiles) / sizeof(bad_conffiles[0])));
  tcase_add_test(conf, test_conffile_missing_file);
  tcase_add_test(conf, test_conffile_parse_text);
  tcase_add_test(conf, test_quote_round_trip);
  tcase_add_test(conf, test_number_round_trip);
  suite_add_tcase(s, conf);
  TCase *inc = tcase_create("include");
  tcase_add_unchecked_fixture(inc, include_setup, include_teardown);
  tcase_add_test(inc, test_include_directory_with_filter);
  tcase_add_test(inc, test_include_files_and_globs);
  tcase_add_test(inc, test_include_errors);
  suite_add_tcase(s, inc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

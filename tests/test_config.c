/* test_config.c: every option of a <Monitor> block, and every bad value
 * rejected with one ERROR naming the monitor and the option. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "mock_collectd.h"
#include "pop3_conffile.h"
#include "pop3_config.h"

#define SECRET "pw-Sekr3t-never-logged"

typedef struct {
  const char *key;
  char type; /* 's' string, 'n' number, 'b' boolean, '0' no value,
              * 'l' several strings */
  const char *s;
  double n;
  bool b;
  const char *const *list; /* 'l': NULL-terminated */
} opt_t;

#define S(k, v) {.key = k, .type = 's', .s = v}
#define N(k, v) {.key = k, .type = 'n', .n = v}
#define B(k, v) {.key = k, .type = 'b', .b = v}
#define NONE(k) {.key = k, .type = '0'}
#define L(k, ...)                                                              \
  {.key = k, .type = 'l', .list = (const char *const[]){__VA_ARGS__, NULL}}
#define TOKEN "ya29.a0-token-never-logged"
#define HOST S("Host", "127.0.0.1")
#define USER S("User", "alice")
#define PASS S("Password", SECRET)

static char password_file[64];
static char open_password_file[64];
static char empty_file[64];
static char token_file[64];
static char open_token_file[64];

static oconfig_item_t *build(const char *name, const opt_t *opts) {
  oconfig_item_t *block = mock_block("Monitor", name, NULL);
  for (const opt_t *o = opts; o->key != NULL; o++) {
    oconfig_item_t *child = o->type == 's'   ? opt_string(o->key, o->s)
                            : o->type == 'l' ? opt_string(o->key, o->list[0])
                            : o->type == 'n' ? opt_number(o->key, o->n)
                            : o->type == 'b' ? opt_bool(o->key, o->b)
                                             : opt_none(o->key);
    for (int i = 1; o->type == 'l' && o->list[i] != NULL; i++) {
      child->values = realloc(child->values, (size_t)(i + 1) *
                                                 sizeof(*child->values));
      child->values[i].type = OCONFIG_TYPE_STRING;
      child->values[i].value.string = strdup(o->list[i]);
      child->values_num = i + 1;
    }
    block->children = realloc(block->children,
                              (size_t)(block->children_num + 1) *
                                  sizeof(*block->children));
    block->children[block->children_num++] = *child;
    free(child);
  }
  return block;
}

static pop3_monitor_t *parse(const char *name, const opt_t *opts) {
  mock_log_reset();
  oconfig_item_t *block = build(name, opts);
  pop3_monitor_t *m = pop3_config_monitor(block);
  mock_free(block);
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
    {"m", {HOST, NONE("StartTLS"), USER, PASS}, "option StartTLS: expected"},
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
    {"m", {HOST, USER, PASS, NONE("CollectAvailability")}, "option CollectAvailability: expected"},
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
    {"m", {HOST, USER, S("Auth", "xoauth2"), NONE("TokenCommand")},
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

static const struct {
  const char *text, *expect;
} bad_conffiles[] = {
    {"<Plugin pop3>\n  <Monitor \"a\">\n  </Monitor>\n", ":3: a block is not closed"},
    {"<Plugin pop3>\n</Monitor>\n", ":2: closing tag does not match"},
    {"Host \"127.0.0.1\n", ":1: unterminated string"},
    {"<Plugin pop3\n", ":1: missing '>'"},
    {"</Plugin>\n", ":1: closing tag does not match"},
};

START_TEST(test_conffile_errors_name_the_line) {
  char err[256] = "";
  oconfig_item_t *root = read_conf(bad_conffiles[_i].text, err, sizeof(err));
  ck_assert_ptr_null(root);
  ck_assert_msg(strstr(err, bad_conffiles[_i].expect) != NULL, "%s", err);
}
END_TEST

START_TEST(test_conffile_missing_file) {
  char err[256] = "";
  ck_assert_ptr_null(pop3_conffile_read("/nonexistent/c.conf", err, sizeof(err)));
  ck_assert_ptr_nonnull(strstr(err, "cannot read /nonexistent/c.conf"));
}
END_TEST

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
}

int main(void) {
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("monitor");
  tcase_add_unchecked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_defaults);
  tcase_add_test(tc, test_every_option);
  tcase_add_test(tc, test_explicit_port_and_starttls);
  tcase_add_test(tc, test_port_as_string);
  tcase_add_test(tc, test_collect_switches);
  tcase_add_test(tc, test_password_file);
  tcase_add_test(tc, test_password_file_readable_by_others_warns);
  tcase_add_test(tc, test_cleartext_to_remote_host_warns);
  tcase_add_test(tc, test_verification_off_warns);
  tcase_add_test(tc, test_auth_default_and_names);
  tcase_add_test(tc, test_token_file);
  tcase_add_test(tc, test_token_file_readable_by_others_warns);
  tcase_add_test(tc, test_token_command);
  tcase_add_test(tc, test_clear_text_warnings_by_method);
  tcase_add_loop_test(tc, test_bad_config, 0,
                      (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
  suite_add_tcase(s, tc);
  TCase *conf = tcase_create("conffile");
  tcase_add_test(conf, test_conffile_reads_collectd_syntax);
  tcase_add_loop_test(conf, test_conffile_errors_name_the_line, 0,
                      (int)(sizeof(bad_conffiles) / sizeof(bad_conffiles[0])));
  tcase_add_test(conf, test_conffile_missing_file);
  suite_add_tcase(s, conf);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

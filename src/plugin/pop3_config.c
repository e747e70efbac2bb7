/* pop3_config.c: parses and validates one <Monitor "name"> block. */
#include "collectd/core/daemon/collectd.h"
#include "collectd/core/daemon/plugin.h"
#include "collectd/core/utils/common/common.h"

#include <arpa/inet.h>
#include <math.h>
#include <sys/stat.h>

#include "pop3_config.h"
#include "pop3_session.h"
#include "pop3_token.h"

/* "USER " / "PASS " plus CRLF must fit a 255-octet command (RFC 2449). */
#define POP3_CREDENTIAL_MAX (POP3_COMMAND_MAX - 7)
/* Passwords of the SASL methods and APOP (which sends a digest) are bounded
 * only by the session's room for them. */
#define POP3_PASSWORD_MAX POP3_SECRET_MAX
#define POP3_HOST_MAX 253
#define POP3_TEXT_OPTION_MAX 1024
#define POP3_TOKEN_COMMAND_ARGS_MAX 64

/* --- typed getters: our own check first, so the message names the monitor */

static int want_one(const char *name, const oconfig_item_t *ci, int type,
                    const char *what) {
  if (ci->values_num == 1 && ci->values[0].type == type)
    return 0;
  ERROR("pop3 plugin: monitor \"%s\": option %s: expected exactly one %s",
        name, ci->key, what);
  return -1;
}

static int get_string(const char *name, const oconfig_item_t *ci, char **out) {
  if (want_one(name, ci, OCONFIG_TYPE_STRING, "string in quotes") != 0)
    return -1;
  const char *value = ci->values[0].value.string;
  if (strlen(value) > POP3_TEXT_OPTION_MAX) {
    ERROR("pop3 plugin: monitor \"%s\": option %s: value longer than %d "
          "characters",
          name, ci->key, POP3_TEXT_OPTION_MAX);
    return -1;
  }
  return cf_util_get_string(ci, out) == 0 ? 0 : -1;
}

/* Password: longer than other text options may be. */
static int get_password(const char *name, const oconfig_item_t *ci,
                        char **out) {
  if (want_one(name, ci, OCONFIG_TYPE_STRING, "string in quotes") != 0)
    return -1;
  if (strlen(ci->values[0].value.string) > POP3_PASSWORD_MAX) {
    ERROR("pop3 plugin: monitor \"%s\": option %s: longer than %d bytes",
          name, ci->key, POP3_PASSWORD_MAX);
    return -1;
  }
  return cf_util_get_string(ci, out) == 0 ? 0 : -1;
}

static int get_boolean(const char *name, const oconfig_item_t *ci, bool *out) {
  if (want_one(name, ci, OCONFIG_TYPE_BOOLEAN, "true or false") != 0)
    return -1;
  return cf_util_get_boolean(ci, out) == 0 ? 0 : -1;
}

static int get_seconds(const char *name, const oconfig_item_t *ci,
                       double *out) {
  if (want_one(name, ci, OCONFIG_TYPE_NUMBER, "number of seconds") != 0)
    return -1;
  if (cf_util_get_double(ci, out) != 0)
    return -1;
  if (!isfinite(*out) || *out <= 0) {
    ERROR("pop3 plugin: monitor \"%s\": option %s: must be a positive number "
          "of seconds, got %g",
          name, ci->key, *out);
    return -1;
  }
  return 0;
}

/* A whole number from 1 to max. */
static int get_count(const char *name, const oconfig_item_t *ci, unsigned max,
                     unsigned *out) {
  double value = 0;
  if (want_one(name, ci, OCONFIG_TYPE_NUMBER, "number") != 0 ||
      cf_util_get_double(ci, &value) != 0)
    return -1;
  if (value != floor(value) || value < 1 || value > max) {
    ERROR("pop3 plugin: monitor \"%s\": option %s: %g is not a whole number "
          "from 1 to %u",
          name, ci->key, value, max);
    return -1;
  }
  *out = (unsigned)value;
  return 0;
}

static int get_port(const char *name, const oconfig_item_t *ci, int *out) {
  double value = 0;
  if (ci->values_num == 1 && ci->values[0].type == OCONFIG_TYPE_STRING) {
    const char *s = ci->values[0].value.string;
    char *end = NULL;
    errno = 0;
    long n = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0) {
      ERROR("pop3 plugin: monitor \"%s\": option %s: \"%s\" is not a port "
            "number",
            name, ci->key, s);
      return -1;
    }
    value = (double)n;
  } else if (want_one(name, ci, OCONFIG_TYPE_NUMBER, "port number") != 0 ||
             cf_util_get_double(ci, &value) != 0) {
    return -1;
  }
  if (value != floor(value) || value < 1 || value > 65535) {
    ERROR("pop3 plugin: monitor \"%s\": option %s: %g is not a port number "
          "(1 to 65535)",
          name, ci->key, value);
    return -1;
  }
  *out = (int)value;
  return 0;
}

/* Auth "name": one of pop3_auth_name()'s names, any case. */
static int get_auth(const char *name, const oconfig_item_t *ci,
                    pop3_auth_t *out) {
  if (want_one(name, ci, OCONFIG_TYPE_STRING, "string in quotes") != 0)
    return -1;
  const char *value = ci->values[0].value.string;
  if (pop3_auth_parse(value, out) == 0)
    return 0;
  ERROR("pop3 plugin: monitor \"%s\": option Auth: \"%.64s\" is not one of "
        "auto, user, apop, plain, login, xoauth2, oauthbearer",
        name, value);
  return -1;
}

static void free_argv(char **argv) {
  if (argv == NULL)
    return;
  for (char **arg = argv; *arg != NULL; arg++) {
    explicit_bzero(*arg, strlen(*arg));
    free(*arg);
  }
  free(argv);
}

/* TokenCommand "/usr/bin/prog" "arg" ...: argv for posix_spawn, no shell. */
static int get_argv(const char *name, const oconfig_item_t *ci, char ***out) {
  bool strings = ci->values_num >= 1;
  for (int i = 0; i < ci->values_num; i++)
    if (ci->values[i].type != OCONFIG_TYPE_STRING)
      strings = false;
  if (!strings) {
    ERROR("pop3 plugin: monitor \"%s\": option %s: expected a program (an "
          "absolute path) and its arguments, each a string in quotes",
          name, ci->key);
    return -1;
  }
  if (ci->values_num > POP3_TOKEN_COMMAND_ARGS_MAX) {
    ERROR("pop3 plugin: monitor \"%s\": option %s: more than %d arguments",
          name, ci->key, POP3_TOKEN_COMMAND_ARGS_MAX);
    return -1;
  }
  for (int i = 0; i < ci->values_num; i++) {
    if (strlen(ci->values[i].value.string) > POP3_TEXT_OPTION_MAX) {
      ERROR("pop3 plugin: monitor \"%s\": option %s: value longer than %d "
            "characters",
            name, ci->key, POP3_TEXT_OPTION_MAX);
      return -1;
    }
  }
  const char *program = ci->values[0].value.string;
  if (program[0] != '/') {
    ERROR("pop3 plugin: monitor \"%s\": option %s: \"%.64s\" is not an "
          "absolute path (the program runs without a shell and without PATH)",
          name, ci->key, program);
    return -1;
  }
  char **argv = calloc((size_t)ci->values_num + 1, sizeof(*argv));
  if (argv == NULL)
    return -1;
  for (int i = 0; i < ci->values_num; i++) {
    if ((argv[i] = strdup(ci->values[i].value.string)) == NULL) {
      free_argv(argv);
      return -1;
    }
  }
  free_argv(*out);
  *out = argv;
  return 0;
}

/* --- value checks ------------------------------------------------------ */

static bool is_ipv6_literal(const char *s) {
  struct in6_addr addr;
  return inet_pton(AF_INET6, s, &addr) == 1;
}

static int check_host(const char *name, const char *option,
                      const char *host) {
  const char *problem = NULL;
  if (host[0] == '\0')
    problem = "is empty";
  else if (strstr(host, "://") != NULL)
    problem = "must not carry a scheme such as \"pop3://\": give the bare "
              "host name";
  else if (strchr(host, '/') != NULL)
    problem = "must not carry a path: give the bare host name";
  else if (host[0] == '[')
    problem = "is in brackets: write IPv6 addresses without them, e.g. \"::1\"";
  else if (strchr(host, ':') != NULL && !is_ipv6_literal(host))
    problem = "must not carry a port suffix: use the Port option";
  else if (strlen(host) > POP3_HOST_MAX)
    problem = "is longer than 253 characters";
  else if (strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789.-_:%") != strlen(host))
    problem = "contains characters not allowed in a host name or address";
  if (problem == NULL)
    return 0;
  ERROR("pop3 plugin: monitor \"%s\": option %s: \"%.64s\" %s", name, option,
        host, problem);
  return -1;
}

/* The user name travels inside one POP3 command line (USER, APOP). */
static int check_credential(const char *name, const char *option,
                            const char *value) {
  const char *problem = NULL;
  if (value[0] == '\0')
    problem = "is empty";
  else if (strpbrk(value, "\r\n") != NULL)
    problem = "contains a line break";
  else if (strlen(value) > POP3_CREDENTIAL_MAX)
    problem = "is too long for a POP3 command (248 characters at most)";
  if (problem == NULL)
    return 0;
  ERROR("pop3 plugin: monitor \"%s\": option %s: %s", name, option, problem);
  return -1;
}

/* SASL PLAIN and LOGIN carry up to 4096 bytes, APOP only a digest of it;
 * USER/PASS puts it in a 255-octet command. Auto may pick USER/PASS: a
 * password too long for it then fails at collection unless the server
 * offers SASL PLAIN or LOGIN. */
static int check_password(const char *name, const char *option,
                          const char *value, pop3_auth_t auth) {
  /* the length is bounded already: by get_password, or the file's reader */
  size_t len = strlen(value);
  if (value[0] == '\0' || strpbrk(value, "\r\n") != NULL)
    return check_credential(name, option, value);
  if (auth == POP3_AUTH_USER && len > POP3_CREDENTIAL_MAX) {
    ERROR("pop3 plugin: monitor \"%s\": option %s: %zu bytes is too long "
          "for Auth user (PASS fits %d in a 255-octet POP3 command); use "
          "Auth plain or login",
          name, option, len, POP3_CREDENTIAL_MAX);
    return -1;
  }
  return 0;
}

static int check_name(const char *name) {
  const char *problem = NULL;
  size_t len = strlen(name);
  if (len == 0)
    problem = "is empty";
  else if (len >= DATA_MAX_NAME_LEN)
    problem = "is too long (127 characters at most)";
  else if (strchr(name, '/') != NULL)
    problem = "must not contain \"/\"";
  else if (isspace((unsigned char)name[0]) ||
           isspace((unsigned char)name[len - 1]))
    problem = "must not start or end with white space";
  else
    for (size_t i = 0; i < len; i++)
      if (iscntrl((unsigned char)name[i]))
        problem = "must not contain control characters";
  if (problem == NULL)
    return 0;
  ERROR("pop3 plugin: <Monitor \"%.64s\">: the monitor name %s", name,
        problem);
  return -1;
}

/* A file holding a secret (PasswordFile, TokenFile) that group or others
 * may read: one warning at start-up. */
static void warn_if_readable_by_others(const char *name, const char *option,
                                       const char *path, mode_t mode) {
  if (mode & (S_IRWXG | S_IRWXO))
    WARNING("pop3 plugin: monitor \"%s\": option %s: \"%s\" is readable by "
            "group or others; chmod 600 it",
            name, option, path);
}

/* Why a password file cannot be used, or NULL. */
static const char *password_file_problem(pop3_line_status_t status) {
  switch (status) {
  case POP3_LINE_OK:
    return NULL;
  case POP3_LINE_NOT_REGULAR:
    return "is not a regular file (a FIFO or a device is refused)";
  case POP3_LINE_TOO_LONG:
    return "has a first line longer than 4096 bytes";
  case POP3_LINE_CANNOT_OPEN:
  case POP3_LINE_CANNOT_READ:
    break;
  }
  return "cannot read";
}

/* The password file's first line, up to a CR or LF. Read without
 * waiting: a FIFO or a device named here must not hold collectd's start. */
static int read_password_file(const char *name, const char *option,
                              const char *path, char **out) {
  char line[POP3_PASSWORD_MAX + 1];
  struct stat st = {0};
  int e = 0;
  const char *problem =
      password_file_problem(pop3_file_first_line(path, line, sizeof(line),
                                                 &st, &e));
  line[strcspn(line, "\r")] = '\0';
  if (problem == NULL && line[0] == '\0')
    problem = st.st_size == 0 ? "is empty" : "has an empty first line";
  if (problem == NULL && (*out = strdup(line)) == NULL)
    problem = "cannot be kept: out of memory";
  explicit_bzero(line, sizeof(line));
  if (problem != NULL && e != 0)
    ERROR("pop3 plugin: monitor \"%s\": option %s: %s \"%s\": %s", name,
          option, problem, path, strerror(e));
  else if (problem != NULL)
    ERROR("pop3 plugin: monitor \"%s\": option %s: \"%s\" %s", name, option,
          path, problem);
  else
    warn_if_readable_by_others(name, option, path, st.st_mode);
  return problem == NULL ? 0 : -1;
}

static int check_readable_file(const char *name, const char *option,
                               const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
    ERROR("pop3 plugin: monitor \"%s\": option %s: cannot read \"%s\": %s",
          name, option, path, STRERRNO);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    ERROR("pop3 plugin: monitor \"%s\": option %s: \"%s\" is not a file",
          name, option, path);
    return -1;
  }
  return 0;
}

static bool is_loopback(const char *host) {
  return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
         strcmp(host, "::1") == 0;
}

/* --- the block --------------------------------------------------------- */

typedef struct {
  bool port_set;
  char *password_file;
  const oconfig_item_t *loop; /* the <MailLoop> block, read after the rest */
} parse_extras_t;

/* TokenFile must be readable at start-up: read once, and forgotten. */
static int check_token_file(const char *name, const char *path) {
  char token[POP3_TOKEN_MAX + 1];
  pop3_error_t err;
  int rc = pop3_token_read_file(path, token, sizeof(token), &err);
  explicit_bzero(token, sizeof(token));
  if (rc != 0) {
    ERROR("pop3 plugin: monitor \"%s\": option TokenFile: %s", name,
          err.message);
    return -1;
  }
  struct stat st;
  if (stat(path, &st) == 0)
    warn_if_readable_by_others(name, "TokenFile", path, st.st_mode);
  return 0;
}

/* TokenCommand's program must exist and be executable at start-up; it runs
 * only at collections. */
static int check_token_command(const char *name, char **argv) {
  struct stat st;
  if (stat(argv[0], &st) != 0 || access(argv[0], X_OK) != 0) {
    ERROR("pop3 plugin: monitor \"%s\": option TokenCommand: cannot run "
          "\"%s\": %s",
          name, argv[0], STRERRNO);
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    ERROR("pop3 plugin: monitor \"%s\": option TokenCommand: \"%s\" is not "
          "a file",
          name, argv[0]);
    return -1;
  }
  return 0;
}

/* Auth and its secret: a password for every method but the bearer ones,
 * which take exactly one of TokenFile / TokenCommand instead. */
static int validate_secret(pop3_monitor_t *m, parse_extras_t *x) {
  const char *n = m->name;
  const char *auth = pop3_auth_name(m->auth);
  int bad = 0;
  if (!pop3_monitor_uses_token(m)) {
    if (m->token_file != NULL || m->token_command != NULL) {
      ERROR("pop3 plugin: monitor \"%s\": option %s is only used with Auth "
            "xoauth2 or oauthbearer (Auth is %s)",
            n, m->token_file != NULL ? "TokenFile" : "TokenCommand", auth);
      bad++;
    }
    return bad;
  }
  if (m->password != NULL || x->password_file != NULL) {
    ERROR("pop3 plugin: monitor \"%s\": option %s is not used with Auth %s: "
          "the bearer token comes from TokenFile or TokenCommand",
          n, m->password != NULL ? "Password" : "PasswordFile", auth);
    bad++;
  }
  if (m->token_file != NULL && m->token_command != NULL) {
    ERROR("pop3 plugin: monitor \"%s\": options TokenFile and TokenCommand "
          "exclude each other",
          n);
    bad++;
  } else if (m->token_file == NULL && m->token_command == NULL) {
    ERROR("pop3 plugin: monitor \"%s\": Auth %s needs TokenFile or "
          "TokenCommand (the bearer token)",
          n, auth);
    bad++;
  } else if (m->token_file != NULL) {
    if (check_token_file(n, m->token_file) != 0)
      bad++;
  } else if (check_token_command(n, m->token_command) != 0) {
    bad++;
  }
  return bad;
}

static int parse_option(pop3_monitor_t *m, parse_extras_t *x,
                        const oconfig_item_t *child) {
  const char *key = child->key;
  const char *n = m->name;
  if (strcasecmp("Host", key) == 0)
    return get_string(n, child, &m->host);
  if (strcasecmp("Port", key) == 0) {
    x->port_set = true;
    return get_port(n, child, &m->port);
  }
  if (strcasecmp("SSL", key) == 0)
    return get_boolean(n, child, &m->ssl);
  if (strcasecmp("StartTLS", key) == 0)
    return get_boolean(n, child, &m->starttls);
  if (strcasecmp("User", key) == 0)
    return get_string(n, child, &m->user);
  if (strcasecmp("Password", key) == 0)
    return get_password(n, child, &m->password);
  if (strcasecmp("PasswordFile", key) == 0)
    return get_string(n, child, &x->password_file);
  if (strcasecmp("Auth", key) == 0)
    return get_auth(n, child, &m->auth);
  if (strcasecmp("TokenFile", key) == 0)
    return get_string(n, child, &m->token_file);
  if (strcasecmp("TokenCommand", key) == 0)
    return get_argv(n, child, &m->token_command);
  if (strcasecmp("Timeout", key) == 0)
    return get_seconds(n, child, &m->timeout);
  if (strcasecmp("Interval", key) == 0)
    return get_seconds(n, child, &m->interval);
  if (strcasecmp("Detect", key) == 0)
    return get_boolean(n, child, &m->detect);
  if (strcasecmp("Spread", key) == 0)
    return get_boolean(n, child, &m->spread);
  if (strcasecmp("Description", key) == 0)
    return get_string(n, child, &m->description);
  if (strcasecmp("CACert", key) == 0)
    return get_string(n, child, &m->ca_cert);
  if (strcasecmp("VerifyPeer", key) == 0)
    return get_boolean(n, child, &m->verify_peer);
  if (strcasecmp("VerifyHost", key) == 0)
    return get_boolean(n, child, &m->verify_host);
  if (strcasecmp("CollectTimings", key) == 0)
    return get_boolean(n, child, &m->collect_timings);
  if (strcasecmp("CollectCertificate", key) == 0)
    return get_boolean(n, child, &m->collect_certificate);
  if (strcasecmp("CollectAvailability", key) == 0)
    return get_boolean(n, child, &m->collect_availability);
  if (strcasecmp("CollectMessageAge", key) == 0)
    return get_boolean(n, child, &m->collect_age);
  if (strcasecmp("MessageAgeScan", key) == 0)
    return get_count(n, child, POP3_AGE_SCAN_MAX, &m->age_scan);
  if (strcasecmp("MailLoop", key) == 0 && x->loop == NULL) {
    x->loop = child;
    return 0;
  }
  if (strcasecmp("MailLoop", key) == 0) {
    ERROR("pop3 plugin: monitor \"%s\": more than one <MailLoop> block", n);
    return -1;
  }
  ERROR("pop3 plugin: monitor \"%s\": unknown option \"%s\"", n, key);
  return -1;
}

/* Cross-option rules, after every option has been read. */
static int validate(pop3_monitor_t *m, parse_extras_t *x) {
  const char *n = m->name;
  int bad = 0;
  if (m->host == NULL) {
    ERROR("pop3 plugin: monitor \"%s\": option Host is missing", n);
    bad++;
  } else if (check_host(n, "Host", m->host) != 0) {
    bad++;
  }
  if (m->user == NULL) {
    ERROR("pop3 plugin: monitor \"%s\": option User is missing", n);
    bad++;
  } else if (check_credential(n, "User", m->user) != 0) {
    bad++;
  }
  if (pop3_monitor_uses_token(m) || m->token_file != NULL ||
      m->token_command != NULL) {
    bad += validate_secret(m, x);
  } else if (m->password != NULL && x->password_file != NULL) {
    ERROR("pop3 plugin: monitor \"%s\": options Password and PasswordFile "
          "exclude each other",
          n);
    bad++;
  } else if (x->password_file != NULL) {
    if (read_password_file(n, "PasswordFile", x->password_file,
                           &m->password) != 0)
      bad++;
  } else if (m->password == NULL) {
    ERROR("pop3 plugin: monitor \"%s\": option Password (or PasswordFile) is "
          "missing",
          n);
    bad++;
  }
  if (m->password != NULL && !pop3_monitor_uses_token(m) &&
      check_password(n, x->password_file ? "PasswordFile" : "Password",
                     m->password, m->auth) != 0)
    bad++;
  if (m->ssl && m->starttls) {
    ERROR("pop3 plugin: monitor \"%s\": options SSL and StartTLS exclude each "
          "other: SSL is implicit TLS (port 995), StartTLS upgrades a plain "
          "connection (port 110)",
          n);
    bad++;
  }
  if (m->interval < POP3_MIN_INTERVAL) {
    ERROR("pop3 plugin: monitor \"%s\": option Interval: %g is below the "
          "minimum of %g seconds",
          n, m->interval, POP3_MIN_INTERVAL);
    bad++;
  }
  if (m->timeout >= m->interval) {
    ERROR("pop3 plugin: monitor \"%s\": option Timeout: %g must be below the "
          "Interval (%g)",
          n, m->timeout, m->interval);
    bad++;
  }
  if (m->ca_cert != NULL && check_readable_file(n, "CACert", m->ca_cert) != 0)
    bad++;
  if (!x->port_set)
    m->port = m->ssl ? POP3S_DEFAULT_PORT : POP3_DEFAULT_PORT;
  return bad == 0 ? 0 : -1;
}

static void warn_about_weak_settings(const pop3_monitor_t *m) {
  /* APOP sends a digest, not the password */
  if (!pop3_monitor_uses_tls(m) && !is_loopback(m->host) &&
      m->auth != POP3_AUTH_APOP)
    WARNING("pop3 plugin: monitor \"%s\": the %s travels to %s in clear "
            "text; set SSL true (port 995) or StartTLS true",
            m->name, pop3_monitor_uses_token(m) ? "bearer token" : "password",
            m->host);
  if (pop3_monitor_uses_tls(m) && (!m->verify_peer || !m->verify_host))
    WARNING("pop3 plugin: monitor \"%s\": TLS verification is off "
            "(VerifyPeer %s, VerifyHost %s): anyone on the path can "
            "impersonate %s",
            m->name, m->verify_peer ? "true" : "false",
            m->verify_host ? "true" : "false", m->host);
  if (!pop3_monitor_uses_tls(m) && m->ca_cert != NULL)
    WARNING("pop3 plugin: monitor \"%s\": option CACert has no effect "
            "without SSL or StartTLS",
            m->name);
  const pop3_loop_config_t *l = m->loop;
  if (l != NULL && !l->ssl && !l->starttls && l->password != NULL &&
      !is_loopback(l->host))
    WARNING("pop3 plugin: monitor \"%s\": the mail loop's SMTP password "
            "travels to %s in clear text; set MailLoop/StartTLS true",
            m->name, l->host);
  if (l != NULL && (l->ssl || l->starttls) &&
      (!l->verify_peer || !l->verify_host))
    WARNING("pop3 plugin: monitor \"%s\": the mail loop's TLS verification "
            "is off (MailLoop/VerifyPeer %s, MailLoop/VerifyHost %s)",
            m->name, l->verify_peer ? "true" : "false",
            l->verify_host ? "true" : "false");
}

/* --- <MailLoop>: where and how the mail loop's probes are submitted ------- */

typedef struct {
  bool port_set, starttls_set;
  char *password_file;
} loop_extras_t;

/* An address for MAIL FROM / RCPT TO and the From: / To: fields. */
static int check_address(const char *name, const char *option,
                         const char *address) {
  const char *problem = NULL;
  if (address[0] == '\0')
    problem = "is empty";
  else if (strlen(address) > 254)
    problem = "is longer than 254 characters";
  else if (strchr(address, '@') == NULL)
    problem = "is not a mail address (no \"@\")";
  for (const char *p = address; problem == NULL && *p != '\0'; p++)
    if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 127 || *p == '<' ||
        *p == '>')
      problem = "contains a blank, a control character, \"<\" or \">\"";
  if (problem == NULL)
    return 0;
  ERROR("pop3 plugin: monitor \"%s\": option %s: \"%.64s\" %s", name, option,
        address, problem);
  return -1;
}

/* One option of the block; its messages name it "MailLoop/Option". */
static int parse_loop_option(const char *n, pop3_loop_config_t *l,
                             loop_extras_t *x, const oconfig_item_t *child) {
  char key[64];
  snprintf(key, sizeof(key), "MailLoop/%s", child->key);
  oconfig_item_t item = *child;
  item.key = key;
  const oconfig_item_t *c = &item;
  const char *k = child->key;
  if (strcasecmp("Host", k) == 0)
    return get_string(n, c, &l->host);
  if (strcasecmp("Port", k) == 0) {
    x->port_set = true;
    return get_port(n, c, &l->port);
  }
  if (strcasecmp("SSL", k) == 0)
    return get_boolean(n, c, &l->ssl);
  if (strcasecmp("StartTLS", k) == 0) {
    x->starttls_set = true;
    return get_boolean(n, c, &l->starttls);
  }
  if (strcasecmp("User", k) == 0)
    return get_string(n, c, &l->user);
  if (strcasecmp("Password", k) == 0)
    return get_password(n, c, &l->password);
  if (strcasecmp("PasswordFile", k) == 0)
    return get_string(n, c, &x->password_file);
  if (strcasecmp("CACert", k) == 0)
    return get_string(n, c, &l->ca_cert);
  if (strcasecmp("VerifyPeer", k) == 0)
    return get_boolean(n, c, &l->verify_peer);
  if (strcasecmp("VerifyHost", k) == 0)
    return get_boolean(n, c, &l->verify_host);
  if (strcasecmp("From", k) == 0)
    return get_string(n, c, &l->from);
  if (strcasecmp("To", k) == 0)
    return get_string(n, c, &l->to);
  if (strcasecmp("Interval", k) == 0)
    return get_seconds(n, c, &l->interval);
  if (strcasecmp("LostAfter", k) == 0)
    return get_seconds(n, c, &l->lost_after);
  if (strcasecmp("Timeout", k) == 0)
    return get_seconds(n, c, &l->timeout);
  if (strcasecmp("Search", k) == 0)
    return get_count(n, c, POP3_LOOP_SCAN_MAX, &l->search);
  ERROR("pop3 plugin: monitor \"%s\": unknown option \"%s\"", n, key);
  return -1;
}

/* The SMTP login: a user with a password, or neither. */
static int validate_loop_login(const char *n, pop3_loop_config_t *l,
                               loop_extras_t *x) {
  if (l->password != NULL && x->password_file != NULL) {
    ERROR("pop3 plugin: monitor \"%s\": options MailLoop/Password and "
          "MailLoop/PasswordFile exclude each other",
          n);
    return -1;
  }
  if (x->password_file != NULL &&
      read_password_file(n, "MailLoop/PasswordFile", x->password_file,
                         &l->password) != 0)
    return -1;
  if ((l->user == NULL) != (l->password == NULL)) {
    ERROR("pop3 plugin: monitor \"%s\": options MailLoop/User and "
          "MailLoop/Password (or PasswordFile) go together",
          n);
    return -1;
  }
  if (l->user != NULL && check_credential(n, "MailLoop/User", l->user) != 0)
    return -1;
  return 0;
}

/* The schedule: a probe is only looked for at the monitor's collections. */
static int validate_loop_times(const pop3_monitor_t *m,
                               const pop3_loop_config_t *l) {
  const char *n = m->name;
  if (l->interval < m->interval) {
    ERROR("pop3 plugin: monitor \"%s\": option MailLoop/Interval: %g is "
          "below the monitor's Interval (%g)",
          n, l->interval, m->interval);
    return -1;
  }
  if (l->lost_after <= m->interval) {
    ERROR("pop3 plugin: monitor \"%s\": option MailLoop/LostAfter: %g must "
          "be above the monitor's Interval (%g): a probe is looked for at "
          "each collection",
          n, l->lost_after, m->interval);
    return -1;
  }
  if (l->timeout >= l->interval) {
    ERROR("pop3 plugin: monitor \"%s\": option MailLoop/Timeout: %g must be "
          "below MailLoop/Interval (%g)",
          n, l->timeout, l->interval);
    return -1;
  }
  return 0;
}

static int validate_loop(pop3_monitor_t *m, pop3_loop_config_t *l,
                         loop_extras_t *x) {
  const char *n = m->name;
  int bad = 0;
  if (l->host == NULL) {
    ERROR("pop3 plugin: monitor \"%s\": option MailLoop/Host is missing", n);
    bad++;
  } else if (check_host(n, "MailLoop/Host", l->host) != 0) {
    bad++;
  }
  if (l->from == NULL || l->to == NULL) {
    ERROR("pop3 plugin: monitor \"%s\": option MailLoop/%s is missing", n,
          l->from == NULL ? "From" : "To");
    bad++;
  } else if (check_address(n, "MailLoop/From", l->from) != 0 ||
             check_address(n, "MailLoop/To", l->to) != 0) {
    bad++;
  }
  if (l->ssl && l->starttls) {
    ERROR("pop3 plugin: monitor \"%s\": options MailLoop/SSL and "
          "MailLoop/StartTLS exclude each other",
          n);
    bad++;
  }
  bad += validate_loop_login(n, l, x) != 0;
  bad += validate_loop_times(m, l) != 0;
  if (l->ca_cert != NULL &&
      check_readable_file(n, "MailLoop/CACert", l->ca_cert) != 0)
    bad++;
  /* the key that signs the probes comes from a secret of the monitor */
  const char *secret = m->password != NULL ? m->password : l->password;
  if (bad == 0 && secret == NULL) {
    ERROR("pop3 plugin: monitor \"%s\": <MailLoop> needs a secret to sign "
          "its probes: with Auth %s, set MailLoop/Password",
          n, pop3_auth_name(m->auth));
    bad++;
  }
  if (bad == 0)
    pop3_loop_key(&l->key, secret, n);
  return bad == 0 ? 0 : -1;
}

static pop3_loop_config_t *loop_with_defaults(void) {
  pop3_loop_config_t *l = calloc(1, sizeof(*l));
  if (l == NULL)
    return NULL;
  l->verify_peer = true;
  l->verify_host = true;
  l->interval = POP3_LOOP_DEFAULT_INTERVAL;
  l->lost_after = POP3_LOOP_DEFAULT_LOST_AFTER;
  l->timeout = POP3_LOOP_DEFAULT_TIMEOUT;
  l->search = POP3_LOOP_DEFAULT_SEARCH;
  return l;
}

static pop3_loop_config_t *config_loop(pop3_monitor_t *m,
                                       const oconfig_item_t *ci) {
  const char *n = m->name;
  if (ci->values_num != 0) {
    ERROR("pop3 plugin: monitor \"%s\": <MailLoop> takes no argument", n);
    return NULL;
  }
  pop3_loop_config_t *l = loop_with_defaults();
  loop_extras_t x = {0};
  if (l == NULL) {
    ERROR("pop3 plugin: out of memory");
    return NULL;
  }
  int bad = 0;
  for (int i = 0; i < ci->children_num; i++)
    bad += parse_loop_option(n, l, &x, &ci->children[i]) != 0;
  if (!x.starttls_set)
    l->starttls = !l->ssl; /* fail closed: never submit in clear by default */
  if (!x.port_set)
    l->port = l->ssl ? SMTPS_PORT : SMTP_SUBMISSION_PORT;
  if (bad == 0 && validate_loop(m, l, &x) != 0)
    bad++;
  free(x.password_file);
  if (bad != 0) {
    pop3_loop_config_free(l);
    return NULL;
  }
  return l;
}

static pop3_monitor_t *monitor_with_defaults(void) {
  pop3_monitor_t *m = calloc(1, sizeof(*m));
  if (m == NULL)
    return NULL;
  m->timeout = POP3_DEFAULT_TIMEOUT;
  m->interval = POP3_DEFAULT_INTERVAL;
  m->spread = true;
  m->verify_peer = true;
  m->verify_host = true;
  m->collect_timings = true;
  m->collect_certificate = true;
  m->collect_availability = true;
  m->age_scan = 1;
  return m;
}

pop3_monitor_t *pop3_config_monitor(const oconfig_item_t *ci) {
  if (ci->values_num != 1 || ci->values[0].type != OCONFIG_TYPE_STRING) {
    ERROR("pop3 plugin: <Monitor> needs exactly one name in quotes, e.g. "
          "<Monitor \"support-inbox\">");
    return NULL;
  }
  if (check_name(ci->values[0].value.string) != 0)
    return NULL;
  pop3_monitor_t *m = monitor_with_defaults();
  parse_extras_t extras = {0};
  if (m == NULL || (m->name = strdup(ci->values[0].value.string)) == NULL) {
    ERROR("pop3 plugin: out of memory");
    pop3_monitor_free(m);
    return NULL;
  }
  int bad = 0;
  for (int i = 0; i < ci->children_num; i++)
    if (parse_option(m, &extras, &ci->children[i]) != 0)
      bad++;
  if (bad == 0 && validate(m, &extras) != 0)
    bad++;
  if (bad == 0 && extras.loop != NULL &&
      (m->loop = config_loop(m, extras.loop)) == NULL)
    bad++;
  free(extras.password_file);
  if (bad != 0) {
    pop3_monitor_free(m);
    return NULL;
  }
  warn_about_weak_settings(m);
  return m;
}

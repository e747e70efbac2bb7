/* pop3_probe.c: one collection from the command line, with the plugin's own
 * configuration checks, engine and error text. Its first line and exit code
 * follow the Nagios/Icinga plugin conventions, so it doubles as a check:
 * 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. */
#include "collectd/core/daemon/collectd.h"

#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>

#include "pop3_collect.h"
#include "pop3_conffile.h"
#include "pop3_config.h"
#include "pop3_error.h"
#include "pop3_report.h"
#include "pop3_standalone.h"
#include "pop3_tls.h"

enum { STATE_OK, STATE_WARNING, STATE_CRITICAL, STATE_UNKNOWN };
static const char *state_names[] = {"OK", "WARNING", "CRITICAL", "UNKNOWN"};

static const char usage_text[] =
    "usage: pop3-probe --host HOST --user USER --password-file FILE [options]\n"
    "       pop3-probe --config collectd.conf --monitor NAME [options]\n"
    "\n"
    "  --host HOST            IPv4, IPv6 or DNS name\n"
    "  --port N               default 110, or 995 with --ssl\n"
    "  --ssl                  implicit TLS (POP3S)\n"
    "  --starttls             upgrade with STLS, never fall back to clear text\n"
    "  --user USER\n"
    "  --password-file FILE   the password is its first line\n"
    "  --auth METHOD          as the Auth option (if the plugin has it)\n"
    "  --token-file FILE      bearer token for xoauth2/oauthbearer\n"
    "  --cacert FILE          extra trust anchors (PEM)\n"
    "  --no-verify-peer       do not verify the certificate chain\n"
    "  --no-verify-host       do not verify the host name\n"
    "  --timeout SECONDS      for the whole collection, default 5\n"
    "  --name NAME            monitor name shown in the output, default probe\n"
    "  --config FILE --monitor NAME\n"
    "                         take the <Monitor> block from collectd's config\n"
    "  --warning RANGE        WARNING when the message count is outside RANGE\n"
    "  --critical RANGE       CRITICAL likewise (Nagios ranges: 10, 10:, ~:10,\n"
    "                         10:20, @10:20)\n"
    "  --age                  read the message age (CollectMessageAge)\n"
    "  --age-scan N           messages read at each end (MessageAgeScan)\n"
    "  --age-warning RANGE    WARNING when the oldest message's age in seconds\n"
    "                         is outside RANGE (implies --age)\n"
    "  --age-critical RANGE   CRITICAL likewise\n"
    "  --help\n";

/* --- Nagios ranges ------------------------------------------------------ */

typedef struct {
  bool set, inside;
  double low, high;
} range_t;

/* "10" = outside 0..10, "10:" = below 10, "~:10" = above 10,
 * "10:20" = outside 10..20, "@10:20" = inside 10..20 */
static int parse_range(const char *s, range_t *r) {
  *r = (range_t){.set = true, .low = 0, .high = INFINITY};
  if (*s == '@') {
    r->inside = true;
    s++;
  }
  const char *colon = strchr(s, ':');
  char *end;
  if (colon == NULL) {
    r->high = strtod(s, &end);
    return *s != '\0' && *end == '\0' ? 0 : -1;
  }
  if (*s == '~')
    r->low = -INFINITY;
  else if (s != colon && ((r->low = strtod(s, &end)), end != colon))
    return -1;
  if (colon[1] != '\0' &&
      ((r->high = strtod(colon + 1, &end)), *end != '\0'))
    return -1;
  return r->low <= r->high ? 0 : -1;
}

static bool range_alerts(const range_t *r, double v) {
  if (!r->set)
    return false;
  bool outside = v < r->low || v > r->high;
  return r->inside ? !outside : outside;
}

/* --- the monitor, from flags or from collectd.conf ------------------------ */

/* The flags become collectd configuration text, read by the same reader as
 * --config: the <Monitor> block is exactly what collectd would build from
 * that text. The text is grown by hand, so that no copy of a password is
 * left behind in freed memory, and cleansed when it is freed. */
typedef struct {
  char *text;
  size_t len, cap;
} conf_text_t;

static void text_reserve(conf_text_t *t, size_t more) {
  if (t->len + more + 1 <= t->cap)
    return;
  size_t cap = 2 * (t->len + more + 1);
  char *grown = malloc(cap);
  if (grown == NULL)
    exit(STATE_UNKNOWN);
  if (t->len > 0)
    memcpy(grown, t->text, t->len);
  grown[t->len] = '\0';
  if (t->text != NULL)
    explicit_bzero(t->text, t->cap);
  free(t->text);
  t->text = grown;
  t->cap = cap;
}

static void text_add(conf_text_t *t, const char *s) {
  size_t n = strlen(s);
  text_reserve(t, n);
  memcpy(t->text + t->len, s, n + 1);
  t->len += n;
}

/* value in quotes, escaped as collectd's scanner reads it back */
static void text_quoted(conf_text_t *t, const char *value) {
  size_t n = pop3_conffile_quote(NULL, 0, value);
  text_reserve(t, n);
  pop3_conffile_quote(t->text + t->len, n + 1, value);
  t->len += n;
}

static void text_free(conf_text_t *t) {
  if (t->text != NULL)
    explicit_bzero(t->text, t->cap);
  free(t->text);
  *t = (conf_text_t){NULL, 0, 0};
}

static void add_string(conf_text_t *block, const char *key,
                       const char *value) {
  text_add(block, key);
  text_add(block, " ");
  text_quoted(block, value);
  text_add(block, "\n");
}

/* -1 for NaN, which a configuration cannot hold */
static int add_number(conf_text_t *block, const char *key, double v) {
  char number[64];
  if (pop3_conffile_number(number, sizeof(number), v) < 0)
    return -1;
  text_add(block, key);
  text_add(block, " ");
  text_add(block, number);
  text_add(block, "\n");
  return 0;
}

static void add_boolean(conf_text_t *block, const char *key, bool v) {
  text_add(block, key);
  text_add(block, v ? " true\n" : " false\n");
}

/* How long `--password-file <(command)` may take to give its line. */
#define PIPE_WAIT_MS 10000

/* The first line of a pipe, within PIPE_WAIT_MS; 0 on success. */
static int read_pipe_line(const char *path, char *buf, size_t size) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return -1;
  size_t len = 0;
  bool done = false;
  while (!done && len + 1 < size) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, PIPE_WAIT_MS) <= 0)
      break;
    ssize_t n = read(fd, buf + len, size - 1 - len);
    if (n <= 0) {
      done = n == 0;
      break;
    }
    char *lf = memchr(buf + len, '\n', (size_t)n);
    len = lf ? (size_t)(lf - buf) : len + (size_t)n;
    done = lf != NULL;
  }
  close(fd);
  while (len > 0 && (buf[len - 1] == '\r' || buf[len - 1] == '\n'))
    len--;
  buf[len] = '\0';
  return done && len > 0 ? 0 : -1;
}

/* --password-file: a file as PasswordFile, checked as collectd checks it;
 * a pipe (`<(pass show mail)`), which collectd refuses because it could
 * block its start, is read here once. */
static int add_password_file(conf_text_t *b, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0 || !S_ISFIFO(st.st_mode)) {
    add_string(b, "PasswordFile", path);
    return 0;
  }
  char line[POP3_SECRET_MAX + 2];
  int rc = read_pipe_line(path, line, sizeof(line));
  if (rc == 0)
    add_string(b, "Password", line);
  explicit_bzero(line, sizeof(line));
  return rc;
}

typedef struct {
  const char *config, *monitor, *name;
  range_t warning, critical;
  range_t age_warning, age_critical;
  bool age; /* --age or an age threshold: CollectMessageAge true */
  conf_text_t *block; /* the options given by flags, as configuration */
} probe_args_t;

static int unknown(const char *fmt, const char *arg) {
  printf("POP3 UNKNOWN - ");
  printf(fmt, arg);
  printf("\n");
  return STATE_UNKNOWN;
}

static int parse_args(int argc, char **argv, probe_args_t *a) {
  enum { O_PORT = 256, O_PWFILE, O_AUTH, O_TOKEN, O_CACERT, O_NOPEER,
         O_NOHOST, O_TIMEOUT, O_NAME, O_CONFIG, O_MONITOR, O_WARN, O_CRIT,
         O_AGE, O_AGE_SCAN, O_AGE_WARN, O_AGE_CRIT };
  static const struct option options[] = {
      {"host", required_argument, NULL, 'H'},
      {"port", required_argument, NULL, O_PORT},
      {"ssl", no_argument, NULL, 'S'},
      {"starttls", no_argument, NULL, 'T'},
      {"user", required_argument, NULL, 'u'},
      {"password-file", required_argument, NULL, O_PWFILE},
      {"auth", required_argument, NULL, O_AUTH},
      {"token-file", required_argument, NULL, O_TOKEN},
      {"cacert", required_argument, NULL, O_CACERT},
      {"no-verify-peer", no_argument, NULL, O_NOPEER},
      {"no-verify-host", no_argument, NULL, O_NOHOST},
      {"timeout", required_argument, NULL, O_TIMEOUT},
      {"name", required_argument, NULL, O_NAME},
      {"config", required_argument, NULL, O_CONFIG},
      {"monitor", required_argument, NULL, O_MONITOR},
      {"warning", required_argument, NULL, O_WARN},
      {"critical", required_argument, NULL, O_CRIT},
      {"age", no_argument, NULL, O_AGE},
      {"age-scan", required_argument, NULL, O_AGE_SCAN},
      {"age-warning", required_argument, NULL, O_AGE_WARN},
      {"age-critical", required_argument, NULL, O_AGE_CRIT},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  conf_text_t *b = a->block;
  int opt;
  char *end;
  opterr = 0;
  while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
    switch (opt) {
    case 'H': add_string(b, "Host", optarg); break;
    case 'S': add_boolean(b, "SSL", true); break;
    case 'T': add_boolean(b, "StartTLS", true); break;
    case 'u': add_string(b, "User", optarg); break;
    case O_PWFILE:
      if (add_password_file(b, optarg) != 0)
        return unknown("--password-file %s: no password line (a pipe is "
                       "given 10 s)",
                       optarg);
      break;
    case O_AUTH: add_string(b, "Auth", optarg); break;
    case O_TOKEN: add_string(b, "TokenFile", optarg); break;
    case O_CACERT: add_string(b, "CACert", optarg); break;
    case O_NOPEER: add_boolean(b, "VerifyPeer", false); break;
    case O_NOHOST: add_boolean(b, "VerifyHost", false); break;
    case O_NAME: a->name = optarg; break;
    case O_CONFIG: a->config = optarg; break;
    case O_MONITOR: a->monitor = optarg; break;
    case O_PORT:
    case O_TIMEOUT:
    case O_AGE_SCAN: {
      double v = strtod(optarg, &end);
      const char *key = opt == O_PORT      ? "Port"
                        : opt == O_TIMEOUT ? "Timeout"
                                           : "MessageAgeScan";
      if (*optarg == '\0' || *end != '\0' || add_number(b, key, v) != 0)
        return unknown("not a number: %s", optarg);
      break;
    }
    case O_AGE: a->age = true; break;
    case O_AGE_WARN:
    case O_AGE_CRIT:
      a->age = true;
      if (parse_range(optarg, opt == O_AGE_WARN ? &a->age_warning
                                                : &a->age_critical) != 0)
        return unknown("not a threshold range: %s", optarg);
      break;
    case O_WARN:
    case O_CRIT:
      if (parse_range(optarg, opt == O_WARN ? &a->warning : &a->critical) != 0)
        return unknown("not a threshold range: %s", optarg);
      break;
    case 'h':
      fputs(usage_text, stdout);
      exit(STATE_OK);
    default:
      fputs(usage_text, stderr);
      return unknown("bad usage: %s", argv[optind - 1]);
    }
  }
  if (optind < argc)
    return unknown("unexpected argument: %s", argv[optind]);
  if ((a->config == NULL) != (a->monitor == NULL))
    return unknown("%s", "--config and --monitor go together");
  if (a->config != NULL && a->block->text != NULL)
    return unknown("%s", "with --config the <Monitor> block sets the "
                         "options; only --age and the thresholds may be added");
  return STATE_OK;
}

static pop3_monitor_t *monitor_from_config(const probe_args_t *a) {
  char err[512];
  oconfig_item_t *root = pop3_conffile_read(a->config, err, sizeof(err));
  if (root == NULL) {
    unknown("%s", err);
    return NULL;
  }
  /* collectd merges every <Plugin pop3> block, included ones too */
  const oconfig_item_t *block = NULL;
  for (int i = 0; i < root->children_num && block == NULL; i++) {
    const oconfig_item_t *c = &root->children[i];
    if (strcasecmp(c->key, "Plugin") == 0 && c->values_num == 1 &&
        c->values[0].type == OCONFIG_TYPE_STRING &&
        strcasecmp(c->values[0].value.string, "pop3") == 0)
      block = pop3_conffile_find(c, "Monitor", a->monitor);
  }
  pop3_monitor_t *m = block ? pop3_config_monitor(block) : NULL;
  if (block == NULL)
    unknown("no <Monitor \"%s\"> inside <Plugin pop3>", a->monitor);
  else if (m == NULL)
    unknown("%s", pop3_standalone_first_error());
  pop3_conffile_free(root);
  return m;
}

static pop3_monitor_t *monitor_from_flags(const probe_args_t *a) {
  conf_text_t conf = {NULL, 0, 0};
  text_add(&conf, "<Monitor ");
  text_quoted(&conf, a->name ? a->name : "probe");
  text_add(&conf, ">\n");
  if (a->block->text != NULL)
    text_add(&conf, a->block->text);
  /* the plugin's floor keeps Timeout < Interval meaningful */
  add_number(&conf, "Interval", 3600);
  text_add(&conf, "</Monitor>\n");
  char err[512];
  oconfig_item_t *root = pop3_conffile_parse(conf.text, conf.len,
                                             "the command line", err,
                                             sizeof(err));
  text_free(&conf);
  if (root == NULL) {
    unknown("%s", err);
    return NULL;
  }
  pop3_monitor_t *m =
      pop3_config_monitor(pop3_conffile_find(root, "Monitor", NULL));
  if (m == NULL)
    unknown("%s", pop3_standalone_first_error());
  pop3_conffile_free(root);
  return m;
}

/* --- output --------------------------------------------------------------- */

static void print_age(const pop3_result_t *r) {
  if (!r->age_wanted)
    return;
  const pop3_age_t *age = &r->age;
  if (age->dated > 0) {
    printf("  duration/oldest_message = %.0f (%s: field)\n", r->oldest_age,
           pop3_date_source_name(age->oldest_source));
    printf("  duration/newest_message = %.0f (%s: field)\n", r->newest_age,
           pop3_date_source_name(age->newest_source));
  }
  printf("message age: %u header(s) read, %u dated%s%s\n", age->read,
         age->dated, age->problem[0] ? "; " : "", age->problem);
}

static void print_details(const pop3_monitor_t *m, const pop3_result_t *r) {
  char caps[512];
  if (r->ok) {
    printf("values the plugin would dispatch (plugin pop3, instance %s):\n",
           m->name);
    printf("  email_count = %" PRIu64 "\n", r->message_count);
    printf("  bytes/mailbox_size = %" PRIu64 "\n", r->mailbox_size);
    printf("  response_time = %.6f\n", r->response_time);
    print_age(r);
  }
  printf("phases (s):");
  for (int p = POP3_PHASE_RESOLVE; p <= POP3_PHASE_STAT; p++)
    if (r->phase_seconds[p] >= 0)
      printf(" %s %.6f", pop3_phase_name((pop3_phase_t)p),
             r->phase_seconds[p]);
  printf("\n");
  if (r->address[0])
    printf("peer: %s, %s%s%s\n", r->address,
           r->tls_version[0] ? r->tls_version : "no TLS",
           r->tls_cipher[0] ? " " : "", r->tls_cipher);
  if (r->cert_not_after > 0) {
    time_t t = (time_t)r->cert_not_after;
    struct tm tm;
    char when[64];
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&t, &tm));
    printf("certificate expires: %s (in %.1f days)\n", when,
           difftime(t, time(NULL)) / 86400.0);
  }
  pop3_report_capabilities(&r->capabilities, caps, sizeof(caps));
  printf("capabilities: %s\n", caps);
}

/* A threshold as perfdata shows it: the plain "0..max" form only. */
static void perf_threshold(const range_t *r, char *buf, size_t size) {
  buf[0] = '\0';
  if (r->set && !r->inside && r->low == 0)
    snprintf(buf, size, "%.15g", r->high);
}

static void print_perfdata(const probe_args_t *a, const pop3_result_t *r) {
  char warn[32], crit[32];
  perf_threshold(&a->warning, warn, sizeof(warn));
  perf_threshold(&a->critical, crit, sizeof(crit));
  printf(" | messages=%" PRIu64 ";%s;%s;0 size=%" PRIu64
         "B;;;0 time=%.6fs;;;0",
         r->message_count, warn, crit, r->mailbox_size, r->response_time);
  if (!r->age_wanted || r->age.dated == 0)
    return;
  perf_threshold(&a->age_warning, warn, sizeof(warn));
  perf_threshold(&a->age_critical, crit, sizeof(crit));
  printf(" oldest=%.0fs;%s;%s;0 newest=%.0fs;;;0",
         r->oldest_age > 0 ? r->oldest_age : 0, warn, crit,
         r->newest_age > 0 ? r->newest_age : 0);
}

static int worse(int a, int b) {
  static const int rank[] = {[STATE_OK] = 0, [STATE_UNKNOWN] = 1,
                             [STATE_WARNING] = 2, [STATE_CRITICAL] = 3};
  return rank[b] > rank[a] ? b : a;
}

/* The state of the age thresholds, and its words for the first line. An
 * empty mailbox has no old message: OK. */
static int age_verdict(const probe_args_t *a, const pop3_result_t *r,
                       char *text, size_t size) {
  text[0] = '\0';
  if (!r->age_wanted)
    return STATE_OK;
  if (r->age.dated == 0) {
    if (r->message_count == 0)
      return STATE_OK;
    snprintf(text, size, ", message age unavailable: %s",
             r->age.problem[0] ? r->age.problem : "no date found");
    return a->age_warning.set || a->age_critical.set ? STATE_UNKNOWN
                                                     : STATE_OK;
  }
  double oldest = r->oldest_age > 0 ? r->oldest_age : 0;
  snprintf(text, size, ", oldest %.0f s old, newest %.0f s", oldest,
           r->newest_age > 0 ? r->newest_age : 0);
  return range_alerts(&a->age_critical, oldest)  ? STATE_CRITICAL
         : range_alerts(&a->age_warning, oldest) ? STATE_WARNING
                                                 : STATE_OK;
}

static int verdict(const probe_args_t *a, const pop3_monitor_t *m,
                   const pop3_result_t *r) {
  char label[POP3_LABEL_MAX], cause[POP3_CAUSE_MAX];
  pop3_report_label(m, label, sizeof(label));
  if (!r->ok) {
    pop3_report_cause(&r->error, cause, sizeof(cause));
    printf("POP3 CRITICAL - %s: %s\n", label, cause);
    return STATE_CRITICAL;
  }
  double count = (double)r->message_count;
  int state = range_alerts(&a->critical, count)  ? STATE_CRITICAL
              : range_alerts(&a->warning, count) ? STATE_WARNING
                                                 : STATE_OK;
  char age[POP3_ERROR_MAX + 64];
  state = worse(state, age_verdict(a, r, age, sizeof(age)));
  printf("POP3 %s - %s: %" PRIu64 " messages, %" PRIu64 " bytes in %.3f s%s",
         state_names[state], label, r->message_count, r->mailbox_size,
         r->response_time, age);
  print_perfdata(a, r);
  printf("\n");
  return state;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN); /* as in collectd: TLS writes use write(2) */
  conf_text_t block = {NULL, 0, 0};
  probe_args_t a = {.block = &block};
  pop3_standalone_quiet(true);
  if (parse_args(argc, argv, &a) != STATE_OK) {
    text_free(&block);
    return STATE_UNKNOWN;
  }
  pop3_monitor_t *m = a.config ? monitor_from_config(&a)
                               : monitor_from_flags(&a);
  text_free(&block);
  if (m == NULL)
    return STATE_UNKNOWN;
  if (a.age)
    m->collect_age = true;
  /* The loop's probes belong to the collectd that sent them: deleting them
   * here would make it count them as lost. */
  pop3_loop_config_free(m->loop);
  m->loop = NULL;
  SSL_CTX *ctx = NULL;
  char err[POP3_ERROR_MAX];
  if (pop3_monitor_uses_tls(m) &&
      (ctx = pop3_tls_context_new(m->ca_cert, m->verify_peer, err,
                                  sizeof(err))) == NULL) {
    pop3_monitor_free(m);
    return unknown("%s", err);
  }
  pop3_result_t r;
  pop3_collect(m, ctx, &r);
  int state = verdict(&a, m, &r);
  print_details(m, &r);
  SSL_CTX_free(ctx);
  pop3_monitor_free(m);
  return state;
}

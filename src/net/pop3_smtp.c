/* pop3_smtp.c: one SMTP submission with libcurl, failures told by phase,
 * and the worker thread that runs submissions (see pop3_smtp.h). */
#define _GNU_SOURCE /* explicit_bzero */
#include "pop3_loop.h"
#include "pop3_smtp.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#define REPLY_MAX 200 /* the server's last line, as quoted in errors */

/* ---- libcurl, once per process ------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

/* Never undone with curl_global_cleanup(): other plugins of the same
 * collectd (curl, curl_json, write_http...) share libcurl's global state. */
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static int curl_ready(void) {
  pthread_once(&curl_once, curl_init);
  return curl_init_rc == CURLE_OK ? 0 : -1;
}

/* ---- what the conversation reached ----------------------------------------
 * libcurl's error codes do not say which command failed, so the debug
 * callback notes the first word of each command sent (never the rest: AUTH
 * carries the credentials) and keeps the server's last line. */

typedef enum {
  STEP_GREETING = 0, /* nothing sent yet */
  STEP_EHLO,
  STEP_STARTTLS,
  STEP_AUTH,
  STEP_MAIL,
  STEP_RCPT,
  STEP_DATA,
  STEP_MESSAGE, /* the message's text is going out */
} step_t;

typedef struct {
  const char *message;
  size_t len;
  size_t sent;
  step_t step;
  bool tls_seen; /* TLS handshake bytes went either way */
  bool tls_up;   /* and the server answered through TLS since */
  bool quit;     /* QUIT went out: nothing after it explains a failure */
  char reply[REPLY_MAX + 1];
} conversation_t;

static size_t read_message(char *buf, size_t size, size_t n, void *arg) {
  conversation_t *c = arg;
  size_t room = size * n, left = c->len - c->sent;
  size_t take = left < room ? left : room;
  memcpy(buf, c->message + c->sent, take);
  c->sent += take;
  return take;
}

/* Printable ASCII only, at most max bytes: server text goes into logs. */
static void printable(char *out, size_t max, const char *in, size_t len) {
  while (len > 0 && (in[len - 1] == '\n' || in[len - 1] == '\r' ||
                     in[len - 1] == ' '))
    len--;
  size_t o = 0;
  for (size_t i = 0; i < len && o < max; i++) {
    unsigned char ch = (unsigned char)in[i];
    out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
  }
  out[o] = '\0';
}

static void note_reply(conversation_t *c, const char *data, size_t len) {
  /* the last non-empty line of what arrived */
  while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
    len--;
  if (len == 0)
    return;
  const char *nl = memrchr(data, '\n', len);
  const char *line = nl != NULL ? nl + 1 : data;
  printable(c->reply, REPLY_MAX, line, len - (size_t)(line - data));
}

static bool starts_with_word(const char *data, size_t len, const char *word) {
  size_t n = strlen(word);
  return len >= n && strncmp(data, word, n) == 0 &&
         (len == n || data[n] == ' ' || data[n] == '\r' || data[n] == '\n');
}

static void note_command(conversation_t *c, const char *data, size_t len) {
  static const struct {
    const char *word;
    step_t step;
  } commands[] = {{"EHLO", STEP_EHLO}, {"HELO", STEP_EHLO},
                  {"STARTTLS", STEP_STARTTLS}, {"AUTH", STEP_AUTH},
                  {"MAIL", STEP_MAIL}, {"RCPT", STEP_RCPT},
                  {"DATA", STEP_DATA}};
  /* the answer that explains a failure stays, not QUIT's */
  if (starts_with_word(data, len, "QUIT")) {
    c->quit = true;
    return;
  }
  /* anything else (a SASL response) continues the current step */
  for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
    if (starts_with_word(data, len, commands[i].word)) {
      c->step = commands[i].step;
      return;
    }
}

static int on_debug(CURL *h, curl_infotype type, char *data, size_t len,
                    void *arg) {
  (void)h;
  conversation_t *c = arg;
  if (c->quit) /* libcurl quits after a refusal too */
    return 0;
  switch (type) {
  case CURLINFO_HEADER_IN:
    c->tls_up = c->tls_seen;
    note_reply(c, data, len);
    break;
  case CURLINFO_HEADER_OUT:
    note_command(c, data, len);
    break;
  case CURLINFO_DATA_OUT:
    if (c->step == STEP_DATA)
      c->step = STEP_MESSAGE;
    break;
  case CURLINFO_SSL_DATA_IN:
  case CURLINFO_SSL_DATA_OUT:
    c->tls_seen = true;
    break;
  default:
    break;
  }
  return 0;
}

/* ---- errors ---------------------------------------------------------------- */

typedef struct {
  const pop3_smtp_options_t *o;
  const conversation_t *c;
  CURL *h;
  CURLcode rc;
  const char *curl_text; /* the error buffer, or curl_easy_strerror */
} failure_t;

static const char *step_phase(const conversation_t *c) {
  if (c->step == STEP_STARTTLS || (c->tls_seen && !c->tls_up))
    return "tls";
  switch (c->step) {
  case STEP_GREETING:
  case STEP_EHLO:
    return "connect";
  case STEP_AUTH:
    return "auth";
  default:
    return "send";
  }
}

/* What the server refused, by the command it answered. */
static const char *step_refusal(step_t s) {
  switch (s) {
  case STEP_GREETING:
    return "the server refused the connection";
  case STEP_EHLO:
    return "the server refused EHLO";
  case STEP_STARTTLS:
    return "the server refused STARTTLS";
  case STEP_AUTH:
    return "the server refused the login";
  case STEP_MAIL:
    return "the server refused the sender";
  case STEP_RCPT:
    return "the server refused the recipient";
  case STEP_DATA:
  case STEP_MESSAGE:
    return "the server refused the message";
  }
  return "the server refused";
}

/* A reply that refuses: 4xx or 5xx. */
static bool refusing(const char *reply) {
  return (reply[0] == '4' || reply[0] == '5') && reply[1] >= '0' &&
         reply[1] <= '9' && reply[2] >= '0' && reply[2] <= '9';
}

static void explain_timeout(const failure_t *f, char *err, size_t size) {
  long connected_us = 0;
  double secs = f->o->timeout;
  curl_off_t t = 0;
  if (curl_easy_getinfo(f->h, CURLINFO_CONNECT_TIME_T, &t) == CURLE_OK)
    connected_us = (long)t;
  if (strncmp(f->curl_text, "Resolving timed out", 19) == 0) {
    snprintf(err, size, "smtp: resolve: cannot resolve \"%s\": timed out "
             "after %g s", f->o->host, secs);
    return;
  }
  if (connected_us == 0 && f->c->reply[0] == '\0' && !f->c->tls_seen) {
    snprintf(err, size, "smtp: connect: cannot connect to %s:%d: timed out "
             "after %g s", f->o->host, f->o->port, secs);
    return;
  }
  static const char *const waiting[] = {
      [STEP_GREETING] = "the greeting",   [STEP_EHLO] = "the answer to EHLO",
      [STEP_STARTTLS] = "the answer to STARTTLS",
      [STEP_AUTH] = "the answer to AUTH", [STEP_MAIL] = "the answer to MAIL",
      [STEP_RCPT] = "the answer to RCPT", [STEP_DATA] = "the answer to DATA",
      [STEP_MESSAGE] = "the answer to the message"};
  const char *what = waiting[f->c->step];
  if (f->c->tls_seen && !f->c->tls_up)
    what = "the TLS handshake";
  snprintf(err, size, "smtp: %s: timed out after %g s waiting for %s",
           step_phase(f->c), secs, what);
}

static void explain_tls(const failure_t *f, char *err, size_t size) {
  const char *text = f->curl_text;
  switch (f->rc) {
  case CURLE_PEER_FAILED_VERIFICATION:
    snprintf(err, size, "smtp: tls: certificate verification failed: %s", text);
    return;
  case CURLE_SSL_CACERT_BADFILE:
    snprintf(err, size, "smtp: tls: cannot load CACert \"%s\": %s",
             f->o->ca_cert != NULL ? f->o->ca_cert : "", text);
    return;
  case CURLE_USE_SSL_FAILED:
    if (f->c->step == STEP_STARTTLS && f->c->reply[0] != '\0')
      snprintf(err, size, "smtp: tls: the server refused STARTTLS: %s",
               f->c->reply);
    else
      snprintf(err, size,
               "smtp: tls: the server does not offer STARTTLS (neither the "
               "login nor the message was sent)");
    return;
  default:
    break;
  }
  const char *hint = "";
  if (strstr(text, "wrong version number") != NULL ||
      strstr(text, "packet length too long") != NULL)
    hint = " (the server did not answer with TLS: is this a plain SMTP port? "
           "use STARTTLS there)";
  /* OpenSSL reports a failed chain check during the handshake as such */
  if (strstr(text, "certificate") != NULL)
    snprintf(err, size, "smtp: tls: certificate verification failed: %s%s",
             text, hint);
  else
    snprintf(err, size, "smtp: tls: TLS handshake failed: %s%s", text, hint);
}

static void explain(const failure_t *f, char *err, size_t size) {
  const pop3_smtp_options_t *o = f->o;
  const conversation_t *c = f->c;
  long os_errno = 0;
  switch (f->rc) {
  case CURLE_UNSUPPORTED_PROTOCOL:
    snprintf(err, size, "smtp: setup: this libcurl cannot send mail: %s",
             f->curl_text);
    return;
  case CURLE_COULDNT_RESOLVE_HOST:
    snprintf(err, size, "smtp: resolve: cannot resolve \"%s\": %s", o->host,
             f->curl_text);
    return;
  case CURLE_COULDNT_CONNECT:
    curl_easy_getinfo(f->h, CURLINFO_OS_ERRNO, &os_errno);
    snprintf(err, size, "smtp: connect: cannot connect to %s:%d: %s", o->host,
             o->port, os_errno != 0 ? strerror((int)os_errno) : f->curl_text);
    return;
  case CURLE_OPERATION_TIMEDOUT:
    explain_timeout(f, err, size);
    return;
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_USE_SSL_FAILED:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
    explain_tls(f, err, size);
    return;
  case CURLE_LOGIN_DENIED:
    if (c->step == STEP_AUTH && c->reply[0] != '\0')
      snprintf(err, size, "smtp: auth: the server refused the login: %s",
               c->reply);
    else
      snprintf(err, size,
               "smtp: auth: no login possible (the server must offer AUTH "
               "PLAIN or LOGIN): %s",
               f->curl_text);
    return;
  default:
    break;
  }
  const char *phase = step_phase(c);
  if (refusing(c->reply))
    snprintf(err, size, "smtp: %s: %s: %s", phase, step_refusal(c->step),
             c->reply);
  else if (c->reply[0] != '\0' && c->step != STEP_MESSAGE)
    snprintf(err, size, "smtp: %s: %s (the server's last answer: %s)", phase,
             f->curl_text, c->reply);
  else
    snprintf(err, size, "smtp: %s: %s", phase, f->curl_text);
}

/* Should any text ever quote the password, the line is withheld. */
static void withhold_password(const pop3_smtp_options_t *o, char *err,
                              size_t size) {
  if (o->password == NULL || o->password[0] == '\0' ||
      strstr(err, o->password) == NULL)
    return;
  /* keep "smtp: PHASE" */
  const char *colon = strlen(err) > 6 ? strchr(err + 6, ':') : NULL;
  int phase_len = colon != NULL ? (int)(colon - err) : 4;
  char head[32];
  snprintf(head, sizeof(head), "%.*s", phase_len, err);
  snprintf(err, size, "%s: failed (the error text is withheld: it quotes the "
           "password)", head);
}

/* ---- one send -------------------------------------------------------------- */

/* A host name or IP literal that cannot change the URL's meaning. */
static bool plain_host(const char *host) {
  if (host == NULL || host[0] == '\0' || strlen(host) > 253)
    return false;
  for (const char *p = host; *p != '\0'; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' || *p == '_' ||
          *p == ':' || *p == '%'))
      return false;
  return true;
}


/* The EHLO name goes in the URL's path: this host's name when it is a
 * plain one, so the server's log says who submitted; else libcurl's
 * default. */
static void ehlo_name(char *out, size_t size) {
  char name[256];
  out[0] = '\0';
  if (gethostname(name, sizeof(name)) != 0)
    return;
  name[sizeof(name) - 1] = '\0';
  for (const char *p = name; *p != '\0'; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
      return;
  snprintf(out, size, "%s", name);
}

static int build_url(const pop3_smtp_options_t *o, char *url, size_t size) {
  char host[3 * 253 + 1] = ""; /* every byte may become "%25" */
  size_t h = 0;
  /* a zone identifier's '%' is written %25 in a URL (RFC 6874) */
  for (const char *p = o->host; *p != '\0' && h + 4 < sizeof(host); p++) {
    if (*p == '%') {
      memcpy(host + h, "%25", 3);
      h += 3;
    } else {
      host[h++] = *p;
    }
  }
  host[h] = '\0';
  char ehlo[256];
  ehlo_name(ehlo, sizeof(ehlo));
  bool ipv6 = strchr(o->host, ':') != NULL;
  int n = snprintf(url, size, "%s://%s%s%s:%d/%s", o->ssl ? "smtps" : "smtp",
                   ipv6 ? "[" : "", host, ipv6 ? "]" : "", o->port, ehlo);
  return n > 0 && (size_t)n < size ? 0 : -1;
}

static int setup_fail(char *err, size_t size, const char *what) {
  snprintf(err, size, "smtp: setup: %s", what);
  return -1;
}

int pop3_smtp_send(const pop3_smtp_options_t *o, const char *message,
                   size_t len, char *err, size_t err_size) {
  char scratch[1];
  if (err == NULL || err_size == 0) {
    err = scratch;
    err_size = sizeof(scratch);
  }
  err[0] = '\0';
  if (o == NULL || message == NULL)
    return setup_fail(err, err_size, "nothing to send");
  if (!plain_host(o->host))
    return setup_fail(err, err_size, "the host is not a host name");
  if (o->port < 1 || o->port > 65535)
    return setup_fail(err, err_size, "the port is not within 1..65535");
  if (!pop3_loop_text_safe(o->from) || !pop3_loop_text_safe(o->to))
    return setup_fail(err, err_size,
                      "the envelope addresses must be non-empty and hold no "
                      "control characters");
  if (o->user != NULL && !pop3_loop_text_safe(o->user))
    return setup_fail(err, err_size,
                      "the user must be non-empty and hold no control "
                      "characters");
  if (o->user != NULL && !o->ssl && !o->starttls)
    return setup_fail(err, err_size,
                      "AUTH needs TLS (implicit or STARTTLS): the password "
                      "would cross the network in clear");
  if (!(o->timeout > 0) || o->timeout > 86400)
    return setup_fail(err, err_size, "the timeout is not within 0..86400 s");
  if (curl_ready() != 0)
    return setup_fail(err, err_size, "cannot initialise libcurl");
  char url[1100];
  if (build_url(o, url, sizeof(url)) != 0)
    return setup_fail(err, err_size, "the URL does not fit");

  CURL *h = curl_easy_init();
  if (h == NULL)
    return setup_fail(err, err_size, "cannot create a libcurl handle");
  struct curl_slist *rcpt = curl_slist_append(NULL, o->to);
  if (rcpt == NULL) {
    curl_easy_cleanup(h);
    return setup_fail(err, err_size, "out of memory");
  }
  conversation_t c = {.message = message, .len = len};
  char curl_err[CURL_ERROR_SIZE] = "";
  long ms = (long)(o->timeout * 1000);
  if (ms < 1)
    ms = 1;

  CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                          \
  do {                                                                         \
    if (rc == CURLE_OK)                                                        \
      rc = curl_easy_setopt(h, opt, val);                                      \
  } while (0)
  SET(CURLOPT_ERRORBUFFER, curl_err);
  SET(CURLOPT_NOSIGNAL, 1L); /* collectd is multithreaded */
  SET(CURLOPT_URL, url);
#if CURL_AT_LEAST_VERSION(7, 85, 0)
  SET(CURLOPT_PROTOCOLS_STR, "smtp,smtps");
#else
  SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS));
#endif
  SET(CURLOPT_PROXY, ""); /* no *_proxy variable of the environment */
#if CURL_AT_LEAST_VERSION(7, 87, 0)
  /* a resolve still running at the timeout is left to end on its own:
   * otherwise libcurl waits for getaddrinfo(), past the timeout */
  SET(CURLOPT_QUICK_EXIT, 1L);
#endif
  SET(CURLOPT_TIMEOUT_MS, ms);
  SET(CURLOPT_CONNECTTIMEOUT_MS, ms);
  SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
  SET(CURLOPT_USE_SSL, (long)(o->starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
  SET(CURLOPT_SSL_VERIFYPEER, o->verify_peer ? 1L : 0L);
  SET(CURLOPT_SSL_VERIFYHOST, o->verify_host ? 2L : 0L);
  /* CAINFO adds to the system's store: CAPATH (/etc/ssl/certs) stays */
  if (o->ca_cert != NULL)
    SET(CURLOPT_CAINFO, o->ca_cert);
  if (o->user != NULL) {
    SET(CURLOPT_USERNAME, o->user);
    SET(CURLOPT_PASSWORD, o->password != NULL ? o->password : "");
    /* mechanisms that need nothing but the password, which TLS protects;
     * never GSSAPI or NTLM, which could stall or reach other systems */
    SET(CURLOPT_LOGIN_OPTIONS, "AUTH=PLAIN;AUTH=LOGIN");
  }
  SET(CURLOPT_MAIL_FROM, o->from);
  SET(CURLOPT_MAIL_RCPT, rcpt);
  SET(CURLOPT_UPLOAD, 1L);
  SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
  SET(CURLOPT_READFUNCTION, read_message);
  SET(CURLOPT_READDATA, &c);
  /* the debug callback needs VERBOSE; it prints nothing itself */
  SET(CURLOPT_DEBUGFUNCTION, on_debug);
  SET(CURLOPT_DEBUGDATA, &c);
  SET(CURLOPT_VERBOSE, 1L);
#undef SET
  int status = 0;
  if (rc != CURLE_OK) {
    snprintf(err, err_size, "smtp: setup: libcurl refused an option: %s",
             curl_easy_strerror(rc));
    status = -1;
  } else {
    rc = curl_easy_perform(h);
    if (rc != CURLE_OK) {
      const char *raw = curl_err[0] != '\0' ? curl_err : curl_easy_strerror(rc);
      char text[CURL_ERROR_SIZE];
      printable(text, sizeof(text) - 1, raw, strlen(raw));
      failure_t f = {.o = o, .c = &c, .h = h, .rc = rc, .curl_text = text};
      explain(&f, err, err_size);
      withhold_password(o, err, err_size);
      status = -1;
    }
  }
  curl_easy_cleanup(h);
  curl_slist_free_all(rcpt);
  return status;
}

/* ---- the worker ------------------------------------------------------------- */

typedef struct job {
  struct job *next;
  pop3_smtp_options_t o; /* its strings point at the copies below */
  char *host, *user, *password, *ca_cert, *from, *to;
  char *message;
  size_t len;
  pop3_smtp_done_cb done;
  void *arg;
} job_t;

struct pop3_smtp_worker {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  job_t *head, *tail;
  size_t queued;
  bool stopping;
  pthread_t thread;
};

static void job_free(job_t *j) {
  if (j == NULL)
    return;
  if (j->password != NULL) {
    explicit_bzero(j->password, strlen(j->password));
    free(j->password);
  }
  free(j->host);
  free(j->user);
  free(j->ca_cert);
  free(j->from);
  free(j->to);
  free(j->message);
  free(j);
}

/* strdup that keeps NULL, and tells a failure from NULL */
static bool copy(char **out, const char *in) {
  *out = NULL;
  if (in == NULL)
    return true;
  *out = strdup(in);
  return *out != NULL;
}

static job_t *job_new(const pop3_smtp_options_t *o, const char *message,
                      size_t len, pop3_smtp_done_cb done, void *arg) {
  job_t *j = calloc(1, sizeof(*j));
  if (j == NULL)
    return NULL;
  bool ok = copy(&j->host, o->host) && copy(&j->user, o->user) &&
            copy(&j->password, o->password) && copy(&j->ca_cert, o->ca_cert) &&
            copy(&j->from, o->from) && copy(&j->to, o->to);
  j->message = malloc(len > 0 ? len : 1);
  if (!ok || j->message == NULL) {
    job_free(j);
    return NULL;
  }
  memcpy(j->message, message, len);
  j->len = len;
  j->o = *o;
  j->o.host = j->host;
  j->o.user = j->user;
  j->o.password = j->password;
  j->o.ca_cert = j->ca_cert;
  j->o.from = j->from;
  j->o.to = j->to;
  j->done = done;
  j->arg = arg;
  return j;
}

static void job_finish(job_t *j, int status, const char *err) {
  if (j->done != NULL)
    j->done(j->arg, status, err);
  job_free(j);
}

static void *worker_main(void *arg) {
  pop3_smtp_worker_t *w = arg;
  pthread_mutex_lock(&w->lock);
  for (;;) {
    while (w->head == NULL && !w->stopping)
      pthread_cond_wait(&w->wake, &w->lock);
    if (w->stopping)
      break;
    job_t *j = w->head;
    w->head = j->next;
    if (w->head == NULL)
      w->tail = NULL;
    w->queued--;
    pthread_mutex_unlock(&w->lock);
    char err[512] = "";
    int status = pop3_smtp_send(&j->o, j->message, j->len, err, sizeof(err));
    job_finish(j, status, status == 0 ? "" : err);
    pthread_mutex_lock(&w->lock);
  }
  job_t *dropped = w->head;
  w->head = w->tail = NULL;
  w->queued = 0;
  pthread_mutex_unlock(&w->lock);
  while (dropped != NULL) {
    job_t *next = dropped->next;
    job_finish(dropped, -1, "smtp: not sent: shutting down");
    dropped = next;
  }
  return NULL;
}

pop3_smtp_worker_t *pop3_smtp_worker_new(char *err, size_t err_size) {
  if (curl_ready() != 0) {
    snprintf(err, err_size, "smtp: setup: cannot initialise libcurl");
    return NULL;
  }
  pop3_smtp_worker_t *w = calloc(1, sizeof(*w));
  if (w == NULL) {
    snprintf(err, err_size, "smtp: setup: out of memory");
    return NULL;
  }
  pthread_mutex_init(&w->lock, NULL);
  pthread_cond_init(&w->wake, NULL);
  /* signals go to collectd's own threads, never to this one */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&w->thread, NULL, worker_main, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    snprintf(err, err_size, "smtp: setup: cannot start a thread: %s",
             strerror(rc));
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    free(w);
    return NULL;
  }
  pthread_setname_np(w->thread, "pop3 smtp");
  return w;
}

int pop3_smtp_worker_submit(pop3_smtp_worker_t *w, const pop3_smtp_options_t *o,
                            const char *message, size_t len,
                            pop3_smtp_done_cb done, void *arg) {
  if (w == NULL || o == NULL || message == NULL)
    return -1;
  job_t *j = job_new(o, message, len, done, arg);
  if (j == NULL)
    return -1;
  pthread_mutex_lock(&w->lock);
  if (w->stopping || w->queued >= POP3_SMTP_QUEUE_MAX) {
    pthread_mutex_unlock(&w->lock);
    job_free(j);
    return -1;
  }
  if (w->tail != NULL)
    w->tail->next = j;
  else
    w->head = j;
  w->tail = j;
  w->queued++;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
  return 0;
}

void pop3_smtp_worker_free(pop3_smtp_worker_t *w) {
  if (w == NULL)
    return;
  pthread_mutex_lock(&w->lock);
  w->stopping = true;
  pthread_cond_signal(&w->wake);
  pthread_mutex_unlock(&w->lock);
  pthread_join(w->thread, NULL);
  pthread_cond_destroy(&w->wake);
  pthread_mutex_destroy(&w->lock);
  free(w);
}

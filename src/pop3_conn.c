/* pop3_conn.c: sockets and TLS with one deadline per collection. */
#include "pop3_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "pop3_tls.h"

double pop3_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void pop3_conn_init(pop3_conn_t *c) {
  c->fd = -1;
  c->ssl = NULL;
  c->address[0] = '\0';
}

/* Milliseconds left for poll(); 0 once the deadline has passed. */
static int ms_left(double deadline) {
  double left = deadline - pop3_now();
  if (left <= 0)
    return 0;
  return (int)ceil(left * 1000.0);
}

/* 1: ready, 0: deadline passed, -1: poll failed (errno set). */
static int wait_for(int fd, short events, double deadline) {
  for (;;) {
    int ms = ms_left(deadline);
    if (ms == 0)
      return 0;
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, ms);
    if (n > 0)
      return 1;
    if (n < 0 && errno != EINTR)
      return -1;
  }
}

/* --- name resolution ---------------------------------------------------
 * getaddrinfo() cannot be cancelled, so it runs in a detached thread; the
 * caller waits until the deadline. Whichever side finishes last frees the
 * request, so a resolver stuck past the deadline never blocks the
 * collection and never touches freed memory. */

typedef struct {
  pthread_mutex_t lock;
  pthread_cond_t done_cond;
  bool done;
  atomic_int users; /* caller and thread */
  int status;
  struct addrinfo *result;
  char host[256];
  char service[8];
} resolve_request_t;

static void resolve_request_release(resolve_request_t *r) {
  if (atomic_fetch_sub(&r->users, 1) != 1)
    return;
  if (r->result != NULL)
    freeaddrinfo(r->result);
  pthread_mutex_destroy(&r->lock);
  pthread_cond_destroy(&r->done_cond);
  free(r);
}

static void *resolve_thread(void *arg) {
  resolve_request_t *r = arg;
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_ADDRCONFIG};
  struct addrinfo *result = NULL;
  int status = getaddrinfo(r->host, r->service, &hints, &result);
  pthread_mutex_lock(&r->lock);
  r->status = status;
  r->result = result;
  r->done = true;
  pthread_cond_signal(&r->done_cond);
  pthread_mutex_unlock(&r->lock);
  resolve_request_release(r);
  return NULL;
}

static int resolve_numeric(const char *host, const char *service,
                           struct addrinfo **out) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC,
                           .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
  return getaddrinfo(host, service, &hints, out);
}

static void deadline_timespec(double deadline, struct timespec *ts) {
  /* pthread_cond_timedwait on CLOCK_MONOTONIC takes an absolute time */
  double secs = floor(deadline);
  ts->tv_sec = (time_t)secs;
  ts->tv_nsec = (long)((deadline - secs) * 1e9);
}

static int resolve(const char *host, int port, double deadline,
                   struct addrinfo **out, pop3_error_t *err) {
  char service[8];
  snprintf(service, sizeof(service), "%d", port);
  if (resolve_numeric(host, service, out) == 0)
    return 0; /* an IP literal needs no resolver */

  resolve_request_t *r = calloc(1, sizeof(*r));
  if (r == NULL) {
    pop3_error_set(err, POP3_PHASE_RESOLVE, POP3_FAIL_RESOLVE,
                   "out of memory");
    return -1;
  }
  snprintf(r->host, sizeof(r->host), "%s", host);
  memcpy(r->service, service, sizeof(service));
  pthread_mutex_init(&r->lock, NULL);
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&r->done_cond, &attr);
  pthread_condattr_destroy(&attr);
  atomic_init(&r->users, 2);

  pthread_t thread;
  pthread_attr_t tattr;
  pthread_attr_init(&tattr);
  pthread_attr_setdetachstate(&tattr, PTHREAD_CREATE_DETACHED);
  int rc = pthread_create(&thread, &tattr, resolve_thread, r);
  pthread_attr_destroy(&tattr);
  if (rc != 0) {
    atomic_store(&r->users, 1);
    resolve_request_release(r);
    pop3_error_set(err, POP3_PHASE_RESOLVE, POP3_FAIL_RESOLVE,
                   "cannot start the resolver thread: %s", strerror(rc));
    return -1;
  }

  struct timespec until;
  deadline_timespec(deadline, &until);
  pthread_mutex_lock(&r->lock);
  while (!r->done && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&r->done_cond, &r->lock, &until);
  bool done = r->done;
  int status = r->status;
  if (done && status == 0) {
    *out = r->result;
    r->result = NULL; /* now ours */
  }
  pthread_mutex_unlock(&r->lock);
  resolve_request_release(r);

  if (!done) {
    pop3_error_set(err, POP3_PHASE_RESOLVE, POP3_FAIL_TIMEOUT,
                   "resolving \"%s\" took longer than the Timeout", host);
    return -1;
  }
  if (status != 0) {
    pop3_error_set(err, POP3_PHASE_RESOLVE, POP3_FAIL_RESOLVE,
                   "cannot resolve \"%s\": %s", host, gai_strerror(status));
    return -1;
  }
  return 0;
}

/* --- connecting ------------------------------------------------------- */

static void format_address(const struct sockaddr *sa, char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    port = ntohs(in6->sin6_port);
    snprintf(buf, size, "[%s]:%d", ip, port);
  } else {
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
    port = ntohs(in4->sin_port);
    snprintf(buf, size, "%s:%d", ip, port);
  }
}

/* Returns the connected socket, or -1 with errno (ETIMEDOUT at deadline). */
static int connect_one(const struct addrinfo *ai, double deadline) {
  int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  ai->ai_protocol);
  if (fd < 0)
    return -1;
  if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
    return fd;
  if (errno != EINPROGRESS) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  int ready = wait_for(fd, POLLOUT, deadline);
  int so_error = 0;
  socklen_t len = sizeof(so_error);
  if (ready == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len) == 0 &&
      so_error == 0)
    return fd;
  int saved = ready == 0 ? ETIMEDOUT : (ready < 0 ? errno : so_error);
  close(fd);
  errno = saved;
  return -1;
}

static size_t count_addresses(const struct addrinfo *list) {
  size_t n = 0;
  for (; list != NULL; list = list->ai_next)
    n++;
  return n;
}

int pop3_conn_connect(pop3_conn_t *c, const char *host, int port,
                      double deadline, pop3_error_t *err) {
  struct addrinfo *list = NULL;
  if (resolve(host, port, deadline, &list, err) != 0)
    return -1;

  size_t left = count_addresses(list);
  char tried[POP3_ERROR_MAX] = "";
  size_t used = 0;
  bool timed_out = false;
  for (const struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next, left--) {
    /* Share the time left between the addresses still to try, so one
     * silent address cannot eat the whole Timeout. */
    double now = pop3_now();
    double attempt_deadline = left > 1 ? now + (deadline - now) / (double)left
                                       : deadline;
    char address[64];
    format_address(ai->ai_addr, address, sizeof(address));
    int fd = connect_one(ai, attempt_deadline);
    if (fd >= 0) {
      c->fd = fd;
      snprintf(c->address, sizeof(c->address), "%s", address);
      freeaddrinfo(list);
      return 0;
    }
    timed_out = errno == ETIMEDOUT;
    if (used < sizeof(tried))
      used += (size_t)snprintf(tried + used, sizeof(tried) - used, "%s%s: %s",
                               used > 0 ? "; " : "", address, strerror(errno));
  }
  freeaddrinfo(list);
  pop3_error_set(err, POP3_PHASE_CONNECT,
                 timed_out ? POP3_FAIL_TIMEOUT : POP3_FAIL_CONNECT,
                 "cannot connect: %s", tried);
  return -1;
}

/* --- TLS ---------------------------------------------------------------- */

/* Waits as OpenSSL asks; 1 ready, 0 deadline, -1 fatal. */
static int wait_for_ssl(pop3_conn_t *c, int ssl_rc, double deadline) {
  int e = SSL_get_error(c->ssl, ssl_rc);
  if (e == SSL_ERROR_WANT_READ)
    return wait_for(c->fd, POLLIN, deadline);
  if (e == SSL_ERROR_WANT_WRITE)
    return wait_for(c->fd, POLLOUT, deadline);
  return -1;
}

int pop3_conn_start_tls(pop3_conn_t *c, SSL_CTX *ctx, const char *host,
                        bool verify_peer, bool verify_host, double deadline,
                        pop3_error_t *err) {
  char why[POP3_ERROR_MAX];
  ERR_clear_error();
  c->ssl = SSL_new(ctx);
  if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
    pop3_tls_explain_failure(NULL, why, sizeof(why));
    pop3_error_set(err, POP3_PHASE_TLS, POP3_FAIL_TLS, "%s", why);
    return -1;
  }
  if (pop3_tls_prepare(c->ssl, host, verify_host, why, sizeof(why)) != 0) {
    pop3_error_set(err, POP3_PHASE_TLS, POP3_FAIL_TLS, "%s", why);
    return -1;
  }
  for (;;) {
    int rc = SSL_connect(c->ssl);
    if (rc == 1)
      break;
    int ready = wait_for_ssl(c, rc, deadline);
    if (ready == 1)
      continue;
    if (ready == 0) {
      pop3_error_set(err, POP3_PHASE_TLS, POP3_FAIL_TIMEOUT,
                     "TLS handshake not finished within the Timeout");
      return -1;
    }
    if (SSL_get_error(c->ssl, rc) == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)
      pop3_error_set(err, POP3_PHASE_TLS, POP3_FAIL_TLS,
                     "TLS handshake failed: the server closed the connection "
                     "(is this a TLS port?)");
    else {
      pop3_tls_explain_failure(c->ssl, why, sizeof(why));
      pop3_error_set(err, POP3_PHASE_TLS, POP3_FAIL_TLS, "%s", why);
    }
    return -1;
  }
  if (!verify_peer && verify_host &&
      pop3_tls_check_host(c->ssl, host, why, sizeof(why)) != 0) {
    pop3_error_set(err, POP3_PHASE_TLS, POP3_FAIL_TLS, "%s", why);
    return -1;
  }
  return 0;
}

/* --- reading and writing ---------------------------------------------- */

static void set_timeout(pop3_error_t *err, pop3_phase_t phase) {
  pop3_error_set(err, phase, POP3_FAIL_TIMEOUT,
                 "no answer from the server within the Timeout");
}

static ssize_t read_tls(pop3_conn_t *c, char *buf, size_t size,
                        double deadline, pop3_phase_t phase,
                        pop3_error_t *err) {
  for (;;) {
    ERR_clear_error();
    int n = SSL_read(c->ssl, buf, size > INT32_MAX ? INT32_MAX : (int)size);
    if (n > 0)
      return n;
    int e = SSL_get_error(c->ssl, n);
    if (e == SSL_ERROR_ZERO_RETURN ||
        (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && errno == 0))
      return 0;
    int ready = wait_for_ssl(c, n, deadline);
    if (ready == 1)
      continue;
    if (ready == 0) {
      set_timeout(err, phase);
    } else {
      char why[POP3_ERROR_MAX];
      pop3_tls_explain_failure(NULL, why, sizeof(why));
      pop3_error_set(err, phase, POP3_FAIL_IO, "reading over TLS failed: %s",
                     why);
    }
    return -1;
  }
}

ssize_t pop3_conn_read(pop3_conn_t *c, char *buf, size_t size,
                       double deadline, pop3_phase_t phase, pop3_error_t *err) {
  if (c->ssl != NULL)
    return read_tls(c, buf, size, deadline, phase, err);
  for (;;) {
    ssize_t n = recv(c->fd, buf, size, MSG_DONTWAIT);
    if (n >= 0)
      return n;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      pop3_error_set(err, phase, POP3_FAIL_IO, "receiving failed: %s",
                     strerror(errno));
      return -1;
    }
    int ready = wait_for(c->fd, POLLIN, deadline);
    if (ready != 1) {
      if (ready == 0)
        set_timeout(err, phase);
      else
        pop3_error_set(err, phase, POP3_FAIL_IO, "poll failed: %s",
                       strerror(errno));
      return -1;
    }
  }
}

static ssize_t write_some(pop3_conn_t *c, const char *buf, size_t len,
                          int *ssl_rc) {
  if (c->ssl != NULL) {
    ERR_clear_error();
    *ssl_rc = SSL_write(c->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    return *ssl_rc > 0 ? *ssl_rc : -1;
  }
  ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
  return n;
}

int pop3_conn_write(pop3_conn_t *c, const char *buf, size_t len,
                    double deadline, pop3_phase_t phase, pop3_error_t *err) {
  size_t sent = 0;
  while (sent < len) {
    int ssl_rc = 0;
    errno = 0;
    ssize_t n = write_some(c, buf + sent, len - sent, &ssl_rc);
    if (n > 0) {
      sent += (size_t)n;
      continue;
    }
    int ready;
    if (c->ssl != NULL)
      ready = wait_for_ssl(c, ssl_rc, deadline);
    else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
      ready = wait_for(c->fd, POLLOUT, deadline);
    else
      ready = -1;
    if (ready == 1)
      continue;
    if (ready == 0)
      pop3_error_set(err, phase, POP3_FAIL_TIMEOUT,
                     "sending took longer than the Timeout");
    else
      pop3_error_set(err, phase, POP3_FAIL_IO, "sending failed: %s",
                     errno != 0 ? strerror(errno) : "TLS error");
    return -1;
  }
  return 0;
}

void pop3_conn_close(pop3_conn_t *c) {
  if (c->ssl != NULL) {
    /* one non-blocking attempt at close_notify; never wait for the peer */
    ERR_clear_error();
    SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
    c->ssl = NULL;
    ERR_clear_error();
  }
  if (c->fd >= 0) {
    close(c->fd);
    c->fd = -1;
  }
}

/* pop3_resolve.c: addresses, IP literals and the c-ares glue (see
 * pop3_resolve.h). */
#include "pop3_resolve.h"

#include <arpa/inet.h>
#include <ares.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- addresses ------------------------------------------------------------ */

void pop3_addresses_add(pop3_addresses_t *a, const struct sockaddr *sa,
                        socklen_t len, int port) {
  if (a->count >= POP3_MAX_ADDRESSES || len > sizeof(a->addrs[0]))
    return;
  memcpy(&a->addrs[a->count], sa, len);
  struct sockaddr *copy = (struct sockaddr *)&a->addrs[a->count];
  if (copy->sa_family == AF_INET6)
    ((struct sockaddr_in6 *)copy)->sin6_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in *)copy)->sin_port = htons((uint16_t)port);
  a->lens[a->count++] = len;
}

bool pop3_addresses_literal(pop3_addresses_t *a, const char *host, int port) {
  struct sockaddr_in in4 = {.sin_family = AF_INET};
  struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
  if (inet_pton(AF_INET, host, &in4.sin_addr) == 1)
    pop3_addresses_add(a, (struct sockaddr *)&in4, sizeof(in4), port);
  else if (inet_pton(AF_INET6, host, &in6.sin6_addr) == 1)
    pop3_addresses_add(a, (struct sockaddr *)&in6, sizeof(in6), port);
  return a->count > 0;
}

void pop3_address_format(const struct sockaddr *sa, char *buf, size_t size) {
  char ip[INET6_ADDRSTRLEN] = "?";
  if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
    snprintf(buf, size, "[%s]:%d", ip, ntohs(in6->sin6_port));
  } else {
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)sa;
    inet_ntop(AF_INET, &in4->sin_addr, ip, sizeof(ip));
    snprintf(buf, size, "%s:%d", ip, ntohs(in4->sin_port));
  }
}

/* --- c-ares ----------------------------------------------------------------- */

struct pop3_resolver {
  ares_channel channel;
  pop3_resolver_watch_cb watch;
  void *watch_arg;
};

/* One question in flight. */
typedef struct {
  int port;
  pop3_resolved_cb done;
  void *owner;
  unsigned generation;
} question_t;

/* c-ares is initialised once per process, whatever the number of
 * resolvers. */
static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;
static void init_library(void) {
  library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static void socket_state(void *data, ares_socket_t fd, int readable,
                         int writable) {
  pop3_resolver_t *r = data;
  r->watch(r->watch_arg, (int)fd, readable != 0, writable != 0);
}

pop3_resolver_t *pop3_resolver_new(pop3_resolver_watch_cb watch, void *arg,
                                   char *err, size_t err_size) {
  pthread_once(&library_once, init_library);
  pop3_resolver_t *r = calloc(1, sizeof(*r));
  if (r == NULL) {
    snprintf(err, err_size, "out of memory");
    return NULL;
  }
  *r = (pop3_resolver_t){.watch = watch, .watch_arg = arg};
  struct ares_options opts = {.sock_state_cb = socket_state,
                              .sock_state_cb_data = r};
  int status = library_status;
  if (status == ARES_SUCCESS)
    status = ares_init_options(&r->channel, &opts, ARES_OPT_SOCK_STATE_CB);
  if (status != ARES_SUCCESS) {
    snprintf(err, err_size, "cannot start the resolver: %s",
             ares_strerror(status));
    free(r);
    return NULL;
  }
  return r;
}

void pop3_resolver_free(pop3_resolver_t *r) {
  if (r == NULL)
    return;
  ares_destroy(r->channel); /* answers open questions with EDESTRUCTION */
  free(r);
}

static void answered(void *arg, int status, int timeouts,
                     struct ares_addrinfo *res) {
  (void)timeouts;
  question_t q = *(question_t *)arg;
  free(arg);
  if (status == ARES_EDESTRUCTION) { /* the resolver is going away */
    ares_freeaddrinfo(res);
    return;
  }
  pop3_addresses_t found = {.count = 0};
  if (status == ARES_SUCCESS && res != NULL)
    for (struct ares_addrinfo_node *n = res->nodes; n != NULL; n = n->ai_next)
      pop3_addresses_add(&found, n->ai_addr, n->ai_addrlen, q.port);
  ares_freeaddrinfo(res);
  const char *failure = NULL;
  if (found.count == 0)
    failure = status == ARES_SUCCESS ? "no address" : ares_strerror(status);
  q.done(q.owner, q.generation, &found, failure);
}

int pop3_resolve(pop3_resolver_t *r, const char *host, int port,
                 pop3_resolved_cb done, void *owner, unsigned generation) {
  question_t *q = malloc(sizeof(*q));
  if (q == NULL)
    return -1;
  *q = (question_t){
      .port = port, .done = done, .owner = owner, .generation = generation};
  struct ares_addrinfo_hints hints = {.ai_family = AF_UNSPEC,
                                      .ai_socktype = SOCK_STREAM};
  ares_getaddrinfo(r->channel, host, NULL, &hints, answered, q);
  return 0;
}

void pop3_resolver_process(pop3_resolver_t *r, int fd, bool readable,
                           bool writable) {
  ares_process_fd(r->channel, readable ? fd : ARES_SOCKET_BAD,
                  writable ? fd : ARES_SOCKET_BAD);
}

void pop3_resolver_tick(pop3_resolver_t *r) {
  ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
}

double pop3_resolver_timeout(pop3_resolver_t *r) {
  struct timeval tv;
  if (ares_timeout(r->channel, NULL, &tv) == NULL)
    return HUGE_VAL;
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

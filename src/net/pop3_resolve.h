/* pop3_resolve.h: from a monitor's Host to the addresses to try, without
 * ever blocking the event loop: IP literals at once, names through c-ares,
 * whose sockets the engine watches in its own epoll set. */
#ifndef POP3_RESOLVE_H
#define POP3_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Addresses tried per collection, in the resolver's order. */
#define POP3_MAX_ADDRESSES 16

typedef struct {
  size_t count;
  socklen_t lens[POP3_MAX_ADDRESSES];
  struct sockaddr_storage addrs[POP3_MAX_ADDRESSES];
} pop3_addresses_t;

/* Appends sa with port, when there is room (further ones are dropped). */
void pop3_addresses_add(pop3_addresses_t *a, const struct sockaddr *sa,
                        socklen_t len, int port);
/* When host is an IPv4 or IPv6 literal, appends it with port: true. */
bool pop3_addresses_literal(pop3_addresses_t *a, const char *host, int port);
/* "192.0.2.1:110", "[2001:db8::1]:995" */
void pop3_address_format(const struct sockaddr *sa, char *buf, size_t size);

typedef struct pop3_resolver pop3_resolver_t;

/* The resolver's socket fd now needs watching for reading and/or writing
 * (neither: stop watching it). The event loop hands readiness back through
 * pop3_resolver_process(). */
typedef void (*pop3_resolver_watch_cb)(void *arg, int fd, bool readable,
                                       bool writable);

/* The answer to pop3_resolve(): the addresses found, port set, or none and
 * the reason in failure. owner and generation come back as given: the
 * asker compares the generation with its own to tell a late answer, one it
 * stopped waiting for, from the current one. */
typedef void (*pop3_resolved_cb)(void *owner, unsigned generation,
                                 const pop3_addresses_t *found,
                                 const char *failure);

/* NULL on failure, with the reason in err. */
pop3_resolver_t *pop3_resolver_new(pop3_resolver_watch_cb watch, void *arg,
                                   char *err, size_t err_size);
/* Drops the questions still open: their callbacks are never called. */
void pop3_resolver_free(pop3_resolver_t *r);

/* Asks for host's addresses (IPv4 and IPv6). done may be called before
 * this returns (from /etc/hosts, say), else from pop3_resolver_process() or
 * pop3_resolver_tick(). -1 when out of memory (done is never called). */
int pop3_resolve(pop3_resolver_t *r, const char *host, int port,
                 pop3_resolved_cb done, void *owner, unsigned generation);

/* One of the resolver's sockets is ready. */
void pop3_resolver_process(pop3_resolver_t *r, int fd, bool readable,
                           bool writable);
/* Lets the resolver notice its own timeouts (retries, giving up). */
void pop3_resolver_tick(pop3_resolver_t *r);
/* Seconds until the resolver needs a tick; HUGE_VAL when it waits for
 * nothing. */
double pop3_resolver_timeout(pop3_resolver_t *r);

#endif

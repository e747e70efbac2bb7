/* delayq.c: the benchmark's latency emulator. This kernel has no netem, so
 * an iptables NFQUEUE rule hands every packet arriving on a veth to this
 * program, which holds it for a fixed delay and then accepts it. Holding
 * on the receiving side delays the TCP handshake too and adds no stall to
 * back-to-back writes; a constant delay keeps the packets in order.
 *
 *   delayq -q QUEUE -d MILLISECONDS
 *
 * Prints "ready" on stdout once the queue is bound (the rule uses
 * --queue-bypass, so packets pass undelayed until then); exits on SIGTERM
 * or SIGINT. Only packet metadata is copied to user space. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libnetfilter_queue/libnetfilter_queue.h>

#define RING_SIZE (1u << 18) /* packets held at once, at most */

typedef struct {
  uint32_t id;
  int64_t due_ns;
} held_t;

static held_t ring[RING_SIZE];
static size_t head, count;
static int64_t delay_ns;
static unsigned long long packets, overflows;
static volatile sig_atomic_t stop;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_signal(int sig) {
  (void)sig;
  stop = 1;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
                     struct nfq_data *nfa, void *data) {
  (void)msg;
  (void)data;
  struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
  if (ph == NULL)
    return 0;
  uint32_t id = ntohl(ph->packet_id);
  packets++;
  if (count == RING_SIZE) { /* never expected: accept at once, count it */
    overflows++;
    return nfq_set_verdict(qh, id, NF_ACCEPT, 0, NULL);
  }
  ring[(head + count) % RING_SIZE] = (held_t){id, now_ns() + delay_ns};
  count++;
  return 0;
}

static void release_due(struct nfq_q_handle *qh, int64_t now) {
  while (count > 0 && ring[head].due_ns <= now) {
    nfq_set_verdict(qh, ring[head].id, NF_ACCEPT, 0, NULL);
    head = (head + 1) % RING_SIZE;
    count--;
  }
}

int main(int argc, char **argv) {
  int queue = 0, opt;
  double delay_ms = -1;
  while ((opt = getopt(argc, argv, "q:d:")) != -1) {
    if (opt == 'q')
      queue = atoi(optarg);
    else if (opt == 'd')
      delay_ms = atof(optarg);
    else
      break;
  }
  if (delay_ms < 0 || queue < 0 || queue > 65535) {
    fprintf(stderr, "usage: delayq -q QUEUE -d MILLISECONDS\n");
    return 2;
  }
  delay_ns = (int64_t)(delay_ms * 1e6);
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* wake within a microsecond */

  struct nfq_handle *h = nfq_open();
  if (h == NULL) {
    perror("delayq: nfq_open");
    return 1;
  }
  nfq_unbind_pf(h, AF_INET); /* harmless errors on recent kernels */
  nfq_bind_pf(h, AF_INET);
  struct nfq_q_handle *qh = nfq_create_queue(h, (uint16_t)queue, on_packet, NULL);
  if (qh == NULL) {
    fprintf(stderr, "delayq: cannot bind queue %d (is nfnetlink_queue "
                    "available, or the queue taken?)\n", queue);
    nfq_close(h);
    return 1;
  }
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) {
    fprintf(stderr, "delayq: cannot set copy mode\n");
    return 1;
  }
  nfq_set_queue_maxlen(qh, RING_SIZE);
  /* whole GSO packets, no segmentation for our sake */
  nfq_set_queue_flags(qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO);
  int fd = nfq_fd(h);
  int on = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &on, sizeof on);
  nfnl_rcvbufsiz(nfq_nfnlh(h), 8 << 20);

  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  printf("ready\n");
  fflush(stdout);

  static char buf[65536] __attribute__((aligned));
  while (!stop) {
    int64_t now = now_ns();
    release_due(qh, now);
    struct timespec ts, *tp = NULL;
    if (count > 0) {
      int64_t wait = ring[head].due_ns - now;
      if (wait < 0)
        wait = 0;
      ts.tv_sec = wait / 1000000000;
      ts.tv_nsec = wait % 1000000000;
      tp = &ts;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int n = ppoll(&p, 1, tp, NULL);
    if (n < 0 && errno != EINTR)
      break;
    if (n > 0) {
      for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r <= 0)
          break;
        nfq_handle_packet(h, buf, (int)r);
      }
    }
  }
  release_due(qh, INT64_MAX); /* do not leave packets hanging */
  fprintf(stderr, "delayq: queue %d: %llu packets delayed %.1f ms, %llu "
                  "overflows\n", queue, packets, delay_ms, overflows);
  nfq_destroy_queue(qh);
  nfq_close(h);
  return 0;
}

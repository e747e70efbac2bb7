/* pop3_timers.c: the timer heap (see pop3_timers.h). */
#include "pop3_timers.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static void swap(pop3_timers_t *h, size_t a, size_t b) {
  pop3_timer_t *t = h->heap[a];
  h->heap[a] = h->heap[b];
  h->heap[b] = t;
  h->heap[a]->index = a;
  h->heap[b]->index = b;
}

static void sift_up(pop3_timers_t *h, size_t i) {
  while (i > 0 && h->heap[(i - 1) / 2]->at > h->heap[i]->at) {
    swap(h, i, (i - 1) / 2);
    i = (i - 1) / 2;
  }
}

static void sift_down(pop3_timers_t *h, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->num && h->heap[l]->at < h->heap[m]->at)
      m = l;
    if (r < h->num && h->heap[r]->at < h->heap[m]->at)
      m = r;
    if (m == i)
      return;
    swap(h, i, m);
    i = m;
  }
}

static void take_out(pop3_timers_t *h, pop3_timer_t *timer) {
  size_t i = timer->index;
  if (i == SIZE_MAX)
    return;
  h->num--;
  if (i != h->num) {
    /* the last timer fills the hole, then finds its place either way */
    h->heap[i] = h->heap[h->num];
    h->heap[i]->index = i;
    sift_down(h, i);
    sift_up(h, i);
  }
  timer->index = SIZE_MAX;
}

void pop3_timers_set(pop3_timers_t *h, pop3_timer_t *timer, double at) {
  take_out(h, timer);
  timer->at = at;
  if (at == HUGE_VAL)
    return;
  timer->index = h->num;
  h->heap[h->num++] = timer;
  sift_up(h, timer->index);
}

int pop3_timers_reserve(pop3_timers_t *h, size_t n) {
  if (n <= h->room)
    return 0;
  pop3_timer_t **heap = realloc(h->heap, n * sizeof(*heap));
  if (heap == NULL)
    return -1;
  h->heap = heap;
  h->room = n;
  return 0;
}

void pop3_timers_free(pop3_timers_t *h) {
  free(h->heap);
  *h = (pop3_timers_t){0};
}

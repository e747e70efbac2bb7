/* pop3_timers.h: one-shot timers in a binary heap, earliest first. The
 * heap holds pointers to timers embedded in the caller's own objects, each
 * knowing its place in the heap, so that moving or cancelling one costs
 * O(log n) and nothing is allocated while the timers run. */
#ifndef POP3_TIMERS_H
#define POP3_TIMERS_H

#include <math.h>   /* HUGE_VAL */
#include <stddef.h>
#include <stdint.h> /* SIZE_MAX */

typedef struct {
  double at;    /* when it fires; HUGE_VAL when it is not set */
  size_t index; /* its place in the heap; SIZE_MAX when not in it */
} pop3_timer_t;

typedef struct {
  pop3_timer_t **heap;
  size_t num, room;
} pop3_timers_t;

#define POP3_TIMER_UNSET ((pop3_timer_t){.at = HUGE_VAL, .index = SIZE_MAX})

/* Room for n timers at once (pop3_timers_set never allocates): 0, or -1
 * when out of memory (the heap is unchanged then). */
int pop3_timers_reserve(pop3_timers_t *h, size_t n);
void pop3_timers_free(pop3_timers_t *h);

/* Sets (or moves) timer to fire at `at`; HUGE_VAL cancels it. */
void pop3_timers_set(pop3_timers_t *h, pop3_timer_t *timer, double at);

/* The timer due first, or NULL when none is set. */
static inline pop3_timer_t *pop3_timers_first(const pop3_timers_t *h) {
  return h->num > 0 ? h->heap[0] : NULL;
}

#endif

/* pop3_queue.h: the engine's door to other threads. They queue collections
 * and ask the loop to stop; they learn how many collections are queued or
 * in flight, and may wait until none is. One lock guards all of it, and an
 * eventfd wakes the loop whenever something was handed over. The loop's
 * own state needs no lock: only the loop thread touches it. */
#ifndef POP3_QUEUE_H
#define POP3_QUEUE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/* What to do with a job still waiting for its start time. */
typedef enum {
  POP3_JOB_WAIT = 0, /* start at start_at */
  POP3_JOB_NOW,      /* start now */
  POP3_JOB_DROP,     /* never start: done */
} pop3_job_early_t;

/* One collection to start, embedded in its target. */
typedef struct pop3_job {
  bool in_flight;  /* queued, or taken and not yet done */
  bool queued;     /* not taken yet */
  double start_at; /* monotonic */
  pop3_job_early_t early;
  bool early_news; /* `early` changed, and the loop has not seen it */
  struct pop3_job *next;
} pop3_job_t;

typedef struct {
  int wakefd; /* readable while something waits for the loop */
  pthread_mutex_t lock;
  pthread_cond_t idle;
  pop3_job_t *queued; /* newest first */
  size_t busy;        /* jobs in flight */
  bool stop;
  bool early_news;    /* some job's `early` changed */
} pop3_queue_t;

/* 0, or -1 with the reason in err. */
int pop3_queue_init(pop3_queue_t *q, char *err, size_t err_size);
void pop3_queue_destroy(pop3_queue_t *q);

/* Any thread: queues job to start in delay seconds and wakes the loop. -1
 * when it is still in flight (nothing is queued then). */
int pop3_queue_submit(pop3_queue_t *q, pop3_job_t *job, double delay);
/* Any thread: if job is still waiting for its start time, it starts now
 * (start) or never; a later submission waits again. */
void pop3_queue_expedite(pop3_queue_t *q, pop3_job_t *job, bool start);
/* Any thread: the loop's next pop3_queue_stop_asked() says true. */
void pop3_queue_stop(pop3_queue_t *q);
/* Any thread: until nothing is in flight, or the monotonic deadline (then
 * false). */
bool pop3_queue_wait_idle(pop3_queue_t *q, double deadline);
size_t pop3_queue_busy(pop3_queue_t *q);

/* The loop: takes the jobs queued since last time (newest first) and
 * drains the wake-up. Those expedited meanwhile start now, or are done
 * and left out. */
pop3_job_t *pop3_queue_take(pop3_queue_t *q);
/* The loop: job is over; it may be submitted again. */
void pop3_queue_done(pop3_queue_t *q, pop3_job_t *job);
/* The loop: whether stopping was asked since last time. */
bool pop3_queue_stop_asked(pop3_queue_t *q);
/* The loop: whether a job was expedited since last time; then, for each job
 * it has taken, what it was asked (once; POP3_JOB_WAIT: nothing new; a job
 * not taken yet is expedited by pop3_queue_take). */
bool pop3_queue_early_asked(pop3_queue_t *q);
pop3_job_early_t pop3_queue_early(pop3_queue_t *q, pop3_job_t *job);

#endif

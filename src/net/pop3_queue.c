/* pop3_queue.c: the engine's door to other threads (see pop3_queue.h). */
#include "pop3_queue.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "pop3_time.h"

int pop3_queue_init(pop3_queue_t *q, char *err, size_t err_size) {
  *q = (pop3_queue_t){.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)};
  if (q->wakefd < 0) {
    snprintf(err, err_size, "cannot create the event loop: %s",
             strerror(errno));
    return -1;
  }
  pthread_mutex_init(&q->lock, NULL);
  /* deadlines are monotonic, like every clock of the engine */
  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_init(&q->idle, &attr);
  pthread_condattr_destroy(&attr);
  return 0;
}

void pop3_queue_destroy(pop3_queue_t *q) {
  close(q->wakefd);
  pthread_mutex_destroy(&q->lock);
  pthread_cond_destroy(&q->idle);
}

static void wake(pop3_queue_t *q) {
  uint64_t one = 1;
  if (write(q->wakefd, &one, sizeof(one)) < 0) {
    /* the counter is already non-zero: the loop wakes anyway */
  }
}

int pop3_queue_submit(pop3_queue_t *q, pop3_job_t *job, double delay) {
  pthread_mutex_lock(&q->lock);
  if (job->in_flight) {
    pthread_mutex_unlock(&q->lock);
    return -1;
  }
  job->in_flight = job->queued = true;
  job->start_at = pop3_now() + (delay > 0 ? delay : 0);
  job->early = POP3_JOB_WAIT;
  job->early_news = false;
  job->next = q->queued;
  q->queued = job;
  q->busy++;
  pthread_mutex_unlock(&q->lock);
  wake(q);
  return 0;
}

void pop3_queue_stop(pop3_queue_t *q) {
  pthread_mutex_lock(&q->lock);
  q->stop = true;
  pthread_mutex_unlock(&q->lock);
  wake(q);
}

void pop3_queue_expedite(pop3_queue_t *q, pop3_job_t *job, bool start) {
  pthread_mutex_lock(&q->lock);
  job->early = start ? POP3_JOB_NOW : POP3_JOB_DROP;
  job->early_news = q->early_news = true;
  pthread_mutex_unlock(&q->lock);
  wake(q);
}

/* Under the lock. */
static void job_done(pop3_queue_t *q, pop3_job_t *job) {
  job->in_flight = false;
  if (--q->busy == 0)
    pthread_cond_broadcast(&q->idle);
}

bool pop3_queue_wait_idle(pop3_queue_t *q, double deadline) {
  struct timespec until = {.tv_sec = (time_t)floor(deadline)};
  until.tv_nsec = (long)((deadline - floor(deadline)) * 1e9);
  pthread_mutex_lock(&q->lock);
  int rc = 0;
  while (q->busy > 0 && rc != ETIMEDOUT)
    rc = pthread_cond_timedwait(&q->idle, &q->lock, &until);
  bool idle = q->busy == 0;
  pthread_mutex_unlock(&q->lock);
  return idle;
}

size_t pop3_queue_busy(pop3_queue_t *q) {
  pthread_mutex_lock(&q->lock);
  size_t busy = q->busy;
  pthread_mutex_unlock(&q->lock);
  return busy;
}

pop3_job_t *pop3_queue_take(pop3_queue_t *q) {
  pthread_mutex_lock(&q->lock);
  pop3_job_t *list = NULL, **tail = &list, *next;
  for (pop3_job_t *job = q->queued; job != NULL; job = next) {
    next = job->next;
    job->queued = false;
    pop3_job_early_t early = job->early_news ? job->early : POP3_JOB_WAIT;
    job->early_news = false;
    if (early == POP3_JOB_DROP) {
      job_done(q, job);
      continue;
    }
    if (early == POP3_JOB_NOW)
      job->start_at = pop3_now();
    job->next = NULL; /* the order is kept: newest first */
    *tail = job;
    tail = &job->next;
  }
  q->queued = NULL;
  uint64_t drained;
  if (read(q->wakefd, &drained, sizeof(drained)) < 0) {
    /* nothing to drain */
  }
  pthread_mutex_unlock(&q->lock);
  return list;
}

void pop3_queue_done(pop3_queue_t *q, pop3_job_t *job) {
  pthread_mutex_lock(&q->lock);
  job_done(q, job);
  pthread_mutex_unlock(&q->lock);
}

bool pop3_queue_stop_asked(pop3_queue_t *q) {
  pthread_mutex_lock(&q->lock);
  bool stop = q->stop;
  q->stop = false;
  pthread_mutex_unlock(&q->lock);
  return stop;
}

bool pop3_queue_early_asked(pop3_queue_t *q) {
  pthread_mutex_lock(&q->lock);
  bool news = q->early_news;
  q->early_news = false;
  pthread_mutex_unlock(&q->lock);
  return news;
}

pop3_job_early_t pop3_queue_early(pop3_queue_t *q, pop3_job_t *job) {
  pthread_mutex_lock(&q->lock);
  pop3_job_early_t early = POP3_JOB_WAIT;
  if (job->early_news && !job->queued) {
    early = job->early;
    job->early_news = false;
  }
  pthread_mutex_unlock(&q->lock);
  return early;
}

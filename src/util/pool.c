/* Caller-participating thread pool (pool.h).
 *
 * A job is published as a 64-bit claim word: generation (high 32 bits) and next chunk index
 * (low 32 bits), then announced to idle workers by storing its generation in `pub`. Threads
 * claim a chunk with a compare-and-swap of the claim word, so a claim succeeds only while the
 * word still names the job whose fn/ctx the thread read: a worker that read a job and then
 * stalled can never run a chunk of a later job with the earlier job's function (its CAS fails
 * because the generation changed). Once every chunk completed, the caller closes the job
 * (generation + 1, index PTQ_POOL_CLOSED) before it returns, so that a stale read of the next
 * job's chunk count can never let a claim of the finished job through either; the job's
 * fields are written only while the word is closed (seqlock-style fences in publish and
 * run_chunks). The caller counts completed chunks (its own and the workers'), not threads: it
 * never waits for a worker that claimed nothing.
 *
 * Idle workers poll `pub` for PTQ_POOL_SPIN_US, then sleep on a futex word (wake_seq) after
 * announcing themselves in `sleepers`; the caller bumps wake_seq and wakes only when
 * sleepers > 0. Both sides use sequentially consistent operations on (sleepers, pub), so
 * either the sleeper sees the new job or the caller sees the sleeper. */
#define _GNU_SOURCE
#include "util/pool.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "util/util.h"

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#define PTQ_POOL_FUTEX 1
#else
#define PTQ_POOL_FUTEX 0
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PTQ_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define PTQ_PAUSE() __asm__ __volatile__("yield")
#else
#define PTQ_PAUSE() ((void)0)
#endif

/* How long an idle worker polls for the next job before it sleeps, in microseconds (the
 * PTQ_POOL_SPIN_US environment variable overrides it, for tuning): PTQ_POOL_SPIN_PAUSE_US of
 * pause-polling, then polling with sched_yield. Batch-1 inference runs its parallel kernels a
 * few to a few hundred microseconds apart, and a futex wake-up costs the caller some 6 us on a
 * KVM guest (plus the sleeper's late start), so the worker keeps polling for a while: measured
 * on MobileNetV2 int8 at batch 1 on 2 vCPUs, 200 us beats 50 us by 5-10% and longer spins
 * gain nothing. The yielding phase matters when the worker shares its core with the caller or
 * another busy thread: pause-polling there for 200 us made batch 32 25% slower. */
#define PTQ_POOL_SPIN_US 200
#define PTQ_POOL_SPIN_PAUSE_US 20
/* How long the caller polls for the workers' last chunks before it yields its core. */
#define PTQ_POOL_WAIT_SPIN_US 20
#define PTQ_POOL_MAX_WORKERS 255
#define PTQ_POOL_CLOSED UINT32_MAX /* index of a closed claim word */

/* The words written by different parties live on different cache lines: idle workers poll
 * `pub` (written once per job), so the caller's claims on `claim` do not bounce a line that
 * every spinning worker reads (on a VM that costs some 0.3 us per claim). */
static struct {
  _Alignas(64) _Atomic uint32_t pub;   /* generation of the latest published job */
  _Alignas(64) _Atomic uint64_t claim; /* generation << 32 | next chunk index */
  _Alignas(64) _Atomic int64_t done;   /* chunks completed by workers in the current job */
  _Alignas(64) _Atomic(ptq_pfor_fn) fn;
  _Atomic(void *) ctx;
  _Atomic int64_t n, chunk, nchunks;
  _Alignas(64) _Atomic uint32_t wake_seq;
  _Atomic int sleepers;
  _Atomic int quit;
  _Atomic int busy; /* 1 while an application thread owns the pool (runs or changes it) */
  _Atomic int nworkers;
  pthread_t threads[PTQ_POOL_MAX_WORKERS];
  int spin_us; /* -1 until read */
} g_pool = {.spin_us = -1};

static _Thread_local int tls_in_pool; /* a worker, or a caller inside its job */
static _Thread_local int tls_serial;  /* ptq_pool_serial */

void ptq_pool_serial(int on) {
  tls_serial = on != 0;
}

static inline uint32_t gen_of(uint64_t w) {
  return (uint32_t)(w >> 32);
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t val) {
#if PTQ_POOL_FUTEX
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
  (void)addr;
  (void)val;
  struct timespec ts = {0, 200000};
  nanosleep(&ts, NULL);
#endif
}

static void futex_wake_all(_Atomic uint32_t *addr) {
#if PTQ_POOL_FUTEX
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
  (void)addr;
#endif
}

/* Claims and runs chunks of the job named by w (a value of the claim word) until none is left
 * or the word names another job. Returns the number of chunks run. */
static int64_t run_chunks(uint64_t w, int thread) {
  const uint32_t g = gen_of(w);
  int64_t ran = 0;
  for (;;) {
    const ptq_pfor_fn fn = atomic_load_explicit(&g_pool.fn, memory_order_relaxed);
    void *ctx = atomic_load_explicit(&g_pool.ctx, memory_order_relaxed);
    const int64_t n = atomic_load_explicit(&g_pool.n, memory_order_relaxed);
    const int64_t chunk = atomic_load_explicit(&g_pool.chunk, memory_order_relaxed);
    const int64_t nchunks = atomic_load_explicit(&g_pool.nchunks, memory_order_relaxed);
    const int64_t i = (int64_t)(uint32_t)w;
    if (i >= nchunks) return ran;
    /* Pairs with the release fence of publish: had these loads seen a later job's fields,
     * the claim word's close (before them) would make the CAS fail. */
    atomic_thread_fence(memory_order_acquire);
    if (atomic_compare_exchange_weak_explicit(&g_pool.claim, &w, w + 1, memory_order_acq_rel,
                                              memory_order_acquire)) {
      const int64_t b = i * chunk, e = n - b < chunk ? n : b + chunk;
      fn(ctx, b, e, thread);
      ran++;
      if (thread != 0) atomic_fetch_add_explicit(&g_pool.done, 1, memory_order_release);
      w = w + 1;
    }
    if (gen_of(w) != g) return ran;
  }
}

/* Waits until a job of a generation other than seen is published; returns its generation. */
static uint32_t wait_job(uint32_t seen, int64_t spin_ns) {
  uint32_t g = atomic_load_explicit(&g_pool.pub, memory_order_acquire);
  if (g != seen) return g;
  if (spin_ns > 0) {
    /* Pause-polling first; past PTQ_POOL_SPIN_PAUSE_US each poll also yields the core, so that
     * a worker sharing its core with the caller (or with another busy thread) does not hold it
     * for a whole time slice. */
    const int64_t start = now_ns(), end = start + spin_ns;
    const int64_t pure = start + (int64_t)PTQ_POOL_SPIN_PAUSE_US * 1000;
    int yield = 0;
    for (unsigned it = 1;; it++) {
      if (yield)
        sched_yield();
      else
        PTQ_PAUSE();
      g = atomic_load_explicit(&g_pool.pub, memory_order_acquire);
      if (g != seen) return g;
      if (yield || (it & 31) == 0) {
        const int64_t t = now_ns();
        if (t >= end) break;
        yield = t >= pure;
      }
    }
  }
  for (;;) {
    const uint32_t seq = atomic_load(&g_pool.wake_seq);
    atomic_fetch_add(&g_pool.sleepers, 1);
    g = atomic_load(&g_pool.pub);
    if (g == seen) futex_wait(&g_pool.wake_seq, seq);
    atomic_fetch_sub(&g_pool.sleepers, 1);
    g = atomic_load_explicit(&g_pool.pub, memory_order_acquire);
    if (g != seen) return g;
  }
}

struct worker_start {
  int id;
  uint32_t gen;
};

static void *worker_main(void *arg) {
  struct worker_start *s = arg;
  const int id = s->id;
  uint32_t seen = s->gen;
  free(s);
  tls_in_pool = 1;
  const int64_t spin_ns = (int64_t)g_pool.spin_us * 1000;
  for (;;) {
    seen = wait_job(seen, spin_ns);
    if (atomic_load_explicit(&g_pool.quit, memory_order_acquire)) return NULL;
    run_chunks(atomic_load_explicit(&g_pool.claim, memory_order_acquire), id);
  }
}

/* Publishes a job of nchunks chunks (fields first, then the claim word) and wakes sleepers. */
static uint32_t publish(ptq_pfor_fn fn, void *ctx, int64_t n, int64_t chunk, int64_t nchunks) {
  atomic_thread_fence(memory_order_release); /* see run_chunks */
  atomic_store_explicit(&g_pool.fn, fn, memory_order_relaxed);
  atomic_store_explicit(&g_pool.ctx, ctx, memory_order_relaxed);
  atomic_store_explicit(&g_pool.n, n, memory_order_relaxed);
  atomic_store_explicit(&g_pool.chunk, chunk, memory_order_relaxed);
  atomic_store_explicit(&g_pool.nchunks, nchunks, memory_order_relaxed);
  atomic_store_explicit(&g_pool.done, 0, memory_order_relaxed);
  const uint32_t g = gen_of(atomic_load_explicit(&g_pool.claim, memory_order_relaxed)) + 1;
  atomic_store_explicit(&g_pool.claim, (uint64_t)g << 32, memory_order_release);
  atomic_store(&g_pool.pub, g);
  if (atomic_load(&g_pool.sleepers) > 0) {
    atomic_fetch_add(&g_pool.wake_seq, 1);
    futex_wake_all(&g_pool.wake_seq);
  }
  return g;
}

/* Closes the job of generation g once it completed: claims of it fail from now on, even those
 * whose index a stale read of the next job's nchunks would let through. */
static void close_job(uint32_t g) {
  atomic_store(&g_pool.claim, (uint64_t)(g + 1) << 32 | PTQ_POOL_CLOSED);
}

/* With the pool owned: stops and joins every worker. */
static void stop_workers(void) {
  const int nw = atomic_load_explicit(&g_pool.nworkers, memory_order_relaxed);
  if (nw == 0) return;
  atomic_store_explicit(&g_pool.quit, 1, memory_order_relaxed);
  publish(NULL, NULL, 0, 1, 0); /* not closed: the workers must see it */
  for (int i = 0; i < nw; i++) pthread_join(g_pool.threads[i], NULL);
  atomic_store_explicit(&g_pool.quit, 0, memory_order_relaxed);
  atomic_store_explicit(&g_pool.nworkers, 0, memory_order_relaxed);
}

/* With the pool owned: makes exactly want workers run. Returns the number running. */
static int ensure_workers(int want) {
  if (want > PTQ_POOL_MAX_WORKERS) want = PTQ_POOL_MAX_WORKERS;
  if (atomic_load_explicit(&g_pool.nworkers, memory_order_relaxed) == want) return want;
  stop_workers();
  if (g_pool.spin_us < 0) {
    const char *e = getenv("PTQ_POOL_SPIN_US");
    g_pool.spin_us = e && *e ? atoi(e) : PTQ_POOL_SPIN_US;
    if (g_pool.spin_us < 0) g_pool.spin_us = 0;
  }
  const uint32_t g = atomic_load_explicit(&g_pool.pub, memory_order_relaxed);
  int nw = 0;
  for (; nw < want; nw++) {
    struct worker_start *s = malloc(sizeof *s);
    if (!s) break;
    s->id = nw + 1;
    s->gen = g;
    if (pthread_create(&g_pool.threads[nw], NULL, worker_main, s) != 0) {
      free(s);
      break;
    }
  }
  atomic_store_explicit(&g_pool.nworkers, nw, memory_order_relaxed);
  return nw;
}

static int try_own(void) {
  int expect = 0;
  return atomic_compare_exchange_strong_explicit(&g_pool.busy, &expect, 1, memory_order_acquire,
                                                 memory_order_relaxed);
}

static void release(void) {
  atomic_store_explicit(&g_pool.busy, 0, memory_order_release);
}

void ptq_parallel_for(int64_t n, int64_t chunk, ptq_pfor_fn fn, void *ctx) {
  if (n <= 0) return;
  if (chunk < 1) chunk = 1;
  if ((n - 1) / chunk + 1 > (INT64_C(1) << 30)) chunk = (n - 1) / (INT64_C(1) << 30) + 1;
  const int64_t nchunks = (n - 1) / chunk + 1;
  const int threads = ptq_threads();
  if (threads <= 1 || nchunks <= 1 || tls_in_pool || tls_serial || !try_own()) {
    fn(ctx, 0, n, 0);
    return;
  }
  if (ensure_workers(threads - 1) == 0) {
    release();
    fn(ctx, 0, n, 0);
    return;
  }
  tls_in_pool = 1;
  const uint32_t g = publish(fn, ctx, n, chunk, nchunks);
  const int64_t own = run_chunks((uint64_t)g << 32, 0);
  if (atomic_load_explicit(&g_pool.done, memory_order_acquire) + own < nchunks) {
    const int64_t end = now_ns() + (int64_t)PTQ_POOL_WAIT_SPIN_US * 1000;
    int yield = 0;
    for (unsigned it = 1; atomic_load_explicit(&g_pool.done, memory_order_acquire) + own < nchunks;
         it++) {
      if (yield)
        sched_yield();
      else
        PTQ_PAUSE();
      if (!yield && (it & 31) == 0 && now_ns() >= end) yield = 1;
    }
  }
  close_job(g);
  tls_in_pool = 0;
  release();
}

void ptq_pool_shutdown(void) {
  if (tls_in_pool || !try_own()) return;
  stop_workers();
  release();
}

int ptq_pool_workers(void) {
  return atomic_load_explicit(&g_pool.nworkers, memory_order_relaxed);
}

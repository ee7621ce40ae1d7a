/* A small thread pool for the kernels: ptq_parallel_for runs a loop over [0, n) in chunks on the
 * calling thread and ptq_threads() - 1 worker threads (pthreads, created on first use and
 * re-created when the thread count changes).
 *
 * The calling thread claims chunks itself, like the workers, from one shared counter, and the
 * call returns as soon as every chunk has completed: there is no arrival barrier, so a worker
 * that wakes late (descheduled on a shared core) finds nothing left and costs the caller
 * nothing. Workers spin for a short while after a job (PTQ_POOL_SPIN_US) and then sleep on a
 * futex; the caller wakes them only when some sleep.
 *
 * The call runs fn inline, once over [0, n) with thread 0, when there is one thread or one
 * chunk, when it comes from a worker or from inside another ptq_parallel_for (nested), or when
 * another application thread holds the pool: any thread may call it at any time. */
#ifndef PTQ_POOL_H
#define PTQ_POOL_H

#include <stdint.h>

/* Runs the sub-range [begin, end) of the loop on thread `thread`. Ranges never overlap, cover
 * [0, n) exactly once, and are one chunk each (except the single inline call). `thread` is in
 * [0, ptq_threads()) and no two ranges of one call run at once on the same `thread`, so fn may
 * use per-thread scratch indexed by it. Results must not depend on which thread runs which
 * range. */
typedef void (*ptq_pfor_fn)(void *ctx, int64_t begin, int64_t end, int thread);

/* Runs fn over [0, n) in chunks of `chunk` indices (the last one shorter; chunk < 1 means 1)
 * and returns once every chunk has completed. n <= 0 calls nothing. */
void ptq_parallel_for(int64_t n, int64_t chunk, ptq_pfor_fn fn, void *ctx);

/* While on (per calling thread), this thread's ptq_parallel_for calls run inline: for callers
 * that already keep every core busy with their own threads (one image per thread). */
void ptq_pool_serial(int on);

/* Stops and joins the workers (they are re-created by the next parallel call). Does nothing
 * while another thread runs a job. For tests and leak checkers; never needed otherwise. */
void ptq_pool_shutdown(void);

/* Number of worker threads currently alive (tests). */
int ptq_pool_workers(void);

#endif

/* Thread pool (src/util/pool.c): every index runs exactly once, thread ids are valid and never
 * shared by two running ranges, nested calls and calls from several threads at once run, and
 * no range of a finished job runs late (ABA of the claim word). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "ptq/ptq.h"
#include "util/pool.h"
#include "util/util.h"

#define MAX_T 8

static _Atomic int g_errors;

typedef struct job {
  int64_t n, chunk;
  _Atomic int *hits;
  _Atomic int live;
  _Atomic int thread_busy[MAX_T];
  int nested; /* run an inner parallel_for over each range */
} job;

static void count_fn(void *ctx, int64_t b, int64_t e, int thread) {
  job *j = ctx;
  if (!atomic_load(&j->live)) atomic_fetch_add(&g_errors, 1);
  if (thread < 0 || thread >= MAX_T || thread >= ptq_threads() || b < 0 || e > j->n || b >= e) {
    atomic_fetch_add(&g_errors, 1);
    return;
  }
  if (atomic_exchange(&j->thread_busy[thread], 1) != 0) atomic_fetch_add(&g_errors, 1);
  if (e - b > j->chunk && !(b == 0 && e == j->n)) atomic_fetch_add(&g_errors, 1);
  for (int64_t i = b; i < e; i++) atomic_fetch_add(&j->hits[i], 1);
  atomic_store(&j->thread_busy[thread], 0);
}

static void inner_fn(void *ctx, int64_t b, int64_t e, int thread) {
  _Atomic int *hits = ctx;
  for (int64_t i = b; i < e; i++) atomic_fetch_add(&hits[i], 1);
}

static void nested_fn(void *ctx, int64_t b, int64_t e, int thread) {
  job *j = ctx;
  /* Each outer index i owns inner counters [i*4, i*4 + 4). */
  for (int64_t i = b; i < e; i++) ptq_parallel_for(4, 1, inner_fn, j->hits + i * 4);
}

/* Runs one job and checks that every index was hit exactly `want` times. */
static int run_job(int64_t n, int64_t chunk, int nested) {
  const int64_t cells = nested ? n * 4 : n;
  job *j = calloc(1, sizeof *j);
  _Atomic int *hits = calloc((size_t)(cells > 0 ? cells : 1), sizeof *hits);
  if (!j || !hits) abort();
  j->n = n;
  j->chunk = chunk < 1 ? 1 : chunk;
  j->hits = hits;
  atomic_store(&j->live, 1);
  ptq_parallel_for(n, chunk, nested ? nested_fn : count_fn, j);
  atomic_store(&j->live, 0);
  int bad = 0;
  for (int64_t i = 0; i < cells; i++) bad += atomic_load(&hits[i]) != 1;
  free(hits);
  free(j);
  return bad;
}

static void test_coverage(void **state) {
  static const int64_t ns[] = {0, 1, 2, 3, 7, 8, 63, 64, 65, 1000, 4097};
  static const int64_t chunks[] = {0, 1, 2, 3, 8, 100, 5000};
  for (int t = 1; t <= 4; t++) {
    ptq_set_threads(t);
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
      for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++)
        for (int rep = 0; rep < 3; rep++) {
          if (run_job(ns[a], chunks[c], 0))
            fail_msg("n %lld chunk %lld threads %d", (long long)ns[a], (long long)chunks[c], t);
        }
  }
  assert_int_equal(atomic_load(&g_errors), 0);
  ptq_set_threads(0);
}

static void test_nested(void **state) {
  for (int t = 1; t <= 3; t++) {
    ptq_set_threads(t);
    for (int rep = 0; rep < 50; rep++) assert_int_equal(run_job(37, 2, 1), 0);
  }
  assert_int_equal(atomic_load(&g_errors), 0);
  ptq_set_threads(0);
}

static void *app_thread(void *arg) {
  intptr_t bad = 0;
  for (int rep = 0; rep < 2000; rep++) bad += run_job(1 + rep % 97, 1 + rep % 5, rep % 7 == 0);
  return (void *)bad;
}

static void test_two_app_threads(void **state) {
  ptq_set_threads(2);
  pthread_t th[2];
  for (int i = 0; i < 2; i++) assert_int_equal(pthread_create(&th[i], NULL, app_thread, NULL), 0);
  for (int i = 0; i < 2; i++) {
    void *r;
    pthread_join(th[i], &r);
    assert_int_equal((intptr_t)r, 0);
  }
  assert_int_equal(atomic_load(&g_errors), 0);
  ptq_set_threads(0);
}

/* 100k tiny jobs back to back: a worker that read job k and stalls must never run a chunk of
 * job k after it finished (live == 0) or of job k+1 with job k's context. */
static void test_back_to_back(void **state) {
  ptq_set_threads(3);
  int bad = 0;
  for (int rep = 0; rep < 100000; rep++) bad += run_job(2 + rep % 3, 1, 0);
  assert_int_equal(bad, 0);
  assert_int_equal(atomic_load(&g_errors), 0);
  ptq_set_threads(0);
}

static void test_thread_changes(void **state) {
  int bad = 0;
  for (int rep = 0; rep < 400; rep++) {
    const int t = 1 + rep % 4;
    ptq_set_threads(t);
    bad += run_job(50 + rep % 13, 1 + rep % 4, 0);
    if (t > 1) assert_int_equal(ptq_pool_workers(), t - 1);
    if (rep % 50 == 49) ptq_pool_shutdown();
  }
  assert_int_equal(bad, 0);
  assert_int_equal(atomic_load(&g_errors), 0);
  ptq_pool_shutdown();
  assert_int_equal(ptq_pool_workers(), 0);
  ptq_set_threads(0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_coverage),        cmocka_unit_test(test_nested),
      cmocka_unit_test(test_two_app_threads), cmocka_unit_test(test_back_to_back),
      cmocka_unit_test(test_thread_changes),
  };
  const int r = cmocka_run_group_tests(tests, NULL, NULL);
  ptq_pool_shutdown();
  return r;
}

/* A fixed pool of worker threads for data-parallel loops inside kernels.
 *
 *     static void rows(void *ctx, int i) { ... work item i ... }
 *     qb_pool_for(pool, n_items, rows, &ctx);   // returns when all items are done
 *
 * The calling thread takes part. No allocation per call. One qb_pool_for() at a
 * time per pool (kernels run one after the other); nested calls run inline.
 */
#ifndef QB_THREADPOOL_H
#define QB_THREADPOOL_H

struct qb_pool;

/* n_threads <= 0 means one per online CPU. Returns NULL when out of memory. */
struct qb_pool *qb_pool_new(int n_threads);
void qb_pool_free(struct qb_pool *p);
int qb_pool_size(const struct qb_pool *p);   /* 1 for a NULL pool */

typedef void (*qb_pool_fn)(void *ctx, int item);
void qb_pool_for(struct qb_pool *p, int n_items, qb_pool_fn fn, void *ctx);

#endif

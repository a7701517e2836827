/* A bump allocator that owns everything a model holds (values, nodes, names,
 * attributes, constant data) and is freed once with qb_arena_free(). */
#ifndef QB_ARENA_H
#define QB_ARENA_H

#include <stddef.h>

struct qb_arena;

struct qb_arena *qb_arena_new(void);
void qb_arena_free(struct qb_arena *a);

/* Returns zeroed memory aligned to 64 bytes, or NULL when out of memory
 * (or when size overflows). Freed with the arena. */
void *qb_arena_alloc(struct qb_arena *a, size_t size);
/* n * size with an overflow check. */
void *qb_arena_calloc(struct qb_arena *a, size_t n, size_t size);
char *qb_arena_strdup(struct qb_arena *a, const char *s);
char *qb_arena_strndup(struct qb_arena *a, const char *s, size_t n);
/* Total bytes handed out, for `info`. */
size_t qb_arena_used(const struct qb_arena *a);

#endif

#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64
#define ARENA_CHUNK ((size_t)1 << 20)

struct chunk {
    struct chunk *next;
    size_t size, used;
    unsigned char *mem;
};

struct qb_arena {
    struct chunk *head;
    size_t total;
};

struct qb_arena *qb_arena_new(void)
{
    return calloc(1, sizeof(struct qb_arena));
}

void qb_arena_free(struct qb_arena *a)
{
    if (!a)
        return;
    for (struct chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c->mem);
        free(c);
    }
    free(a);
}

static struct chunk *chunk_new(size_t size)
{
    struct chunk *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->mem = aligned_alloc(ARENA_ALIGN, size);
    if (!c->mem) {
        free(c);
        return NULL;
    }
    c->size = size;
    return c;
}

void *qb_arena_alloc(struct qb_arena *a, size_t size)
{
    struct chunk *c = a->head;
    size_t need;
    void *p;

    if (size > SIZE_MAX - 2 * ARENA_ALIGN)
        return NULL;
    need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need == 0)
        need = ARENA_ALIGN;
    if (!c || c->size - c->used < need) {
        /* big blocks get a chunk of their own, placed behind the head so the
         * head's free space is not wasted */
        size_t csize = need > ARENA_CHUNK / 4 ? need : ARENA_CHUNK;
        struct chunk *n = chunk_new(csize);
        if (!n)
            return NULL;
        if (c && csize != ARENA_CHUNK) {
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            a->head = n;
        }
        c = n;
    }
    p = c->mem + c->used;
    c->used += need;
    a->total += need;
    memset(p, 0, need);
    return p;
}

void *qb_arena_calloc(struct qb_arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return qb_arena_alloc(a, n * size);
}

char *qb_arena_strndup(struct qb_arena *a, const char *s, size_t n)
{
    char *d = qb_arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

char *qb_arena_strdup(struct qb_arena *a, const char *s)
{
    return qb_arena_strndup(a, s, strlen(s));
}

size_t qb_arena_used(const struct qb_arena *a)
{
    return a->total;
}

/*
 * arena: memory for one call, released all at once when the call ends.
 *
 * An arena is a chain of blocks. Small allocations are carved from the
 * current block by bumping a pointer; a request too big to share a block
 * gets a block of its own, linked in without disturbing the current one.
 * The first block is allocated together with the arena header and
 * survives arena_reset(), so a reused arena does not touch malloc until a
 * call outgrows it.
 *
 * Invariants: every pointer handed out is 16-byte aligned (alignment is
 * computed from the address, not assumed of malloc); the block list always
 * ends with the first block; cleanups are kept newest-first and run in
 * that order (LIFO) before any block is released, so a cleanup may still
 * read memory from the arena but must not allocate from it.
 *
 * Not thread-safe: an arena belongs to the one thread serving its call.
 */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16u
/* Data bytes in a regular block; sized so a typical call fits in one. */
#define ARENA_BLOCK_SIZE 8192u
/* Requests above this get their own block instead of wasting a tail. */
#define ARENA_LARGE (ARENA_BLOCK_SIZE / 4)

struct arena_block {
    struct arena_block *next;
    unsigned char *cur;        /* next free byte */
    unsigned char *end;        /* one past the last usable byte */
    unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *);
    void *arg;
};

struct arena {
    struct arena_block *blocks;    /* newest first, ends with `first` */
    struct arena_block *current;   /* where small allocations bump */
    struct arena_block *first;     /* lives inside this allocation */
    struct arena_cleanup *cleanups;
};

static unsigned char *align_up(unsigned char *p)
{
    uintptr_t u = (uintptr_t)p;
    return (unsigned char *)((u + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1));
}

static void block_init(struct arena_block *b, size_t cap)
{
    b->next = NULL;
    b->cur = b->data;
    b->end = b->data + cap;
}

/* A block holding at least n bytes after alignment. */
static struct arena_block *block_new(size_t n)
{
    if (n > SIZE_MAX - sizeof(struct arena_block) - ARENA_ALIGN)
        panic("arena: allocation of %zu bytes overflows", n);
    struct arena_block *b = xmalloc(sizeof *b + n + ARENA_ALIGN);
    block_init(b, n + ARENA_ALIGN);
    return b;
}

/* Bumps n bytes out of b, or returns NULL when b is too full. */
static void *block_take(struct arena_block *b, size_t n)
{
    unsigned char *p = align_up(b->cur);
    if (p > b->end || (size_t)(b->end - p) < n)
        return NULL;
    b->cur = p + n;
    return p;
}

arena *arena_new(void)
{
    arena *a = xmalloc(sizeof *a + sizeof(struct arena_block) +
                       ARENA_BLOCK_SIZE + ARENA_ALIGN);
    a->first = (struct arena_block *)(a + 1);
    block_init(a->first, ARENA_BLOCK_SIZE + ARENA_ALIGN);
    a->blocks = a->current = a->first;
    a->cleanups = NULL;
    return a;
}

void *arena_alloc(arena *a, size_t n)
{
    if (n == 0)
        n = 1;
    void *p = block_take(a->current, n);
    if (p)
        return p;
    struct arena_block *b = block_new(n > ARENA_LARGE ? n : ARENA_BLOCK_SIZE);
    b->next = a->blocks;
    a->blocks = b;
    if (n <= ARENA_LARGE)
        a->current = b;
    p = block_take(b, n);
    if (!p)
        panic("arena: fresh block of %zu bytes cannot hold them", n);
    return p;
}

void *arena_calloc(arena *a, size_t count, size_t size)
{
    size_t n;
    if (__builtin_mul_overflow(count, size, &n))
        panic("arena_calloc: %zu * %zu overflows", count, size);
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    if (!s)
        return NULL;
    size_t len = strnlen(s, n);
    char *p = arena_alloc(a, len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *arena_strdup(arena *a, const char *s)
{
    if (!s)
        return NULL;
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(arena *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        panic("arena_printf: cannot format \"%s\"", fmt);
    char *p = arena_alloc(a, (size_t)len + 1);
    vsnprintf(p, (size_t)len + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

void arena_on_free(arena *a, void (*fn)(void *), void *arg)
{
    struct arena_cleanup *c = arena_alloc(a, sizeof *c);
    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
}

/* Each cleanup is unlinked before it runs, so it runs exactly once. */
static void run_cleanups(arena *a)
{
    while (a->cleanups) {
        struct arena_cleanup *c = a->cleanups;
        a->cleanups = c->next;
        c->fn(c->arg);
    }
}

static void free_blocks_but_first(arena *a)
{
    struct arena_block *b = a->blocks;
    while (b != a->first) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
}

void arena_reset(arena *a)
{
    run_cleanups(a);
    free_blocks_but_first(a);
    block_init(a->first, ARENA_BLOCK_SIZE + ARENA_ALIGN);
    a->blocks = a->current = a->first;
}

void arena_free(arena *a)
{
    if (!a)
        return;
    run_cleanups(a);
    free_blocks_but_first(a);
    free(a);
}

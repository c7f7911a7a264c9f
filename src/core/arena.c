#include "core/compat.h"
#include "core/arena.h"
#include "core/mem.h"

#define ARENA_BLOCK_SIZE ((size_t)8 * 1024)
#define ARENA_ALIGN (_Alignof(max_align_t))

struct arena_block {
	struct arena_block *next;
	size_t size;
	size_t used;
	max_align_t data[];
};

struct arena_hook {
	struct arena_hook *next;
	void (*fn)(void *);
	void *ptr;
};

struct arena {
	struct arena_block *blocks;
	struct arena_hook *hooks;
	size_t used;
};

struct arena *arena_new(void)
{
	return xcalloc(1, sizeof(struct arena));
}

void arena_free(struct arena *a)
{
	struct arena_block *b, *nb;
	struct arena_hook *h, *nh;

	if (!a)
		return;
	for (h = a->hooks; h; h = nh) {
		nh = h->next;
		h->fn(h->ptr);
		free(h);
	}
	for (b = a->blocks; b; b = nb) {
		nb = b->next;
		free(b);
	}
	free(a);
}

void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_block *b = a->blocks;
	size_t rounded;
	void *p;

	if (size > SIZE_MAX - ARENA_ALIGN)
		TW_BUG("arena allocation of %zu bytes", size);
	rounded = (size + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
	if (!b || b->size - b->used < rounded) {
		size_t bsize = rounded > ARENA_BLOCK_SIZE ? rounded
							  : ARENA_BLOCK_SIZE;
		b = xmalloc(sizeof(*b) + bsize);
		b->size = bsize;
		b->used = 0;
		/*
		 * A large one-off block goes behind the current one so the
		 * remaining room of the current block is not wasted.
		 */
		if (a->blocks && rounded > ARENA_BLOCK_SIZE) {
			b->next = a->blocks->next;
			a->blocks->next = b;
		} else {
			b->next = a->blocks;
			a->blocks = b;
		}
	}
	p = (char *)b->data + b->used;
	b->used += rounded;
	a->used += rounded;
	memset(p, 0, size);
	return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = arena_alloc(a, len + 1);

	memcpy(p, s, len);
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, SIZE_MAX);
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		TW_BUG("bad format \"%s\"", fmt);
	p = arena_alloc(a, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

void arena_on_free(struct arena *a, void (*fn)(void *), void *ptr)
{
	struct arena_hook *h = xmalloc(sizeof(*h));

	h->fn = fn;
	h->ptr = ptr;
	h->next = a->hooks;
	a->hooks = h;
}

size_t arena_used(const struct arena *a)
{
	return a->used;
}

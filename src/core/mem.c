#include "core/compat.h"
#include "core/mem.h"

static unsigned long fail_countdown;
static void (*oom_handler)(size_t);

void mem_fail_after(unsigned long n)
{
	fail_countdown = n;
}

void mem_set_oom_handler(void (*handler)(size_t size))
{
	oom_handler = handler;
}

static TW_NORETURN void die_oom(size_t size)
{
	if (oom_handler)
		oom_handler(size);
	fprintf(stderr, "fatal: out of memory allocating %zu bytes\n", size);
	abort();
}

/* Returns true when a test asked for this allocation to fail. */
static bool should_fail(void)
{
	if (fail_countdown == 0)
		return false;
	return --fail_countdown == 0;
}

void *xmalloc(size_t size)
{
	void *p = should_fail() ? NULL : malloc(size ? size : 1);

	if (!p)
		die_oom(size);
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p;

	if (size && nmemb > SIZE_MAX / size)
		die_oom(SIZE_MAX);
	p = should_fail() ? NULL : calloc(nmemb ? nmemb : 1, size ? size : 1);
	if (!p)
		die_oom(nmemb * size);
	return p;
}

void *xrealloc(void *ptr, size_t size)
{
	void *p = should_fail() ? NULL : realloc(ptr, size ? size : 1);

	if (!p)
		die_oom(size);
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	size_t len = strnlen(s, n);
	char *p = xmalloc(len + 1);

	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, SIZE_MAX);
}

/*
 * memset() through a volatile function pointer, so the call cannot be proved
 * dead (see mem_wipe() in mem.h).
 */
static void *(*const volatile memset_nodrop)(void *, int, size_t) = memset;

void mem_wipe(void *p, size_t n)
{
	if (!p || !n)
		return;
	memset_nodrop(p, 0, n);
#if defined(__GNUC__) || defined(__clang__)
	/* A compiler barrier: the zeroed memory counts as read. */
	__asm__ __volatile__("" : : "r"(p) : "memory");
#endif
}

static void (*wipe_hook)(const void *p, size_t n);

void mem_set_wipe_hook(void (*hook)(const void *p, size_t n))
{
	wipe_hook = hook;
}

void mem_wipe_free(void *p, size_t n)
{
	if (!p)
		return;
	mem_wipe(p, n);
	if (wipe_hook)
		wipe_hook(p, n);
	free(p);
}

void mem_free_secret(char *s)
{
	if (s)
		mem_wipe_free(s, strlen(s));
}

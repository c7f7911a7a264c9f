/*
 * mem.h - the one allocation path of Tablewright.
 *
 * xmalloc() and friends never return NULL: running out of memory calls the
 * out-of-memory handler, which by default prints a line and aborts (git's
 * wrapper.c). Call sites therefore skip NULL checks. Growth driven by client
 * input is capped elsewhere (struct buf) and reported as TW_ETOOBIG, so an
 * attacker cannot reach this abort path by sending large requests.
 *
 * Tests can make the Nth allocation fail (curl's torture tests, SQLite's
 * test_malloc.c) and install their own handler to observe it.
 */
#ifndef TW_CORE_MEM_H
#define TW_CORE_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/*
 * mem_fail_after() makes the allocation n allocations from now fail (n = 1:
 * the next one); 0 disarms. For tests only.
 */
void mem_fail_after(unsigned long n);

/*
 * mem_set_oom_handler() replaces what happens when an allocation fails. The
 * handler must not return (it aborts or longjmps). NULL restores the default.
 */
void mem_set_oom_handler(void (*handler)(size_t size));

/*
 * mem_wipe() overwrites the n bytes at p with zeros, and the compiler may not
 * remove it. This is the one way Tablewright wipes memory that held a secret
 * (a password, the signing key, the database URL, a .env file).
 *
 * Why a plain memset() is not enough: when the memory is freed or goes out
 * of scope right after, the stores are dead, and the optimiser may drop them
 * (C11 5.1.2.3, the "as if" rule; GCC and clang do so at -O2 before free()).
 * mem_wipe() calls memset() through a volatile function pointer: the
 * compiler must load the pointer at run time, cannot know that it is
 * memset(), and so must assume the call has effects it cannot see (the
 * technique of OpenSSL's OPENSSL_cleanse()). On GCC and clang an empty asm
 * statement that takes p and clobbers memory follows it, a compiler barrier
 * that makes the zeros count as read even when link-time optimisation
 * inlines this function into its caller.
 *
 * The alternatives, each tied to something core does not have: C11's
 * memset_s() (Annex K, optional and missing from glibc), explicit_bzero()
 * (glibc 2.25 and the BSDs), SecureZeroMemory() (Windows), and libsodium's
 * sodium_memzero(), which core must not link (core is libc only).
 */
void mem_wipe(void *p, size_t n);

/*
 * mem_wipe_free() wipes the n bytes at p with mem_wipe(), then frees p (from
 * xmalloc() and friends). NULL is allowed and does nothing. Every secret in
 * the heap is freed through it; struct buf's is buf_release_secret().
 */
void mem_wipe_free(void *p, size_t n);

/* mem_free_secret() is mem_wipe_free() for a NUL-terminated string. */
void mem_free_secret(char *s);

/*
 * mem_set_wipe_hook() makes mem_wipe_free() call hook with the wiped memory
 * right before free(), so a test can check that it is all zeros. NULL
 * removes it. For tests only.
 */
void mem_set_wipe_hook(void (*hook)(const void *p, size_t n));

#endif

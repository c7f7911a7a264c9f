#include "core/compat.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/mem.h"

char buf_slopbuf[1];

void buf_init(struct buf *b, size_t cap)
{
	b->ptr = buf_slopbuf;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void buf_release(struct buf *b)
{
	if (b->alloc)
		free(b->ptr);
	buf_init(b, b->cap);
}

void buf_release_secret(struct buf *b)
{
	if (b->alloc)
		mem_wipe_free(b->ptr, b->alloc);
	buf_init(b, b->cap);
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *res;

	if (len)
		*len = b->len;
	if (!b->alloc)
		res = xcalloc(1, 1);
	else
		res = b->ptr;
	buf_init(b, b->cap);
	return res;
}

int buf_grow(struct buf *b, size_t extra)
{
	size_t want, nalloc;
	bool fresh = !b->alloc;
	char *p;

	if (extra > b->cap || b->len > b->cap - extra)
		return TW_ETOOBIG;
	want = b->len + extra + 1;
	if (want <= b->alloc)
		return 0;
	nalloc = b->alloc ? b->alloc : 64;
	while (nalloc < want)
		nalloc = nalloc > SIZE_MAX / 2 ? want : nalloc * 2;
	if (nalloc > b->cap + 1)
		nalloc = b->cap + 1;
	/* Through a local: an OOM handler that longjmps leaves b intact. */
	p = xrealloc(fresh ? NULL : b->ptr, nalloc);
	if (fresh)
		p[0] = '\0';
	b->ptr = p;
	b->alloc = nalloc;
	return 0;
}

int buf_add(struct buf *b, const void *data, size_t len)
{
	int rc = buf_grow(b, len);

	if (rc < 0)
		return rc;
	if (len)
		memmove(b->ptr + b->len, data, len);
	b->len += len;
	b->ptr[b->len] = '\0';
	return 0;
}

int buf_adds(struct buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

int buf_addch(struct buf *b, int c)
{
	char ch = (char)c;

	return buf_add(b, &ch, 1);
}

int buf_vaddf(struct buf *b, const char *fmt, va_list ap)
{
	va_list cp;
	int n;
	int rc;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0)
		return TW_EINVAL;
	rc = buf_grow(b, (size_t)n);
	if (rc < 0)
		return rc;
	vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vaddf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void buf_setlen(struct buf *b, size_t len)
{
	if (len > b->len)
		TW_BUG("buf_setlen beyond the end (%zu > %zu)", len, b->len);
	b->len = len;
	if (b->alloc)
		b->ptr[len] = '\0';
}

void buf_reset(struct buf *b)
{
	buf_setlen(b, 0);
}

void buf_trim(struct buf *b)
{
	size_t start = 0;
	size_t end = b->len;

	while (end > 0 && isspace((unsigned char)b->ptr[end - 1]))
		end--;
	while (start < end && isspace((unsigned char)b->ptr[start]))
		start++;
	if (start)
		memmove(b->ptr, b->ptr + start, end - start);
	buf_setlen(b, end - start);
}

void buf_errf(struct buf *err, const char *fmt, ...)
{
	va_list ap;
	char *tmp;
	size_t room;
	int n;

	if (!err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	tmp = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(tmp, (size_t)n + 1, fmt, ap);
	va_end(ap);
	room = err->cap > err->len ? err->cap - err->len : 0;
	buf_add(err, tmp, (size_t)n < room ? (size_t)n : room);
	free(tmp);
}

int buf_getline(struct buf *b, FILE *in, struct buf *err)
{
	size_t start = b->len;
	bool any = false;
	bool too_big = false;
	int c;

	while ((c = getc(in)) != EOF) {
		any = true;
		if (c == '\n')
			break;
		if (!too_big && buf_addch(b, c) < 0)
			too_big = true;
	}
	if (b->len > start && b->ptr[b->len - 1] == '\r')
		buf_setlen(b, b->len - 1);
	if (too_big) {
		buf_errf(err, "the input line is longer than %zu bytes",
			 b->cap);
		return TW_ETOOBIG;
	}
	if (!any) {
		buf_errf(err, "no input: standard input is empty");
		return TW_EIO;
	}
	return 0;
}

#include "core/compat.h"
#include "smoke.h"

static int passed;
static int failed;
static int skipped;

void smoke_check(bool ok, const char *expr, int line, const char *fmt, ...)
{
	va_list ap;

	printf("%s - ", ok ? "ok" : "not ok");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		printf(" (line %d: %s)", line, expr);
	printf("\n");
	fflush(stdout);
	if (ok)
		passed++;
	else
		failed++;
}

void smoke_skip(const char *fmt, ...)
{
	va_list ap;

	printf("skip - ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	skipped++;
}

int smoke_summary(void)
{
	if (skipped)
		printf("%d passed, %d failed, %d skipped\n", passed, failed,
		       skipped);
	else
		printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

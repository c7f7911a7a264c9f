/*
 * plat_time.c (POSIX) - clocks, calendar conversion and sleeping.
 */
#include "core/compat.h"
#include "platform/plat.h"

int64_t plat_monotonic_ms(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid clock id. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void plat_realtime(int64_t *sec, long *nsec)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	*sec = (int64_t)ts.tv_sec;
	*nsec = ts.tv_nsec;
}

/*
 * plat_gmtime() uses gmtime_r(); a time that does not fit struct tm (which
 * only a corrupt input can produce) yields the epoch rather than garbage.
 */
void plat_gmtime(int64_t sec, struct tm *out)
{
	time_t t = (time_t)sec;

	if (!gmtime_r(&t, out)) {
		t = 0;
		gmtime_r(&t, out);
	}
}

/* Sleeps at least ms milliseconds, resuming after signal interruptions. */
void plat_sleep_ms(int64_t ms)
{
	struct timespec req, rem;

	if (ms <= 0)
		return;
	req.tv_sec = (time_t)(ms / 1000);
	req.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&req, &rem) != 0 && errno == EINTR)
		req = rem;
}

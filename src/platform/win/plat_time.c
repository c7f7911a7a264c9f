/*
 * plat_time.c (Windows) - clocks, calendar conversion and sleeping.
 */
#include "core/compat.h"
#include "platform/plat.h"

#include <windows.h>

/*
 * QueryPerformanceCounter() is monotonic and precise (GetTickCount64()
 * moves in 10-16 ms steps). The split multiplication cannot overflow.
 */
int64_t plat_monotonic_ms(void)
{
	LARGE_INTEGER c, f;

	QueryPerformanceFrequency(&f);
	QueryPerformanceCounter(&c);
	return (int64_t)(c.QuadPart / f.QuadPart) * 1000 +
	       (int64_t)(c.QuadPart % f.QuadPart) * 1000 / f.QuadPart;
}

/* 100-ns intervals between 1601-01-01 (FILETIME) and 1970-01-01. */
#define FILETIME_UNIX_EPOCH 116444736000000000ULL

void plat_realtime(int64_t *sec, long *nsec)
{
	FILETIME ft;
	uint64_t t;

	GetSystemTimePreciseAsFileTime(&ft);
	t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
	t -= FILETIME_UNIX_EPOCH;
	*sec = (int64_t)(t / 10000000ULL);
	*nsec = (long)(t % 10000000ULL) * 100;
}

/*
 * gmtime_s() refuses times before 1970 and after 3000; such a time (which
 * only a corrupt input can produce) yields the epoch rather than garbage.
 */
void plat_gmtime(int64_t sec, struct tm *out)
{
	time_t t = (time_t)sec;

	if (gmtime_s(out, &t) != 0) {
		t = 0;
		gmtime_s(out, &t);
	}
}

void plat_sleep_ms(int64_t ms)
{
	while (ms > 0) {
		DWORD chunk = ms > 0x7fffffff ? 0x7fffffff : (DWORD)ms;

		Sleep(chunk);
		ms -= chunk;
	}
}

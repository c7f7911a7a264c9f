/*
 * plat_signal.c (POSIX) - shutdown requests from signals and from inside.
 *
 * The shutdown signals are blocked in every thread (the mask is inherited
 * by threads created later) and taken synchronously with sigtimedwait(), so
 * no signal handler runs and no async-signal-safety question arises. A
 * request from inside the process sets an atomic flag; waiters look at it
 * between sigtimedwait() slices of at most WAIT_SLICE_MS, so a request
 * wakes every waiter within that time. The flag is sticky: once shutdown
 * was asked for, every later wait returns true at once.
 *
 * sigtimedwait() is POSIX (Realtime Signals) and present on Linux and the
 * BSDs; macOS lacks it and would need a self-pipe handler here.
 */
#include "core/compat.h"
#include "core/err.h"
#include "platform/plat.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#define WAIT_SLICE_MS 100

static atomic_bool shutdown_flag;

static void shutdown_set(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

int plat_shutdown_init(struct buf *err)
{
	struct sigaction sa;
	sigset_t set;
	int e;
	int rc = 0;

	shutdown_set(&set);
	e = pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (e != 0) {
		if (err)
			buf_addf(err, "could not block shutdown signals: %s",
				 plat_strerror(e));
		rc = TW_EINTERNAL;
		goto fail;
	}
	/* A peer that hangs up must give EPIPE, not kill the process. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) != 0) {
		if (err)
			buf_addf(err, "could not ignore SIGPIPE: %s",
				 plat_strerror(errno));
		rc = TW_EINTERNAL;
		goto fail;
	}
fail:
	return rc;
}

bool plat_shutdown_wait(int64_t timeout_ms)
{
	int64_t deadline = 0;
	sigset_t set;

	if (timeout_ms >= 0)
		deadline = plat_monotonic_ms() + timeout_ms;
	shutdown_set(&set);
	while (!atomic_load(&shutdown_flag)) {
		int64_t slice = WAIT_SLICE_MS;
		struct timespec ts;
		int sig;

		if (timeout_ms >= 0) {
			int64_t left = deadline - plat_monotonic_ms();

			if (left <= 0)
				break;
			if (left < slice)
				slice = left;
		}
		ts.tv_sec = 0;
		ts.tv_nsec = (long)slice * 1000000L;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig > 0)
			atomic_store(&shutdown_flag, true);
		/* EAGAIN: the slice passed; EINTR: another signal. */
	}
	return atomic_load(&shutdown_flag);
}

void plat_shutdown_request(void)
{
	atomic_store(&shutdown_flag, true);
}

/*
 * plat_signal.c (Windows) - shutdown requests from the console and from
 * inside the process.
 *
 * One manual-reset event is the whole state: the console control handler
 * and plat_shutdown_request() set it, plat_shutdown_wait() waits on it, and
 * it stays set, so every later wait returns at once (as on POSIX). The
 * event is created on first use under InitOnce, so a request or wait before
 * plat_shutdown_init() is safe too.
 *
 * Which console events mean "shut down":
 *  - CTRL_C_EVENT, CTRL_BREAK_EVENT: the user at the console.
 *  - CTRL_CLOSE_EVENT: the console window is closing. Windows ends the
 *    process as soon as the handler returns (or after about 5 s), so the
 *    handler sets the event and then sleeps: the main thread gets that time
 *    to stop cleanly, and its exit ends the process first.
 *  - CTRL_SHUTDOWN_EVENT: only services receive it; handled like close.
 *  - CTRL_LOGOFF_EVENT is passed on (FALSE): a service receives it when any
 *    user logs off and must keep running; the default handler of a
 *    service ignores it.
 */
#include "core/compat.h"
#include "core/err.h"
#include "platform/plat.h"
#include "platform/win/win_int.h"

#include <windows.h>

static INIT_ONCE event_once = INIT_ONCE_STATIC_INIT;
static HANDLE shutdown_event;

static BOOL CALLBACK create_event(PINIT_ONCE once, PVOID param, PVOID *ctx)
{
	(void)once;
	(void)param;
	(void)ctx;
	shutdown_event = CreateEventW(NULL, TRUE, FALSE, NULL);
	return shutdown_event != NULL;
}

/* The shutdown event, or NULL when it could not be created. */
static HANDLE get_event(void)
{
	if (!InitOnceExecuteOnce(&event_once, create_event, NULL, NULL))
		return NULL;
	return shutdown_event;
}

static BOOL WINAPI on_console_ctrl(DWORD type)
{
	HANDLE ev = get_event();

	switch (type) {
	case CTRL_C_EVENT:
	case CTRL_BREAK_EVENT:
		if (ev)
			SetEvent(ev);
		return TRUE;
	case CTRL_CLOSE_EVENT:
	case CTRL_SHUTDOWN_EVENT:
		if (ev)
			SetEvent(ev);
		Sleep(INFINITE);
		return TRUE;
	default:
		return FALSE;
	}
}

int plat_shutdown_init(struct buf *err)
{
	int rc = 0;

	if (!get_event()) {
		if (err)
			buf_addf(err, "could not create shutdown event: %s",
				 plat__win_strerror(GetLastError()));
		rc = TW_EINTERNAL;
		goto fail;
	}
	if (!SetConsoleCtrlHandler(on_console_ctrl, TRUE)) {
		if (err)
			buf_addf(err,
				 "could not install console control handler: "
				 "%s",
				 plat__win_strerror(GetLastError()));
		rc = TW_EINTERNAL;
		goto fail;
	}
fail:
	return rc;
}

bool plat_shutdown_wait(int64_t timeout_ms)
{
	HANDLE ev = get_event();
	int64_t deadline = 0;

	if (!ev) {
		plat_sleep_ms(timeout_ms < 0 ? 100 : timeout_ms);
		return false;
	}
	if (timeout_ms >= 0)
		deadline = plat_monotonic_ms() + timeout_ms;
	for (;;) {
		DWORD wait = INFINITE;

		if (timeout_ms >= 0) {
			int64_t left = deadline - plat_monotonic_ms();

			if (left < 0)
				left = 0;
			wait = left > 0x7fffffff ? 0x7fffffff : (DWORD)left;
		}
		switch (WaitForSingleObject(ev, wait)) {
		case WAIT_OBJECT_0:
			return true;
		case WAIT_FAILED:
			return false; /* a closed handle: cannot happen */
		default:
			break;
		}
		if (timeout_ms >= 0 && plat_monotonic_ms() >= deadline)
			return false;
	}
}

void plat_shutdown_request(void)
{
	HANDLE ev = get_event();

	if (ev)
		SetEvent(ev);
}

#include "core/compat.h"

#include <termios.h>
#include <unistd.h>

#include "core/err.h"
#include "platform/plat.h"

bool plat_stdin_is_tty(void)
{
	return isatty(STDIN_FILENO) == 1;
}

int plat_read_secret(const char *prompt, struct buf *out, struct buf *err)
{
	struct termios old, quiet;
	bool restore = false;
	int rc;

	if (plat_stdin_is_tty()) {
		fputs(prompt, stderr);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
			restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) ==
				  0;
		}
	}
	rc = buf_getline(out, stdin, err);
	if (restore) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	return rc;
}

/*
 * plat_cmdline.c - the parts of the platform layer that are the same on
 * every system (libuv's uv-common.c beside src/unix and src/win): the one
 * rule by which a command written as a line of text becomes an argument
 * vector. plat.h states the rule; docs/configuration.md states it for
 * TW_SANDBOX_COMMAND.
 *
 * It lives here rather than in the worker, which runs the command, because
 * the configuration (a layer below the worker) refuses a malformed line
 * at start-up with the same parser.
 */
#include "core/compat.h"
#include "core/err.h"
#include "core/mem.h"
#include "platform/plat.h"

int plat_split_command(const char *line, char ***argv, int *argc,
		       struct buf *err)
{
	size_t n = 0, cap = 8;
	char **words = xcalloc(cap, sizeof(*words));
	/* A word is never longer than the line it comes from. */
	char *word = xmalloc(strlen(line) + 1);
	const char *p = line;
	int rc = 0;

	*argv = NULL;
	*argc = 0;
	while (*p) {
		size_t len = 0;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		/* One word: up to a space outside quotes, or the end. */
		while (*p && *p != ' ') {
			const char *close;

			if (*p != '"') {
				word[len++] = *p++;
				continue;
			}
			close = strchr(p + 1, '"');
			if (!close) {
				buf_errf(err,
					 "a double quote is not closed (at "
					 "byte %zu of the command)",
					 (size_t)(p - line) + 1);
				rc = TW_EINVAL;
				goto fail;
			}
			memcpy(word + len, p + 1, (size_t)(close - p - 1));
			len += (size_t)(close - p - 1);
			p = close + 1;
		}
		if (n + 2 > cap) {
			cap *= 2;
			words = xrealloc(words, cap * sizeof(*words));
		}
		words[n] = xmalloc(len + 1);
		memcpy(words[n], word, len);
		words[n][len] = '\0';
		n++;
	}
	words[n] = NULL;
	*argv = words;
	/* At most one word per two bytes of a line held in memory. */
	*argc = (int)n;
	words = NULL;
fail:
	if (words) {
		words[n] = NULL;
		plat_argv_free(words);
	}
	free(word);
	return rc;
}

void plat_argv_free(char **argv)
{
	for (char **p = argv; p && *p; p++)
		free(*p);
	free(argv);
}

/*
 * sbx_helper.c - the fake children of the sandbox tests (libuv's
 * spawn_helper): `sbx_helper --helper=MODE [ARG]` behaves as MODE says and
 * nothing else. It is its own executable, built without sanitizers, because
 * ASan reserves terabytes of address space that RLIMIT_DATA and the memory
 * monitor would count against the child. test_sandbox.c includes this file
 * with SBX_HELPER_NO_MAIN to offer the same modes itself.
 *
 * Modes:
 *	sleep          sleep 30 s, exit 0
 *	spin           burn CPU until killed
 *	eat-mem        allocate and touch 64 MiB per second until killed;
 *	               exit 42 when an allocation fails (the OS limit)
 *	spawn          fork a grandchild that sleeps 60 s, print its pid,
 *	               sleep 60 s
 *	spawn-away     the same, but the grandchild leaves the process group
 *	               (setsid) first
 *	spin-away      the same, but the grandchild (out of the group) burns
 *	               CPU until killed
 *	write-file N   write N bytes to "out.bin" in the working directory;
 *	               exit 3 when a write fails (EFBIG if SIGXFSZ is ignored)
 *	read-env       print the environment, one entry a line
 *	pids           print getpid(), getppid(), the pid /proc gives, the
 *	               uid and the effective capabilities (hex)
 *	print-lots N   print N bytes to stdout
 *	echo           copy stdin to stdout until end of input
 *	hold-mem N     allocate and touch N MiB, then sleep 30 s
 *	exit N         exit with status N
 *	pwd            print the working directory
 */
#include "core/compat.h"

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

extern char **environ;

#define HELPER_EXIT_NO_MEMORY 42

/* Allocated blocks are stored here so the optimizer cannot drop a malloc()
 * whose memory is never read (gcc -O2 removes malloc + memset + free). */
static char *volatile helper_sink;
#define HELPER_EXIT_WRITE_FAILED 3

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int helper_eat_mem(void)
{
	/* 16 MiB every 250 ms: 64 MiB a second, in steps smaller than the
	 * gap between the monitor's limit and the OS limit. */
	const size_t step = (size_t)16 * 1024 * 1024;

	for (;;) {
		char *p = malloc(step);

		if (!p)
			return HELPER_EXIT_NO_MEMORY;
		memset(p, 0xa5, step); /* touch: make it resident */
		helper_sink = p;
		usleep(250 * 1000);
	}
}

/*
 * host_pid() is our pid as the supervisor sees it: in a PID namespace of
 * the child's own getpid() is the namespace's number, while /proc (the
 * supervisor's) names us by the host's.
 */
static long host_pid(void)
{
	char link[32];
	ssize_t n = readlink("/proc/self", link, sizeof(link) - 1);

	if (n <= 0)
		return (long)getpid();
	link[n] = '\0';
	return strtol(link, NULL, 10);
}

/* away: the grandchild calls setsid(); spin: it burns CPU. */
static int helper_spawn(bool away, bool spin)
{
	char line[32];
	volatile unsigned long n = 0;
	int p[2];
	pid_t pid;

	if (pipe(p) != 0)
		return 1;
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		if (away)
			setsid();
		snprintf(line, sizeof(line), "%ld\n", host_pid());
		write_all(p[1], line, strlen(line));
		close(p[1]);
		while (spin)
			n++;
		sleep(60);
		_exit(0);
	}
	close(p[1]);
	/* Printed by us once the grandchild is set up (out of the group). */
	memset(line, 0, sizeof(line));
	if (read(p[0], line, sizeof(line) - 1) <= 0)
		return 1;
	write_all(1, line, strlen(line));
	sleep(60);
	return 0;
}

static int helper_write_file(long long n)
{
	static char block[65536];
	FILE *f = fopen("out.bin", "wb");

	if (!f)
		return HELPER_EXIT_WRITE_FAILED;
	memset(block, 'x', sizeof(block));
	while (n > 0) {
		size_t k = n < (long long)sizeof(block) ? (size_t)n
							: sizeof(block);

		if (fwrite(block, 1, k, f) != k)
			return HELPER_EXIT_WRITE_FAILED;
		n -= (long long)k;
	}
	if (fclose(f) != 0)
		return HELPER_EXIT_WRITE_FAILED;
	return 0;
}

static int helper_print_lots(long long n)
{
	static char block[65536];

	memset(block, 'y', sizeof(block));
	while (n > 0) {
		size_t k = n < (long long)sizeof(block) ? (size_t)n
							: sizeof(block);

		if (write_all(1, block, k) < 0)
			return 1;
		n -= (long long)k;
	}
	return 0;
}

static int helper_echo(void)
{
	static char block[65536];

	for (;;) {
		ssize_t n = read(0, block, sizeof(block));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1;
		if (n == 0)
			return 0;
		if (write_all(1, block, (size_t)n) < 0)
			return 1;
	}
}

/* Runs the mode named by argv[1] ("--helper=MODE"); 2 for an unknown one. */
static int helper_run(int argc, char **argv)
{
	const char *mode = argv[1] + strlen("--helper=");
	long long arg = argc > 2 ? strtoll(argv[2], NULL, 10) : 0;
	volatile unsigned long spin = 0;
	char cwd[4096];

	if (strcmp(mode, "sleep") == 0) {
		sleep(30);
		return 0;
	}
	if (strcmp(mode, "spin") == 0) {
		for (;;)
			spin++;
	}
	if (strcmp(mode, "eat-mem") == 0)
		return helper_eat_mem();
	if (strcmp(mode, "spawn") == 0)
		return helper_spawn(false, false);
	if (strcmp(mode, "pids") == 0) {
		char line[256] = "", caps[64] = "?";
		FILE *f = fopen("/proc/self/status", "r");

		while (f && fgets(line, sizeof(line), f)) {
			if (strncmp(line, "CapEff:", 7) == 0)
				sscanf(line + 7, "%63s", caps);
		}
		if (f)
			fclose(f);
		printf("%ld %ld %ld %ld %s\n", (long)getpid(), (long)getppid(),
		       host_pid(), (long)getuid(), caps);
		return 0;
	}
	if (strcmp(mode, "spawn-away") == 0)
		return helper_spawn(true, false);
	if (strcmp(mode, "spin-away") == 0)
		return helper_spawn(true, true);
	if (strcmp(mode, "write-file") == 0)
		return helper_write_file(arg);
	if (strcmp(mode, "read-env") == 0) {
		for (char **e = environ; *e; e++)
			printf("%s\n", *e);
		return 0;
	}
	if (strcmp(mode, "print-lots") == 0)
		return helper_print_lots(arg);
	if (strcmp(mode, "echo") == 0)
		return helper_echo();
	if (strcmp(mode, "hold-mem") == 0) {
		size_t size = (size_t)arg * 1024 * 1024;
		char *p = malloc(size ? size : 1);

		if (!p)
			return HELPER_EXIT_NO_MEMORY;
		memset(p, 0x5a, size);
		helper_sink = p;
		sleep(30);
		free(p);
		return 0;
	}
	if (strcmp(mode, "exit") == 0)
		return (int)arg;
	if (strcmp(mode, "pwd") == 0) {
		if (!getcwd(cwd, sizeof(cwd)))
			return 1;
		printf("%s\n", cwd);
		return 0;
	}
	fprintf(stderr, "sbx_helper: unknown mode \"%s\"\n", mode);
	return 2;
}

#ifndef SBX_HELPER_NO_MAIN
int main(int argc, char **argv)
{
	if (argc < 2 || strncmp(argv[1], "--helper=", 9) != 0) {
		fprintf(stderr, "usage: sbx_helper --helper=MODE [ARG]\n");
		return 2;
	}
	return helper_run(argc, argv);
}
#endif

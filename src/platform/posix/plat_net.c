/*
 * plat_net.c (POSIX) - asking the OS for a free TCP port, waiting on a
 * socket, the host name.
 */
#include "core/compat.h"
#include "core/err.h"
#include "platform/plat.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

/*
 * plat_free_tcp_port() binds a socket to 127.0.0.1:0 and reads back the
 * port the kernel picked. The socket is closed again, so another process
 * may take the port before the caller binds it: good enough for tests and
 * for picking the port of a private PostgreSQL cluster, which retries.
 */
int plat_free_tcp_port(int *port, struct buf *err)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd;
	int rc = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		if (err)
			buf_addf(err, "could not create socket: %s",
				 plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		if (err)
			buf_addf(err, "could not bind socket to %s: %s",
				 "127.0.0.1:0", plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	if (getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		if (err)
			buf_addf(err, "could not read socket address: %s",
				 plat_strerror(errno));
		rc = TW_EIO;
		goto fail;
	}
	*port = ntohs(sa.sin_port);
fail:
	if (fd >= 0)
		close(fd);
	return rc;
}

int plat_socket_wait(int fd, int64_t timeout_ms)
{
	struct pollfd p;
	int n;

	p.fd = fd;
	p.events = POLLIN;
	p.revents = 0;
	if (timeout_ms > INT_MAX)
		timeout_ms = INT_MAX;
	n = poll(&p, 1, timeout_ms < 0 ? -1 : (int)timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : TW_EIO;
	return n > 0 ? 1 : 0;
}

void plat_hostname(struct buf *out)
{
	char name[256];

	if (gethostname(name, sizeof(name)) != 0 || !name[0]) {
		buf_adds(out, "localhost");
		return;
	}
	name[sizeof(name) - 1] = '\0';
	buf_adds(out, name);
}

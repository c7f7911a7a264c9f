/*
 * plat_net.c (Windows) - asking the OS for a free TCP port, waiting on a
 * socket (Winsock), the host name.
 */
#include "core/compat.h"
#include "core/err.h"
#include "platform/plat.h"
#include "platform/win/win_int.h"

#include <winsock2.h>
#include <ws2tcpip.h>

/*
 * plat_free_tcp_port() binds a socket to 127.0.0.1:0 and reads back the
 * port Windows picked. WSAStartup() is reference-counted, so this function
 * pairs its own call with WSACleanup() and needs no global set-up. The
 * port may be taken by another process before the caller binds it.
 */
int plat_free_tcp_port(int *port, struct buf *err)
{
	WSADATA wsa;
	struct sockaddr_in sa;
	int len = (int)sizeof(sa);
	SOCKET s = INVALID_SOCKET;
	bool started = false;
	int e;
	int rc = 0;

	e = WSAStartup(MAKEWORD(2, 2), &wsa);
	if (e != 0) {
		if (err)
			buf_addf(err, "could not start Winsock: %s",
				 plat__win_strerror((unsigned long)e));
		rc = TW_EIO;
		goto fail;
	}
	started = true;
	s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	if (s == INVALID_SOCKET) {
		if (err)
			buf_addf(err, "could not create socket: %s",
				 plat__win_strerror(WSAGetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	if (bind(s, (struct sockaddr *)&sa, (int)sizeof(sa)) != 0) {
		if (err)
			buf_addf(err, "could not bind socket to %s: %s",
				 "127.0.0.1:0",
				 plat__win_strerror(WSAGetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	if (getsockname(s, (struct sockaddr *)&sa, &len) != 0) {
		if (err)
			buf_addf(err, "could not read socket address: %s",
				 plat__win_strerror(WSAGetLastError()));
		rc = TW_EIO;
		goto fail;
	}
	*port = ntohs(sa.sin_port);
fail:
	if (s != INVALID_SOCKET)
		closesocket(s);
	if (started)
		WSACleanup();
	return rc;
}

/*
 * select() on Windows takes SOCKETs and ignores its first argument. libpq
 * hands its socket out as an int (PQsocket); Winsock's SOCKET values fit.
 */
int plat_socket_wait(int fd, int64_t timeout_ms)
{
	fd_set rd;
	struct timeval tv;
	int n;

	FD_ZERO(&rd);
	FD_SET((SOCKET)fd, &rd);
	if (timeout_ms < 0)
		timeout_ms = INT_MAX;
	tv.tv_sec = (long)(timeout_ms / 1000);
	tv.tv_usec = (long)(timeout_ms % 1000) * 1000;
	n = select(0, &rd, NULL, NULL, &tv);
	if (n == SOCKET_ERROR)
		return TW_EIO;
	return n > 0 ? 1 : 0;
}

/* GetComputerNameExW gives the DNS host name, as gethostname does. */
void plat_hostname(struct buf *out)
{
	wchar_t name[256];
	DWORD len = (DWORD)(sizeof(name) / sizeof(name[0]));

	if (!GetComputerNameExW(ComputerNameDnsHostname, name, &len) ||
	    len == 0 || plat__wide_to_utf8(name, out) < 0)
		buf_adds(out, "localhost");
}

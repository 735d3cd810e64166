/*
 * podserver: the backend of every kpr lab pod, and the lab's probe client.
 *
 * Server mode answers, on each TCP port, any HTTP request with a 200 whose body is the pod name
 * (first line) and the peer address as seen by the pod (second line, "client IP:PORT"), and, on
 * each UDP port, every datagram with the same two lines. The second line lets tests see whether
 * a dataplane masqueraded the client. One thread, one epoll loop, non-blocking sockets: it is
 * also the benchmark target, so it must stay cheap under many short connections and keep-alive.
 *
 *   podserver serve --name POD [--tcp PORT]... [--udp PORT]...
 *   podserver get IP PORT [--timeout MS]      one HTTP GET /, prints the body, exit 0 on 200
 *   podserver udp IP PORT [--timeout MS]      one datagram, prints the reply
 *
 * Client modes exit 2 on a timeout and 1 on any other failure, with the reason on stderr, so the
 * lab can poll a ClusterIP from inside a pod without curl or a Node process.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 16
#define BUF_SIZE 8192
#define MAX_EVENTS 256

enum kind { K_TCP_LISTEN, K_UDP, K_CONN };

struct conn {
	enum kind kind;
	int fd;
	size_t len;           /* bytes buffered in buf */
	char peer[64];        /* "IP:PORT" of the client, for the second body line */
	char buf[];           /* request bytes, only for K_CONN */
};

static const char *pod_name = "";

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void peer_string(const struct sockaddr_in *sa, char *out, size_t n)
{
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &sa->sin_addr, ip, sizeof(ip));
	snprintf(out, n, "%s:%u", ip, ntohs(sa->sin_port));
}

static int open_socket(int type, int port)
{
	int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket");
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "podserver: bind %s port %d: %s\n", type == SOCK_STREAM ? "tcp" : "udp", port,
			strerror(errno));
		exit(1);
	}
	if (type == SOCK_STREAM && listen(fd, 4096) < 0)
		die("listen");
	return fd;
}

static void add_fd(int ep, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		die("epoll_ctl");
}

static void close_conn(struct conn *c)
{
	close(c->fd); /* closing removes it from the epoll set */
	free(c);
}

/* Case-insensitive search for a header line "name: value" inside the header block. */
static int header_has(const char *hdr, size_t len, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);
	for (size_t i = 0; i + nl + 1 < len; i++) {
		if ((i == 0 || hdr[i - 1] == '\n') && strncasecmp(hdr + i, name, nl) == 0 && hdr[i + nl] == ':') {
			const char *p = hdr + i + nl + 1;
			const char *end = hdr + len;
			while (p < end && *p == ' ')
				p++;
			for (; p + vl <= end && *p != '\r' && *p != '\n'; p++)
				if (strncasecmp(p, value, vl) == 0)
					return 1;
		}
	}
	return 0;
}

static long content_length(const char *hdr, size_t len)
{
	const char *name = "content-length:";
	size_t nl = strlen(name);
	for (size_t i = 0; i + nl < len; i++)
		if ((i == 0 || hdr[i - 1] == '\n') && strncasecmp(hdr + i, name, nl) == 0)
			return strtol(hdr + i + nl, NULL, 10);
	return 0;
}

/* Writes the whole response; the answers are tiny, so a short write means a broken peer. */
static int send_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			if (poll(&pfd, 1, 1000) <= 0)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Answers every complete request in the buffer (pipelining); returns -1 to close the connection. */
static int serve_requests(struct conn *c)
{
	for (;;) {
		char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
		if (!end)
			return c->len >= BUF_SIZE ? -1 : 0;
		size_t hlen = (size_t)(end - c->buf) + 4;
		long body = content_length(c->buf, hlen);
		if (body < 0 || hlen + (size_t)body > BUF_SIZE)
			return -1;
		if (c->len < hlen + (size_t)body)
			return 0;
		/* HTTP/1.1 keeps the connection unless told otherwise; HTTP/1.0 closes unless asked. */
		int http10 = hlen > 9 && memmem(c->buf, hlen, "HTTP/1.0\r\n", 10) != NULL;
		int keep = http10 ? header_has(c->buf, hlen, "connection", "keep-alive")
				  : !header_has(c->buf, hlen, "connection", "close");
		char bodybuf[256], resp[512];
		int bl = snprintf(bodybuf, sizeof(bodybuf), "%s\nclient %s\n", pod_name, c->peer);
		int rl = snprintf(resp, sizeof(resp),
				  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
				  "Connection: %s\r\n\r\n%s",
				  bl, keep ? "keep-alive" : "close", bodybuf);
		if (send_all(c->fd, resp, (size_t)rl) < 0 || !keep)
			return -1;
		size_t used = hlen + (size_t)body;
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
	}
}

static void on_conn(struct conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, c->buf + c->len, BUF_SIZE - c->len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return;
		if (r <= 0) {
			close_conn(c);
			return;
		}
		c->len += (size_t)r;
		if (serve_requests(c) < 0) {
			close_conn(c);
			return;
		}
	}
}

static void on_accept(int ep, struct conn *l)
{
	for (;;) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int fd = accept4(l->fd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* EMFILE and friends: drop this round; the backlog keeps the rest. */
			return;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = malloc(sizeof(*c) + BUF_SIZE);
		if (!c) {
			close(fd);
			return;
		}
		c->kind = K_CONN;
		c->fd = fd;
		c->len = 0;
		peer_string(&sa, c->peer, sizeof(c->peer));
		add_fd(ep, c);
		on_conn(c); /* data often arrives with the handshake (or soon after): try at once */
	}
}

static void on_udp(struct conn *u)
{
	for (;;) {
		char in[2048], out[256], peer[64];
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		ssize_t r = recvfrom(u->fd, in, sizeof(in), 0, (struct sockaddr *)&sa, &sl);
		if (r < 0)
			return;
		peer_string(&sa, peer, sizeof(peer));
		int n = snprintf(out, sizeof(out), "%s\nclient %s\n", pod_name, peer);
		sendto(u->fd, out, (size_t)n, 0, (struct sockaddr *)&sa, sl);
	}
}

static int serve(int argc, char **argv)
{
	int tcp[MAX_PORTS], udp[MAX_PORTS], nt = 0, nu = 0;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			goto usage;
		if (strcmp(a, "--name") == 0)
			pod_name = v;
		else if (strcmp(a, "--tcp") == 0 && nt < MAX_PORTS)
			tcp[nt++] = atoi(v);
		else if (strcmp(a, "--udp") == 0 && nu < MAX_PORTS)
			udp[nu++] = atoi(v);
		else
			goto usage;
		i++;
	}
	if (!*pod_name || nt + nu == 0)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	for (int i = 0; i < nt + nu; i++) {
		struct conn *c = calloc(1, sizeof(*c));
		if (!c)
			die("calloc");
		c->kind = i < nt ? K_TCP_LISTEN : K_UDP;
		c->fd = i < nt ? open_socket(SOCK_STREAM, tcp[i]) : open_socket(SOCK_DGRAM, udp[i - nt]);
		add_fd(ep, c);
	}
	struct epoll_event evs[MAX_EVENTS];
	for (;;) {
		int n = epoll_wait(ep, evs, MAX_EVENTS, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->kind == K_TCP_LISTEN)
				on_accept(ep, c);
			else if (c->kind == K_UDP)
				on_udp(c);
			else
				on_conn(c);
		}
	}
usage:
	fprintf(stderr, "usage: podserver serve --name POD [--tcp PORT]... [--udp PORT]...\n");
	return 1;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Waits for fd to become ready for `events` before the deadline; 0 ok, 2 timeout. */
static int wait_fd(int fd, short events, long deadline)
{
	for (;;) {
		long left = deadline - now_ms();
		if (left <= 0)
			return 2;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return 1;
	}
}

static int client(int udp, int argc, char **argv)
{
	if (argc < 2)
		goto usage;
	long timeout = 2000;
	if (argc == 4 && strcmp(argv[2], "--timeout") == 0)
		timeout = atol(argv[3]);
	else if (argc != 2)
		goto usage;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[1])) };
	if (inet_pton(AF_INET, argv[0], &sa.sin_addr) != 1)
		goto usage;
	long deadline = now_ms() + timeout;
	int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK, 0);
	if (fd < 0)
		die("socket");
	/* connect() on UDP too, so cgroup connect hooks see it and a port unreachable is reported. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		fprintf(stderr, "podserver: connect %s:%s: %s\n", argv[0], argv[1], strerror(errno));
		return 1;
	}
	char buf[4096];
	size_t len = 0;
	if (udp) {
		if (send(fd, "ping\n", 5, 0) < 0) {
			fprintf(stderr, "podserver: send: %s\n", strerror(errno));
			return 1;
		}
	} else {
		int w = wait_fd(fd, POLLOUT, deadline);
		int err = 0;
		socklen_t el = sizeof(err);
		getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (w || err) {
			fprintf(stderr, "podserver: connect %s:%s: %s\n", argv[0], argv[1],
				w == 2 ? "timed out" : strerror(err));
			return w == 2 ? 2 : 1;
		}
		int n = snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", argv[0]);
		if (send_all(fd, buf, (size_t)n) < 0) {
			fprintf(stderr, "podserver: send: %s\n", strerror(errno));
			return 1;
		}
	}
	for (;;) {
		int w = wait_fd(fd, POLLIN, deadline);
		if (w) {
			fprintf(stderr, "podserver: no answer from %s:%s: %s\n", argv[0], argv[1],
				w == 2 ? "timed out" : strerror(errno));
			return w;
		}
		ssize_t r = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0) {
			fprintf(stderr, "podserver: recv from %s:%s: %s\n", argv[0], argv[1], strerror(errno));
			return 1;
		}
		len += (size_t)r;
		if (udp || r == 0 || len == sizeof(buf) - 1)
			break;
	}
	buf[len] = 0;
	if (udp) {
		fputs(buf, stdout);
		return 0;
	}
	char *body = strstr(buf, "\r\n\r\n");
	if (strncmp(buf, "HTTP/1.1 200", 12) != 0 || !body) {
		fprintf(stderr, "podserver: unexpected answer from %s:%s: %.80s\n", argv[0], argv[1], buf);
		return 1;
	}
	fputs(body + 4, stdout);
	return 0;
usage:
	fprintf(stderr, "usage: podserver get|udp IPV4 PORT [--timeout MS]\n");
	return 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		return serve(argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "get") == 0)
		return client(0, argc - 2, argv + 2);
	if (argc >= 2 && strcmp(argv[1], "udp") == 0)
		return client(1, argc - 2, argv + 2);
	fprintf(stderr, "usage: podserver serve|get|udp ...\n");
	return 1;
}

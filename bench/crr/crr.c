/*
 * crr: TCP connect-request-response latency, the per-connection cost a Service dataplane adds.
 *
 *   crr [--count N] [--warmup N] [--max-ms MS] [--timeout-ms MS] IP:PORT [IP:PORT]...
 *
 * One transaction = socket(), blocking connect(), one "GET / HTTP/1.1" with Connection: close,
 * read to EOF, close(); timed with CLOCK_MONOTONIC from before socket() to after close(). The
 * targets are visited round-robin, one transaction each, so that every target sees the same
 * machine noise (a ClusterIP and the pod behind it are compared within one run). Each target
 * gets N timed transactions after --warmup untimed ones; the run stops early at --max-ms.
 * Prints one JSON object: per target n, errors, p50/p90/p99/mean/min/max in microseconds.
 * Exit 0 when every target completed at least one transaction, 1 otherwise.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_TARGETS 8

struct target {
	const char *spec;
	struct sockaddr_in addr;
	double *us;  /* timed samples */
	long n;
	long errors;
	char last_error[128];
};

static double now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples. */
static double pct(const double *s, long n, double p)
{
	long rank = (long)((p / 100.0) * n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return s[rank - 1];
}

static int parse_target(const char *spec, struct sockaddr_in *sa)
{
	char ip[64];
	const char *colon = strrchr(spec, ':');
	if (!colon || colon == spec || (size_t)(colon - spec) >= sizeof(ip))
		return -1;
	memcpy(ip, spec, colon - spec);
	ip[colon - spec] = 0;
	char *end;
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535)
		return -1;
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -1;
}

/* One transaction; returns 0 and sets *us, or -1 with the reason in t->last_error. */
static int transaction(struct target *t, int timeout_ms, double *us)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: crr\r\nConnection: close\r\n\r\n";
	char buf[4096];
	double t0 = now_us();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(t->last_error, sizeof(t->last_error), "socket: %s", strerror(errno));
		return -1;
	}
	struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)); /* bounds connect() too */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	const char *what = "connect";
	if (connect(fd, (struct sockaddr *)&t->addr, sizeof(t->addr)) < 0)
		goto fail;
	what = "send";
	if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1))
		goto fail;
	what = "recv";
	size_t total = 0;
	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0)
			goto fail;
		if (r == 0)
			break;
		if (total == 0 && (r < 12 || memcmp(buf, "HTTP/1.1 200", 12) != 0)) {
			snprintf(t->last_error, sizeof(t->last_error), "not an HTTP 200 answer");
			close(fd);
			return -1;
		}
		total += (size_t)r;
	}
	if (total == 0) {
		snprintf(t->last_error, sizeof(t->last_error), "connection closed without an answer");
		close(fd);
		return -1;
	}
	close(fd);
	*us = now_us() - t0;
	return 0;
fail:
	snprintf(t->last_error, sizeof(t->last_error), "%s: %s", what, strerror(errno));
	close(fd);
	return -1;
}

static void usage(void)
{
	fprintf(stderr, "usage: crr [--count N] [--warmup N] [--max-ms MS] [--timeout-ms MS] IP:PORT...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long count = 1000, warmup = 50, max_ms = 30000;
	int timeout_ms = 2000;
	struct target targets[MAX_TARGETS];
	int nt = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = atol(argv[++i]);
		else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
			warmup = atol(argv[++i]);
		else if (!strcmp(argv[i], "--max-ms") && i + 1 < argc)
			max_ms = atol(argv[++i]);
		else if (!strcmp(argv[i], "--timeout-ms") && i + 1 < argc)
			timeout_ms = atoi(argv[++i]);
		else if (argv[i][0] == '-')
			usage();
		else {
			if (nt == MAX_TARGETS) {
				fprintf(stderr, "crr: at most %d targets\n", MAX_TARGETS);
				return 2;
			}
			struct target *t = &targets[nt++];
			memset(t, 0, sizeof(*t));
			t->spec = argv[i];
			if (parse_target(argv[i], &t->addr) < 0) {
				fprintf(stderr, "crr: bad target %s (want IPv4:PORT)\n", argv[i]);
				return 2;
			}
		}
	}
	if (nt == 0 || count <= 0 || warmup < 0 || max_ms <= 0 || timeout_ms <= 0)
		usage();
	for (int k = 0; k < nt; k++) {
		targets[k].us = calloc((size_t)count, sizeof(double));
		if (!targets[k].us) {
			perror("calloc");
			return 1;
		}
	}
	double deadline = now_us() + max_ms * 1000.0;
	for (long i = 0; i < warmup + count && now_us() < deadline; i++) {
		for (int k = 0; k < nt; k++) {
			struct target *t = &targets[k];
			double us;
			if (transaction(t, timeout_ms, &us) < 0)
				t->errors++;
			else if (i >= warmup)
				t->us[t->n++] = us;
		}
	}
	int ok = 1;
	printf("{\"targets\":[");
	for (int k = 0; k < nt; k++) {
		struct target *t = &targets[k];
		qsort(t->us, (size_t)t->n, sizeof(double), cmp_double);
		double sum = 0;
		for (long i = 0; i < t->n; i++)
			sum += t->us[i];
		printf("%s{\"target\":\"%s\",\"n\":%ld,\"errors\":%ld", k ? "," : "", t->spec, t->n, t->errors);
		if (t->n > 0)
			printf(",\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,"
			       "\"min_us\":%.1f,\"max_us\":%.1f",
			       pct(t->us, t->n, 50), pct(t->us, t->n, 90), pct(t->us, t->n, 99),
			       sum / t->n, t->us[0], t->us[t->n - 1]);
		else
			ok = 0;
		if (t->errors)
			printf(",\"last_error\":\"%s\"", t->last_error);
		printf("}");
	}
	printf("]}\n");
	return ok ? 0 : 1;
}

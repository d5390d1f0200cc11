/* stream: what a TCP stream must keep when it crosses the kernel cage's TUN device and the
 * launcher's userspace stack. Built statically by tests/src/builds.rs, so no preload library
 * is in it: under `torify --strict` its bytes cross the TUN device. HOST is an IPv4 or IPv6
 * address; the peer echoes (the tests' mock SOCKS server).
 *
 *   stream bulk HOST PORT MB     MB sent while the echo is read back, every byte checked
 *   stream halfclose HOST PORT   sends "half", shuts its write side, reads the echo, and
 *                                says whether EOF followed within a second
 *   stream parallel HOST PORT N MB   N processes at once, each a bulk of MB to HOST:PORT
 *   stream connect HOST PORT     how connect() ends: ok, or the errno's name
 *   stream dnstcp HOST PORT NAME asks HOST:PORT for NAME's A record over TCP (RFC 1035 4.2.2:
 *                                two-byte length, message), prints the first address */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static unsigned char pattern(size_t i) { return (unsigned char)(i * 31 + (i >> 13)); }

static int dial(const char *host, const char *port, int *err) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((unsigned short)atoi(port));
        len = sizeof *a4;
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((unsigned short)atoi(port));
        len = sizeof *a6;
    } else {
        return -1;
    }
    int s = socket(ss.ss_family, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&ss, len) != 0) {
        *err = errno;
        return -1;
    }
    return s;
}

static int bulk(int s, size_t total) {
    static unsigned char out[65536], in[65536];
    size_t sent = 0, got = 0;
    while (got < total) {
        struct pollfd p = {s, POLLIN | (sent < total ? POLLOUT : 0), 0};
        if (poll(&p, 1, 20000) <= 0) {
            printf("bulk=stalled at %zu/%zu back\n", got, total);
            return 1;
        }
        if (p.revents & POLLOUT) {
            size_t n = total - sent < sizeof out ? total - sent : sizeof out;
            for (size_t i = 0; i < n; i++) out[i] = pattern(sent + i);
            ssize_t w = write(s, out, n);
            if (w < 0) { printf("bulk=write failed: %s\n", strerror(errno)); return 1; }
            sent += (size_t)w;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(s, in, sizeof in);
            if (r <= 0) { printf("bulk=ended at %zu/%zu back\n", got, total); return 1; }
            for (ssize_t i = 0; i < r; i++)
                if (in[i] != pattern(got + (size_t)i)) {
                    printf("bulk=corrupt at byte %zu\n", got + (size_t)i);
                    return 1;
                }
            got += (size_t)r;
        }
    }
    printf("bulk=ok bytes=%zu\n", got);
    return 0;
}

static int halfclose(int s) {
    char buf[64];
    size_t got = 0;
    if (write(s, "half", 4) != 4 || shutdown(s, SHUT_WR) != 0) return 1;
    while (got < 4) { /* the echo of what was sent before the FIN */
        struct pollfd p = {s, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0) { printf("halfclose=no reply in 10 s\n"); return 1; }
        ssize_t r = read(s, buf + got, sizeof buf - 1 - got);
        if (r <= 0) { printf("halfclose=reply lost (%s)\n", r < 0 ? strerror(errno) : "EOF"); return 1; }
        got += (size_t)r;
    }
    buf[got] = 0;
    printf("halfclose=%s\n", buf);
    /* Then whether the far end saw the FIN: an echo server ends on it within the second. */
    struct pollfd p = {s, POLLIN, 0};
    printf("eof=%d\n", poll(&p, 1, 1000) == 1 && read(s, buf, sizeof buf) == 0);
    return 0;
}

static int dnstcp(int s, const char *name) {
    unsigned char q[300] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}, r[1024];
    size_t len = 12;
    for (const char *label = name; *label;) { /* the name as labels */
        size_t n = strcspn(label, ".");
        if (n == 0 || n > 63 || len + n + 6 > sizeof q) return 2;
        q[len++] = (unsigned char)n;
        memcpy(q + len, label, n);
        len += n;
        label += n + (label[n] == '.');
    }
    q[len++] = 0;
    q[len++] = 0, q[len++] = 1; /* A */
    q[len++] = 0, q[len++] = 1; /* IN */
    unsigned char framed[2 + sizeof q] = {(unsigned char)(len >> 8), (unsigned char)len};
    memcpy(framed + 2, q, len);
    if (write(s, framed, len + 2) != (ssize_t)(len + 2)) return 1;
    size_t got = 0;
    while (got < 2 || got < 2 + (size_t)(r[0] << 8 | r[1])) {
        ssize_t n = read(s, r + got, sizeof r - got);
        if (n <= 0) { printf("dnstcp=no answer\n"); return 1; }
        got += (size_t)n;
    }
    unsigned char *m = r + 2, *end = r + got;
    if ((m[3] & 0x0f) != 0 || (m[6] << 8 | m[7]) == 0) { printf("dnstcp=rcode %d\n", m[3] & 0x0f); return 1; }
    unsigned char *p = m + 12;
    while (p < end && *p) p += *p + 1; /* skip the question's name, type and class */
    p += 5;
    /* The answer: a name (a pointer here), type, class, TTL, length, then the address. */
    if (p + 16 > end || (p[0] & 0xc0) != 0xc0 || p[3] != 1) { printf("dnstcp=no A record\n"); return 1; }
    printf("dnstcp=%d.%d.%d.%d\n", p[12], p[13], p[14], p[15]);
    return 0;
}

/* N flows to one destination at once: each SYN must reach its own flow in the stack. */
static int parallel(const char *host, const char *port, int n, size_t total) {
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) return 1;
        if (pid == 0) {
            int err = 0, s = dial(host, port, &err);
            if (s < 0) { printf("parallel=connect failed: %s\n", strerror(err)); _exit(1); }
            _exit(bulk(s, total) ? 1 : 0);
        }
    }
    int ok = 0, status;
    while (wait(&status) > 0) ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    fflush(stdout);
    printf("parallel=%d/%d ok\n", ok, n);
    return ok == n ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc < 4) return 2;
    if (strcmp(argv[1], "parallel") == 0 && argc >= 6) {
        setvbuf(stdout, NULL, _IONBF, 0);
        alarm(120);
        return parallel(argv[2], argv[3], atoi(argv[4]), (size_t)atoi(argv[5]) << 20);
    }
    int err = 0;
    int s = dial(argv[2], argv[3], &err);
    if (strcmp(argv[1], "connect") == 0) {
        printf("connect=%s\n", s >= 0 ? "ok" : err == ECONNREFUSED ? "refused" : strerror(err));
        return 0;
    }
    if (s < 0) { printf("connect=%s\n", strerror(err)); return 1; }
    alarm(120);
    if (strcmp(argv[1], "bulk") == 0 && argc >= 5) return bulk(s, (size_t)atoi(argv[4]) << 20);
    if (strcmp(argv[1], "halfclose") == 0) return halfclose(s);
    if (strcmp(argv[1], "dnstcp") == 0 && argc >= 5) return dnstcp(s, argv[4]);
    return 2;
}

/* What bench/probe.c does not measure, for bench/stacks/run:

     client first N IP PORT [SOCKSPORT]   N rounds of socket + connect + 1 byte out + its echo
                                          back + close; prints us per round
     client verify MB IP PORT [SOCKSPORT] MB megabytes of a counting pattern, echo read back at
                                          the same time and compared byte for byte; prints MB/s

     client halfclose KB IP PORT          KB kilobytes out, shutdown(SHUT_WR), then the echo read
                                          to EOF: prints "ok" if all came back and EOF followed
     client fail IP PORT                  connect, 1 byte out, read: prints what the program sees
                                          (against a stack whose SOCKS server is down)

   connect() through a TUN stack returns when the *stack's* SYN-ACK arrives, before the stack
   has reached the SOCKS server; the first echoed byte is what a program really waits for.
   IP may be IPv4 or IPv6. With SOCKSPORT the SOCKS5 exchange is done by hand with
   127.0.0.1:SOCKSPORT instead (the no-TUN baseline). Exit status 1 on any error or mismatch. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int read_full(int s, unsigned char *b, int n) {
    int got = 0, k;
    while (got < n && (k = read(s, b + got, n - got)) > 0) got += k;
    return got == n ? 0 : -1;
}

/* A connected socket to ip:port, directly or through SOCKS5 on 127.0.0.1:socks. */
static int dial(const char *ip, int port, int socks) {
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    struct sockaddr_in a4 = {.sin_family = AF_INET, .sin_port = htons(port)};
    int v6 = inet_pton(AF_INET6, ip, &a6.sin6_addr) == 1;
    if (!v6 && inet_pton(AF_INET, ip, &a4.sin_addr) != 1) return -1;
    if (socks) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(socks)};
        unsigned char m[32] = {5, 1, 0, 5, 1, 0}, r[22];
        int len = 6, s = socket(AF_INET, SOCK_STREAM, 0);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (v6) m[len++] = 4, memcpy(m + len, &a6.sin6_addr, 16), len += 16;
        else m[len++] = 1, memcpy(m + len, &a4.sin_addr, 4), len += 4;
        m[len++] = port >> 8, m[len++] = port & 255;
        if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) || write(s, m, len) != len ||
            read_full(s, r, 6) || r[1] != 0 || read_full(s, r + 6, r[5] == 4 ? 18 : 6))
            return s >= 0 ? close(s), -1 : -1;
        return s;
    }
    int s = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (s < 0) return -1;
    if (v6 ? connect(s, (struct sockaddr *)&a6, sizeof a6) : connect(s, (struct sockaddr *)&a4, sizeof a4))
        return close(s), -1;
    return s;
}

/* Sends total bytes of a counting pattern while reading the echo back (poll, both at once);
   0 when every byte came back equal. 30 s without progress counts as a hang. */
static int verify(int s, long total) {
    static unsigned char out[1 << 16], in[1 << 16];
    long sent = 0, back = 0;
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
    while (back < total) {
        struct pollfd p = {.fd = s, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        if (poll(&p, 1, 30000) <= 0) return fprintf(stderr, "verify: stalled at %ld/%ld back\n", back, total), -1;
        if (p.revents & POLLOUT) {
            long want = total - sent < (long)sizeof out ? total - sent : (long)sizeof out;
            for (long i = 0; i < want; i++) out[i] = (unsigned char)((sent + i) % 251);
            ssize_t k = write(s, out, want);
            if (k > 0) sent += k;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t k = read(s, in, sizeof in);
            if (k == 0 || (k < 0 && (p.revents & (POLLHUP | POLLERR))))
                return fprintf(stderr, "verify: closed at %ld/%ld back\n", back, total), -1;
            for (ssize_t i = 0; i < k; i++)
                if (in[i] != (unsigned char)((back + i) % 251))
                    return fprintf(stderr, "verify: wrong byte at offset %ld\n", back + i), -1;
            if (k > 0) back += k;
        }
    }
    return 0;
}

static unsigned char in_buf[1 << 16];

int main(int argc, char **argv) {
    double t0 = now();
    if (argc == 4 && !strcmp(argv[1], "fail")) {
        unsigned char c = 'x';
        int s = dial(argv[2], atoi(argv[3]), 0);
        if (s < 0) return puts("connect failed"), 0;
        ssize_t w = write(s, &c, 1), r = read(s, &c, 1);
        printf("%s after %.0f us\n", r == 0 ? "EOF" : r > 0 ? "data" : strerror(errno), (now() - t0) * 1e6);
        (void)w;
        return 0;
    }
    if (argc < 5) return fprintf(stderr, "usage: client first|verify N IP PORT [SOCKSPORT]\n"), 2;
    long n = atol(argv[2]);
    int port = atoi(argv[4]), socks = argc > 5 ? atoi(argv[5]) : 0;
    if (!strcmp(argv[1], "verify")) {
        int s = dial(argv[3], port, socks);
        if (s < 0 || verify(s, n * 1000000L)) return perror("verify"), 1;
        close(s);
        printf("%.1f\n", n / (now() - t0));
        return 0;
    }
    if (!strcmp(argv[1], "halfclose")) {
        static unsigned char b[1 << 20];
        long total = n * 1000, back = 0;
        ssize_t k;
        int s = dial(argv[3], port, socks);
        if (s < 0 || total > (long)sizeof b) return perror("halfclose"), 1;
        for (long i = 0; i < total; i++) b[i] = (unsigned char)(i % 251);
        for (long sent = 0; sent < total; sent += k)
            if ((k = write(s, b + sent, total - sent)) <= 0) return perror("halfclose write"), 1;
        shutdown(s, SHUT_WR);
        while ((k = read(s, in_buf, sizeof in_buf)) > 0) {
            for (ssize_t i = 0; i < k; i++)
                if (back + i >= total || in_buf[i] != (unsigned char)((back + i) % 251)) return puts("wrong"), 1;
            back += k;
        }
        if (k < 0) return perror("halfclose read"), 1;
        printf("%s %ld/%ld\n", back == total ? "ok" : "short", back, total);
        return back == total ? 0 : 1;
    }
    if (strcmp(argv[1], "first")) return 2;
    for (long i = 0; i < n; i++) {
        unsigned char c = 'x';
        int s = dial(argv[3], port, socks), one = 1;
        if (s < 0) return perror("connect"), 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (write(s, &c, 1) != 1 || read(s, &c, 1) != 1 || c != 'x') return perror("first byte"), 1;
        close(s);
    }
    printf("%.1f\n", (now() - t0) / n * 1e6);
    return 0;
}

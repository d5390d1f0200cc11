/* The program bench/run times under each tool (see bench/README.md); bench/run compiles it.

     probe loop N                          N rounds of hooked calls on non-socket descriptors
     probe calls N                         N rounds of 8 hooked calls on a file and a pipe
                                           (for instruction counts: valgrind --tool=callgrind)
     probe connect N IP PORT [SOCKSPORT]   N connects to IP:PORT
     probe resolve N NAME [SOCKSPORT]      N getaddrinfo(NAME)
     probe bulk MB IP PORT [SOCKSPORT]     MB megabytes to IP:PORT, read back from its echo

   Prints the time per round (ns for loop, us otherwise; for bulk, MB/s of the bytes sent and
   echoed back, both directions at once), its VmHWM in KB, and the address
   the last lookup gave. With SOCKSPORT it does the SOCKS5 exchange with 127.0.0.1:SOCKSPORT
   itself instead of calling connect()/getaddrinfo() on the target: the bare baseline, the
   same exchange a tool must do, without any preload library. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static long hwm_kb(void) {
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f)) sscanf(line, "VmHWM: %ld", &kb);
    if (f) fclose(f);
    return kb;
}

/* One SOCKS5 request (greeting and request pipelined) to 127.0.0.1:port; the bound address
   of the reply goes to out. Returns the connected socket, or -1. */
static int socks_open(int port, unsigned char cmd, const char *host, int dport, char *out) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    unsigned char m[300] = {5, 1, 0, 5, cmd, 0}, r[12];
    size_t len = 6, hl = strlen(host);
    int got = 0, k;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (inet_pton(AF_INET, host, m + 7) == 1) m[len] = 1, len += 5;
    else m[len++] = 3, m[len++] = hl, memcpy(m + len, host, hl), len += hl;
    m[len++] = dport >> 8, m[len++] = dport & 255;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) || write(s, m, len) != (ssize_t)len)
        return -1;
    while (got < 12 && (k = read(s, r + got, 12 - got)) > 0) got += k;
    if (got < 12 || r[1] != 0 || r[3] != 0 || r[5] != 1) return close(s), -1;
    inet_ntop(AF_INET, r + 6, out, INET_ADDRSTRLEN);
    return s;
}

/* The same, for a request whose connection is not used further. Returns 0 on success. */
static int by_hand(int port, unsigned char cmd, const char *host, int dport, char *out) {
    int s = socks_open(port, cmd, host, dport, out);
    return s < 0 ? -1 : close(s);
}

/* A connection to ip:port, through connect() or by hand through SOCKS port socks. */
static int dial(const char *ip, int port, int socks, char *out) {
    if (socks) return socks_open(socks, 1, ip, port, out);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &sa.sin_addr);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) return close(s), -1;
    return s;
}

/* Sends total bytes on s while reading their echo back, both at once (poll), so neither
   direction waits on the other's buffers. Returns 0 when every byte came back. */
static int bulk(int s, long total) {
    static char out[1 << 16], in[1 << 16];
    long sent = 0, back = 0;
    memset(out, 'x', sizeof out);
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
    while (back < total) {
        struct pollfd p = {.fd = s, .events = POLLIN | (sent < total ? POLLOUT : 0)};
        if (poll(&p, 1, 10000) <= 0) return -1;
        if (p.revents & POLLOUT) {
            long want = total - sent < (long)sizeof out ? total - sent : (long)sizeof out;
            ssize_t k = write(s, out, want);
            if (k > 0) sent += k;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t k = read(s, in, sizeof in);
            if (k == 0 || (k < 0 && (p.revents & (POLLHUP | POLLERR)))) return -1;
            if (k > 0) back += k;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int n = atoi(argv[2]);
    int socks = atoi(argc > 5 && (!strcmp(argv[1], "connect") || !strcmp(argv[1], "bulk")) ? argv[5]
                     : argc > 4 && !strcmp(argv[1], "resolve") ? argv[4] : "0");
    char addr[INET_ADDRSTRLEN] = "?", c;
    double t0 = now(), unit = 1e6;
    if (!strcmp(argv[1], "bulk") && argc >= 5) {
        int s = dial(argv[3], atoi(argv[4]), socks, addr);
        if (s < 0 || bulk(s, n * 1000000L)) {
            perror("bulk");
            return 1;
        }
        close(s);
        printf("%.1f %ld %s\n", n / (now() - t0), hwm_kb(), addr);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (!strcmp(argv[1], "loop")) {
            /* Calls preload libraries hook (read, fcntl, dup, close, syscall) on descriptors
               that are not sockets: the cost a program pays when it never networks. */
            int fd = open("/dev/null", O_RDONLY);
            if (fd < 0 || read(fd, &c, 1) != 0 || fcntl(fd, F_GETFL) < 0) return 1;
            int fd2 = dup(fd);
            syscall(SYS_getpid);
            close(fd2);
            close(fd);
            unit = 1e9;
        } else if (!strcmp(argv[1], "calls")) {
            /* read/write/fcntl/dup/close on a file and a pipe, no system call the hooks do
               not see: 8 hooked calls a round, counted in instructions (kernel time is not). */
            static int p[2] = {-1, -1};
            if (p[0] < 0 && pipe(p) != 0) return 1;
            int fd = open("/dev/null", O_RDONLY);
            if (fd < 0 || read(fd, &c, 1) != 0 || write(p[1], "x", 1) != 1 ||
                read(p[0], &c, 1) != 1 || fcntl(p[0], F_GETFL) < 0)
                return 1;
            int fd2 = dup(p[1]);
            if (fd2 < 0 || close(fd2) != 0 || close(fd) != 0) return 1;
            unit = 1e9;
        } else if (!strcmp(argv[1], "connect") && argc >= 5) {
            int s = dial(argv[3], atoi(argv[4]), socks, addr);
            if (s < 0) {
                perror("connect");
                return 1;
            }
            close(s);
        } else if (!strcmp(argv[1], "resolve") && argc >= 4) {
            struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *res;
            int rc = socks ? by_hand(socks, 0xF0, argv[3], 0, addr)
                           : getaddrinfo(argv[3], "80", &hints, &res);
            if (rc != 0) {
                fprintf(stderr, "resolve: %s\n", socks ? "SOCKS error" : gai_strerror(rc));
                return 1;
            }
            if (!socks) {
                inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof addr);
                freeaddrinfo(res);
            }
        } else {
            return 2;
        }
    }
    /* The address too: a tool that answers with a made-up address never asked the proxy. */
    printf("%.1f %ld %s\n", (now() - t0) * unit / n, hwm_kb(), addr);
    return 0;
}

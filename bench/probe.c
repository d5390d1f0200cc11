/* The program bench/run times under each tool (see bench/README.md); bench/run compiles it.

     probe loop N                          N rounds of hooked calls on non-socket descriptors
     probe connect N IP PORT [SOCKSPORT]   N connects to IP:PORT
     probe resolve N NAME [SOCKSPORT]      N getaddrinfo(NAME)

   Prints the time per round (ns for loop, us otherwise), its VmHWM in KB, and the address
   the last lookup gave. With SOCKSPORT it does the SOCKS5 exchange with 127.0.0.1:SOCKSPORT
   itself instead of calling connect()/getaddrinfo() on the target: the bare baseline, the
   same exchange a tool must do, without any preload library. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
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
   of the reply goes to out. Returns 0 on success. */
static int by_hand(int port, unsigned char cmd, const char *host, int dport, char *out) {
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
    close(s);
    if (got < 12 || r[1] != 0 || r[3] != 0 || r[5] != 1) return -1;
    inet_ntop(AF_INET, r + 6, out, INET_ADDRSTRLEN);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int n = atoi(argv[2]);
    int socks = atoi(argc > 5 && !strcmp(argv[1], "connect") ? argv[5]
                     : argc > 4 && !strcmp(argv[1], "resolve") ? argv[4] : "0");
    char addr[INET_ADDRSTRLEN] = "?", c;
    double t0 = now(), unit = 1e6;
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
        } else if (!strcmp(argv[1], "connect") && argc >= 5) {
            struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[4]))};
            inet_pton(AF_INET, argv[3], &sa.sin_addr);
            int s = socks ? 0 : socket(AF_INET, SOCK_STREAM, 0);
            if (socks ? by_hand(socks, 1, argv[3], atoi(argv[4]), addr)
                      : s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
                perror("connect");
                return 1;
            }
            if (!socks) close(s);
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

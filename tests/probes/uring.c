/* uring: what the library cannot see, for the kernel filter of default mode
 * (tests/tests/unenterable.rs): liburing makes its own io_uring system calls, and a program
 * can make the socket system call with the `syscall` instruction itself.
 *
 *   uring io-uring            io_uring_queue_init through liburing
 *   uring raw-udp HOST PORT   socket(AF_INET, SOCK_DGRAM) and sendto by inline system calls
 *   uring raw-tcp             socket(AF_INET, SOCK_STREAM) by an inline system call
 *   uring raw-connect HOST PORT MSG   TCP connect, write MSG, read the echo: all inline calls
 *   uring uring-connect HOST PORT MSG the same through io_uring (IORING_OP_CONNECT/SEND/RECV) */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
static long raw6(long n, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static long raw6(long n, long a, long b, long c, long d, long e, long f) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    return x0;
}
#endif

static const char *errname(long e) {
    switch (-e) {
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    default: return e < 0 ? "OTHER" : "0";
    }
}

static void fill(struct sockaddr_in *a, const char *host, const char *port) {
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons((unsigned short)atoi(port));
    inet_pton(AF_INET, host, &a->sin_addr);
}

static int raw_connect(char **argv) {
    struct sockaddr_in a;
    fill(&a, argv[2], argv[3]);
    long fd = raw6(SYS_socket, AF_INET, SOCK_STREAM, 0, 0, 0, 0);
    long rc = raw6(SYS_connect, fd, (long)&a, sizeof a, 0, 0, 0);
    printf("connect=%ld errno=%s\n", rc < 0 ? -1 : rc, errname(rc));
    if (rc < 0) return 0;
    size_t len = strlen(argv[4]);
    raw6(SYS_sendto, fd, (long)argv[4], (long)len, 0, 0, 0);
    char buf[256];
    size_t got = 0;
    while (got < len) {
        long n = raw6(SYS_recvfrom, fd, (long)(buf + got), (long)(len - got), 0, 0, 0);
        if (n <= 0) break;
        got += (size_t)n;
    }
    buf[got] = 0;
    printf("reply=%s\n", buf);
    return 0;
}

/* One io_uring operation, waited for: its result (a negative errno on failure). */
static int uring_op(struct io_uring *ring) {
    io_uring_submit(ring);
    struct io_uring_cqe *cqe;
    if (io_uring_wait_cqe(ring, &cqe) < 0) return -EIO;
    int res = cqe->res;
    io_uring_cqe_seen(ring, cqe);
    return res;
}

static int uring_connect(char **argv) {
    struct io_uring ring;
    int ret = io_uring_queue_init(8, &ring, 0);
    if (ret < 0) {
        printf("io_uring_queue_init=-1 errno=%s\n", errname(ret));
        return 0;
    }
    struct sockaddr_in a;
    fill(&a, argv[2], argv[3]);
    long fd = raw6(SYS_socket, AF_INET, SOCK_STREAM, 0, 0, 0, 0);
    io_uring_prep_connect(io_uring_get_sqe(&ring), (int)fd, (struct sockaddr *)&a, sizeof a);
    ret = uring_op(&ring);
    printf("connect=%d errno=%s\n", ret < 0 ? -1 : ret, errname(ret));
    if (ret < 0) return 0;
    size_t len = strlen(argv[4]);
    io_uring_prep_send(io_uring_get_sqe(&ring), (int)fd, argv[4], len, 0);
    uring_op(&ring);
    char buf[256];
    size_t got = 0;
    while (got < len) {
        io_uring_prep_recv(io_uring_get_sqe(&ring), (int)fd, buf + got, len - got, 0);
        int n = uring_op(&ring);
        if (n <= 0) break;
        got += (size_t)n;
    }
    buf[got] = 0;
    printf("reply=%s\n", buf);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    if (!strcmp(argv[1], "io-uring")) {
        struct io_uring ring;
        int ret = io_uring_queue_init(8, &ring, 0);
        printf("io_uring_queue_init=%d errno=%s\n", ret < 0 ? -1 : ret, errname(ret));
        return 0;
    }
    if (!strcmp(argv[1], "raw-udp") && argc >= 4) {
        long fd = raw6(SYS_socket, AF_INET, SOCK_DGRAM, 0, 0, 0, 0);
        printf("socket=%ld errno=%s\n", fd < 0 ? -1 : fd, errname(fd));
        if (fd >= 0) {
            struct sockaddr_in a;
            memset(&a, 0, sizeof a);
            a.sin_family = AF_INET;
            a.sin_port = htons((unsigned short)atoi(argv[3]));
            inet_pton(AF_INET, argv[2], &a.sin_addr);
            long n = raw6(SYS_sendto, fd, (long)"leak", 4, 0, (long)&a, sizeof a);
            printf("sendto=%ld\n", n);
        }
        return 0;
    }
    if (!strcmp(argv[1], "raw-connect") && argc >= 5) return raw_connect(argv);
    if (!strcmp(argv[1], "uring-connect") && argc >= 5) return uring_connect(argv);
    if (!strcmp(argv[1], "raw-tcp")) {
        long fd = raw6(SYS_socket, AF_INET, SOCK_STREAM, 0, 0, 0, 0);
        printf("socket=%ld errno=%s\n", fd < 0 ? -1 : fd, errname(fd));
        return 0;
    }
    return 2;
}

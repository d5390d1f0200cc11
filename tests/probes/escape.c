/* escape: the ways a dynamically linked program can slip around the library's hooks, one mode
 * each, reporting key=value lines (errno by name). Run under torify by tests/tests/escape.rs.
 *
 *   escape getsockopt-eperm HOST PORT   a seccomp filter makes getsockopt fail, then connect
 *   escape own-getsockopt HOST PORT MSG the program defines getsockopt (lying: ENOTSOCK)
 *   escape alias HOST PORT MSG          connect through glibc's __connect
 *   escape private HOST PORT            __socket/__sendmmsg/__recv by dlsym (GLIBC_PRIVATE)
 *   escape dlsym-libc HOST PORT MSG     connect found with dlsym(dlopen("libc.so.6"), …)
 *   escape dlvsym HOST PORT MSG         connect found with dlvsym(RTLD_NEXT, …, "GLIBC_2.2.5")
 *   escape withheld                     dlsym of libc internals that resolve (must be NULL)
 *   escape chain HOST PORT MSG          with chain.so preloaded after libtorify: its
 *                                       dlsym(RTLD_NEXT) finds torify's connect, libc's
 *                                       getsockopt
 *   escape sunrpc HOST                  rtime, pmap_getport, clnt_create, callrpc, getrpcport
 *   escape rlogin HOST                  iruserok, iruserok_af, ruserok_af
 *   escape hostid                       gethostid() without /etc/hostid, name not in /etc/hosts
 *   escape write-fd FD                  write, send, sendfile, splice, pwritev2 on FD
 *   escape pidfd PID FD                 pidfd_getfd of another process's socket, then send
 *   escape fdopen HOST PORT MSG         non-blocking connect, then stdio (fdopen, fputs, fgets)
 *   escape splice HOST PORT MSG         non-blocking connect, then splice the reply into a pipe
 *   escape preadv2 HOST PORT MSG        non-blocking connect, then preadv2 at offset -1
 *   escape fclose-reuse HOST PORT       fclose(fdopen(s)) of a pending socket, reuse the number
 *   escape nb-many HOST PORT N          N non-blocking connects at once; prints the time taken
 *   escape raw-clone HOST PORT N        threads connecting while N raw clone(SIGCHLD) children
 *                                       connect; prints how many came back
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EINPROGRESS: return "EINPROGRESS";
    case ENOSYS: return "ENOSYS";
    case ENOTSOCK: return "ENOTSOCK";
    case EAGAIN: return "EAGAIN";
    case ENOTCONN: return "ENOTCONN";
    case EDESTADDRREQ: return "EDESTADDRREQ";
    default: return "OTHER";
    }
}

static void report(const char *step, long ret) {
    printf("step=%s ret=%ld errno=%s\n", step, ret, ret < 0 ? errname(errno) : "0");
    fflush(stdout);
}

static socklen_t parse(const char *host, const char *port, struct sockaddr_in *a) {
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_port = htons(atoi(port));
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", host);
        exit(2);
    }
    return sizeof *a;
}

/* Sends msg and prints what comes back (the mock echoes). */
static void echo(int fd, const char *msg) {
    report("send", send(fd, msg, strlen(msg), MSG_NOSIGNAL));
    char buf[256];
    size_t got = 0, want = strlen(msg);
    while (got < want) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 5000);
        ssize_t n = recv(fd, buf + got, want - got, 0);
        if (n <= 0) {
            if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            printf("reply=FAILED(%s)\n", n == 0 ? "EOF" : errname(errno));
            return;
        }
        got += (size_t)n;
    }
    buf[got] = 0;
    printf("reply=%s\n", buf);
    fflush(stdout);
}

/* getsockopt fails with EPERM in the kernel, as a sandbox's seccomp filter may make it. */
static int getsockopt_eperm(char **argv) {
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getsockopt, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {.len = sizeof f / sizeof f[0], .filter = f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    report("seccomp", prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog));
    struct sockaddr_in a;
    socklen_t len = parse(argv[2], argv[3], &a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    report("connect", connect(fd, (struct sockaddr *)&a, len));
    return 0;
}

/* A program of its own getsockopt, which says every descriptor is no socket. */
int getsockopt(int fd, int level, int name, void *value, socklen_t *len) {
    (void)fd; (void)level; (void)name; (void)value; (void)len;
    if (getenv("ESCAPE_OWN_GETSOCKOPT")) {
        errno = ENOTSOCK;
        return -1;
    }
    return (int)syscall(SYS_getsockopt, fd, level, name, value, len);
}

static int connect_echo(int (*do_connect)(int, const struct sockaddr *, socklen_t), char **argv) {
    struct sockaddr_in a;
    socklen_t len = parse(argv[2], argv[3], &a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    report("connect", do_connect(fd, (struct sockaddr *)&a, len));
    echo(fd, argv[4]);
    return 0;
}

extern int __connect(int, const struct sockaddr *, socklen_t);

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static int private_names(char **argv) {
    int (*sock)(int, int, int) = (int (*)(int, int, int))dlsym(RTLD_DEFAULT, "__socket");
    int (*mmsg)(int, struct mmsghdr *, unsigned, int) =
        (int (*)(int, struct mmsghdr *, unsigned, int))dlsym(RTLD_NEXT, "__sendmmsg");
    printf("found=%d,%d\n", sock != NULL, mmsg != NULL);
    if (!sock || !mmsg) return 0;
    report("__socket-udp", sock(AF_INET, SOCK_DGRAM, 0));
    /* A TCP socket is fine; a datagram by __sendmmsg on an allowed one is judged. */
    int fd = sock(AF_INET, SOCK_STREAM, 0);
    report("__socket-tcp", fd);
    struct sockaddr_in a;
    parse(argv[2], argv[3], &a);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    struct mmsghdr m = {.msg_hdr = {.msg_name = &a, .msg_namelen = sizeof a, .msg_iov = &iov, .msg_iovlen = 1}};
    report("__sendmmsg-fastopen", mmsg(fd, &m, 1, MSG_FASTOPEN));
    return 0;
}

static int chain(char **argv) {
    void *(*next_gso)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "chain_next_getsockopt");
    void *(*next_connect)(void) = (void *(*)(void))dlsym(RTLD_DEFAULT, "chain_next_connect");
    if (!next_gso || !next_connect) {
        printf("chain=missing\n");
        return 0;
    }
    void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
    void *libc_gso = dlvsym(libc, "getsockopt", "GLIBC_2.2.5");
    printf("next_getsockopt=%s\n", next_gso() == libc_gso ? "libc" : "other");
    return connect_echo((connect_fn)next_connect(), argv);
}

static int withheld(void) {
    const char *names[] = {"__res_context_send", "_nss_dns_gethostbyname4_r", "__libc_dlsym", NULL};
    for (int i = 0; names[i]; i++)
        printf("%s=%s\n", names[i], dlsym(RTLD_DEFAULT, names[i]) ? "found" : "null");
    /* And an ordinary lookup still works. */
    printf("getpid=%s\n", dlsym(RTLD_DEFAULT, "getpid") == (void *)getpid ? "same" : "other");
    return 0;
}

/* Sun RPC compatibility symbols, bound by version as old binaries are. */
struct rpc_timeval { long tv_sec, tv_usec; };
__asm__(".symver rtime,rtime@GLIBC_2.2.5");
__asm__(".symver pmap_getport,pmap_getport@GLIBC_2.2.5");
__asm__(".symver clnt_create,clnt_create@GLIBC_2.2.5");
__asm__(".symver callrpc,callrpc@GLIBC_2.2.5");
__asm__(".symver getrpcport,getrpcport@GLIBC_2.2.5");
int rtime(struct sockaddr_in *, struct rpc_timeval *, struct rpc_timeval *);
unsigned short pmap_getport(struct sockaddr_in *, unsigned long, unsigned long, unsigned);
void *clnt_create(const char *, unsigned long, unsigned long, const char *);
int callrpc(const char *, unsigned long, unsigned long, unsigned long, void *, const char *, void *, char *);
int getrpcport(const char *, unsigned long, unsigned long, unsigned);

static int sunrpc(char **argv) {
    struct sockaddr_in a;
    parse(argv[2], "37", &a);
    struct rpc_timeval t, timeout = {1, 0};
    report("rtime", rtime(&a, &t, &timeout));
    a.sin_port = htons(111);
    printf("pmap_getport=%d\n", pmap_getport(&a, 100000, 2, IPPROTO_UDP));
    printf("clnt_create=%s\n", clnt_create(argv[2], 100000, 2, "udp") ? "client" : "null");
    printf("callrpc=%d\n", callrpc(argv[2], 100000, 2, 0, NULL, NULL, NULL, NULL));
    printf("getrpcport=%d\n", getrpcport(argv[2], 100000, 2, IPPROTO_UDP));
    return 0;
}

extern int iruserok(uint32_t, int, const char *, const char *);
extern int iruserok_af(const void *, int, const char *, const char *, sa_family_t);
extern int ruserok_af(const char *, int, const char *, const char *, sa_family_t);

static int rlogin(char **argv) {
    struct in_addr in;
    inet_pton(AF_INET, argv[2], &in);
    report("iruserok", iruserok(in.s_addr, 0, "root", "root"));
    report("iruserok_af", iruserok_af(&in, 0, "root", "root", AF_INET));
    report("ruserok_af", ruserok_af(argv[2], 0, "root", "root", AF_INET));
    return 0;
}

/* Every way to send on an open descriptor without naming a destination. */
static int write_fd(char **argv) {
    int fd = atoi(argv[2]);
    report("write", write(fd, "w", 1));
    report("send", send(fd, "s", 1, 0));
    struct iovec iov = {.iov_base = "v", .iov_len = 1};
    report("writev", writev(fd, &iov, 1));
    report("pwritev2", pwritev2(fd, &iov, 1, -1, 0));
    int file = open("/proc/self/exe", O_RDONLY);
    report("sendfile", sendfile(fd, file, NULL, 1));
    int p[2];
    pipe(p);
    write(p[1], "p", 1);
    report("splice", splice(p[0], NULL, fd, NULL, 1, 0));
    report("fdopen", fdopen(fd, "w") ? 0 : -1);
    report("sys-write", syscall(SYS_write, fd, "r", 1));
    return 0;
}

static int pidfd(char **argv) {
    int pfd = (int)syscall(SYS_pidfd_open, atoi(argv[2]), 0);
    report("pidfd_open", pfd);
    int fd = (int)syscall(SYS_pidfd_getfd, pfd, atoi(argv[3]), 0);
    report("pidfd_getfd", fd);
    if (fd >= 0) report("send", send(fd, "leak", 4, MSG_NOSIGNAL));
    return 0;
}

/* A non-blocking connect; the SOCKS reply is still pending when this returns. */
static int pending_socket(char **argv) {
    struct sockaddr_in a;
    socklen_t len = parse(argv[2], argv[3], &a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    report("connect", connect(fd, (struct sockaddr *)&a, len));
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    poll(&p, 1, 5000);
    return fd;
}

static void blocking(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
}

static int via_stdio(char **argv) {
    int fd = pending_socket(argv);
    blocking(fd);
    FILE *f = fdopen(fd, "r+");
    if (!f) { report("fdopen", -1); return 0; }
    fprintf(f, "%s\n", argv[4]);
    fflush(f);
    char line[256] = "";
    if (!fgets(line, sizeof line, f)) strcpy(line, "FAILED");
    line[strcspn(line, "\n")] = 0;
    printf("reply=%s\n", line);
    return 0;
}

static int via_splice(char **argv) {
    int fd = pending_socket(argv);
    blocking(fd);
    send(fd, argv[4], strlen(argv[4]), MSG_NOSIGNAL);
    int p[2];
    pipe(p);
    size_t want = strlen(argv[4]), got = 0;
    char buf[256];
    while (got < want) {
        ssize_t n = splice(fd, NULL, p[1], NULL, want - got, 0);
        if (n <= 0) { report("splice", n); return 0; }
        n = read(p[0], buf + got, (size_t)n);
        got += (size_t)n;
    }
    buf[got] = 0;
    printf("reply=%s\n", buf);
    return 0;
}

static int via_preadv2(char **argv) {
    int fd = pending_socket(argv);
    blocking(fd);
    send(fd, argv[4], strlen(argv[4]), MSG_NOSIGNAL);
    char buf[256];
    size_t want = strlen(argv[4]), got = 0;
    while (got < want) {
        struct iovec iov = {.iov_base = buf + got, .iov_len = want - got};
        ssize_t n = preadv2(fd, &iov, 1, -1, 0);
        if (n <= 0) { report("preadv2", n); return 0; }
        got += (size_t)n;
    }
    buf[got] = 0;
    printf("reply=%s\n", buf);
    return 0;
}

static int fclose_reuse(char **argv) {
    int fd = pending_socket(argv);
    FILE *f = fdopen(fd, "r");
    fclose(f);
    /* The number is free again: a file takes it, and reads as a file. */
    int file = open("/etc/hostname", O_RDONLY);
    printf("same_number=%d\n", file == fd);
    char buf[8];
    report("read", read(file, buf, 1));
    return 0;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int nb_many(char **argv) {
    int n = atoi(argv[4]);
    struct sockaddr_in a;
    socklen_t len = parse(argv[2], argv[3], &a);
    double start = now();
    int inprogress = 0;
    for (int i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        if (connect(fd, (struct sockaddr *)&a, len) < 0 && errno == EINPROGRESS) inprogress++;
    }
    printf("inprogress=%d seconds=%.2f\n", inprogress, now() - start);
    return 0;
}

struct work { struct sockaddr_in a; volatile int stop; };

static void connect_once(struct sockaddr_in *a) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    connect(fd, (struct sockaddr *)a, sizeof *a);
    close(fd);
}

static void *connector(void *arg) {
    struct work *w = arg;
    while (!w->stop) connect_once(&w->a);
    return NULL;
}

static int raw_clone(char **argv) {
    int n = atoi(argv[4]);
    struct work w;
    parse(argv[2], argv[3], &w.a);
    w.stop = 0;
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, connector, &w);
    int back = 0;
    for (int i = 0; i < n; i++) {
        long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) {
            connect_once(&w.a);
            syscall(SYS_exit_group, 0);
        }
        /* A child stuck on a lock its parent's thread held never exits: wait a while only. */
        for (int tries = 0; tries < 500; tries++) {
            int status;
            if (waitpid((pid_t)pid, &status, WNOHANG) == pid) { back++; break; }
            usleep(2000);
        }
    }
    w.stop = 1;
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    printf("children=%d back=%d\n", n, back);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *m = argv[1];
    if (!strcmp(m, "getsockopt-eperm") && argc >= 4) return getsockopt_eperm(argv);
    if (!strcmp(m, "own-getsockopt") && argc >= 5) {
        setenv("ESCAPE_OWN_GETSOCKOPT", "1", 1);
        return connect_echo(connect, argv);
    }
    if (!strcmp(m, "alias") && argc >= 5) return connect_echo(__connect, argv);
    if (!strcmp(m, "private") && argc >= 4) return private_names(argv);
    if (!strcmp(m, "dlsym-libc") && argc >= 5) {
        void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
        return connect_echo((connect_fn)dlsym(libc, "connect"), argv);
    }
    if (!strcmp(m, "dlvsym") && argc >= 5)
        return connect_echo((connect_fn)dlvsym(RTLD_NEXT, "connect", "GLIBC_2.2.5"), argv);
    if (!strcmp(m, "withheld")) return withheld();
    if (!strcmp(m, "chain") && argc >= 5) return chain(argv);
    if (!strcmp(m, "sunrpc") && argc >= 3) return sunrpc(argv);
    if (!strcmp(m, "rlogin") && argc >= 3) return rlogin(argv);
    if (!strcmp(m, "hostid")) {
        printf("hostid=%lx\n", gethostid());
        return 0;
    }
    if (!strcmp(m, "write-fd") && argc >= 3) return write_fd(argv);
    if (!strcmp(m, "pidfd") && argc >= 4) return pidfd(argv);
    if (!strcmp(m, "fdopen") && argc >= 5) return via_stdio(argv);
    if (!strcmp(m, "splice") && argc >= 5) return via_splice(argv);
    if (!strcmp(m, "preadv2") && argc >= 5) return via_preadv2(argv);
    if (!strcmp(m, "fclose-reuse") && argc >= 4) return fclose_reuse(argv);
    if (!strcmp(m, "nb-many") && argc >= 5) return nb_many(argv);
    if (!strcmp(m, "raw-clone") && argc >= 5) return raw_clone(argv);
    fprintf(stderr, "escape: unknown mode %s\n", m);
    return 2;
}

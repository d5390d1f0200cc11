/* leak: one mode per way a process could put a packet on the wire; each prints what happened
 * as key=value lines (errno by name). Run under torify by tests/tests/leaks.rs.
 *
 *   leak udp-sendmsg HOST PORT | udp-sendmmsg HOST PORT | udp-connect-send HOST PORT
 *   leak fastopen HOST PORT MSG        sendto(MSG_FASTOPEN) on a fresh TCP socket
 *   leak tfo-connect HOST PORT MSG     TCP_FASTOPEN_CONNECT, connect, send
 *   leak tcp-sendmmsg-fastopen HOST PORT  sendmmsg(MSG_FASTOPEN) on a fresh TCP socket
 *   leak sys-connect HOST PORT MSG     syscall(SYS_socket), syscall(SYS_connect)
 *   leak sys-udp | sys-sendto HOST PORT | sys-passthrough | io-uring
 *   leak exec MODE PROBE HOST PORT     start `PROBE tcp HOST PORT via-MODE` with MODE one of
 *        execve execve-empty execv execvp execvpe-empty execl execlp execle-empty execveat
 *        fexecve posix_spawn posix_spawn-empty posix_spawnp system popen
 *   leak suid PATH                     execve a setuid program
 *   leak pass-inet | pass-unix         sendmsg SCM_RIGHTS of an internet / unix socket
 *   leak recv-rights SOCKPATH          receive a descriptor on a unix socket and use it
 *   leak listen ADDR PORT              bind, listen, accept (non-blocking)
 *   leak nonblock HOST PORT MSG [FD]   non-blocking connect (optionally moved to fd FD first)
 *   leak eintr HOST PORT               a blocking connect interrupted by SIGALRM, then retried
 *   leak dup HOST PORT                 getpeername through dup, dup2, dup3, F_DUPFD; stale fds
 *   leak fork HOST PORT                connects in threads while forking children that connect
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *errname(int e) {
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EINVAL: return "EINVAL";
    case EINPROGRESS: return "EINPROGRESS";
    case EINTR: return "EINTR";
    case EISCONN: return "EISCONN";
    case ENOSYS: return "ENOSYS";
    case ENOTCONN: return "ENOTCONN";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAGAIN: return "EAGAIN";
    case EBADF: return "EBADF";
    default: return "OTHER";
    }
}

static void report(const char *step, long ret) {
    printf("step=%s ret=%ld errno=%s\n", step, ret, ret < 0 ? errname(errno) : "0");
    fflush(stdout);
}

static socklen_t parse(const char *host, const char *port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (void *)ss;
    struct sockaddr_in6 *a6 = (void *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(atoi(port));
        return sizeof *a4;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(atoi(port));
        return sizeof *a6;
    }
    fprintf(stderr, "bad address %s\n", host);
    exit(2);
}

static void peer(const char *label, int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0) {
        printf("%s=%s\n", label, errname(errno));
        return;
    }
    char buf[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, sizeof buf);
        port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    } else if (ss.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, buf, sizeof buf);
        port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    printf("%s=%s:%d\n", label, buf, port);
    fflush(stdout);
}

/* Reads exactly len bytes (poll for non-blocking sockets, retrying EAGAIN and EINTR). */
static int read_exact(int fd, char *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        poll(&p, 1, 10000);
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n == 0) return -1;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) continue;
            return -1;
        }
        got += (size_t)n;
    }
    buf[got] = 0;
    return 0;
}

static void echo(int fd, const char *msg) {
    report("send", send(fd, msg, strlen(msg), MSG_NOSIGNAL));
    char buf[512];
    if (read_exact(fd, buf, strlen(msg)) == 0) printf("reply=%s\n", buf);
    else printf("reply=FAILED(%s)\n", errname(errno));
    fflush(stdout);
}

static int udp(int argc, char **argv) {
    (void)argc;
    struct sockaddr_storage ss;
    socklen_t len = parse(argv[2], argv[3], &ss);
    int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
    report("socket", fd);
    if (fd < 0) return 0;
    struct iovec iov = {.iov_base = "leak", .iov_len = 4};
    struct msghdr msg = {.msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
    if (!strcmp(argv[1], "udp-sendmsg")) {
        report("sendmsg", sendmsg(fd, &msg, 0));
    } else if (!strcmp(argv[1], "udp-sendmmsg")) {
        struct mmsghdr mm[2] = {{.msg_hdr = msg}, {.msg_hdr = msg}};
        report("sendmmsg", sendmmsg(fd, mm, 2, 0));
    } else {
        report("connect", connect(fd, (struct sockaddr *)&ss, len));
        report("send", send(fd, "leak", 4, 0));
    }
    close(fd);
    return 0;
}

static int fastopen(char **argv, int tfo_connect) {
    struct sockaddr_storage ss;
    socklen_t len = parse(argv[2], argv[3], &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    report("socket", fd);
    if (tfo_connect) {
        int one = 1;
        report("setsockopt", setsockopt(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, &one, sizeof one));
        report("connect", connect(fd, (struct sockaddr *)&ss, len));
        echo(fd, argv[4]);
    } else {
        report("sendto", sendto(fd, argv[4], strlen(argv[4]), MSG_FASTOPEN, (struct sockaddr *)&ss, len));
        char buf[512];
        if (read_exact(fd, buf, strlen(argv[4])) == 0) printf("reply=%s\n", buf);
    }
    peer("peer", fd);
    close(fd);
    return 0;
}

static int sendmmsg_fastopen(char **argv) {
    struct sockaddr_storage ss;
    socklen_t len = parse(argv[2], argv[3], &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    struct iovec iov = {.iov_base = "leak", .iov_len = 4};
    struct mmsghdr mm = {.msg_hdr = {.msg_name = &ss, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1}};
    report("sendmmsg", sendmmsg(fd, &mm, 1, MSG_FASTOPEN));
    return 0;
}

static int sys_modes(int argc, char **argv) {
    const char *m = argv[1];
    if (!strcmp(m, "sys-udp")) {
        report("socket", syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0));
        return 0;
    }
    if (!strcmp(m, "io-uring")) {
        char params[120] = {0};
        report("io_uring_setup", syscall(SYS_io_uring_setup, 8, params));
        return 0;
    }
    if (!strcmp(m, "sys-passthrough")) {
        printf("getpid=%s\n", syscall(SYS_getpid) == getpid() ? "same" : "DIFFERENT");
        char rnd[16];
        report("getrandom", syscall(SYS_getrandom, rnd, sizeof rnd, 0));
        /* All six arguments must arrive: a wrong offset (the sixth) makes mmap fail. */
        void *p = (void *)syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        printf("mmap=%s\n", p == MAP_FAILED ? errname(errno) : "ok");
        struct utsname u;
        report("uname", syscall(SYS_uname, &u));
        report("unknown", syscall(100000));
        return 0;
    }
    if (argc < 4) return 2;
    struct sockaddr_storage ss;
    socklen_t len = parse(argv[2], argv[3], &ss);
    if (!strcmp(m, "sys-sendto")) {
        long fd = syscall(SYS_socket, ss.ss_family, SOCK_DGRAM, 0);
        report("socket", fd);
        if (fd >= 0) report("sendto", syscall(SYS_sendto, fd, "leak", 4, 0, &ss, len));
        return 0;
    }
    long fd = syscall(SYS_socket, ss.ss_family, SOCK_STREAM, 0);
    report("socket", fd);
    report("connect", syscall(SYS_connect, fd, &ss, len));
    if (argc > 4) echo((int)fd, argv[4]);
    peer("peer", (int)fd);
    return 0;
}

static int exec_mode(int argc, char **argv) {
    if (argc < 6) return 2;
    const char *m = argv[2];
    char via[64];
    snprintf(via, sizeof via, "via-%s", m);
    char *child[] = {argv[3], "tcp", argv[4], argv[5], via, NULL};
    char *empty[] = {NULL};
    char *scrubbed[] = {"HOME=/", NULL};
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "exec %s tcp %s %s %s", argv[3], argv[4], argv[5], via);
    fflush(stdout);
    if (!strcmp(m, "system") || !strcmp(m, "popen")) {
        /* A program that scrubs its environment first. */
        clearenv();
        setenv("PATH", "/usr/bin:/bin", 1);
        if (!strcmp(m, "system")) {
            printf("system=%d\n", system(cmd));
        } else {
            FILE *f = popen(cmd, "r");
            char line[256];
            while (f && fgets(line, sizeof line, f)) fputs(line, stdout);
            printf("pclose=%d\n", f ? pclose(f) : -1);
        }
        return 0;
    }
    if (!strncmp(m, "posix_spawn", 11)) {
        pid_t pid;
        char **env = strstr(m, "empty") ? empty : environ;
        int rc = !strcmp(m, "posix_spawnp")
                     ? posix_spawnp(&pid, argv[3], NULL, NULL, child, env)
                     : posix_spawn(&pid, argv[3], NULL, NULL, child, env);
        printf("spawn=%s\n", rc == 0 ? "0" : errname(rc));
        if (rc == 0) waitpid(pid, NULL, 0);
        return 0;
    }
    if (!strcmp(m, "execve")) execve(argv[3], child, environ);
    else if (!strcmp(m, "execve-empty")) execve(argv[3], child, empty);
    else if (!strcmp(m, "execv")) execv(argv[3], child);
    else if (!strcmp(m, "execvp")) execvp(argv[3], child);
    else if (!strcmp(m, "execvpe-empty")) execvpe(argv[3], child, empty);
    else if (!strcmp(m, "execl")) execl(argv[3], argv[3], "tcp", argv[4], argv[5], via, (char *)NULL);
    else if (!strcmp(m, "execlp")) execlp(argv[3], argv[3], "tcp", argv[4], argv[5], via, (char *)NULL);
    else if (!strcmp(m, "execle-empty")) execle(argv[3], argv[3], "tcp", argv[4], argv[5], via, (char *)NULL, scrubbed);
    else if (!strcmp(m, "execveat")) syscall(SYS_execveat, AT_FDCWD, argv[3], child, empty, 0);
    else if (!strcmp(m, "fexecve")) {
        int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
        fexecve(fd, child, empty);
    }
    report("exec", -1);
    return 0;
}

static int pass(const char *mode) {
    int pair[2];
    report("socketpair", socketpair(AF_UNIX, SOCK_STREAM, 0, pair));
    int payload = !strcmp(mode, "pass-inet") ? socket(AF_INET, SOCK_STREAM, 0) : socket(AF_UNIX, SOCK_STREAM, 0);
    char cbuf[CMSG_SPACE(sizeof(int))];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {.iov_base = "x", .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &payload, sizeof(int));
    report("sendmsg", sendmsg(pair[0], &msg, 0));
    return 0;
}

static int recv_rights(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
    report("connect", connect(fd, (struct sockaddr *)&sun, sizeof sun));
    char data[1];
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {.iov_base = data, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
    long n = recvmsg(fd, &msg, 0);
    report("recvmsg", n);
    if (n >= 0) {
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        if (c && c->cmsg_type == SCM_RIGHTS) {
            int got;
            memcpy(&got, CMSG_DATA(c), sizeof got);
            report("use", send(got, "leak", 4, MSG_NOSIGNAL));
        }
    }
    return 0;
}

static int do_listen(char **argv) {
    struct sockaddr_storage ss;
    socklen_t len = parse(argv[2], argv[3], &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    report("bind", bind(fd, (struct sockaddr *)&ss, len));
    report("listen", listen(fd, 4));
    report("accept", accept(fd, NULL, NULL));
    report("accept4", accept4(fd, NULL, NULL, SOCK_CLOEXEC));
    return 0;
}

static int nonblock(int argc, char **argv) {
    struct sockaddr_storage ss;
    socklen_t len = parse(argv[2], argv[3], &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (argc > 5) {
        /* Above 1024: select() could not watch it, poll() must. */
        int high = atoi(argv[5]);
        report("dup2", dup2(fd, high));
        close(fd);
        fd = high;
    }
    int rc = connect(fd, (struct sockaddr *)&ss, len);
    report("connect", rc);
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    printf("poll=%d\n", poll(&p, 1, 10000));
    int err = -1;
    socklen_t el = sizeof err;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
    printf("so_error=%s\n", errname(err));
    report("connect-again", connect(fd, (struct sockaddr *)&ss, len));
    peer("peer", fd);
    echo(fd, argv[4]);
    return 0;
}

static void on_alarm(int sig) { (void)sig; }

static int eintr(char **argv) {
    struct sockaddr_storage ss;
    socklen_t len = parse(argv[2], argv[3], &ss);
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART */
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval t = {.it_value = {.tv_sec = 0, .tv_usec = 300000}};
    setitimer(ITIMER_REAL, &t, NULL);
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    report("connect", connect(fd, (struct sockaddr *)&ss, len));
    report("connect-retry", connect(fd, (struct sockaddr *)&ss, len));
    peer("peer", fd);
    return 0;
}

static int do_dup(char **argv) {
    struct sockaddr_storage ss;
    socklen_t len = parse(argv[2], argv[3], &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    report("connect", connect(fd, (struct sockaddr *)&ss, len));
    int a = dup(fd);
    peer("dup", a);
    report("dup2", dup2(fd, 700));
    peer("dup2", 700);
    report("dup3", dup3(fd, 701, O_CLOEXEC));
    peer("dup3", 701);
    int b = fcntl(fd, F_DUPFD_CLOEXEC, 800);
    peer("f_dupfd", b);
    close(fd);
    close(a);
    close(700);
    close(701);
    close(b);
    /* The numbers are free again: a new, unconnected socket there must not look proxied. */
    int fresh = socket(AF_INET, SOCK_STREAM, 0);
    report("dup2-fresh", dup2(fresh, 700));
    peer("stale", 700);
    return 0;
}

struct work {
    struct sockaddr_storage ss;
    socklen_t len;
    int ok, failed;
};

static void *connector(void *arg) {
    struct work *w = arg;
    for (int i = 0; i < 20; i++) {
        int fd = socket(w->ss.ss_family, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&w->ss, w->len) == 0 && send(fd, "ab", 2, MSG_NOSIGNAL) == 2) {
            char buf[3];
            if (read_exact(fd, buf, 2) == 0) w->ok++;
            else w->failed++;
        } else {
            w->failed++;
        }
        close(fd);
    }
    return NULL;
}

static int do_fork(char **argv) {
    struct work w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].len = parse(argv[2], argv[3], &w[i].ss);
        pthread_create(&t[i], NULL, connector, &w[i]);
    }
    int children_ok = 0;
    for (int i = 0; i < 8; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            struct work cw = w[0];
            cw.ok = cw.failed = 0;
            connector(&cw);
            _exit(cw.ok == 20 ? 0 : 1);
        }
        int status;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) children_ok++;
    }
    int ok = 0, failed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        ok += w[i].ok;
        failed += w[i].failed;
    }
    printf("threads_ok=%d threads_failed=%d children_ok=%d\n", ok, failed, children_ok);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *m = argv[1];
    if (!strncmp(m, "udp-", 4) && argc >= 4) return udp(argc, argv);
    if (!strcmp(m, "fastopen") && argc >= 5) return fastopen(argv, 0);
    if (!strcmp(m, "tfo-connect") && argc >= 5) return fastopen(argv, 1);
    if (!strcmp(m, "tcp-sendmmsg-fastopen") && argc >= 4) return sendmmsg_fastopen(argv);
    if (!strncmp(m, "sys-", 4) || !strcmp(m, "io-uring")) return sys_modes(argc, argv);
    if (!strcmp(m, "exec")) return exec_mode(argc, argv);
    if (!strcmp(m, "suid") && argc >= 3) {
        char *a[] = {argv[2], NULL};
        execve(argv[2], a, environ);
        report("execve", -1);
        return 0;
    }
    if (!strncmp(m, "pass-", 5)) return pass(m);
    if (!strcmp(m, "recv-rights") && argc >= 3) return recv_rights(argv[2]);
    if (!strcmp(m, "listen") && argc >= 4) return do_listen(argv);
    if (!strcmp(m, "nonblock") && argc >= 5) return nonblock(argc, argv);
    if (!strcmp(m, "eintr") && argc >= 4) return eintr(argv);
    if (!strcmp(m, "dup") && argc >= 4) return do_dup(argv);
    if (!strcmp(m, "fork") && argc >= 4) return do_fork(argv);
    fprintf(stderr, "leak: unknown mode %s\n", m);
    return 2;
}

/* probe: calls one socket API the way a real program would and reports what happened.
 *
 * Every line of output is `key=value ...`; the test harness parses them. `errno` is printed
 * by name so assertions read like the policy table.
 *
 *   probe tcp HOST PORT [MESSAGE]   connect (send MESSAGE, print the reply), getpeername
 *   probe tcp-twice HOST PORT MSG   the same twice in one process (once-per-process messages)
 *   probe udp-sendto HOST PORT      socket(SOCK_DGRAM) + sendto
 *   probe udp-connect HOST PORT     socket(SOCK_DGRAM) + connect + send
 *   probe raw                       socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
 *   probe raw6                      socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)
 *   probe packet                    socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)
 *   probe ping                      socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)
 *   probe sctp                      socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP)
 *   probe unix PATH                 AF_UNIX connect
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case 0: return "0";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNABORTED: return "ECONNABORTED";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case ENOTCONN: return "ENOTCONN";
    case EINPROGRESS: return "EINPROGRESS";
    case ENOSYS: return "ENOSYS";
    case EIO: return "EIO";
    default: return "OTHER";
    }
}

static void report(const char *step, int ret) {
    int e = ret < 0 ? errno : 0;
    printf("step=%s ret=%d errno=%s\n", step, ret, errname(e));
    fflush(stdout);
}

/* Fills `ss` from a textual address; returns its length or 0. */
static socklen_t parse(const char *host, const char *port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons(atoi(port));
        return sizeof *in4;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(atoi(port));
        return sizeof *in6;
    }
    return 0;
}

static void print_peer(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int r = getpeername(fd, (struct sockaddr *)&ss, &len);
    report("getpeername", r);
    if (r < 0) return;
    char buf[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        port = ntohs(a->sin_port);
        printf("peer=%s:%d\n", buf, port);
    } else if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
        port = ntohs(a->sin6_port);
        printf("peer=[%s]:%d\n", buf, port);
    } else {
        printf("peer=family-%d\n", ss.ss_family);
    }
    fflush(stdout);
}

static int tcp(const char *host, const char *port, const char *message) {
    struct sockaddr_storage ss;
    socklen_t len = parse(host, port, &ss);
    if (!len) { fprintf(stderr, "bad address %s\n", host); return 2; }
    int fd = socket(ss.ss_family, SOCK_STREAM, 0);
    report("socket", fd);
    if (fd < 0) return 1;
    int r = connect(fd, (struct sockaddr *)&ss, len);
    report("connect", r);
    if (r < 0) return 1;
    print_peer(fd);
    if (message) {
        size_t n = strlen(message);
        report("send", (int)send(fd, message, n, 0));
        char reply[4096];
        size_t got = 0;
        while (got < n) {
            ssize_t k = recv(fd, reply + got, sizeof reply - 1 - got, 0);
            if (k <= 0) break;
            got += (size_t)k;
        }
        reply[got] = 0;
        printf("reply=%s\n", reply);
    }
    report("close", close(fd));
    return 0;
}

static int udp(const char *host, const char *port, int use_connect) {
    struct sockaddr_storage ss;
    socklen_t len = parse(host, port, &ss);
    if (!len) { fprintf(stderr, "bad address %s\n", host); return 2; }
    int fd = socket(ss.ss_family, SOCK_DGRAM, 0);
    report("socket", fd);
    if (fd < 0) return 1;
    if (use_connect) {
        int r = connect(fd, (struct sockaddr *)&ss, len);
        report("connect", r);
        if (r < 0) return 1;
        report("send", (int)send(fd, "leak", 4, 0));
    } else {
        report("sendto", (int)sendto(fd, "leak", 4, 0, (struct sockaddr *)&ss, len));
    }
    close(fd);
    return 0;
}

static int unix_connect(const char *path) {
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    strncpy(sun.sun_path, path, sizeof sun.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    report("socket", fd);
    if (fd < 0) return 1;
    report("connect", connect(fd, (struct sockaddr *)&sun, sizeof sun));
    close(fd);
    return 0;
}

static int only_socket(int domain, int type, int proto) {
    int fd = socket(domain, type, proto);
    report("socket", fd);
    if (fd >= 0) close(fd);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: probe MODE ARGS\n"); return 2; }
    const char *mode = argv[1];
    if (!strcmp(mode, "tcp") && argc >= 4) return tcp(argv[2], argv[3], argc > 4 ? argv[4] : NULL);
    if (!strcmp(mode, "tcp-twice") && argc == 5) {
        int first = tcp(argv[2], argv[3], argv[4]);
        return first ? first : tcp(argv[2], argv[3], argv[4]);
    }
    if (!strcmp(mode, "udp-sendto") && argc == 4) return udp(argv[2], argv[3], 0);
    if (!strcmp(mode, "udp-connect") && argc == 4) return udp(argv[2], argv[3], 1);
    if (!strcmp(mode, "raw")) return only_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (!strcmp(mode, "raw6")) return only_socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
    if (!strcmp(mode, "packet")) return only_socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (!strcmp(mode, "ping")) return only_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
    if (!strcmp(mode, "sctp")) return only_socket(AF_INET, SOCK_STREAM, IPPROTO_SCTP);
    if (!strcmp(mode, "unix") && argc == 3) return unix_connect(argv[2]);
    fprintf(stderr, "probe: unknown mode %s\n", mode);
    return 2;
}

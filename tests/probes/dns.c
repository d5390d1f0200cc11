/* dns: calls one name-resolution entry point and prints what it answered.
 *
 *   dns gai NAME [SERVICE] [unspec|inet|inet6] [flag...]   getaddrinfo (flags: passive,
 *                                     canonname, numerichost, numericserv, addrconfig,
 *                                     v4mapped, all, nohints, nullnode)
 *   dns ghbn NAME | ghbn_r NAME | ghbn2 NAME inet|inet6 | ghbn2_r NAME inet|inet6
 *   dns ghba IP | ghba_r IP
 *   dns gni IP PORT [namereqd|numerichost|numericserv...]
 *   dns resq NAME TYPE | ress NAME TYPE | resqd NAME DOMAIN TYPE | ressend NAME TYPE
 *   dns resnq NAME TYPE | resnsend NAME TYPE | __resq NAME TYPE (the old symbol)
 *   dns gai_a NAME                    getaddrinfo_a in GAI_WAIT mode
 *   dns connect NAME PORT [MESSAGE]   getaddrinfo + connect (+ send/recv), getpeername
 *   dns gai-each NAME...              getaddrinfo of each name in one process
 *   dns rcmd HOST
 *   dns gai-then-child NAME PORT      getaddrinfo, then a forked and exec'd child (this
 *                                     program again) connects to the address it got
 *
 * Output lines are key=value; addresses as text, errors by their symbolic names.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Binaries built before glibc 2.34 call __res_query@GLIBC_2.2.5; bind to it the same way. */
__asm__(".symver old_res_query,__res_query@GLIBC_2.2.5");
int old_res_query(const char *, int, int, unsigned char *, int);

static const char *eai(int rc) {
    switch (rc) {
    case 0: return "0";
    case EAI_NONAME: return "EAI_NONAME";
    case EAI_AGAIN: return "EAI_AGAIN";
    case EAI_FAIL: return "EAI_FAIL";
    case EAI_NODATA: return "EAI_NODATA";
    case EAI_FAMILY: return "EAI_FAMILY";
    case EAI_SERVICE: return "EAI_SERVICE";
    case EAI_OVERFLOW: return "EAI_OVERFLOW";
    case EAI_SYSTEM: return "EAI_SYSTEM";
    case EAI_ADDRFAMILY: return "EAI_ADDRFAMILY";
    default: return "EAI_OTHER";
    }
}

static const char *herr(int h) {
    switch (h) {
    case 0: return "0";
    case HOST_NOT_FOUND: return "HOST_NOT_FOUND";
    case TRY_AGAIN: return "TRY_AGAIN";
    case NO_RECOVERY: return "NO_RECOVERY";
    case NO_DATA: return "NO_DATA";
    case NETDB_INTERNAL: return "NETDB_INTERNAL";
    default: return "H_OTHER";
    }
}

static void print_sockaddr(const struct sockaddr *sa) {
    char buf[INET6_ADDRSTRLEN] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)sa;
        inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
        printf("addr=%s port=%d", buf, ntohs(a->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)sa;
        inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
        printf("addr=%s port=%d", buf, ntohs(a->sin6_port));
    }
}

static int family_of(const char *s) {
    if (!s || !strcmp(s, "unspec")) return AF_UNSPEC;
    if (!strcmp(s, "inet")) return AF_INET;
    if (!strcmp(s, "inet6")) return AF_INET6;
    return atoi(s);
}

static int gai(int argc, char **argv) {
    const char *name = argv[2];
    const char *service = argc > 3 && strcmp(argv[3], "-") ? argv[3] : NULL;
    struct addrinfo hints = {.ai_family = family_of(argc > 4 ? argv[4] : NULL), .ai_socktype = SOCK_STREAM};
    int use_hints = 1;
    for (int i = 5; i < argc; i++) {
        if (!strcmp(argv[i], "passive")) hints.ai_flags |= AI_PASSIVE;
        else if (!strcmp(argv[i], "canonname")) hints.ai_flags |= AI_CANONNAME;
        else if (!strcmp(argv[i], "numerichost")) hints.ai_flags |= AI_NUMERICHOST;
        else if (!strcmp(argv[i], "numericserv")) hints.ai_flags |= AI_NUMERICSERV;
        else if (!strcmp(argv[i], "addrconfig")) hints.ai_flags |= AI_ADDRCONFIG;
        else if (!strcmp(argv[i], "v4mapped")) hints.ai_flags |= AI_V4MAPPED;
        else if (!strcmp(argv[i], "all")) hints.ai_flags |= AI_ALL;
        else if (!strcmp(argv[i], "anysock")) hints.ai_socktype = 0;
        else if (!strcmp(argv[i], "nohints")) use_hints = 0;
        else if (!strcmp(argv[i], "nullnode")) name = NULL;
    }
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(name, service, use_hints ? &hints : NULL, &res);
    printf("gai=%s\n", eai(rc));
    int n = 0;
    for (struct addrinfo *p = res; p; p = p->ai_next, n++) {
        printf("result ");
        print_sockaddr(p->ai_addr);
        printf(" socktype=%d", p->ai_socktype);
        if (p->ai_canonname) printf(" canonname=%s", p->ai_canonname);
        printf("\n");
    }
    printf("count=%d\n", n);
    if (res) freeaddrinfo(res);
    return 0;
}

static void print_hostent(const char *what, struct hostent *h, int h_err) {
    if (!h) {
        printf("%s=NULL h_errno=%s\n", what, herr(h_err));
        return;
    }
    printf("%s=ok name=%s length=%d\n", what, h->h_name, h->h_length);
    for (char **a = h->h_addr_list; *a; a++) {
        char buf[INET6_ADDRSTRLEN];
        inet_ntop(h->h_addrtype, *a, buf, sizeof buf);
        printf("hostaddr=%s\n", buf);
    }
}

static int ghbn(int argc, char **argv) {
    const char *mode = argv[1];
    const char *name = argv[2];
    int af = family_of(argc > 3 ? argv[3] : "inet");
    if (!strcmp(mode, "ghbn")) {
        struct hostent *h = gethostbyname(name);
        print_hostent("hostent", h, h_errno);
    } else if (!strcmp(mode, "ghbn2")) {
        struct hostent *h = gethostbyname2(name, af);
        print_hostent("hostent", h, h_errno);
    } else {
        struct hostent ret, *result = NULL;
        char buf[1024];
        int h_err = 0;
        int rc = !strcmp(mode, "ghbn_r") ? gethostbyname_r(name, &ret, buf, sizeof buf, &result, &h_err)
                                         : gethostbyname2_r(name, af, &ret, buf, sizeof buf, &result, &h_err);
        printf("rc=%d\n", rc);
        print_hostent("hostent", result, h_err);
        char tiny[8];
        rc = gethostbyname_r(name, &ret, tiny, sizeof tiny, &result, &h_err);
        printf("small_rc=%s\n", rc == ERANGE ? "ERANGE" : rc == 0 ? "0" : "OTHER");
    }
    return 0;
}

static int ghba(int argc, char **argv) {
    (void)argc;
    unsigned char addr[16];
    int af = strchr(argv[2], ':') ? AF_INET6 : AF_INET;
    inet_pton(af, argv[2], addr);
    socklen_t len = af == AF_INET ? 4 : 16;
    if (!strcmp(argv[1], "ghba")) {
        struct hostent *h = gethostbyaddr(addr, len, af);
        print_hostent("hostent", h, h_errno);
    } else {
        struct hostent ret, *result = NULL;
        char buf[1024];
        int h_err = 0;
        int rc = gethostbyaddr_r(addr, len, af, &ret, buf, sizeof buf, &result, &h_err);
        printf("rc=%d\n", rc);
        print_hostent("hostent", result, h_err);
    }
    return 0;
}

static int gni(int argc, char **argv) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (strchr(argv[2], ':')) {
        struct sockaddr_in6 *a = (void *)&ss;
        a->sin6_family = AF_INET6;
        inet_pton(AF_INET6, argv[2], &a->sin6_addr);
        a->sin6_port = htons(atoi(argv[3]));
        len = sizeof *a;
    } else {
        struct sockaddr_in *a = (void *)&ss;
        a->sin_family = AF_INET;
        inet_pton(AF_INET, argv[2], &a->sin_addr);
        a->sin_port = htons(atoi(argv[3]));
        len = sizeof *a;
    }
    int flags = 0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "namereqd")) flags |= NI_NAMEREQD;
        if (!strcmp(argv[i], "numerichost")) flags |= NI_NUMERICHOST;
        if (!strcmp(argv[i], "numericserv")) flags |= NI_NUMERICSERV;
    }
    char host[NI_MAXHOST] = "", serv[NI_MAXSERV] = "";
    int rc = getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv, flags);
    printf("gni=%s host=%s serv=%s\n", eai(rc), host, serv);
    return 0;
}

static int type_of(const char *s) {
    if (!strcmp(s, "A")) return ns_t_a;
    if (!strcmp(s, "AAAA")) return ns_t_aaaa;
    if (!strcmp(s, "PTR")) return ns_t_ptr;
    if (!strcmp(s, "MX")) return ns_t_mx;
    if (!strcmp(s, "TXT")) return ns_t_txt;
    return atoi(s);
}

/* Prints the records of a DNS answer. */
static void print_answer(int len, const unsigned char *answer) {
    ns_msg msg;
    if (len < 0 || ns_initparse(answer, len, &msg) < 0) {
        printf("parse=failed\n");
        return;
    }
    printf("rcode=%d ancount=%d\n", ns_msg_getflag(msg, ns_f_rcode), ns_msg_count(msg, ns_s_an));
    for (int i = 0; i < ns_msg_count(msg, ns_s_an); i++) {
        ns_rr rr;
        if (ns_parserr(&msg, ns_s_an, i, &rr) < 0) break;
        char buf[NS_MAXDNAME];
        if (ns_rr_type(rr) == ns_t_a) inet_ntop(AF_INET, ns_rr_rdata(rr), buf, sizeof buf);
        else if (ns_rr_type(rr) == ns_t_aaaa) inet_ntop(AF_INET6, ns_rr_rdata(rr), buf, sizeof buf);
        else if (ns_rr_type(rr) == ns_t_ptr) ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr), buf, sizeof buf);
        else snprintf(buf, sizeof buf, "type%d", ns_rr_type(rr));
        printf("record=%s ttl=%u\n", buf, ns_rr_ttl(rr));
    }
}

static int res(int argc, char **argv) {
    const char *mode = argv[1];
    unsigned char answer[NS_PACKETSZ];
    int len;
    h_errno = 0;
    if (!strcmp(mode, "resq")) len = res_query(argv[2], ns_c_in, type_of(argv[3]), answer, sizeof answer);
    else if (!strcmp(mode, "__resq")) len = old_res_query(argv[2], ns_c_in, type_of(argv[3]), answer, sizeof answer);
    else if (!strcmp(mode, "ress")) len = res_search(argv[2], ns_c_in, type_of(argv[3]), answer, sizeof answer);
    else if (!strcmp(mode, "resqd") && argc > 4)
        len = res_querydomain(argv[2], argv[3], ns_c_in, type_of(argv[4]), answer, sizeof answer);
    else if (!strcmp(mode, "resnq")) {
        struct __res_state st;
        memset(&st, 0, sizeof st);
        res_ninit(&st);
        len = res_nquery(&st, argv[2], ns_c_in, type_of(argv[3]), answer, sizeof answer);
    } else {
        unsigned char query[NS_PACKETSZ];
        int qlen = res_mkquery(ns_o_query, argv[2], ns_c_in, type_of(argv[3]), NULL, 0, NULL, query, sizeof query);
        if (!strcmp(mode, "resnsend")) {
            struct __res_state st;
            memset(&st, 0, sizeof st);
            res_ninit(&st);
            len = res_nsend(&st, query, qlen, answer, sizeof answer);
        } else {
            len = res_send(query, qlen, answer, sizeof answer);
        }
    }
    printf("len=%d h_errno=%s\n", len, herr(h_errno));
    print_answer(len < 0 ? -1 : len, answer);
    return 0;
}

static int gai_a(char **argv) {
    struct gaicb req = {.ar_name = argv[2]};
    struct gaicb *list[1] = {&req};
    int rc = getaddrinfo_a(GAI_WAIT, list, 1, NULL);
    printf("gai_a=%d error=%s\n", rc, eai(gai_error(&req)));
    for (struct addrinfo *p = req.ar_result; p; p = p->ai_next) {
        printf("result ");
        print_sockaddr(p->ai_addr);
        printf("\n");
    }
    if (req.ar_result) freeaddrinfo(req.ar_result);
    return 0;
}

static int connect_name(int argc, char **argv) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(argv[2], argv[3], &hints, &res);
    printf("gai=%s\n", eai(rc));
    if (rc) return 1;
    print_sockaddr(res->ai_addr);
    printf("\n");
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    int c = connect(fd, res->ai_addr, res->ai_addrlen);
    printf("connect=%d errno=%s\n", c, c ? strerror(errno) : "0");
    if (c == 0 && argc > 4) {
        size_t want = strlen(argv[4]);
        send(fd, argv[4], want, 0);
        char buf[256] = "";
        size_t got = 0;
        while (got < want && got < sizeof buf - 1) {
            ssize_t n = recv(fd, buf + got, sizeof buf - 1 - got, 0);
            if (n <= 0) break;
            got += (size_t)n;
        }
        buf[got] = 0;
        printf("reply=%s\n", buf);
    }
    freeaddrinfo(res);
    close(fd);
    return 0;
}

static int gai_each(int argc, char **argv) {
    for (int i = 2; i < argc; i++) {
        struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
        struct addrinfo *res = NULL;
        int rc = getaddrinfo(argv[i], NULL, &hints, &res);
        printf("name=%s gai=%s ", argv[i], eai(rc));
        if (res) print_sockaddr(res->ai_addr);
        printf("\n");
        if (res) freeaddrinfo(res);
    }
    return 0;
}

static int do_rcmd(char **argv) {
    char *host = argv[2];
    int rc = rcmd(&host, htons(514), "root", "root", "id", NULL);
    printf("rcmd=%d errno=%s\n", rc, rc < 0 && errno == EPERM ? "EPERM" : "OTHER");
    return 0;
}

static int gai_then_child(char **argv) {
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(argv[2], argv[3], &hints, &res);
    printf("gai=%s\n", eai(rc));
    if (rc) return 1;
    char addr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, addr, sizeof addr);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/proc/self/exe", argv[0], "child-connect", addr, argv[3], (char *)NULL);
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

static int child_connect(char **argv) {
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3]))};
    inet_pton(AF_INET, argv[2], &sin.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int c = connect(fd, (struct sockaddr *)&sin, sizeof sin);
    printf("child connect=%d errno=%s\n", c, c ? strerror(errno) : "0");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: dns MODE ARGS\n"); return 2; }
    const char *m = argv[1];
    int rc = 2;
    if (!strcmp(m, "gai")) rc = gai(argc, argv);
    else if (!strncmp(m, "ghbn", 4)) rc = ghbn(argc, argv);
    else if (!strncmp(m, "ghba", 4)) rc = ghba(argc, argv);
    else if (!strcmp(m, "gni") && argc >= 4) rc = gni(argc, argv);
    else if (!strncmp(m, "res", 3) || !strcmp(m, "__resq")) rc = argc >= 4 ? res(argc, argv) : 2;
    else if (!strcmp(m, "gai_a")) rc = gai_a(argv);
    else if (!strcmp(m, "connect") && argc >= 4) rc = connect_name(argc, argv);
    else if (!strcmp(m, "rcmd")) rc = do_rcmd(argv);
    else if (!strcmp(m, "gai-each")) rc = gai_each(argc, argv);
    else if (!strcmp(m, "gai-then-child") && argc >= 4) rc = gai_then_child(argv);
    else if (!strcmp(m, "child-connect") && argc >= 4) rc = child_connect(argv);
    else fprintf(stderr, "dns: unknown mode %s\n", m);
    fflush(stdout);
    return rc;
}

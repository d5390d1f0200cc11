/* connect: a program that is built the ways the library cannot enter (statically, against
 * musl) by tests/tests/unenterable.rs and strict.rs. It connects TCP to HOST:PORT (a name is
 * resolved with getaddrinfo, the program's own resolver when static), sends MSG and prints the
 * echo, and sends a datagram to HOST:53, as any program might. In default mode it must never
 * start; in the kernel cage its TCP goes through Tor and its datagram nowhere.
 *
 *   connect HOST PORT [MSG] */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    struct addrinfo hints, *res;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int e = getaddrinfo(argv[1], argv[2], &hints, &res);
    if (e != 0) {
        printf("resolve=failed\n");
        return 0;
    }
    char shown[INET_ADDRSTRLEN] = "?";
    inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, shown, sizeof shown);
    printf("resolved=%s\n", shown);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    int rc = connect(t, res->ai_addr, res->ai_addrlen);
    printf("connect=%d\n", rc);
    if (rc == 0 && argc >= 4) {
        size_t len = strlen(argv[3]);
        if (write(t, argv[3], len) == (ssize_t)len) {
            char buf[256];
            size_t got = 0;
            while (got < len) {
                ssize_t n = read(t, buf + got, len - got);
                if (n <= 0) break;
                got += (size_t)n;
            }
            buf[got] = 0;
            printf("reply=%s\n", buf);
        }
    }
    struct sockaddr_in a = *(struct sockaddr_in *)res->ai_addr;
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_port = htons(53);
    printf("sendto=%d\n", (int)sendto(u, "q", 1, 0, (struct sockaddr *)&a, sizeof a));
    return 0;
}

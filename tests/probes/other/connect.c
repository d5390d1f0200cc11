/* connect: a program that is built the ways the library cannot enter (statically, against
 * musl) by tests/tests/unenterable.rs. It connects TCP to HOST:PORT and sends a datagram to
 * HOST:53, as any program might; run under torify it must never start.
 *
 *   connect HOST PORT */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 3) return 2;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)atoi(argv[2]));
    inet_pton(AF_INET, argv[1], &a.sin_addr);
    int t = socket(AF_INET, SOCK_STREAM, 0);
    printf("connect=%d\n", connect(t, (struct sockaddr *)&a, sizeof a));
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    a.sin_port = htons(53);
    printf("sendto=%d\n", (int)sendto(u, "q", 1, 0, (struct sockaddr *)&a, sizeof a));
    return 0;
}

/* stress THREADS ITERATIONS HOST PORT [nonblock]
 *
 * Every thread connects ITERATIONS times (blocking, or non-blocking with poll), sends 16 bytes
 * naming the thread and iteration, reads the echo and compares it, checks getpeername, and
 * closes. Prints the totals and the number of open descriptors before and after.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in dest;
static int iterations, nonblocking;
static atomic_int ok, bad_data, bad_peer, failed;

static int open_fds(void) {
    int n = 0;
    DIR *d = opendir("/proc/self/fd");
    while (d && readdir(d)) n++;
    if (d) closedir(d);
    return n;
}

static int wait_for(int fd, short events) {
    struct pollfd p = {.fd = fd, .events = events};
    return poll(&p, 1, 30000);
}

static void *worker(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < iterations; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
        int rc = connect(fd, (struct sockaddr *)&dest, sizeof dest);
        if (rc < 0 && !(nonblocking && errno == EINPROGRESS)) {
            failed++;
            close(fd);
            continue;
        }
        if (nonblocking) wait_for(fd, POLLOUT);
        struct sockaddr_in p;
        socklen_t pl = sizeof p;
        if (getpeername(fd, (struct sockaddr *)&p, &pl) != 0 || p.sin_addr.s_addr != dest.sin_addr.s_addr ||
            p.sin_port != dest.sin_port)
            bad_peer++;
        char out[64], in[17];
        snprintf(out, sizeof out, "t%03ld-i%06d....", id % 1000, i % 1000000);
        if (send(fd, out, 16, MSG_NOSIGNAL) != 16) {
            failed++;
            close(fd);
            continue;
        }
        size_t got = 0;
        while (got < 16) {
            if (nonblocking) wait_for(fd, POLLIN);
            ssize_t n = recv(fd, in + got, 16 - got, 0);
            if (n > 0) got += (size_t)n;
            else if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            else break;
        }
        if (got != 16) failed++;
        else if (memcmp(in, out, 16) != 0) bad_data++;
        else ok++;
        close(fd);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5) return 2;
    int threads = atoi(argv[1]);
    iterations = atoi(argv[2]);
    nonblocking = argc > 5 && !strcmp(argv[5], "nonblock");
    dest.sin_family = AF_INET;
    inet_pton(AF_INET, argv[3], &dest.sin_addr);
    dest.sin_port = htons(atoi(argv[4]));
    int before = open_fds();
    pthread_t *t = calloc((size_t)threads, sizeof *t);
    for (long i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)i);
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    int after = open_fds();
    printf("ok=%d bad_data=%d bad_peer=%d failed=%d fds_before=%d fds_after=%d\n", atomic_load(&ok),
           atomic_load(&bad_data), atomic_load(&bad_peer), atomic_load(&failed), before, after);
    free(t);
    return 0;
}

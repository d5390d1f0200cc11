/* chain.so: a preload library loaded after libtorify, as another LD_PRELOAD of the user's.
 * It looks functions up the usual way, dlsym(RTLD_NEXT, …), for tests/tests/escape.rs:
 * "connect" must give torify's hook (libc's would connect around Tor), and "getsockopt",
 * which this library also defines, must give libc's: RTLD_NEXT is relative to the caller,
 * and torify's dlsym must keep it so. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int getsockopt(int fd, int level, int name, void *value, socklen_t *len) {
    return (int)syscall(SYS_getsockopt, fd, level, name, value, len);
}

void *chain_next_getsockopt(void) { return dlsym(RTLD_NEXT, "getsockopt"); }

void *chain_next_connect(void) { return dlsym(RTLD_NEXT, "connect"); }

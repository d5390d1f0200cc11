/* execl(3), execlp(3), execle(3) take their argument list as C varargs, which stable Rust
 * cannot read. These read it with va_arg, as glibc's own execl does (count, then a
 * variable-length array on the stack), and hand an argv array to the library's Rust code.
 * The exported execl/execlp/execle symbols are Rust naked functions that jump here, so the
 * caller's registers and stack arrive untouched. */
#include <stdarg.h>
#include <stddef.h>

/* Which call an argv came from (lib/src/hooks/exec.rs, exec_list). */
enum { LIST_EXECL = 0, LIST_EXECLP = 1, LIST_EXECLE = 2 };

int __torify_exec_list(int which, const char *path, char *const argv[], char *const envp[]);

/* How many entries the list has, from `arg` up to (not counting) the NULL. */
static size_t list_length(const char *arg, va_list *ap) {
    if (arg == NULL)
        return 0;
    size_t n = 1;
    while (va_arg(*ap, const char *) != NULL)
        n++;
    return n;
}

/* Copies the list into argv[0..n] and NULL-terminates it; consumes the list's NULL. */
static void list_fill(char **argv, size_t n, const char *arg, va_list *ap) {
    if (n > 0) {
        argv[0] = (char *)arg;
        for (size_t i = 1; i < n; i++)
            argv[i] = va_arg(*ap, char *);
        (void)va_arg(*ap, char *);
    }
    argv[n] = NULL;
}

__attribute__((visibility("hidden"))) int torify_shim_execl(const char *path, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    size_t n = list_length(arg, &ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    list_fill(argv, n, arg, &ap);
    va_end(ap);
    return __torify_exec_list(LIST_EXECL, path, argv, NULL);
}

__attribute__((visibility("hidden"))) int torify_shim_execlp(const char *file, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    size_t n = list_length(arg, &ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    list_fill(argv, n, arg, &ap);
    va_end(ap);
    return __torify_exec_list(LIST_EXECLP, file, argv, NULL);
}

__attribute__((visibility("hidden"))) int torify_shim_execle(const char *path, const char *arg, ...) {
    va_list ap;
    va_start(ap, arg);
    size_t n = list_length(arg, &ap);
    va_end(ap);
    char *argv[n + 1];
    va_start(ap, arg);
    list_fill(argv, n, arg, &ap);
    /* After the list's NULL: the environment. (With no arguments at all, arg was the NULL.) */
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return __torify_exec_list(LIST_EXECLE, path, argv, envp);
}

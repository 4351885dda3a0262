/* Signal names and numbers ("TERM", "SIGTERM", "15", "RTMIN+3"): apart from
 * lifecycle.c so that the engine, which parses `kill -s` and StopSignal,
 * does not link the whole runtime for it. */
#include <signal.h>
#include <stdint.h>
#include <strings.h>

#include "runtime/runtime_internal.h"
#include "moat/util.h"

static const struct {
    const char *name;
    int sig;
} signals[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ILL", SIGILL},     {"TRAP", SIGTRAP},
               {"ABRT", SIGABRT}, {"IOT", SIGIOT},   {"BUS", SIGBUS},   {"FPE", SIGFPE},     {"KILL", SIGKILL},
               {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE},   {"ALRM", SIGALRM},
               {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT}, {"CHLD", SIGCHLD}, {"CONT", SIGCONT}, {"STOP", SIGSTOP},
               {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"XCPU", SIGXCPU},
               {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
               {"POLL", SIGPOLL}, {"PWR", SIGPWR},   {"SYS", SIGSYS}};

int moat_signal_parse(const char *s)
{
    if (!s || !*s)
        return -1;
    int64_t n;
    if (moat_parse_i64(s, &n) == 0)
        return n > 0 && n <= SIGRTMAX ? (int)n : -1;
    const char *name = strncasecmp(s, "SIG", 3) == 0 ? s + 3 : s;
    for (size_t i = 0; i < ARRAY_SIZE(signals); i++)
        if (strcasecmp(name, signals[i].name) == 0)
            return signals[i].sig;
    if (strncasecmp(name, "RTMIN", 5) == 0 || strncasecmp(name, "RTMAX", 5) == 0) {
        int base = strncasecmp(name, "RTMIN", 5) == 0 ? SIGRTMIN : SIGRTMAX;
        if (!name[5])
            return base;
        if (moat_parse_i64(name + 5, &n) == 0 && base + n >= SIGRTMIN && base + n <= SIGRTMAX)
            return base + (int)n;
    }
    return -1;
}

/* One logging entry point with a level.  Output goes to stderr (text) and,
 * when configured, to a log file in text or JSON lines (the OCI runtime
 * `--log FILE --log-format json` convention that conmon/podman read). */
#ifndef MOAT_LOG_H
#define MOAT_LOG_H

enum moat_log_level { MOAT_LOG_ERROR = 0, MOAT_LOG_WARN, MOAT_LOG_INFO, MOAT_LOG_DEBUG };

struct moat_log_config {
    const char *progname;
    enum moat_log_level level;
    int file_fd;   /* -1: none */
    int json;      /* log file in JSON lines */
    int stderr_on; /* also print to stderr */
};

void moat_log_setup(const struct moat_log_config *cfg);
void moat_log(enum moat_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *moat_log_progname(void);

#endif

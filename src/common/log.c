#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "moat/log.h"
#include "moat/util.h"

/* Process-wide sink: logging is a property of the process, not of a library call. */
static struct moat_log_config log_cfg = {
    .progname = "moat", .level = MOAT_LOG_WARN, .file_fd = -1, .json = 0, .stderr_on = 1};

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void moat_log_setup(const struct moat_log_config *cfg) { log_cfg = *cfg; }

const char *moat_log_progname(void) { return log_cfg.progname; }

void moat_log(enum moat_log_level level, const char *fmt, ...)
{
    if (level > log_cfg.level)
        return;
    char *text = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&text, fmt, ap) < 0) {
        va_end(ap);
        return;
    }
    va_end(ap);

    if (log_cfg.stderr_on) {
        char *line = level == MOAT_LOG_ERROR ? xasprintf("%s: %s\n", log_cfg.progname, text)
                                             : xasprintf("%s: %s: %s\n", log_cfg.progname, level_names[level], text);
        (void)moat_write_all(STDERR_FILENO, line, strlen(line));
        free(line);
    }
    if (log_cfg.file_fd >= 0) {
        char ts[64];
        moat_rfc3339_now(ts, sizeof(ts));
        char *line;
        if (log_cfg.json) {
            struct json_object *o = json_object_new_object();
            json_object_object_add(o, "level", json_object_new_string(level_names[level]));
            json_object_object_add(o, "msg", json_object_new_string(text));
            json_object_object_add(o, "time", json_object_new_string(ts));
            line = xasprintf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
            json_object_put(o);
        } else {
            line = xasprintf("%s %s: %s\n", ts, level_names[level], text);
        }
        (void)moat_write_all(log_cfg.file_fd, line, strlen(line));
        free(line);
    }
    free(text);
}

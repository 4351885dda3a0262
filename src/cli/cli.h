/* The moat CLI: a thin main (main.c) with a table of commands, one file per
 * command, each a layer of argument parsing and formatting over the engine's
 * Docker API (client.h; the image commands' helpers in img_api.h).  Only
 * moat's own store maintenance works on the store library directly:
 * system check, system reset, image build-busybox, and info. */
#ifndef MOAT_CLI_H
#define MOAT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "moat/error.h"
#include "moat/store.h"

struct moat_client;

struct cli {
    const char *data_root; /* --data-root, else $MOAT_ROOT, else the default */
    struct moat_store *store;
    const char *prog; /* "moat images", for usage messages */
    const char *host; /* -H/--host, else $MOAT_HOST, else $DOCKER_HOST (see client.h) */
    struct moat_client *client; /* opened on first use by cli_client() */
};

/* A command returns its exit status (>= 0) or -1 with *err set. */
typedef int (*cli_cmd_fn)(struct cli *c, int argc, char **argv, moat_error **err);

/* The store, opened on first use (the local maintenance commands only). */
int cli_store(struct cli *c, struct moat_store **ret, moat_error **err);
/* The API client (src/cli/client.h), opened once on first use (starting the
 * user's moatd when needed); closed by main. */
int cli_client(struct cli *c, struct moat_client **ret, moat_error **err);
/* "\"moat tag\" requires exactly 2 arguments (see 'moat tag --help')". */
int cli_args_error(struct cli *c, moat_error **err, const char *what);
/* getopt returned '?' or ':' (optstring starts with ':'): Docker's words. */
int cli_flag_error(struct cli *c, int o, char **argv, moat_error **err);
/* Print the command's help text to stdout (for -h/--help). */
int cli_help(struct cli *c, const char *usage, const char *const *options);

/* ---- formatting (format.c) ---- */
/* Docker's units.HumanSizeWithPrecision: decimal units, "4.26MB". */
void cli_human_size(uint64_t n, int precision, char *buf, size_t len);
/* Docker's units.HumanDuration: "2 weeks", "About an hour". */
void cli_human_duration(int64_t secs, char *buf, size_t len);
/* "13 months ago", or "N/A" for an unknown time. */
void cli_created_since(int64_t unix_time, char *buf, size_t len);
/* The 12 hex digits of a "sha256:..." ID. */
void cli_short_id(const char *id, char buf[13]);
/* Docker's stringutils.Ellipsis: at most max runes, "…" at the end when cut. */
char *cli_ellipsis(const char *s, size_t max);

/* A table like Docker's tabwriter(minwidth 10, padding 3). */
struct cli_table {
    size_t ncols, nrows;
    char **cells; /* nrows * ncols */
};
void cli_table_init(struct cli_table *t, size_t ncols, ...); /* the header */
void cli_table_row(struct cli_table *t, ...);                /* ncols strings */
void cli_table_print(struct cli_table *t, FILE *f);
void cli_table_free(struct cli_table *t);

/* --format: "{{.Key}}" placeholders (and "table " prefix, "\t", "\n"); lookup
 * gives a value for a key or NULL (an error names the key). */
typedef const char *(*cli_field_fn)(void *ctx, const char *key);
int cli_format_check(const char *fmt, const char *const *keys, moat_error **err);
char *cli_format(const char *fmt, cli_field_fn fn, void *ctx);

/* ---- commands ---- */
int cmd_images(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_rmi(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_tag(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_save(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_load(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_import(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_history(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_image_inspect(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_image_prune(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_build_busybox(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_system_df(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_system_reset(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_system_check(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_info(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_version(struct cli *c, int argc, char **argv, moat_error **err);
/* The streaming container commands (cmd_run.c ... cmd_stats.c). */
int cmd_run(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_create(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_start(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_attach(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_exec(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_logs(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_wait(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_events(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_stats(struct cli *c, int argc, char **argv, moat_error **err);

#endif

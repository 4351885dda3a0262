/* The CLI's container and volume commands over the Docker API (client.h),
 * and the pure helpers they share: a Go text/template subset for --format
 * (template.c), Docker's row formatting for ps (ctr_fmt.c), the cp tar
 * build/extract (cp_tar.c) and request/printing glue (ctr_util.c). */
#ifndef MOAT_CLI_CTR_CMDS_H
#define MOAT_CLI_CTR_CMDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "moat/error.h"

struct json_object;

/* (Also declared in cli.h by the client's author; same prototype.) */
int cli_client(struct cli *c, struct moat_client **ret, moat_error **err);

/* ---- template.c: Go text/template over a JSON value ---- */
/* Actions: {{.}}, {{.A.B}}, {{json X}}, {{index X "k"|N}}, {{join X "sep"}},
 * {{upper X}}, {{lower X}}, {{len X}}, {{.Label "k"}} (a field that is a map,
 * indexed), {{range X}}...{{end}}, {{if X}}...{{else}}...{{end}}, and "\n"/"\t"
 * escapes in the literal text. */
int cli_template_render(const char *fmt, struct json_object *root, char **ret, moat_error **err);
/* Go's fmt.Print of a decoded JSON value, appended to *out: strings raw,
 * arrays "[a b]", maps "map[k:v]" (sorted keys), integers without exponent.
 * key names the field a null came from ("Cmd" prints "[]", "Labels" "map[]",
 * others "<nil>"), may be NULL. */
void cli_go_print(struct json_object *v, const char *key, char **out);
/* Docker's `inspect` layout: json.Indent with 4 spaces. */
char *cli_json_indent(struct json_object *v);
/* Go's strconv.Quote. */
char *cli_go_quote(const char *s);

/* ---- ctr_fmt.c: ps rows ---- */
/* "0.0.0.0:8080->80/tcp, 443/tcp" from the Ports array of /containers/json. */
char *cli_ps_ports(struct json_object *ports);
/* The quoted, (20-rune) truncated command. */
char *cli_ps_command(const char *cmd, bool trunc);
/* "web,db" from Names ["/web","/db"] (links with a second '/' dropped when trunc). */
char *cli_ps_names(struct json_object *names, bool trunc);
/* One container of /containers/json as an object of display strings keyed by
 * the --format names (ID, Image, Command, CreatedAt, RunningFor, Ports,
 * Status, State, Names, Labels, Label{}, Mounts, Size, Networks, LocalVolumes). */
struct json_object *cli_ps_row(struct json_object *ctr, bool trunc, int64_t now);
/* The headers of those columns ("CONTAINER ID"...) as the same kind of object. */
struct json_object *cli_ps_header(void);

/* X-Docker-Container-Path-Stat: base64 of {"name","size","mode","mtime","linkTarget"}. */
struct cli_path_stat {
    char *name;
    int64_t size;
    uint32_t mode; /* Go os.FileMode */
    char *link_target;
    bool is_dir, is_link;
};
int cli_path_stat_decode(const char *header, struct cli_path_stat *ret, moat_error **err);
void cli_path_stat_clear(struct cli_path_stat *st);

/* ---- cp_tar.c ---- */
/* Write a tar of the local `path` to out_fd, its top entry named `name`
 * (a file, or a directory and everything under it).  follow: a symlink given
 * as `path` is followed (cp -L).  keep_owner: keep uid/gid (cp -a), else 0. */
int cli_tar_build(const char *path, const char *name, bool follow, bool keep_owner, int out_fd, moat_error **err);
/* Extract the tar on in_fd into the directory dest, refusing entries that
 * climb out ("..", absolute paths, writes through symlinks).  When rename_from
 * is set, a top entry of that name (and everything under it) lands as
 * rename_to instead.  keep_owner: restore uid/gid (cp -a). */
int cli_tar_extract(int in_fd, const char *dest, const char *rename_from, const char *rename_to, bool keep_owner,
                    moat_error **err);

/* ---- ctr_util.c ---- */
/* Percent-encode for a query value (everything but unreserved characters). */
char *ctr_qenc(const char *s);
/* For a path segment: like ctr_qenc but '/', ':' and '@' stay (image names). */
char *ctr_penc(const char *s);
/* After a failed request: status >= 400 prints "Error response from daemon:
 * <msg>" on stderr, frees *e and returns 1; otherwise moves *e to *err and
 * returns -1 (a transport failure, printed by main). */
int ctr_fail(int status, moat_error **e, moat_error **err);
/* Docker's --filter k=v list as the filters JSON {"k":{"v":true}} (query-encoded); NULL if none. */
char *ctr_filters_query(char *const *filters);
/* For each container argument: method + "/containers/<name><suffix>" with
 * an optional JSON body; on success prints the name as given (or, with
 * print_field, that field of the answer, e.g. wait's StatusCode).  Failures
 * print Docker's line on stderr.  Returns 1 if any failed, 0, or -1. */
int ctr_each(struct cli *c, char **names, int n, const char *method, const char *suffix, struct json_object *body,
             bool ignore_404, const char *print_field, moat_error **err);
/* Docker's RAMInBytes: "512m", "1g", "1024" (binary units). */
int ctr_parse_ram(const char *s, int64_t *ret);
/* "Are you sure you want to continue? [y/N] " on stdout, answer from stdin. */
bool ctr_confirm(const char *warning);
/* Print rows split on '\t' through a tabwriter (minwidth, padding 3). */
void ctr_print_tabbed(char **lines, size_t n, size_t minwidth, FILE *f);
/* One GET with a JSON answer; status in *status. */
int ctr_get_json(struct moat_client *cl, const char *path, int *status, struct json_object **ret, moat_error **err);

/* ---- commands ---- */
int cmd_ps(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_inspect(struct cli *c, int argc, char **argv, moat_error **err);           /* any object */
int cmd_container_inspect(struct cli *c, int argc, char **argv, moat_error **err); /* --type container */
/* stop and restart: -t N, then POST /containers/{id}/<verb> for each name. */
int cli_stop_like(struct cli *c, int argc, char **argv, const char *verb, const char *time_help, moat_error **err);
int cmd_stop(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_kill(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_restart(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_pause(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_unpause(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_rm(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_rename(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_update(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_top(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_port(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_diff(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_commit(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_export(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_cp(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_container_prune(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_volume_create(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_volume_ls(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_policy_show(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_policy_lint(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_policy_check(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_volume_inspect(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_volume_rm(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_volume_prune(struct cli *c, int argc, char **argv, moat_error **err);

#endif

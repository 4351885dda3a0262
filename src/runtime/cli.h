/* moat-runtime CLI: one file per command, each a thin layer over the library. */
#ifndef MOAT_RUNTIME_CLI_H
#define MOAT_RUNTIME_CLI_H

#include "moat/error.h"
#include "moat/runtime.h"

struct rt_cli {
    struct moat_rt_opts rt;
};

/* A command returns its exit status (>= 0) or -1 with *err set. */
typedef int (*rt_cmd_fn)(struct rt_cli *cli, int argc, char **argv, moat_error **err);

int cmd_create(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_start(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_run(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_state(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_kill(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_delete(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_exec(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_list(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_pause(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_update(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_resume(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_features(struct rt_cli *cli, int argc, char **argv, moat_error **err);
int cmd_spec(struct rt_cli *cli, int argc, char **argv, moat_error **err);

/* Exactly `n` positional arguments after options, or a usage error. */
int cli_positional(int argc, char **argv, int n, const char *usage, moat_error **err);

#endif

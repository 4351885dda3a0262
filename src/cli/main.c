/* moat: the CLI.  Docker's verbs, flags and output shapes, over the engine's
 * Docker API (the container, volume and image commands); moat's own store
 * maintenance (system check/reset, image build-busybox, info) works on the
 * store directly. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/ctr_cmds.h"
#include "cli/client.h"
#include "moat/image.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/util.h"
#include "moat/version.h"

struct command {
    const char *name;
    cli_cmd_fn fn;
    const struct command *sub; /* a group: "image", "system" */
    const char *help;          /* NULL: not listed */
};

static const struct command image_cmds[] = {
    {"ls", cmd_images, NULL, "List images"},
    {"list", cmd_images, NULL, NULL},
    {"rm", cmd_rmi, NULL, "Remove one or more images"},
    {"remove", cmd_rmi, NULL, NULL},
    {"tag", cmd_tag, NULL, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"},
    {"inspect", cmd_image_inspect, NULL, "Display detailed information on one or more images"},
    {"history", cmd_history, NULL, "Show the history of an image"},
    {"import", cmd_import, NULL, "Import the contents from a tarball to create a filesystem image"},
    {"save", cmd_save, NULL, "Save one or more images to a tar archive"},
    {"load", cmd_load, NULL, "Load an image from a tar archive or STDIN"},
    {"prune", cmd_image_prune, NULL, "Remove unused images"},
    {"build-busybox", cmd_build_busybox, NULL, "Build the built-in busybox image from busybox-static"},
    {NULL, NULL, NULL, NULL},
};

static const struct command container_cmds[] = {
    {"run", cmd_run, NULL, "Run a command in a new container"},
    {"create", cmd_create, NULL, "Create a new container"},
    {"start", cmd_start, NULL, "Start one or more stopped containers"},
    {"attach", cmd_attach, NULL, "Attach local standard input, output, and error streams to a running container"},
    {"exec", cmd_exec, NULL, "Run a command in a running container"},
    {"logs", cmd_logs, NULL, "Fetch the logs of a container"},
    {"wait", cmd_wait, NULL, "Block until one or more containers stop, then print their exit codes"},
    {"stats", cmd_stats, NULL, "Display a live stream of container(s) resource usage statistics"},
    {"ls", cmd_ps, NULL, "List containers"},
    {"list", cmd_ps, NULL, NULL},
    {"ps", cmd_ps, NULL, NULL},
    {"inspect", cmd_container_inspect, NULL, "Display detailed information on one or more containers"},
    {"stop", cmd_stop, NULL, "Stop one or more running containers"},
    {"kill", cmd_kill, NULL, "Kill one or more running containers"},
    {"restart", cmd_restart, NULL, "Restart one or more containers"},
    {"pause", cmd_pause, NULL, "Pause all processes within one or more containers"},
    {"unpause", cmd_unpause, NULL, "Unpause all processes within one or more containers"},
    {"rm", cmd_rm, NULL, "Remove one or more containers"},
    {"remove", cmd_rm, NULL, NULL},
    {"rename", cmd_rename, NULL, "Rename a container"},
    {"update", cmd_update, NULL, "Update configuration of one or more containers"},
    {"top", cmd_top, NULL, "Display the running processes of a container"},
    {"port", cmd_port, NULL, "List port mappings or a specific mapping for the container"},
    {"diff", cmd_diff, NULL, "Inspect changes to files or directories on a container's filesystem"},
    {"commit", cmd_commit, NULL, "Create a new image from a container's changes"},
    {"export", cmd_export, NULL, "Export a container's filesystem as a tar archive"},
    {"cp", cmd_cp, NULL, "Copy files/folders between a container and the local filesystem"},
    {"prune", cmd_container_prune, NULL, "Remove all stopped containers"},
    {NULL, NULL, NULL, NULL},
};

static const struct command volume_cmds[] = {
    {"create", cmd_volume_create, NULL, "Create a volume"},
    {"ls", cmd_volume_ls, NULL, "List volumes"},
    {"list", cmd_volume_ls, NULL, NULL},
    {"inspect", cmd_volume_inspect, NULL, "Display detailed information on one or more volumes"},
    {"rm", cmd_volume_rm, NULL, "Remove one or more volumes"},
    {"remove", cmd_volume_rm, NULL, NULL},
    {"prune", cmd_volume_prune, NULL, "Remove all unused local volumes"},
    {NULL, NULL, NULL, NULL},
};

static const struct command policy_cmds[] = {
    {"show", cmd_policy_show, NULL, "Show the effective policy and where each rule comes from"},
    {"lint", cmd_policy_lint, NULL, "Check policy files"},
    {"check", cmd_policy_check, NULL, "Ask the engine whether a run with these flags would be allowed"},
    {NULL, NULL, NULL, NULL},
};

/* cmd_audit.c: the audit log, read from its files */
int cmd_audit_verify(struct cli *c, int argc, char **argv, moat_error **err);
int cmd_audit_ls(struct cli *c, int argc, char **argv, moat_error **err);
static const struct command audit_cmds[] = {
    {"verify", cmd_audit_verify, NULL, "Check the audit log's hash chain, checkpoints and signed head"},
    {"ls", cmd_audit_ls, NULL, "List audit records (filters: since, identity, action, decision)"},
    {NULL, NULL, NULL, NULL},
};

static const struct command system_cmds[] = {
    {"events", cmd_events, NULL, "Get real time events from the server"},
    {"df", cmd_system_df, NULL, "Show disk usage"},
    {"check", cmd_system_check, NULL, "Check the image store: re-verify every blob and layer"},
    {"info", cmd_info, NULL, "Display system-wide information"},
    {"reset", cmd_system_reset, NULL, "Remove every image and container file system of the store"},
    {NULL, NULL, NULL, NULL},
};

static const struct command commands[] = {
    {"run", cmd_run, NULL, "Run a command in a new container"},
    {"create", cmd_create, NULL, "Create a new container"},
    {"start", cmd_start, NULL, "Start one or more stopped containers"},
    {"attach", cmd_attach, NULL, "Attach local standard input, output, and error streams to a running container"},
    {"exec", cmd_exec, NULL, "Run a command in a running container"},
    {"logs", cmd_logs, NULL, "Fetch the logs of a container"},
    {"wait", cmd_wait, NULL, "Block until one or more containers stop, then print their exit codes"},
    {"events", cmd_events, NULL, "Get real time events from the server"},
    {"stats", cmd_stats, NULL, "Display a live stream of container(s) resource usage statistics"},
    {"images", cmd_images, NULL, "List images"},
    {"rmi", cmd_rmi, NULL, "Remove one or more images"},
    {"tag", cmd_tag, NULL, "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"},
    {"history", cmd_history, NULL, "Show the history of an image"},
    {"import", cmd_import, NULL, "Import the contents from a tarball to create a filesystem image"},
    {"save", cmd_save, NULL, "Save one or more images to a tar archive"},
    {"load", cmd_load, NULL, "Load an image from a tar archive or STDIN"},
    {"inspect", cmd_inspect, NULL, "Return low-level information on Docker objects"},
    {"ps", cmd_ps, NULL, "List containers"},
    {"stop", cmd_stop, NULL, "Stop one or more running containers"},
    {"kill", cmd_kill, NULL, "Kill one or more running containers"},
    {"restart", cmd_restart, NULL, "Restart one or more containers"},
    {"pause", cmd_pause, NULL, "Pause all processes within one or more containers"},
    {"unpause", cmd_unpause, NULL, "Unpause all processes within one or more containers"},
    {"rm", cmd_rm, NULL, "Remove one or more containers"},
    {"rename", cmd_rename, NULL, "Rename a container"},
    {"update", cmd_update, NULL, "Update configuration of one or more containers"},
    {"top", cmd_top, NULL, "Display the running processes of a container"},
    {"port", cmd_port, NULL, "List port mappings or a specific mapping for the container"},
    {"diff", cmd_diff, NULL, "Inspect changes to files or directories on a container's filesystem"},
    {"commit", cmd_commit, NULL, "Create a new image from a container's changes"},
    {"export", cmd_export, NULL, "Export a container's filesystem as a tar archive"},
    {"cp", cmd_cp, NULL, "Copy files/folders between a container and the local filesystem"},
    {"volume", NULL, volume_cmds, "Manage volumes"},
    {"info", cmd_info, NULL, "Display system-wide information"},
    {"version", cmd_version, NULL, "Show the moat version information"},
    {"container", NULL, container_cmds, "Manage containers"},
    {"image", NULL, image_cmds, "Manage images"},
    {"system", NULL, system_cmds, "Manage moat"},
    {"policy", NULL, policy_cmds, "Show and check policy"},
    {"audit", NULL, audit_cmds, "Verify and list the audit log"},
    {NULL, NULL, NULL, NULL},
};

int cli_store(struct cli *c, struct moat_store **ret, moat_error **err)
{
    if (!c->store) {
        struct moat_store_opts o = {.root = c->data_root};
        if (moat_store_open(&o, &c->store, err) < 0)
            return -1;
    }
    *ret = c->store;
    return 0;
}

int cli_client(struct cli *c, struct moat_client **ret, moat_error **err)
{
    if (!c->client) {
        struct moat_client_opts o = {.host = c->host, .data_root = c->data_root};
        if (moat_client_open_opts(&o, &c->client, err) < 0)
            return -1;
    }
    *ret = c->client;
    return 0;
}

int cli_args_error(struct cli *c, moat_error **err, const char *what)
{
    return moat_err(err, EINVAL, "\"%s\" %s (see '%s --help')", c->prog, what, c->prog);
}

int cli_flag_error(struct cli *c, int o, char **argv, moat_error **err)
{
    const char *flag = argv[optind - 1];
    if (o == ':')
        return moat_err(err, EINVAL, "flag needs an argument: %s (see '%s --help')", flag, c->prog);
    return moat_err(err, EINVAL, "unknown flag: %s (see '%s --help')", flag, c->prog);
}

int cli_help(struct cli *c, const char *usage, const char *const *options)
{
    printf("\nUsage:  %s %s\n\nOptions:\n", c->prog, usage);
    for (size_t i = 0; options && options[i]; i++)
        printf("  %s\n", options[i]);
    return 0;
}

static const char *vstr(struct json_object *o, const char *k)
{
    struct json_object *v;
    return o && json_object_object_get_ex(o, k, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : "";
}

/* Docker's shape: a Client and a Server section (the engine's GET /version); --format over
 * {"Client": {...}, "Server": {...}} like docker version --format '{{.Server.APIVersion}}'. */
int cmd_version(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-f, --format string   Format the output using the given Go template", NULL};
    const char *format = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":f:h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS]", help);
        if (o == 'f')
            format = optarg;
        else
            return cli_flag_error(c, o, argv, err);
    }
    if (optind < argc)
        return cli_args_error(c, err, "accepts no arguments");
    _cleanup_json_ struct json_object *root = json_object_new_object();
    struct json_object *cli = json_object_new_object();
    json_object_object_add(cli, "Version", json_object_new_string(MOAT_VERSION));
    json_object_object_add(cli, "ApiVersion", json_object_new_string(MOAT_CLIENT_API_VERSION));
    json_object_object_add(cli, "Os", json_object_new_string("linux"));
    json_object_object_add(cli, "Arch", json_object_new_string(moat_go_arch()));
    json_object_object_add(root, "Client", cli);
    struct moat_client *cl;
    struct json_object *srv = NULL;
    _cleanup_error_ moat_error *se = NULL;
    if (cli_client(c, &cl, &se) == 0 && moat_client_json(cl, "GET", "/version", NULL, NULL, &srv, &se) == 0 && srv) {
        /* Docker's template names: .Server.APIVersion, .Server.Version, ... */
        struct json_object *v;
        if (json_object_object_get_ex(srv, "ApiVersion", &v))
            json_object_object_add(srv, "APIVersion", json_object_get(v));
        json_object_object_add(root, "Server", srv);
    }
    if (format) {
        _cleanup_free_ char *line = NULL;
        if (cli_template_render(format, root, &line, err) < 0)
            return -1;
        printf("%s\n", line);
        return se ? moat_err(err, se->errnum, "%s", se->msg) : 0;
    }
    printf("Client:\n Version:           %s\n API version:       %s\n OS/Arch:           linux/%s\n", MOAT_VERSION,
           MOAT_CLIENT_API_VERSION, moat_go_arch());
    if (!srv) {
        fflush(stdout);
        return moat_err(err, se ? se->errnum : EIO, "%s", se ? se->msg : "no answer from the engine");
    }
    printf("\nServer: %s\n Engine:\n  Version:          %s\n  API version:      %s (minimum version %s)\n"
           "  OS/Arch:          %s/%s\n  Kernel version:   %s\n  Built:            %s\n",
           "moat Engine", vstr(srv, "Version"), vstr(srv, "ApiVersion"), vstr(srv, "MinAPIVersion"), vstr(srv, "Os"),
           vstr(srv, "Arch"), vstr(srv, "KernelVersion"), vstr(srv, "BuildTime"));
    return 0;
}

static void usage(FILE *f, const struct command *tab, const char *group)
{
    fprintf(f, "\nUsage:  moat [OPTIONS] %s%sCOMMAND\n\n", group ? group : "", group ? " " : "");
    if (!group)
        fprintf(f, "A security-hardened, rootless-by-default container engine\n\n"
                   "Options:\n"
                   "      --data-root DIR   Root of the image store (default /var/lib/moat as root,\n"
                   "                        $XDG_DATA_HOME/moat otherwise; or $MOAT_ROOT)\n"
                   "  -D, --debug           Enable debug output\n"
                   "  -H, --host string     Daemon socket to connect to (unix://PATH; or $MOAT_HOST,\n"
                   "                        $DOCKER_HOST)\n"
                   "  -v, --version         Print version information and quit\n\n");
    fprintf(f, "Commands:\n");
    for (size_t i = 0; tab[i].name; i++)
        if (tab[i].help)
            fprintf(f, "  %-14s %s\n", tab[i].name, tab[i].help);
    fprintf(f, "\nRun 'moat %s%sCOMMAND --help' for more information on a command.\n", group ? group : "",
            group ? " " : "");
}

static const struct command *find(const struct command *tab, const char *name)
{
    for (size_t i = 0; tab[i].name; i++)
        if (!strcmp(tab[i].name, name))
            return &tab[i];
    return NULL;
}

static int run(struct cli *c, int argc, char **argv)
{
    const struct command *tab = commands;
    const char *group = NULL;
    char prog[128];
    for (;;) {
        if (argc < 1) {
            usage(stderr, tab, group);
            return 1;
        }
        if (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help")) {
            usage(stdout, tab, group);
            return 0;
        }
        const struct command *cmd = find(tab, argv[0]);
        if (!cmd) {
            fprintf(stderr, "moat: '%s%s%s' is not a moat command (see 'moat %s%s--help')\n", group ? group : "",
                    group ? " " : "", argv[0], group ? group : "", group ? " " : "");
            return 1;
        }
        if (cmd->sub) {
            group = cmd->name;
            tab = cmd->sub;
            argc--;
            argv++;
            continue;
        }
        snprintf(prog, sizeof prog, "moat %s%s%s", group ? group : "", group ? " " : "", cmd->name);
        c->prog = prog;
        optind = 0; /* a full reset of getopt for the command's own options */
        moat_error *err = NULL;
        int r = cmd->fn(c, argc, argv, &err);
        if (r < 0) {
            const char *msg = err && err->msg ? err->msg : "failed";
            /* "Error: No such container: x" is printed as Docker's CLI prints it */
            fprintf(stderr, "%s%s\n", strncmp(msg, "Error: ", 7) ? "moat: " : "", msg);
            moat_error_free(err);
            return 1;
        }
        return r;
    }
}

int main(int argc, char **argv)
{
    struct cli c = {0};
    struct moat_log_config lc = {.progname = "moat", .level = MOAT_LOG_WARN, .file_fd = -1, .stderr_on = 1};
    int i;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--version")) {
            printf("moat version %s\n", MOAT_VERSION);
            return 0;
        } else if (!strcmp(a, "-D") || !strcmp(a, "--debug")) {
            lc.level = MOAT_LOG_DEBUG;
        } else if (!strcmp(a, "--data-root") && i + 1 < argc) {
            c.data_root = argv[++i];
        } else if (!strncmp(a, "--data-root=", 12)) {
            c.data_root = a + 12;
        } else if ((!strcmp(a, "-H") || !strcmp(a, "--host")) && i + 1 < argc) {
            c.host = argv[++i];
        } else if (!strncmp(a, "--host=", 7)) {
            c.host = a + 7;
        } else if (!strncmp(a, "-H", 2) && a[2]) {
            c.host = a + 2;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout, commands, NULL);
            return 0;
        } else {
            fprintf(stderr, "moat: unknown flag: %s (see 'moat --help')\n", a);
            return 1;
        }
    }
    moat_log_setup(&lc);
    int rc = run(&c, argc - i, argv + i);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "moat: write standard output: %s\n", strerror(errno));
        rc = 1;
    }
    moat_client_close(c.client);
    moat_store_close(c.store);
    return rc;
}

/* moat-runtime: an OCI runtime.  Global flags follow runc/crun so that
 * podman/conmon can drive it: --root, --log, --log-format, --debug,
 * --systemd-cgroup, --cgroup-manager, --rootless. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moat/log.h"
#include "moat/util.h"
#include "moat/version.h"
#include "runtime/cli.h"
#include "runtime/runtime_internal.h"

static const struct {
    const char *name;
    rt_cmd_fn fn;
    bool enters_container; /* re-exec from a sealed copy first */
    const char *help;
} commands[] = {
    {"create", cmd_create, true, "create a container from a bundle"},
    {"start", cmd_start, false, "start a created container"},
    {"run", cmd_run, true, "create and start a container"},
    {"state", cmd_state, false, "print the state of a container"},
    {"kill", cmd_kill, false, "send a signal to a container"},
    {"delete", cmd_delete, false, "delete a container"},
    {"exec", cmd_exec, true, "run a process in a running container"},
    {"list", cmd_list, false, "list containers"},
    {"pause", cmd_pause, false, "freeze all processes of a container"},
    {"resume", cmd_resume, false, "thaw a paused container"},
    {"update", cmd_update, false, "apply new cgroup limits to a container"},
    {"features", cmd_features, false, "print the features of this runtime"},
    {"spec", cmd_spec, false, "write a hardened config.json template"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: moat-runtime [global options] COMMAND [options] [ID] ...\n\n"
               "global options:\n"
               "  --root DIR             state directory (default /run/moat-runtime, or per user)\n"
               "  --log FILE             also write errors to FILE\n"
               "  --log-format text|json format of the --log file\n"
               "  --debug                verbose messages\n"
               "  --systemd-cgroup       cgroupsPath is slice:prefix:name\n"
               "  --cgroup-manager M     cgroupfs (default), systemd or disabled\n"
               "  --rootless B           accepted for compatibility (rootless is detected)\n"
               "  --no-seccomp-cache     compile seccomp every time (no ROOT/.seccomp-cache)\n"
               "  -v, --version          print the version\n\ncommands:\n");
    for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
}

int cli_positional(int argc, char **argv, int n, const char *usage_text, moat_error **err)
{
    if (argc - optind != n)
        return moat_err(err, EINVAL, "usage: moat-runtime %s %s", argv[0], usage_text);
    return 0;
}

static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t l = strlen(name);
    if (strncmp(argv[*i], name, l) == 0 && argv[*i][l] == '=')
        return argv[*i] + l + 1;
    if (strcmp(argv[*i], name) == 0 && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

int main(int argc, char **argv)
{
    struct rt_cli cli = {0};
    struct moat_log_config lc = {.progname = "moat-runtime", .level = MOAT_LOG_WARN, .file_fd = -1, .stderr_on = 1};
    const char *log_file = NULL, *log_format = "text";
    moat_error *err = NULL;
    int i;
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "--")) {
            i++;
            break;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--version")) {
            printf("moat-runtime version %s\nspec: %s\n+SECCOMP +CAP +USERNS +LANDLOCK +EBPF +APPARMOR +SELINUX\n",
                   MOAT_VERSION, MOAT_OCI_VERSION);
            return 0;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--debug")) {
            lc.level = MOAT_LOG_DEBUG;
        } else if (!strcmp(a, "--no-seccomp-cache")) {
            cli.rt.no_seccomp_cache = true;
        } else if (!strcmp(a, "--systemd-cgroup")) {
            cli.rt.systemd_cgroup = true;
        } else if ((v = opt_value(argc, argv, &i, "--root"))) {
            cli.rt.root = v;
        } else if ((v = opt_value(argc, argv, &i, "--log"))) {
            log_file = v;
        } else if ((v = opt_value(argc, argv, &i, "--log-format"))) {
            log_format = v;
        } else if ((v = opt_value(argc, argv, &i, "--cgroup-manager"))) {
            if (!strcmp(v, "systemd"))
                cli.rt.systemd_cgroup = true;
            else if (!strcmp(v, "disabled"))
                cli.rt.cgroup_disabled = true;
            else if (strcmp(v, "cgroupfs") != 0) {
                fprintf(stderr, "moat-runtime: --cgroup-manager: unknown manager '%s'\n", v);
                return 2;
            }
        } else if ((v = opt_value(argc, argv, &i, "--rootless")) || (v = opt_value(argc, argv, &i, "--criu"))) {
            /* accepted for compatibility */
        } else {
            fprintf(stderr, "moat-runtime: unknown global option '%s'\n", a);
            return 2;
        }
    }
    if (log_file) {
        lc.file_fd = open(log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        lc.json = !strcmp(log_format, "json");
    }
    moat_log_setup(&lc);
    if (i >= argc) {
        usage(stderr);
        return 2;
    }
    for (size_t c = 0; c < ARRAY_SIZE(commands); c++) {
        if (strcmp(argv[i], commands[c].name) != 0)
            continue;
        if (commands[c].enters_container && sealed_reexec_if_needed(argc, argv, &err) < 0) {
            moat_log(MOAT_LOG_ERROR, "%s", err->msg);
            return 1;
        }
        optind = 1;
        int r = commands[c].fn(&cli, argc - i, argv + i, &err);
        if (r < 0) {
            moat_log(MOAT_LOG_ERROR, "%s", err ? err->msg : "failed");
            moat_error_free(err);
            return 1;
        }
        return r;
    }
    fprintf(stderr, "moat-runtime: unknown command '%s' (see --help)\n", argv[i]);
    return 2;
}

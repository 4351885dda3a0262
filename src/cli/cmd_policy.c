/* moat policy show [--dir DIR] [--uid UID] [NAME|FILE] — the effective policy
 * (the host's directory over its base, the layers scoped to UID, and
 * optionally a container's policy on top) with where each rule comes from;
 * moat policy lint FILE... — check policy files without loading them.
 * Both read files only (include/moat/policy.h); no daemon is needed. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/ctr_cmds.h"
#include "cli/runopts.h"
#include "moat/cleanup.h"
#include "moat/json.h"
#include "moat/policy.h"
#include "moat/util.h"

static int read_policy_file(const char *path, char **ret, moat_error **err)
{
    size_t len = 0;
    if (moat_read_file_at(AT_FDCWD, path, MOAT_POLICY_MAX_BYTES, ret, &len, err) < 0)
        return moat_err_wrap(err, "policy %s", path);
    if (strlen(*ret) != len) {
        free(*ret);
        *ret = NULL;
        return moat_err(err, EINVAL, "policy %s: contains a NUL byte", path);
    }
    return 0;
}

int cmd_policy_show(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"dir", required_argument, NULL, 'd'}, {"uid", required_argument, NULL, 'u'},
                                         {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const char *const help[] = {"    --dir string   The host's policy directory (default /etc/moat/policy.d, "
                                       "rootless ~/.config/moat/policy.d)",
                                       "    --uid int      Show the policy for this client uid (default: yours)", NULL};
    _cleanup_free_ char *dir = moat_policy_default_dir();
    uid_t uid = geteuid();
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] [NAME|FILE]", help);
        if (o == 'd') {
            free(dir);
            dir = xstrdup(optarg);
        } else if (o == 'u') {
            uint64_t u = 0;
            if (moat_parse_u64(optarg, &u) < 0 || u > UINT32_MAX - 1)
                return moat_err(err, EINVAL, "invalid --uid '%s'", optarg);
            uid = (uid_t)u;
        } else {
            return cli_flag_error(c, o, argv, err);
        }
    }
    if (argc - optind > 1)
        return cli_args_error(c, err, "accepts at most 1 argument");
    _cleanup_free_ char *layer = NULL;
    if (optind < argc) {
        if (moat_policy_is_builtin(argv[optind]))
            layer = xstrdup(argv[optind]);
        else if (read_policy_file(argv[optind], &layer, err) < 0)
            return -1;
        else if (layer[strspn(layer, " \t\r\n")] != '{')
            return moat_err(err, EINVAL, "policy %s: not a JSON object", argv[optind]);
    }
    struct moat_policy_set *set = NULL;
    if (moat_policy_set_load(dir, &set, err) < 0)
        return -1;
    struct moat_identity id = {.uid = uid};
    _cleanup_policy_ struct moat_policy *eff = NULL;
    int rc = moat_policy_for(set, &id, layer, &eff, err);
    moat_policy_set_free(set);
    if (rc < 0)
        return -1;
    _cleanup_json_ struct json_object *j = moat_policy_to_json(eff, true);
    _cleanup_free_ char *digest = moat_policy_digest(eff);
    json_object_object_add(j, "digest", json_object_new_string(digest));
    printf("%s\n", json_object_to_json_string_ext(j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE));
    return 0;
}

int cmd_policy_lint(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    static const char *const help[] = {NULL};
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "FILE [FILE...]", help);
        return cli_flag_error(c, o, argv, err);
    }
    if (optind >= argc)
        return cli_args_error(c, err, "requires at least 1 argument");
    int status = 0;
    for (int i = optind; i < argc; i++) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_error_ moat_error *e = NULL;
        _cleanup_policy_ struct moat_policy *p = NULL;
        if (read_policy_file(argv[i], &buf, &e) < 0 || moat_policy_parse(buf, strlen(buf), argv[i], &p, &e) < 0) {
            fprintf(stderr, "moat: %s\n", e->msg);
            status = 1;
            continue;
        }
        /* A file must also fit over the built-in it would run under. */
        _cleanup_policy_ struct moat_policy *eff = NULL;
        if (p->base && moat_policy_builtin(p->base, &eff, &e) < 0) {
            fprintf(stderr, "moat: %s\n", e->msg);
            status = 1;
            continue;
        }
        if (!eff)
            eff = moat_policy_dup(moat_policy_default());
        if (moat_policy_merge(eff, p, &e) < 0) {
            fprintf(stderr, "moat: %s\n", e->msg);
            status = 1;
            continue;
        }
        printf("%s: OK\n", argv[i]);
    }
    return status;
}

/* moat policy check [run flags] IMAGE [COMMAND...]: the engine answers the question a
 * `moat run` with these flags would get (POST /moat/policy/check), creating nothing.
 * Prints "allowed ..." (exit 0) or every reason as "denied by policy: ..." (exit 1). */
int cmd_policy_check(struct cli *c, int argc, char **argv, moat_error **err)
{
    struct run_opts o = {0};
    int r = run_opts_parse(&o, argc, argv, c->prog, err);
    if (r != 0) {
        run_opts_free(&o);
        return r < 0 ? -1 : 0;
    }
    _cleanup_(moat_json_putp) struct json_object *body = NULL, *resp = NULL;
    struct moat_client *cl;
    int status = 0;
    if (run_opts_body(&o, &body, err) < 0 || cli_client(c, &cl, err) < 0) {
        run_opts_free(&o);
        return -1;
    }
    run_opts_free(&o);
    if (moat_client_json(cl, "POST", "/moat/policy/check", body, &status, &resp, err) < 0)
        return moat_client_wrap_error(cl, err);
    struct json_object *allowed = NULL, *reasons = NULL, *layers = NULL, *digest = NULL;
    if (!json_object_object_get_ex(resp, "Allowed", &allowed) || !json_object_is_type(allowed, json_type_boolean))
        return moat_err(err, EBADMSG, "policy check: the daemon's answer has no Allowed");
    json_object_object_get_ex(resp, "Reasons", &reasons);
    json_object_object_get_ex(resp, "Policy", &layers);
    json_object_object_get_ex(resp, "Digest", &digest);
    _cleanup_free_ char *ls = NULL;
    for (size_t i = 0; json_object_is_type(layers, json_type_array) && i < json_object_array_length(layers); i++) {
        const char *l = json_object_get_string(json_object_array_get_idx(layers, i));
        char *n = ls ? xasprintf("%s, %s", ls, l) : xstrdup(l);
        free(ls);
        ls = n;
    }
    if (json_object_get_boolean(allowed)) {
        printf("allowed by policy: %s (%s)\n", ls ? ls : "?",
               json_object_is_type(digest, json_type_string) ? json_object_get_string(digest) : "?");
        return 0;
    }
    for (size_t i = 0; json_object_is_type(reasons, json_type_array) && i < json_object_array_length(reasons); i++) {
        const char *m = json_object_get_string(json_object_array_get_idx(reasons, i));
        printf("%s%s\n", strncmp(m, "denied by policy", 16) ? "denied by policy: " : "", m);
    }
    return 1;
}

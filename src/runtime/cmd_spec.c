#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "moat/json.h"
#include "moat/util.h"

#include "runtime/cli.h"
#include "runtime/runtime_internal.h"

int cmd_spec(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    (void)cli;
    static const struct option opts[] = {{"bundle", required_argument, NULL, 'b'},
                                         {"rootless", no_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    const char *bundle = ".";
    bool rootless = geteuid() != 0;
    int c;
    while ((c = getopt_long(argc, argv, "b:", opts, NULL)) != -1) {
        if (c == 'b')
            bundle = optarg;
        else if (c == 'r')
            rootless = true;
        else
            return moat_err(err, EINVAL, "usage: moat-runtime spec [--bundle DIR] [--rootless]");
    }
    if (cli_positional(argc, argv, 0, "[--bundle DIR] [--rootless]", err) < 0)
        return -1;
    /* Host root asking for the rootless template would get "container root is
     * me", i.e. host uid 0: a container with the host's root inside.  Refuse;
     * the root template maps it to an unprivileged range instead.  (uid 0 of a
     * nested user namespace, as under rootless podman, is a normal user.) */
    if (rootless && geteuid() == 0 && !userns_nested())
        return moat_err(err, EPERM,
                        "spec --rootless as root would map the container's root to host root (uid 0): run it as "
                        "the user who will run the container, or leave out --rootless for the root template (mapped "
                        "to an unprivileged range of user 'moat' in /etc/subuid)");
    _cleanup_close_ int dfd = open(bundle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return moat_err_sys(err, "open bundle '%s'", bundle);
    if (faccessat(dfd, "config.json", F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return moat_err(err, EEXIST, "'%s/config.json' exists: remove it first", bundle);
    _cleanup_json_ struct json_object *tmpl = NULL;
    if (moat_spec_template(rootless, &tmpl, err) < 0)
        return -1;
    _cleanup_free_ char *s = moat_json_dump(tmpl, true);
    size_t len = strlen(s);
    s = xrealloc(s, len + 2);
    s[len] = '\n';
    s[len + 1] = '\0';
    return moat_write_file_atomic(dfd, "config.json", s, len + 1, 0644, err) < 0 ? -1 : 0;
}

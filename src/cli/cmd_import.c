/* moat import / moat image import [OPTIONS] file|URL|- [REPOSITORY[:TAG]] */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "moat/image.h"
#include "moat/util.h"

int cmd_import(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"change", required_argument, NULL, 'c'},
                                         {"message", required_argument, NULL, 'm'},
                                         {"platform", required_argument, NULL, 'p'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    static const char *const help[] = {"-c, --change list      Apply Dockerfile instruction to the created image",
                                       "-m, --message string   Set commit message for imported image",
                                       "    --platform string  Set platform if server is multi-platform capable",
                                       NULL};
    _cleanup_strv_ char **changes = NULL;
    const char *message = NULL;
    int o;
    while ((o = getopt_long(argc, argv, ":c:m:h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "[OPTIONS] file|URL|- [REPOSITORY[:TAG]]", help);
        if (o == 'c')
            moat_strv_push(&changes, optarg);
        else if (o == 'm')
            message = optarg;
        else if (o == 'p') {
            _cleanup_free_ char *mine = xasprintf("linux/%s", moat_go_arch());
            if (strcmp(optarg, mine) != 0 && strcmp(optarg, moat_go_arch()) != 0)
                return moat_err(err, EINVAL, "--platform %s: only %s images can be imported here", optarg, mine);
        } else
            return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind < 1 || argc - optind > 2)
        return cli_args_error(c, err, "requires at least 1 and at most 2 arguments");
    const char *src = argv[optind];
    if (strstr(src, "://"))
        return moat_err(err, ENOTSUP, "import from a URL (%s): moat has no network access for this yet; download "
                        "the file and import it", src);
    _cleanup_close_ int fd = -1;
    if (strcmp(src, "-") != 0 && (fd = open(src, O_RDONLY | O_CLOEXEC)) < 0)
        return moat_err_sys(err, "open %s", src);
    struct moat_import_opts io = {.ref = argc - optind == 2 ? argv[optind + 1] : NULL, .changes = changes,
                                  .message = message, .source = src};
    struct moat_store *s;
    _cleanup_free_ char *id = NULL;
    if (cli_store(c, &s, err) < 0 || moat_image_import(s, fd >= 0 ? fd : STDIN_FILENO, &io, &id, err) < 0)
        return -1;
    printf("%s\n", id);
    return 0;
}

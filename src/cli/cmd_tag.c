/* moat tag / moat image tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]:
 * POST /images/{source}/tag?repo=NAME&tag=TAG, as Docker's CLI asks it. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

#include "cli/ctr_cmds.h"
#include "cli/img_api.h"
#include "moat/reference.h"
#include "moat/util.h"

int cmd_tag(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]", NULL);
        return cli_flag_error(c, o, argv, err);
    }
    if (argc - optind != 2)
        return cli_args_error(c, err, "requires exactly 2 arguments");
    const char *src = argv[optind], *target = argv[optind + 1];
    struct moat_ref r;
    if (moat_ref_parse(target, &r, err) < 0)
        return -1;
    if (r.digest) {
        moat_ref_clear(&r);
        return moat_err(err, EINVAL, "refusing to create a tag with a digest reference");
    }
    _cleanup_free_ char *name = moat_ref_name(&r);
    _cleanup_free_ char *qrepo = ctr_qenc(name);
    _cleanup_free_ char *qtag = ctr_qenc(r.tag ? r.tag : "latest");
    moat_ref_clear(&r);
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_free_ char *n = ctr_penc(src);
    _cleanup_free_ char *path = xasprintf("/images/%s/tag?repo=%s&tag=%s", n, qrepo, qtag);
    for (int attempt = 0;; attempt++) {
        int status = 0;
        moat_error *e = NULL;
        if (moat_client_json(cl, "POST", path, NULL, &status, NULL, &e) == 0)
            return 0;
        if (status != 404 || attempt > 0 || !img_is_builtin(src)) {
            *err = e;
            return -1;
        }
        moat_error_free(e); /* busybox is built on first use */
        if (img_pull_builtin(cl, err) < 0)
            return -1;
    }
}

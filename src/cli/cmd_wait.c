/* moat wait CONTAINER...: POST wait?condition= for each, print StatusCode. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "cli/runopts.h"
#include "moat/cleanup.h"
#include "moat/util.h"

static const char *const wait_help[] = {NULL};

int cmd_wait(struct cli *c, int argc, char **argv, moat_error **err)
{
    if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return cli_help(c, "CONTAINER [CONTAINER...]", wait_help);
    if (argc > 1 && argv[1][0] == '-' && argv[1][1]) {
        optind = 2;
        return cli_flag_error(c, '?', argv, err);
    }
    if (argc < 2)
        return cli_args_error(c, err, "requires at least 1 argument");
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    int rc = 0;
    for (int i = 1; i < argc; i++) {
        _cleanup_free_ char *e = cli_query_escape(argv[i]);
        _cleanup_free_ char *p = xasprintf("/containers/%s/wait?condition=", e);
        struct moat_client_req *w = NULL;
        moat_error *e2 = NULL;
        int code = 0;
        if (moat_client_begin(cl, "POST", p, "text/plain", NULL, 0, &w, NULL, &e2) < 0 ||
            cli_wait_result(w, &code, &e2) < 0) {
            moat_client_wrap_error(cl, &e2);
            fprintf(stderr, "%s\n", e2->msg);
            moat_error_free(e2);
            rc = 1;
        } else {
            printf("%d\n", code);
            fflush(stdout);
        }
        moat_client_req_free(w);
    }
    return rc;
}

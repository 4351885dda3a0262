#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "moat/json.h"
#include "moat/util.h"
#include <errno.h>
#include <stddef.h>

#include "runtime/cli.h"

int cmd_list(struct rt_cli *cli, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
                                         {"quiet", no_argument, NULL, 'q'},
                                         {NULL, 0, NULL, 0}};
    const char *format = "table";
    bool quiet = false;
    int c;
    while ((c = getopt_long(argc, argv, "f:q", opts, NULL)) != -1) {
        if (c == 'f')
            format = optarg;
        else if (c == 'q')
            quiet = true;
        else
            return moat_err(err, EINVAL, "usage: moat-runtime list [--format table|json] [--quiet]");
    }
    if (strcmp(format, "table") && strcmp(format, "json"))
        return moat_err(err, EINVAL, "list: unknown format '%s' (table or json)", format);
    _cleanup_free_ char *json = NULL;
    if (moat_rt_list_json(&cli->rt, &json, err) < 0)
        return -1;
    if (!strcmp(format, "json")) {
        printf("%s\n", json);
        return 0;
    }
    _cleanup_json_ struct json_object *arr = NULL;
    if (moat_json_parse(json, strlen(json), 64u << 20, "list", &arr, err) < 0)
        return -1;
    if (!quiet)
        printf("%-20s %-8s %-10s %-40s %-30s %s\n", "ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER");
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *o = json_object_array_get_idx(arr, i), *v;
#define F(k) (json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "")
        if (quiet)
            printf("%s\n", F("id"));
        else
            printf("%-20s %-8s %-10s %-40s %-30s %s\n", F("id"), F("pid"), F("status"), F("bundle"), F("created"),
                   F("owner"));
#undef F
    }
    return 0;
}

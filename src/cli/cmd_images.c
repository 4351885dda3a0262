/* moat images / moat image ls [OPTIONS] [REPOSITORY[:TAG]]: GET /images/json
 * (filters and the REPOSITORY argument as Docker's CLI sends them: the
 * argument is a reference filter), one row per name. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/reference.h"
#include "moat/util.h"

/* One row per name: RepoTags "repo:tag" split at the tag's colon. */
struct row {
    const char *id;
    int64_t created, size;
    char *repo, *tag, *digest; /* "<none>" when dangling / unknown */
};

static const char *str_of(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static int64_t int_of(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_int64(v) : 0;
}

/* "a/b:5000/c:tag" -> repo "a/b:5000/c", tag "tag" (the colon after the last '/'). */
static void split_tag(const char *name, char **repo, char **tag)
{
    const char *colon = strrchr(name, ':'), *slash = strrchr(name, '/');
    if (colon && (!slash || colon > slash)) {
        *repo = xstrndup(name, (size_t)(colon - name));
        *tag = xstrdup(colon + 1);
    } else {
        *repo = xstrdup(name);
        *tag = xstrdup("<none>");
    }
}

/* The digest of repo among the image's RepoDigests ("repo@sha256:..."). */
static char *digest_of(struct json_object *img, const char *repo)
{
    struct json_object *a = NULL;
    if (!json_object_object_get_ex(img, "RepoDigests", &a) || !json_object_is_type(a, json_type_array))
        return xstrdup("<none>");
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        const char *d = json_object_get_string(json_object_array_get_idx(a, i));
        const char *at = d ? strrchr(d, '@') : NULL;
        if (at && (size_t)(at - d) == strlen(repo) && !strncmp(d, repo, strlen(repo)))
            return xstrdup(at + 1);
    }
    return xstrdup("<none>");
}

static int cmp_rows(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->created != y->created)
        return x->created < y->created ? 1 : -1;
    int c = strcmp(x->id, y->id);
    if (c)
        return c;
    c = strcmp(x->repo, y->repo);
    return c ? c : strcmp(x->tag, y->tag);
}

struct fmt_ctx {
    const struct row *r;
    char id[80], created[64], size[32], since[64];
};

static const char *field(void *ctxp, const char *key)
{
    struct fmt_ctx *x = ctxp;
    if (!strcmp(key, "Repository"))
        return x->r->repo;
    if (!strcmp(key, "Tag"))
        return x->r->tag;
    if (!strcmp(key, "ID"))
        return x->id;
    if (!strcmp(key, "Digest"))
        return x->r->digest;
    if (!strcmp(key, "CreatedSince"))
        return x->since;
    if (!strcmp(key, "CreatedAt"))
        return x->created;
    if (!strcmp(key, "Size"))
        return x->size;
    return NULL;
}

/* Go's time.Unix(t, 0).String() as Docker's CreatedAt: "2006-01-02 15:04:05 -0700 MST". */
static void created_at(int64_t t, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!t || !localtime_r(&tt, &tm) || !strftime(buf, len, "%Y-%m-%d %H:%M:%S %z %Z", &tm))
        snprintf(buf, len, "%s", "");
}

static const char *const usage_text = "[OPTIONS] [REPOSITORY[:TAG]]";
static const char *const option_help[] = {
    "-a, --all             Show all images (default hides intermediate images)",
    "    --digests         Show digests",
    "-f, --filter filter   Filter output based on conditions provided (dangling, reference, label, before, since)",
    "    --format string   Format output using placeholders: {{.ID}} {{.Repository}} {{.Tag}} {{.Digest}} "
    "{{.CreatedSince}} {{.CreatedAt}} {{.Size}}",
    "    --no-trunc        Don't truncate output",
    "-q, --quiet           Only show image IDs",
    NULL};

int cmd_images(struct cli *c, int argc, char **argv, moat_error **err)
{
    static const struct option opts[] = {{"all", no_argument, NULL, 'a'},       {"digests", no_argument, NULL, 'd'},
                                         {"filter", required_argument, NULL, 'f'}, {"format", required_argument, NULL, 'F'},
                                         {"no-trunc", no_argument, NULL, 'n'},   {"quiet", no_argument, NULL, 'q'},
                                         {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    _cleanup_strv_ char **filters = NULL;
    bool all = false, digests = false, no_trunc = false, quiet = false;
    const char *format = NULL;
    int o, rc = 0;
    while (rc == 0 && (o = getopt_long(argc, argv, ":af:qh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, usage_text, option_help);
        else if (o == 'f') {
            if (!strchr(optarg, '='))
                rc = moat_err(err, EINVAL, "bad format of filter (expected name=value)");
            else
                moat_strv_push(&filters, optarg);
        } else if (o == 'd')
            digests = true;
        else if (o == 'n')
            no_trunc = true;
        else if (o == 'q')
            quiet = true;
        else if (o == 'F')
            format = optarg;
        else if (o == 'a')
            all = true;
        else
            rc = cli_flag_error(c, o, argv, err);
    }
    static const char *const keys[] = {"ID", "Repository", "Tag", "Digest", "CreatedSince", "CreatedAt", "Size", NULL};
    if (rc == 0 && format)
        rc = cli_format_check(format, keys, err);
    if (rc == 0 && argc - optind > 1)
        rc = cli_args_error(c, err, "requires at most 1 argument");
    if (rc < 0)
        return -1;
    if (optind < argc) { /* like Docker's CLI: the argument is a reference filter */
        struct moat_ref r;
        if (moat_ref_parse(argv[optind], &r, err) < 0)
            return -1;
        _cleanup_free_ char *fam = moat_ref_familiar_name(&r);
        _cleanup_free_ char *term = r.tag ? xasprintf("reference=%s:%s", fam, r.tag) : xasprintf("reference=%s", fam);
        moat_ref_clear(&r);
        moat_strv_push(&filters, term);
    }
    struct moat_client *cl;
    if (cli_client(c, &cl, err) < 0)
        return -1;
    _cleanup_free_ char *q = ctr_filters_query(filters);
    _cleanup_free_ char *path = xasprintf("/images/json%s%s%s%s", all || q ? "?" : "", all ? "all=1" : "",
                                          all && q ? "&" : "", q ? "filters=" : "");
    if (q) {
        char *t = xasprintf("%s%s", path, q);
        free(path);
        path = t;
    }
    _cleanup_json_ struct json_object *list = NULL;
    if (moat_client_json(cl, "GET", path, NULL, NULL, &list, err) < 0)
        return -1;
    if (!list || !json_object_is_type(list, json_type_array))
        return moat_err(err, EPROTO, "GET /images/json: the daemon's answer is not a list");
    struct row *rows = NULL;
    size_t nr = 0;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        struct json_object *img = json_object_array_get_idx(list, i), *tags = NULL;
        const char *id = str_of(img, "Id");
        if (!id)
            continue;
        size_t nt = json_object_object_get_ex(img, "RepoTags", &tags) && json_object_is_type(tags, json_type_array)
                        ? json_object_array_length(tags)
                        : 0;
        for (size_t k = 0; k < (nt ? nt : 1); k++) {
            struct row r = {.id = id, .created = int_of(img, "Created"), .size = int_of(img, "Size")};
            const char *name = nt ? json_object_get_string(json_object_array_get_idx(tags, k)) : NULL;
            if (!name || !strcmp(name, "<none>:<none>")) {
                r.repo = xstrdup("<none>");
                r.tag = xstrdup("<none>");
                r.digest = xstrdup("<none>");
            } else {
                split_tag(name, &r.repo, &r.tag);
                r.digest = digest_of(img, r.repo);
            }
            rows = xrealloc(rows, (nr + 1) * sizeof(*rows));
            rows[nr++] = r;
        }
    }
    if (nr)
        qsort(rows, nr, sizeof(*rows), cmp_rows);
    struct cli_table t;
    if (digests)
        cli_table_init(&t, 6, "REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE");
    else
        cli_table_init(&t, 5, "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
    for (size_t i = 0; i < nr; i++) {
        struct fmt_ctx x = {.r = &rows[i]};
        if (no_trunc)
            snprintf(x.id, sizeof x.id, "%s", rows[i].id);
        else
            cli_short_id(rows[i].id, x.id);
        cli_created_since(rows[i].created, x.since, sizeof x.since);
        created_at(rows[i].created, x.created, sizeof x.created);
        cli_human_size(rows[i].size > 0 ? (uint64_t)rows[i].size : 0, 3, x.size, sizeof x.size);
        if (format) {
            _cleanup_free_ char *line = cli_format(format, field, &x);
            printf("%s\n", line);
        } else if (quiet) {
            printf("%s\n", x.id);
        } else if (digests) {
            cli_table_row(&t, rows[i].repo, rows[i].tag, rows[i].digest, x.id, x.since, x.size);
        } else {
            cli_table_row(&t, rows[i].repo, rows[i].tag, x.id, x.since, x.size);
        }
    }
    if (!quiet && !format)
        cli_table_print(&t, stdout);
    cli_table_free(&t);
    for (size_t i = 0; i < nr; i++) {
        free(rows[i].repo);
        free(rows[i].tag);
        free(rows[i].digest);
    }
    free(rows);
    return 0;
}

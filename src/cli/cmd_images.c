/* moat images / moat image ls [OPTIONS] [REPOSITORY[:TAG]] */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "moat/json.h"
#include "moat/reference.h"
#include "moat/util.h"

struct row {
    const struct moat_image *img;
    char *repo, *tag; /* familiar; "<none>" when dangling */
};

struct filters {
    int dangling; /* -1 any, 0 false, 1 true */
    char **refs, **labels;
    int64_t before, since; /* created time bounds (0: none) */
};

static const char *label_value(const struct moat_image *img, const char *key)
{
    struct json_object *cfg = NULL, *labels = NULL, *v = NULL;
    if (json_object_object_get_ex(img->config->json, "config", &cfg) &&
        json_object_object_get_ex(cfg, "Labels", &labels) && json_object_object_get_ex(labels, key, &v))
        return json_object_get_string(v);
    return NULL;
}

static int parse_filter(struct cli *c, struct filters *f, const char *arg, moat_error **err)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return moat_err(err, EINVAL, "bad format of filter (expected name=value)");
    _cleanup_free_ char *key = xstrndup(arg, (size_t)(eq - arg));
    const char *val = eq + 1;
    if (!strcmp(key, "dangling")) {
        if (strcmp(val, "true") && strcmp(val, "false") && strcmp(val, "1") && strcmp(val, "0"))
            return moat_err(err, EINVAL, "invalid filter 'dangling=%s'", val);
        f->dangling = !strcmp(val, "true") || !strcmp(val, "1");
    } else if (!strcmp(key, "reference")) {
        moat_strv_push(&f->refs, val);
    } else if (!strcmp(key, "label")) {
        moat_strv_push(&f->labels, val);
    } else if (!strcmp(key, "before") || !strcmp(key, "since")) {
        struct moat_store *s;
        struct moat_image img;
        if (cli_store(c, &s, err) < 0 || moat_image_lookup(s, val, 0, &img, err) < 0)
            return -1;
        *(key[0] == 'b' ? &f->before : &f->since) = img.created_unix;
        moat_image_clear(&img);
    } else {
        return moat_err(err, EINVAL, "invalid filter '%s'", key);
    }
    return 0;
}

static bool ref_match(const char *pattern, const char *repo, const char *tag)
{
    _cleanup_free_ char *full = xasprintf("%s:%s", repo, tag);
    return fnmatch(pattern, repo, FNM_PATHNAME) == 0 || fnmatch(pattern, full, FNM_PATHNAME) == 0;
}

static bool keep(const struct filters *f, const struct row *r, const char *arg_repo, const char *arg_tag)
{
    bool dangling = !r->img->names[0];
    if (f->dangling >= 0 && dangling != (f->dangling == 1))
        return false;
    if (f->before && r->img->created_unix >= f->before)
        return false;
    if (f->since && r->img->created_unix <= f->since)
        return false;
    for (size_t i = 0; f->labels && f->labels[i]; i++) {
        const char *eq = strchr(f->labels[i], '=');
        _cleanup_free_ char *k = eq ? xstrndup(f->labels[i], (size_t)(eq - f->labels[i])) : xstrdup(f->labels[i]);
        const char *v = label_value(r->img, k);
        if (!v || (eq && strcmp(v, eq + 1) != 0))
            return false;
    }
    if (f->refs) {
        bool any = false;
        for (size_t i = 0; f->refs[i] && !any; i++)
            any = !dangling && ref_match(f->refs[i], r->repo, r->tag);
        if (!any)
            return false;
    }
    if (arg_repo && (dangling || strcmp(arg_repo, r->repo) != 0 || (arg_tag && strcmp(arg_tag, r->tag) != 0)))
        return false;
    return true;
}

static int cmp_rows(const void *a, const void *b)
{
    const struct row *x = a, *y = b;
    if (x->img->created_unix != y->img->created_unix)
        return x->img->created_unix < y->img->created_unix ? 1 : -1;
    int c = strcmp(x->img->id, y->img->id);
    if (c)
        return c;
    c = strcmp(x->repo, y->repo);
    return c ? c : strcmp(x->tag, y->tag);
}

struct fmt_ctx {
    const struct row *r;
    bool no_trunc;
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
        return x->r->img->manifest;
    if (!strcmp(key, "CreatedSince"))
        return x->since;
    if (!strcmp(key, "CreatedAt"))
        return x->r->img->created ? x->r->img->created : "";
    if (!strcmp(key, "Size"))
        return x->size;
    return NULL;
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
    struct filters f = {.dangling = -1};
    bool digests = false, no_trunc = false, quiet = false;
    const char *format = NULL;
    int o, rc = 0;
    while (rc == 0 && (o = getopt_long(argc, argv, ":af:qh", opts, NULL)) != -1) {
        if (o == 'h')
            return cli_help(c, usage_text, option_help);
        else if (o == 'f')
            rc = parse_filter(c, &f, optarg, err);
        else if (o == 'd')
            digests = true;
        else if (o == 'n')
            no_trunc = true;
        else if (o == 'q')
            quiet = true;
        else if (o == 'F')
            format = optarg;
        else if (o != 'a')
            rc = cli_flag_error(c, o, argv, err);
    }
    static const char *const keys[] = {"ID", "Repository", "Tag", "Digest", "CreatedSince", "CreatedAt", "Size", NULL};
    if (rc == 0 && format)
        rc = cli_format_check(format, keys, err);
    if (rc == 0 && argc - optind > 1)
        rc = cli_args_error(c, err, "requires at most 1 argument");
    _cleanup_free_ char *arg_repo = NULL, *arg_tag = NULL;
    if (rc == 0 && optind < argc) {
        struct moat_ref r;
        if (moat_ref_parse(argv[optind], &r, err) < 0) {
            rc = -1;
        } else {
            arg_repo = moat_ref_familiar_name(&r);
            arg_tag = xstrdup_or_null(r.tag);
            moat_ref_clear(&r);
        }
    }
    struct moat_store *s;
    struct moat_image *v = NULL;
    size_t n = 0;
    if (rc == 0 && (cli_store(c, &s, err) < 0 || moat_images_list(s, &v, &n, err) < 0))
        rc = -1;
    struct row *rows = NULL;
    size_t nr = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t k = 0;
        do {
            struct row r = {.img = &v[i]};
            if (v[i].names[k]) {
                struct moat_ref pr;
                moat_error *pe = NULL;
                if (moat_ref_parse(v[i].names[k], &pr, &pe) < 0) {
                    moat_error_free(pe);
                    continue;
                }
                r.repo = moat_ref_familiar_name(&pr);
                r.tag = xstrdup(pr.tag ? pr.tag : "<none>");
                moat_ref_clear(&pr);
            } else {
                r.repo = xstrdup("<none>");
                r.tag = xstrdup("<none>");
            }
            if (keep(&f, &r, arg_repo, arg_tag)) {
                rows = xrealloc(rows, (nr + 1) * sizeof(*rows));
                rows[nr++] = r;
            } else {
                free(r.repo);
                free(r.tag);
            }
        } while (v[i].names[k] && v[i].names[++k]);
    }
    if (rc == 0) {
        if (nr)
            qsort(rows, nr, sizeof(*rows), cmp_rows);
        struct cli_table t;
        if (digests)
            cli_table_init(&t, 6, "REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED", "SIZE");
        else
            cli_table_init(&t, 5, "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
        for (size_t i = 0; i < nr; i++) {
            struct fmt_ctx x = {.r = &rows[i], .no_trunc = no_trunc};
            if (no_trunc)
                snprintf(x.id, sizeof x.id, "%s", rows[i].img->id);
            else
                cli_short_id(rows[i].img->id, x.id);
            cli_created_since(rows[i].img->created_unix, x.since, sizeof x.since);
            cli_human_size(rows[i].img->size, 3, x.size, sizeof x.size);
            if (format) {
                _cleanup_free_ char *line = cli_format(format, field, &x);
                printf("%s\n", line);
            } else if (quiet) {
                printf("%s\n", x.id);
            } else if (digests) {
                cli_table_row(&t, rows[i].repo, rows[i].tag, rows[i].img->manifest, x.id, x.since, x.size);
            } else {
                cli_table_row(&t, rows[i].repo, rows[i].tag, x.id, x.since, x.size);
            }
        }
        if (!quiet && !format)
            cli_table_print(&t, stdout);
        cli_table_free(&t);
    }
    for (size_t i = 0; i < nr; i++) {
        free(rows[i].repo);
        free(rows[i].tag);
    }
    free(rows);
    moat_images_free(v, n);
    moat_strv_free(f.refs);
    moat_strv_free(f.labels);
    return rc;
}

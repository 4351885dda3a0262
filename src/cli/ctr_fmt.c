/* Docker's formatting of container list rows (cli/command/formatter/container.go)
 * and the path-stat header of the archive endpoints. */
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/ctr_cmds.h"
#include "moat/json.h"
#include "moat/util.h"

#define PATH_STAT_MAX (64 * 1024)

static const char *jstr(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string))
        return json_object_get_string(v);
    return NULL;
}

static int64_t jint(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    if (o && json_object_object_get_ex(o, key, &v) &&
        (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)))
        return json_object_get_int64(v);
    return 0;
}

static void join_into(char **out, const char *sep, const char *s)
{
    char *t = xasprintf("%s%s%s", *out, **out ? sep : "", s);
    free(*out);
    *out = t;
}

struct port {
    const char *ip, *type;
    int64_t priv, pub;
};

static int cmp_port(const void *a, const void *b)
{
    const struct port *x = a, *y = b;
    int c = strcmp(x->type, y->type);
    if (c)
        return c;
    if (x->priv != y->priv)
        return x->priv < y->priv ? -1 : 1;
    c = strcmp(x->ip, y->ip);
    if (c)
        return c;
    return x->pub < y->pub ? -1 : x->pub > y->pub;
}

char *cli_ps_ports(struct json_object *ports)
{
    char *out = xstrdup("");
    size_t n = ports && json_object_is_type(ports, json_type_array) ? json_object_array_length(ports) : 0;
    if (!n)
        return out;
    struct port *v = xcalloc(n, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        struct json_object *p = json_object_array_get_idx(ports, i);
        const char *ip = jstr(p, "IP"), *type = jstr(p, "Type");
        v[i] = (struct port){ip ? ip : "", type ? type : "tcp", jint(p, "PrivatePort"), jint(p, "PublicPort")};
    }
    qsort(v, n, sizeof(*v), cmp_port);
    /* Consecutive private ports of one IP and type (with consecutive public
     * ports, or none) are shown as a range, as Docker does. */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && !strcmp(v[j + 1].ip, v[i].ip) && !strcmp(v[j + 1].type, v[i].type) &&
               v[j + 1].priv == v[j].priv + 1 && ((!v[i].pub && !v[j + 1].pub) || (v[i].pub && v[j + 1].pub == v[j].pub + 1)))
            j++;
        char priv[48], pub[48];
        if (j > i)
            snprintf(priv, sizeof priv, "%" PRId64 "-%" PRId64, v[i].priv, v[j].priv);
        else
            snprintf(priv, sizeof priv, "%" PRId64, v[i].priv);
        _cleanup_free_ char *one = NULL;
        if (v[i].pub) {
            if (j > i)
                snprintf(pub, sizeof pub, "%" PRId64 "-%" PRId64, v[i].pub, v[j].pub);
            else
                snprintf(pub, sizeof pub, "%" PRId64, v[i].pub);
            bool v6 = strchr(v[i].ip, ':') != NULL;
            one = xasprintf("%s%s%s:%s->%s/%s", v6 ? "[" : "", v[i].ip, v6 ? "]" : "", pub, priv, v[i].type);
        } else {
            one = xasprintf("%s/%s", priv, v[i].type);
        }
        join_into(&out, ", ", one);
        i = j + 1;
    }
    free(v);
    return out;
}

char *cli_ps_command(const char *cmd, bool trunc)
{
    _cleanup_free_ char *c = trunc ? cli_ellipsis(cmd ? cmd : "", 20) : xstrdup(cmd ? cmd : "");
    return cli_go_quote(c);
}

char *cli_ps_names(struct json_object *names, bool trunc)
{
    char *out = xstrdup("");
    for (size_t i = 0; names && json_object_is_type(names, json_type_array) && i < json_object_array_length(names);
         i++) {
        const char *n = json_object_get_string(json_object_array_get_idx(names, i));
        if (!n)
            continue;
        if (*n == '/')
            n++;
        if (trunc && strchr(n, '/')) /* a link's name: /web/db */
            continue;
        join_into(&out, ",", n);
    }
    return out;
}

static int cmp_cstr(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static char *labels_text(struct json_object *labels)
{
    char *out = xstrdup("");
    if (!labels || !json_object_is_type(labels, json_type_object))
        return out;
    size_t n = (size_t)json_object_object_length(labels), i = 0;
    char **kv = xcalloc(n + 1, sizeof(char *));
    json_object_object_foreach(labels, k, v) kv[i++] = xasprintf("%s=%s", k, v ? json_object_get_string(v) : "");
    qsort(kv, n, sizeof(char *), cmp_cstr);
    for (i = 0; i < n; i++)
        join_into(&out, ",", kv[i]);
    moat_strv_free(kv);
    return out;
}

static void row_mounts(struct json_object *row, struct json_object *ctr, bool trunc)
{
    struct json_object *mounts = NULL;
    char *out = xstrdup("");
    int64_t local = 0;
    if (json_object_object_get_ex(ctr, "Mounts", &mounts) && json_object_is_type(mounts, json_type_array))
        for (size_t i = 0; i < json_object_array_length(mounts); i++) {
            struct json_object *m = json_object_array_get_idx(mounts, i);
            const char *name = jstr(m, "Name"), *src = jstr(m, "Source"), *drv = jstr(m, "Driver");
            const char *shown = name && *name ? name : src ? src : "";
            _cleanup_free_ char *e = trunc ? cli_ellipsis(shown, 15) : xstrdup(shown);
            join_into(&out, ",", e);
            if (drv && !strcmp(drv, "local"))
                local++;
        }
    json_object_object_add(row, "Mounts", json_object_new_string(out));
    _cleanup_free_ char *lv = xasprintf("%" PRId64, local);
    json_object_object_add(row, "LocalVolumes", json_object_new_string(lv));
    free(out);
}

static void row_networks(struct json_object *row, struct json_object *ctr)
{
    struct json_object *ns = NULL, *nets = NULL;
    char *out = xstrdup("");
    if (json_object_object_get_ex(ctr, "NetworkSettings", &ns) && json_object_object_get_ex(ns, "Networks", &nets) &&
        json_object_is_type(nets, json_type_object)) {
        size_t n = (size_t)json_object_object_length(nets), i = 0;
        char **k = xcalloc(n + 1, sizeof(char *));
        json_object_object_foreach(nets, key, v)
        {
            (void)v;
            k[i++] = xstrdup(key);
        }
        qsort(k, n, sizeof(char *), cmp_cstr);
        for (i = 0; i < n; i++)
            join_into(&out, ",", k[i]);
        moat_strv_free(k);
    }
    json_object_object_add(row, "Networks", json_object_new_string(out));
    free(out);
}

static const char *image_text(const char *image, bool trunc, char *buf, size_t len)
{
    if (!image)
        return "";
    if (trunc && moat_str_has_prefix(image, "sha256:")) {
        snprintf(buf, len, "%.12s", image + 7);
        return buf;
    }
    const char *at = strstr(image, "@sha256:");
    if (trunc && at) { /* Docker drops the digest of a "name@digest" when truncating */
        snprintf(buf, len, "%.*s", (int)(at - image), image);
        return buf;
    }
    return image;
}

static void add_str(struct json_object *row, const char *k, const char *v)
{
    json_object_object_add(row, k, json_object_new_string(v ? v : ""));
}

struct json_object *cli_ps_row(struct json_object *ctr, bool trunc, int64_t now)
{
    struct json_object *row = json_object_new_object();
    const char *id = jstr(ctr, "Id");
    char buf[256];
    snprintf(buf, sizeof buf, trunc ? "%.12s" : "%s", id ? id : "");
    add_str(row, "ID", buf);
    add_str(row, "Image", image_text(jstr(ctr, "Image"), trunc, buf, sizeof buf));
    _cleanup_free_ char *cmd = cli_ps_command(jstr(ctr, "Command"), trunc);
    add_str(row, "Command", cmd);
    int64_t created = jint(ctr, "Created");
    time_t t = (time_t)created;
    struct tm tm;
    if (created > 0 && localtime_r(&t, &tm))
        strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S %z %Z", &tm);
    else
        buf[0] = '\0';
    add_str(row, "CreatedAt", buf);
    char d[64];
    cli_human_duration(now - created, d, sizeof d);
    snprintf(buf, sizeof buf, "%s ago", d);
    add_str(row, "RunningFor", buf);
    struct json_object *ports = NULL;
    json_object_object_get_ex(ctr, "Ports", &ports);
    _cleanup_free_ char *p = cli_ps_ports(ports);
    add_str(row, "Ports", p);
    add_str(row, "Status", jstr(ctr, "Status"));
    add_str(row, "State", jstr(ctr, "State"));
    struct json_object *names = NULL;
    json_object_object_get_ex(ctr, "Names", &names);
    _cleanup_free_ char *n = cli_ps_names(names, trunc);
    add_str(row, "Names", n);
    struct json_object *labels = NULL;
    json_object_object_get_ex(ctr, "Labels", &labels);
    _cleanup_free_ char *l = labels_text(labels);
    add_str(row, "Labels", l);
    json_object_object_add(row, "Label",
                           labels && json_object_is_type(labels, json_type_object) ? json_object_get(labels)
                                                                                   : json_object_new_object());
    char rw[32], root[32];
    cli_human_size((uint64_t)jint(ctr, "SizeRw"), 3, rw, sizeof rw);
    cli_human_size((uint64_t)jint(ctr, "SizeRootFs"), 3, root, sizeof root);
    if (jint(ctr, "SizeRootFs") > 0)
        snprintf(buf, sizeof buf, "%s (virtual %s)", rw, root);
    else
        snprintf(buf, sizeof buf, "%s", rw);
    add_str(row, "Size", buf);
    row_mounts(row, ctr, trunc);
    row_networks(row, ctr);
    return row;
}

struct json_object *cli_ps_header(void)
{
    static const char *const h[][2] = {
        {"ID", "CONTAINER ID"}, {"Image", "IMAGE"},   {"Command", "COMMAND"},          {"CreatedAt", "CREATED AT"},
        {"RunningFor", "CREATED"}, {"Ports", "PORTS"}, {"Status", "STATUS"},          {"State", "STATE"},
        {"Names", "NAMES"},     {"Labels", "LABELS"}, {"Mounts", "MOUNTS"},            {"Size", "SIZE"},
        {"Networks", "NETWORKS"}, {"LocalVolumes", "LOCAL VOLUMES"}};
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; i < ARRAY_SIZE(h); i++)
        add_str(o, h[i][0], h[i][1]);
    json_object_object_add(o, "Label", json_object_new_object());
    return o;
}

/* ---- Go's tabwriter (minwidth, padding 3, cells ended by \t) ---- */

static size_t ucount(const char *s, size_t n)
{
    size_t r = 0;
    for (size_t i = 0; i < n && s[i]; i++)
        r += ((unsigned char)s[i] & 0xc0) != 0x80;
    return r;
}

void ctr_print_tabbed(char **lines, size_t n, size_t minwidth, FILE *f)
{
    /* column widths over all lines (Go's tabwriter works on blocks of lines
     * with the same cells; one block is what Docker's tables are) */
    size_t *w = NULL, nw = 0;
    for (size_t i = 0; i < n; i++) {
        size_t col = 0;
        for (const char *p = lines[i];; col++) {
            const char *t = strchr(p, '\t');
            if (!t)
                break;
            if (col >= nw) {
                w = xrealloc(w, (col + 1) * sizeof(*w));
                w[col] = 0;
                nw = col + 1;
            }
            size_t cw = ucount(p, (size_t)(t - p)) + 3;
            if (cw > w[col])
                w[col] = cw;
            p = t + 1;
        }
    }
    for (size_t i = 0; i < n; i++) {
        size_t col = 0;
        const char *p = lines[i];
        for (const char *t; (t = strchr(p, '\t')); col++) {
            size_t cw = ucount(p, (size_t)(t - p));
            size_t width = w[col] < minwidth ? minwidth : w[col];
            fwrite(p, 1, (size_t)(t - p), f);
            for (; cw < width; cw++)
                fputc(' ', f);
            p = t + 1;
        }
        fprintf(f, "%s\n", p);
    }
    free(w);
}

/* ---- X-Docker-Container-Path-Stat ---- */

void cli_path_stat_clear(struct cli_path_stat *st)
{
    free(st->name);
    free(st->link_target);
    memset(st, 0, sizeof(*st));
}

int cli_path_stat_decode(const char *header, struct cli_path_stat *ret, moat_error **err)
{
    memset(ret, 0, sizeof(*ret));
    size_t len = header ? strlen(header) : 0;
    if (!len)
        return moat_err(err, EINVAL, "no container path stat header in the daemon's answer");
    if (len > PATH_STAT_MAX || len % 4)
        return moat_err(err, EINVAL, "unable to decode container path stat header: bad base64 length %zu", len);
    _cleanup_free_ unsigned char *raw = xmalloc(len / 4 * 3 + 1);
    int n = EVP_DecodeBlock(raw, (const unsigned char *)header, (int)len);
    if (n < 0)
        return moat_err(err, EINVAL, "unable to decode container path stat header: bad base64");
    for (size_t i = len; i > 0 && header[i - 1] == '='; i--)
        n--; /* EVP_DecodeBlock counts the padding */
    _cleanup_json_ struct json_object *j = NULL;
    if (moat_json_parse((const char *)raw, (size_t)n, PATH_STAT_MAX, "container path stat", &j, err) < 0)
        return -1;
    int64_t mode = 0, size = 0;
    char *name = NULL, *link = NULL;
    if (moat_json_str(j, "", "name", true, &name, err) < 0)
        return -1;
    ret->name = name;
    if (moat_json_i64(j, "", "size", false, INT64_MIN, INT64_MAX, &size, err) < 0 ||
        moat_json_i64(j, "", "mode", false, 0, UINT32_MAX, &mode, err) < 0 ||
        moat_json_str(j, "", "linkTarget", false, &link, err) < 0) {
        cli_path_stat_clear(ret);
        return -1;
    }
    ret->size = size;
    ret->mode = (uint32_t)mode;
    ret->link_target = link;
    ret->is_dir = (ret->mode & (1u << 31)) != 0;
    ret->is_link = (ret->mode & (1u << 27)) != 0;
    return 0;
}

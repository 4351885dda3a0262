/* Control groups: the controller names, the cgroupfs helpers and the layout
 * detection (see cgroup.c).  Apart from the rest of the cgroup code so that
 * what only asks which layout the host has (moatd's `info`) does not link
 * the v1 and v2 operation tables, the BPF device filter (libbpf) and libm. */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "moat/cgroup.h"
#include "moat/json.h"
#include "moat/log.h"
#include "moat/util.h"
#include "runtime/cgroup_internal.h"

const char *const cg_v1_names[CG__COUNT] = {"cpu",    "cpuacct", "cpuset",  "memory",  "devices",
                                            "freezer", "blkio",  "pids",    "hugetlb", "net_cls",
                                            "net_prio", "perf_event", "rdma", "misc"};
const char *const cg_v2_names[CG__COUNT] = {"cpu", NULL,      "cpuset", "memory", NULL,         NULL,   "io",
                                            "pids", "hugetlb", NULL,    NULL,     "perf_event", "rdma", "misc"};

int cg_ctrl_from_v1(const char *name)
{
    for (int i = 0; i < CG__COUNT; i++)
        if (strcmp(cg_v1_names[i], name) == 0)
            return i;
    return -1;
}

int cg_ctrl_from_v2(const char *name)
{
    for (int i = 0; i < CG__COUNT; i++)
        if (cg_v2_names[i] && strcmp(cg_v2_names[i], name) == 0)
            return i;
    return -1;
}

/* ---- cgroupfs helpers ------------------------------------------------------ */

int cg_write(const char *dir, const char *file, const char *data, moat_error **err)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
    return moat_write_file_at(AT_FDCWD, p, data, err);
}

int cg_writef(const char *dir, const char *file, moat_error **err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *data = NULL;
    int n = vasprintf(&data, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    int r = cg_write(dir, file, data, err);
    free(data);
    return r;
}

int cg_read(const char *dir, const char *file, char **ret, moat_error **err)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
    size_t len = 0;
    if (moat_read_file_at(AT_FDCWD, p, CG_FILE_MAX, ret, &len, err) < 0)
        return -1;
    while (len > 0 && (*ret)[len - 1] == '\n')
        (*ret)[--len] = '\0';
    return 0;
}

bool cg_has_file(const char *dir, const char *file)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

int cg_read_i64(const char *dir, const char *file, int64_t *ret)
{
    _cleanup_error_ moat_error *e = NULL;
    _cleanup_free_ char *s = NULL;
    if (cg_read(dir, file, &s, &e) < 0)
        return -1;
    if (strcmp(s, "max") == 0) {
        *ret = -1;
        return 0;
    }
    return moat_parse_i64(s, ret);
}

int cg_read_keyed(const char *dir, const char *file, const char *key, int64_t *ret)
{
    _cleanup_error_ moat_error *e = NULL;
    _cleanup_free_ char *s = NULL;
    if (cg_read(dir, file, &s, &e) < 0)
        return -1;
    size_t klen = strlen(key);
    for (char *line = s; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
            return moat_parse_i64(line + klen + 1, ret);
        line = nl ? nl + 1 : NULL;
    }
    return -1;
}

/* ---- /proc/self/mountinfo -------------------------------------------------- */

/* Mount fields escape space, tab, newline and backslash as \ooo. */
static char *unescape_field(const char *s)
{
    size_t len = strlen(s), j = 0;
    char *out = xmalloc(len + 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 3 < len && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
            s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            out[j++] = (char)(((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
            i += 3;
        } else {
            out[j++] = s[i];
        }
    }
    out[j] = '\0';
    return out;
}

/* /sys/fs/cgroup itself or one directory below it. */
bool cg_mount_point_ok(const char *mp)
{
    if (strcmp(mp, CG_ROOT) == 0)
        return true;
    if (!moat_str_has_prefix(mp, CG_ROOT "/"))
        return false;
    const char *name = mp + strlen(CG_ROOT "/");
    return *name && !strchr(name, '/') && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && strlen(name) < 256;
}

/* Controllers and name= of a v1 mount from its super options. */
void cg_v1_options(const char *opts, uint32_t *ctrls, char **named)
{
    _cleanup_free_ char *copy = xstrdup(opts);
    char *save = NULL;
    *ctrls = 0;
    *named = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int c = cg_ctrl_from_v1(tok);
        if (c >= 0)
            *ctrls |= CG_BIT(c);
        else if (moat_str_has_prefix(tok, "name=") && tok[5] && !*named)
            *named = xstrdup(tok + 5);
    }
}

static void hier_clear(struct cg_hier *h)
{
    free(h->mount);
    free(h->root);
    free(h->named);
    memset(h, 0, sizeof(*h));
}

void cg_layout_free(struct cg_layout *l)
{
    for (size_t i = 0; i < l->n; i++)
        hier_clear(&l->h[i]);
    l->n = 0;
    l->v2 = -1;
}

static bool same_hierarchy(const struct cg_hier *a, const struct cg_hier *b)
{
    if (a->v2 || b->v2)
        return a->v2 && b->v2;
    if (a->ctrls != b->ctrls)
        return false;
    return (!a->named && !b->named) || (a->named && b->named && strcmp(a->named, b->named) == 0);
}

/* Add one parsed mount; a later mount on the same point shadows an earlier
 * one, a second mount of the same hierarchy is ignored. */
static int layout_add(struct cg_layout *l, struct cg_hier *h, moat_error **err)
{
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->h[i].mount, h->mount) == 0) {
            hier_clear(&l->h[i]);
            l->h[i] = *h;
            return 0;
        }
    }
    for (size_t i = 0; i < l->n; i++) {
        if (same_hierarchy(&l->h[i], h) || (!h->v2 && !l->h[i].v2 && (l->h[i].ctrls & h->ctrls))) {
            hier_clear(h);
            return 0;
        }
    }
    if (l->n == CG_MAX_HIER) {
        hier_clear(h);
        return moat_err(err, E2BIG, "mountinfo: more than %d cgroup hierarchies", CG_MAX_HIER);
    }
    l->h[l->n++] = *h;
    return 0;
}

/* One mountinfo line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS". */
static int parse_mount_line(char *line, struct cg_layout *l, moat_error **err)
{
    char *tok[64];
    size_t n = 0;
    char *save = NULL;
    for (char *t = strtok_r(line, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (n == ARRAY_SIZE(tok))
            return 0; /* not a line we could be interested in */
        tok[n++] = t;
    }
    size_t sep = 0;
    for (size_t i = 6; i < n; i++)
        if (strcmp(tok[i], "-") == 0) {
            sep = i;
            break;
        }
    if (sep == 0 || sep + 3 >= n)
        return 0;
    const char *fstype = tok[sep + 1];
    bool v2 = strcmp(fstype, "cgroup2") == 0;
    if (!v2 && strcmp(fstype, "cgroup") != 0)
        return 0;
    struct cg_hier h = {.v2 = v2};
    h.mount = unescape_field(tok[4]);
    if (!cg_mount_point_ok(h.mount)) {
        hier_clear(&h);
        return 0;
    }
    h.root = unescape_field(tok[3]);
    if (h.root[0] != '/') {
        hier_clear(&h);
        return 0;
    }
    if (!v2) {
        cg_v1_options(tok[sep + 3], &h.ctrls, &h.named);
        if (!h.ctrls && !h.named) {
            hier_clear(&h);
            return 0;
        }
    }
    return layout_add(l, &h, err);
}

int cg_parse_mountinfo(const char *buf, struct cg_layout *ret, moat_error **err)
{
    memset(ret, 0, sizeof(*ret));
    ret->v2 = -1;
    _cleanup_free_ char *copy = xstrdup(buf);
    char *save = NULL;
    size_t lines = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (++lines > 1000000) {
            cg_layout_free(ret);
            return moat_err(err, E2BIG, "mountinfo: too many lines");
        }
        if (parse_mount_line(line, ret, err) < 0) {
            cg_layout_free(ret);
            return -1;
        }
    }
    for (size_t i = 0; i < ret->n; i++)
        if (ret->h[i].v2)
            ret->v2 = (int)i;
    return 0;
}

void cg_layout_set_v2_controllers(struct cg_layout *l, const char *controllers)
{
    if (l->v2 < 0)
        return;
    uint32_t on_v1 = 0;
    for (size_t i = 0; i < l->n; i++)
        if (!l->h[i].v2)
            on_v1 |= l->h[i].ctrls;
    uint32_t m = CG_BIT(CG_DEVICES) | CG_BIT(CG_FREEZER) | CG_BIT(CG_CPUACCT);
    _cleanup_free_ char *copy = xstrdup(controllers ? controllers : "");
    char *save = NULL;
    for (char *t = strtok_r(copy, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
        int c = cg_ctrl_from_v2(t);
        if (c >= 0)
            m |= CG_BIT(c);
    }
    l->h[l->v2].ctrls = m & ~on_v1;
}

const char *cg_layout_kind(const struct cg_layout *l)
{
    bool v1 = false;
    for (size_t i = 0; i < l->n; i++)
        if (!l->h[i].v2)
            v1 = true;
    if (v1)
        return l->v2 >= 0 ? "hybrid" : "v1";
    return l->v2 >= 0 ? "v2" : "none";
}

int cg_layout_detect(struct cg_layout *ret, moat_error **err)
{
    _cleanup_free_ char *buf = NULL;
    if (moat_read_file_at(AT_FDCWD, "/proc/self/mountinfo", 16u << 20, &buf, NULL, err) < 0)
        return moat_err_wrap(err, "detect the cgroup layout");
    if (cg_parse_mountinfo(buf, ret, err) < 0)
        return moat_err_wrap(err, "detect the cgroup layout");
    if (ret->v2 >= 0) {
        _cleanup_free_ char *ctl = NULL;
        _cleanup_error_ moat_error *e = NULL;
        if (cg_read(ret->h[ret->v2].mount, "cgroup.controllers", &ctl, &e) < 0)
            moat_log(MOAT_LOG_DEBUG, "cgroup2: %s", e->msg);
        cg_layout_set_v2_controllers(ret, ctl);
    }
    return 0;
}

const char *moat_cgroup_layout_name(void)
{
    struct cg_layout l;
    _cleanup_error_ moat_error *e = NULL;
    if (cg_layout_detect(&l, &e) < 0)
        return "none";
    const char *k = cg_layout_kind(&l);
    cg_layout_free(&l);
    return k;
}

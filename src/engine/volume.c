/* Named volumes of the "local" driver and bind-source checks (moat/volume.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/layer.h"
#include "moat/log.h"
#include "moat/path.h"
#include "moat/util.h"
#include "moat/volume.h"

#define VOL_JSON_MAX (1u << 20)
#define VOL_MAX_KV 1024      /* labels or options per volume */
#define VOL_MAX_KV_LEN 4096  /* bytes of one key or value */
#define POP_MAX_BYTES (4ull << 30)
#define POP_MAX_ENTRIES 1000000ull
#define POP_MAX_DEPTH 256    /* every level holds two fds */
#define SIZE_MAX_DEPTH 4096
#define BIND_MAX_LINKS 40

struct moat_volumes {
    char *root, *dir;
    int dirfd;
    struct image_userns ns;
    moat_volume_in_use_fn in_use;
    void *in_use_ctx;
};

/* ---- small helpers ------------------------------------------------------------- */

bool moat_volume_name_valid(const char *name)
{
    if (!name)
        return false;
    size_t n = strlen(name);
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
            return false;
    }
    return true;
}

int moat_volume_check_driver(const char *driver, moat_error **err)
{
    if (!driver || !*driver || !strcmp(driver, "local"))
        return 0;
    return moat_err(err, EINVAL, "volume driver '%s' is not supported (only \"local\")", driver);
}

static char *random_hex(size_t bytes)
{
    unsigned char b[32];
    if (bytes > sizeof b)
        bytes = sizeof b;
    size_t got = 0;
    while (got < bytes) {
        ssize_t n = getrandom(b + got, bytes - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            abort(); /* no entropy source: nothing sane to do (names would collide) */
        }
        got += (size_t)n;
    }
    char *s = xmalloc(bytes * 2 + 1);
    for (size_t i = 0; i < bytes; i++)
        snprintf(s + 2 * i, 3, "%02x", b[i]);
    return s;
}

static char *tmp_name(void)
{
    _cleanup_free_ char *r = random_hex(8);
    return xasprintf(".tmp-%d-%s", (int)getpid(), r);
}

static size_t kv_pairs(char *const *kv) { return moat_strv_len(kv) / 2; }

/* Lookup in k, v, ... */
static const char *kv_get(char *const *kv, const char *key)
{
    for (size_t i = 0; kv && kv[i] && kv[i + 1]; i += 2)
        if (!strcmp(kv[i], key))
            return kv[i + 1];
    return NULL;
}

static bool kv_equal(char *const *a, char *const *b)
{
    if (kv_pairs(a) != kv_pairs(b))
        return false;
    for (size_t i = 0; a && a[i] && a[i + 1]; i += 2) {
        const char *v = kv_get(b, a[i]);
        if (!v || strcmp(v, a[i + 1]) != 0)
            return false;
    }
    return true;
}

static int kv_check(char *const *kv, const char *what, moat_error **err)
{
    size_t n = moat_strv_len(kv);
    if (n % 2)
        return moat_err(err, EINVAL, "volume %s: odd number of key/value strings", what);
    if (n / 2 > VOL_MAX_KV)
        return moat_err(err, EINVAL, "volume %s: more than %d entries", what, VOL_MAX_KV);
    for (size_t i = 0; i < n; i++) {
        if (i % 2 == 0 && !*kv[i])
            return moat_err(err, EINVAL, "volume %s: empty key", what);
        if (strlen(kv[i]) > VOL_MAX_KV_LEN)
            return moat_err(err, EINVAL, "volume %s: a key or value is longer than %d bytes", what,
                            VOL_MAX_KV_LEN);
    }
    return 0;
}

static struct json_object *kv_json(char *const *kv)
{
    if (!kv)
        return NULL;
    struct json_object *o = json_object_new_object();
    for (size_t i = 0; kv[i] && kv[i + 1]; i += 2)
        json_object_object_add(o, kv[i], json_object_new_string(kv[i + 1]));
    return o;
}

/* JSON object of strings (or null/absent) -> k, v, ..., NULL (NULL for null). */
static int kv_from_json(struct json_object *parent, const char *key, char ***ret, moat_error **err)
{
    struct json_object *o = NULL;
    *ret = NULL;
    if (!json_object_object_get_ex(parent, key, &o) || !o)
        return 0;
    if (!json_object_is_type(o, json_type_object))
        return moat_err(err, EINVAL, "/%s: expected an object", key);
    if (json_object_object_length(o) > VOL_MAX_KV)
        return moat_err(err, EINVAL, "/%s: more than %d entries", key, VOL_MAX_KV);
    char **v = xcalloc(1, sizeof(char *));
    json_object_object_foreach(o, k, val)
    {
        if (!json_object_is_type(val, json_type_string)) {
            moat_strv_free(v);
            return moat_err(err, EINVAL, "/%s/%s: expected a string", key, k);
        }
        moat_strv_push(&v, k);
        moat_strv_push(&v, json_object_get_string(val));
    }
    *ret = v;
    return 0;
}

static void created_now(char *buf, size_t len)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- open / close ---------------------------------------------------------------- */

int moat_volumes_open(const char *store_root, struct moat_volumes **ret, moat_error **err)
{
    if (!store_root || store_root[0] != '/')
        return moat_err(err, EINVAL, "volumes: the store root must be an absolute path");
    _cleanup_close_ int rootfd = open(store_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return moat_err_sys(err, "open store root '%s'", store_root);
    if (mkdirat(rootfd, "volumes", 0700) < 0 && errno != EEXIST)
        return moat_err_sys(err, "create '%s/volumes'", store_root);
    _cleanup_close_ int dfd = openat(rootfd, "volumes", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return moat_err_sys(err, "open '%s/volumes'", store_root);
    struct stat st;
    if (fstat(dfd, &st) < 0)
        return moat_err_sys(err, "stat '%s/volumes'", store_root);
    if (st.st_uid != geteuid())
        return moat_err(err, EPERM, "'%s/volumes' is owned by uid %u, not by us (%u)", store_root,
                        (unsigned)st.st_uid, (unsigned)geteuid());
    /* no other host user may traverse into a volume's data */
    if ((st.st_mode & 07777) != 0700 && fchmod(dfd, 0700) < 0)
        return moat_err_sys(err, "chmod 0700 '%s/volumes'", store_root);
    struct moat_volumes *vs = xcalloc(1, sizeof(*vs));
    if (image_userns_default(&vs->ns, err) < 0) {
        free(vs);
        return -1;
    }
    vs->root = xstrdup(store_root);
    vs->dir = xasprintf("%s/volumes", store_root);
    vs->dirfd = TAKE_FD(dfd);
    *ret = vs;
    return 0;
}

void moat_volumes_close(struct moat_volumes *vs)
{
    if (!vs)
        return;
    if (vs->dirfd >= 0)
        close(vs->dirfd);
    free(vs->root);
    free(vs->dir);
    free(vs);
}

void moat_volumes_set_in_use_hook(struct moat_volumes *vs, moat_volume_in_use_fn fn, void *ctx)
{
    vs->in_use = fn;
    vs->in_use_ctx = ctx;
}

void moat_volume_clear(struct moat_volume *v)
{
    if (!v)
        return;
    free(v->name);
    free(v->driver);
    free(v->mountpoint);
    free(v->created_at);
    moat_strv_free(v->labels);
    moat_strv_free(v->options);
    memset(v, 0, sizeof(*v));
}

void moat_volumes_free(struct moat_volume *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        moat_volume_clear(&v[i]);
    free(v);
}

/* ---- records ------------------------------------------------------------------------ */

static char *record_text(const struct moat_volume *v)
{
    _cleanup_json_ struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Name", json_object_new_string(v->name));
    json_object_object_add(o, "Driver", json_object_new_string(v->driver ? v->driver : "local"));
    json_object_object_add(o, "Labels", kv_json(v->labels));
    json_object_object_add(o, "Options", kv_json(v->options));
    json_object_object_add(o, "CreatedAt", json_object_new_string(v->created_at));
    json_object_object_add(o, "Anonymous", json_object_new_boolean(v->anonymous));
    return moat_json_dump(o, false);
}

static int parse_record(struct moat_volumes *vs, int vfd, const char *name, struct moat_volume *v,
                        moat_error **err)
{
    _cleanup_json_ struct json_object *o = NULL;
    if (moat_json_parse_file_at(vfd, "volume.json", VOL_JSON_MAX, "volume.json", &o, err) < 0)
        return -1;
    _cleanup_free_ char *rec_name = NULL;
    if (moat_json_str(o, "", "Name", true, &rec_name, err) < 0 ||
        moat_json_str(o, "", "Driver", false, &v->driver, err) < 0 ||
        moat_json_str(o, "", "CreatedAt", true, &v->created_at, err) < 0 ||
        moat_json_bool(o, "", "Anonymous", false, &v->anonymous, err) < 0 ||
        kv_from_json(o, "Labels", &v->labels, err) < 0 || kv_from_json(o, "Options", &v->options, err) < 0)
        return -1;
    if (strcmp(rec_name, name) != 0)
        return moat_err(err, EINVAL, "it names volume '%s'", rec_name);
    if (!v->driver)
        v->driver = xstrdup("local");
    struct stat st;
    if (fstatat(vfd, "_data", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
        return moat_err(err, EINVAL, "_data is missing or not a directory");
    v->name = xstrdup(name);
    v->mountpoint = xasprintf("%s/%s/_data", vs->dir, name);
    return 0;
}

/* ENOENT "no such volume: NAME"; EIO naming the file when the record is bad. */
static int load(struct moat_volumes *vs, const char *name, struct moat_volume *ret, moat_error **err)
{
    if (!moat_volume_name_valid(name))
        return moat_err(err, ENOENT, "no such volume: %s", name ? name : "");
    _cleanup_close_ int vfd = openat(vs->dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (vfd < 0) {
        if (errno == ENOENT)
            return moat_err(err, ENOENT, "no such volume: %s", name);
        return moat_err_sys(err, "volume %s: open '%s/%s'", name, vs->dir, name);
    }
    struct moat_volume v = {0};
    moat_error *e = NULL;
    if (parse_record(vs, vfd, name, &v, &e) < 0) {
        moat_volume_clear(&v);
        moat_err(err, EIO, "volume %s: corrupt record %s/%s/volume.json: %s", name, vs->dir, name,
                 e && e->msg ? e->msg : "unreadable");
        moat_error_free(e);
        return -1;
    }
    *ret = v;
    return 0;
}

int moat_volume_get(struct moat_volumes *vs, const char *name, struct moat_volume *ret, moat_error **err)
{
    return load(vs, name, ret, err);
}

static int cmp_volume(const void *a, const void *b)
{
    return strcmp(((const struct moat_volume *)a)->name, ((const struct moat_volume *)b)->name);
}

static DIR *open_dir(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (!d)
        close(fd);
    return d;
}

int moat_volume_list(struct moat_volumes *vs, struct moat_volume **ret, size_t *ret_n, moat_error **err)
{
    _cleanup_closedir_ DIR *d = open_dir(vs->dirfd);
    if (!d)
        return moat_err_sys(err, "open '%s'", vs->dir);
    struct moat_volume *v = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            if (errno) {
                moat_volumes_free(v, n);
                return moat_err_sys(err, "read '%s'", vs->dir);
            }
            break;
        }
        if (de->d_name[0] == '.') /* ".", "..", and .tmp-* of an unfinished create or remove */
            continue;
        if (!moat_volume_name_valid(de->d_name)) {
            moat_log(MOAT_LOG_WARN, "volumes: ignoring '%s/%s': not a volume name", vs->dir, de->d_name);
            continue;
        }
        struct moat_volume one;
        moat_error *e = NULL;
        if (load(vs, de->d_name, &one, &e) < 0) {
            moat_log(MOAT_LOG_WARN, "volumes: skipping: %s", e->msg);
            moat_error_free(e);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            v = xrealloc(v, cap * sizeof(*v));
        }
        v[n++] = one;
    }
    if (n > 1)
        qsort(v, n, sizeof(*v), cmp_volume);
    *ret = v;
    *ret_n = n;
    return 0;
}

/* ---- create ------------------------------------------------------------------------- */

static int build_tmp(struct moat_volumes *vs, const char *tmp, const struct moat_volume *v, moat_error **err)
{
    if (mkdirat(vs->dirfd, tmp, 0700) < 0)
        return moat_err_sys(err, "create '%s/%s'", vs->dir, tmp);
    _cleanup_close_ int tfd = openat(vs->dirfd, tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (tfd < 0)
        return moat_err_sys(err, "open '%s/%s'", vs->dir, tmp);
    if (fchmod(tfd, 0700) < 0)
        return moat_err_sys(err, "chmod '%s/%s'", vs->dir, tmp);
    if (mkdirat(tfd, "_data", 0755) < 0 || fchmodat(tfd, "_data", 0755, 0) < 0) /* past the umask */
        return moat_err_sys(err, "create '%s/%s/_data'", vs->dir, tmp);
    _cleanup_free_ char *text = record_text(v);
    if (moat_write_file_atomic(tfd, "volume.json", text, strlen(text), 0600, err) < 0)
        return -1;
    if (fsync(tfd) < 0)
        return moat_err_sys(err, "fsync '%s/%s'", vs->dir, tmp);
    return 0;
}

/* An existing volume answers a create when what it has agrees with the
 * request.  No labels asked for (NULL or empty: a container's "-v name:/x",
 * a repeated `volume create name`) means "whatever it has", as Docker does. */
static int create_existing(const char *name, char *const *labels, struct moat_volume *have,
                           struct moat_volume *ret, moat_error **err)
{
    if (kv_pairs(labels) > 0 && !kv_equal(have->labels, labels)) {
        moat_volume_clear(have);
        return moat_err(err, EEXIST, "volume %s already exists with different labels", name);
    }
    if (kv_pairs(have->options) != 0) {
        moat_volume_clear(have);
        return moat_err(err, EEXIST, "volume %s already exists with different options", name);
    }
    if (ret)
        *ret = *have;
    else
        moat_volume_clear(have);
    return 0;
}

int moat_volume_create(struct moat_volumes *vs, const char *name, char *const *labels, char *const *options,
                       bool anonymous, struct moat_volume *ret, moat_error **err)
{
    _cleanup_free_ char *gen = NULL;
    if (!name || !*name)
        name = gen = random_hex(32);
    if (!moat_volume_name_valid(name))
        return moat_err(err, EINVAL,
                        "create %s: \"%s\" includes invalid characters for a local volume name, only "
                        "\"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed (at most 255). If you intended to pass a "
                        "host directory, use absolute path",
                        name, name);
    if (kv_check(labels, "labels", err) < 0 || kv_check(options, "options", err) < 0)
        return -1;
    if (kv_pairs(options) > 0)
        return moat_err(err, EINVAL, "volume option %s is not supported", options[0]);

    for (int attempt = 0; attempt < 2; attempt++) {
        struct moat_volume have;
        moat_error *e = NULL;
        if (load(vs, name, &have, &e) == 0) {
            return create_existing(name, labels, &have, ret, err);
        }
        if (e->errnum != ENOENT) {
            *err = e;
            return -1;
        }
        moat_error_free(e);

        char created[40];
        created_now(created, sizeof created);
        struct moat_volume v = {.name = (char *)name, .driver = (char *)"local", .created_at = created,
                                .labels = (char **)labels, .options = (char **)options, .anonymous = anonymous};
        _cleanup_free_ char *tmp = tmp_name();
        int rc = build_tmp(vs, tmp, &v, err);
        if (rc == 0 && renameat2(vs->dirfd, tmp, vs->dirfd, name, RENAME_NOREPLACE) < 0) {
            if (errno == EEXIST || errno == ENOTEMPTY) {
                /* another creator won: answer with its volume */
                e = NULL;
                moat_rm_rf_at(vs->dirfd, tmp, &e);
                moat_error_free(e);
                continue;
            }
            rc = moat_err_sys(err, "rename '%s/%s' to '%s'", vs->dir, tmp, name);
        }
        if (rc < 0) {
            e = NULL;
            moat_rm_rf_at(vs->dirfd, tmp, &e); /* our own fresh tree: no foreign ids in it */
            moat_error_free(e);
            return moat_err_wrap(err, "create volume %s", name);
        }
        if (fsync(vs->dirfd) < 0)
            return moat_err_sys(err, "fsync '%s'", vs->dir);
        if (!ret)
            return 0;
        return load(vs, name, ret, err);
    }
    return moat_err(err, EAGAIN, "create volume %s: it keeps appearing and disappearing", name);
}

/* ---- removal --------------------------------------------------------------------- */

/* Bytes of regular files in the tree (best effort: what we cannot read is not counted). */
static uint64_t tree_bytes(int dfd, const char *name, int depth)
{
    struct stat st;
    if (depth > SIZE_MAX_DEPTH || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    if (S_ISREG(st.st_mode))
        return (uint64_t)st.st_size;
    if (!S_ISDIR(st.st_mode))
        return 0;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return 0;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return 0;
    }
    uint64_t sum = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            sum += tree_bytes(dirfd(d), de->d_name, depth + 1);
    closedir(d);
    return sum;
}

struct rm_arg {
    int dirfd;
    const char *name;
};

static int rm_job(void *argp, struct json_object **ret, moat_error **err)
{
    struct rm_arg *a = argp;
    /* what the content took (Docker's SpaceReclaimed), not our record */
    uint64_t bytes = 0;
    int vfd = openat(a->dirfd, a->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (vfd >= 0) {
        bytes = tree_bytes(vfd, "_data", 0);
        close(vfd);
    }
    if (moat_rm_rf_at(a->dirfd, a->name, err) < 0)
        return -1;
    *ret = json_object_new_object();
    json_object_object_add(*ret, "bytes", json_object_new_uint64(bytes));
    return 0;
}

/* Delete <volumes>/<name> in the store's sandbox (rootless: its user
 * namespace, where the subordinate ids a container wrote with are ours). */
static int rm_tree(struct moat_volumes *vs, const char *name, uint64_t *ret_bytes, moat_error **err)
{
    struct rm_arg a = {vs->dirfd, name};
    struct sbx_opts o = {.userns = &vs->ns, .write_fd = vs->dirfd};
    _cleanup_json_ struct json_object *res = NULL;
    if (sbx_run(&o, rm_job, &a, &res, err) < 0)
        return -1;
    struct json_object *b = NULL;
    if (ret_bytes)
        *ret_bytes = res && json_object_object_get_ex(res, "bytes", &b) ? json_object_get_uint64(b) : 0;
    return 0;
}

/* The volume vanishes at once (rename to .tmp-*); a failed deletion leaves
 * only a .tmp-* tree that prune removes. */
static int rm_volume(struct moat_volumes *vs, const char *name, uint64_t *ret_bytes, moat_error **err)
{
    _cleanup_free_ char *tmp = tmp_name();
    if (renameat2(vs->dirfd, name, vs->dirfd, tmp, RENAME_NOREPLACE) < 0) {
        if (errno == ENOENT)
            return moat_err(err, ENOENT, "no such volume: %s", name);
        return moat_err_sys(err, "remove %s: rename to '%s'", name, tmp);
    }
    (void)fsync(vs->dirfd);
    if (rm_tree(vs, tmp, ret_bytes, err) < 0)
        return moat_err_wrap(err, "remove %s (its content is left in '%s/%s', which volume prune removes)", name,
                             vs->dir, tmp);
    return 0;
}

static int check_in_use(struct moat_volumes *vs, const char *name, char **ret_who, moat_error **err)
{
    *ret_who = NULL;
    if (!vs->in_use)
        return 0;
    if (vs->in_use(vs->in_use_ctx, name, ret_who, err) < 0)
        return moat_err_wrap(err, "remove %s: is it in use", name);
    return 0;
}

int moat_volume_remove(struct moat_volumes *vs, const char *name, bool force, moat_error **err)
{
    struct stat st;
    if (!moat_volume_name_valid(name))
        return force ? 0 : moat_err(err, ENOENT, "no such volume: %s", name ? name : "");
    if (fstatat(vs->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno != ENOENT)
            return moat_err_sys(err, "remove %s: stat '%s/%s'", name, vs->dir, name);
        return force ? 0 : moat_err(err, ENOENT, "no such volume: %s", name);
    }
    _cleanup_free_ char *who = NULL;
    if (check_in_use(vs, name, &who, err) < 0)
        return -1;
    if (who)
        return moat_err(err, EBUSY, "remove %s: volume is in use - [%s]", name, who);
    int rc = rm_volume(vs, name, NULL, err);
    if (rc < 0 && force && (*err)->errnum == ENOENT) {
        moat_error_freep(err);
        return 0;
    }
    return rc;
}

/* .tmp-<pid>-<hex> whose process is gone (or is us: we are single-threaded). */
static bool tmp_is_stale(const char *n)
{
    if (!moat_str_has_prefix(n, ".tmp-"))
        return false;
    char *end = NULL;
    long pid = strtol(n + 5, &end, 10);
    if (!end || *end != '-' || pid <= 0)
        return true;
    if (pid == getpid())
        return true;
    return !(kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static int prune_tmp(struct moat_volumes *vs, uint64_t *reclaimed, moat_error **err)
{
    char **stale = NULL;
    DIR *d = open_dir(vs->dirfd);
    if (!d)
        return moat_err_sys(err, "open '%s'", vs->dir);
    for (struct dirent *de; (de = readdir(d));)
        if (tmp_is_stale(de->d_name))
            moat_strv_push(&stale, de->d_name);
    closedir(d);
    int rc = 0;
    for (size_t i = 0; stale && stale[i] && rc == 0; i++) {
        uint64_t b = 0;
        rc = rm_tree(vs, stale[i], &b, err);
        if (rc < 0)
            moat_err_wrap(err, "prune '%s/%s'", vs->dir, stale[i]);
        *reclaimed += b;
    }
    moat_strv_free(stale);
    return rc;
}

int moat_volumes_prune(struct moat_volumes *vs, bool all, char ***ret_names, uint64_t *ret_reclaimed,
                       moat_error **err)
{
    struct moat_volume *v = NULL;
    size_t n = 0;
    uint64_t reclaimed = 0;
    char **names = NULL;
    if (moat_volume_list(vs, &v, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!all && !v[i].anonymous)
            continue;
        _cleanup_free_ char *who = NULL;
        rc = check_in_use(vs, v[i].name, &who, err);
        if (rc < 0 || who)
            continue;
        uint64_t b = 0;
        rc = rm_volume(vs, v[i].name, &b, err);
        if (rc == 0) {
            moat_strv_push(&names, v[i].name);
            reclaimed += b;
        }
    }
    moat_volumes_free(v, n);
    if (rc == 0)
        rc = prune_tmp(vs, &reclaimed, err);
    if (rc < 0) {
        moat_strv_free(names);
        return -1;
    }
    if (!names)
        names = xcalloc(1, sizeof(char *));
    if (ret_names)
        *ret_names = names;
    else
        moat_strv_free(names);
    if (ret_reclaimed)
        *ret_reclaimed = reclaimed;
    return 0;
}

/* ---- JSON --------------------------------------------------------------------------- */

struct json_object *moat_volume_json(const struct moat_volume *v)
{
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "CreatedAt", json_object_new_string(v->created_at ? v->created_at : ""));
    json_object_object_add(o, "Driver", json_object_new_string(v->driver ? v->driver : "local"));
    json_object_object_add(o, "Labels", kv_json(v->labels));
    json_object_object_add(o, "Mountpoint", json_object_new_string(v->mountpoint ? v->mountpoint : ""));
    json_object_object_add(o, "Name", json_object_new_string(v->name ? v->name : ""));
    json_object_object_add(o, "Options", kv_json(v->options));
    json_object_object_add(o, "Scope", json_object_new_string("local"));
    return o;
}


/* ---- copy-up (runs in the sandbox) --------------------------------------------------- */

struct pop {
    uint64_t bytes, entries;
    char buf[1 << 16];
};

/* Owner, mode (setuid/setgid kept as data: volumes are mounted nosuid),
 * kept xattrs and times of an open file or directory. */
static int pop_meta(int fd, const struct stat *st, const char *rel, moat_error **err)
{
    if (fchown(fd, st->st_uid, st->st_gid) < 0)
        return moat_err_sys(err, "'%s': chown %u:%u", rel, (unsigned)st->st_uid, (unsigned)st->st_gid);
    if (fchmod(fd, st->st_mode & 07777) < 0)
        return moat_err_sys(err, "'%s': chmod %04o", rel, (unsigned)(st->st_mode & 07777));
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (futimens(fd, ts) < 0)
        return moat_err_sys(err, "'%s': set times", rel);
    return 0;
}

/* Extended attributes: best effort (security.capability and user.*, as layers keep). */
static void pop_xattrs(int src, int dst)
{
    char list[1 << 16], val[1 << 16];
    ssize_t n = flistxattr(src, list, sizeof list);
    for (ssize_t off = 0; n > 0 && off < n; off += (ssize_t)strlen(list + off) + 1) {
        const char *k = list + off;
        if (!tree_keep_xattr(k))
            continue;
        ssize_t vl = fgetxattr(src, k, val, sizeof val);
        if (vl >= 0)
            (void)fsetxattr(dst, k, val, (size_t)vl, 0);
    }
}

static int pop_data(struct pop *p, int s, int d, const char *rel, moat_error **err)
{
    bool plain = false;
    for (;;) {
        uint64_t room = POP_MAX_BYTES - p->bytes;
        size_t want = room < sizeof p->buf ? (size_t)room + 1 : sizeof p->buf; /* +1: notice overflow */
        ssize_t n;
        if (!plain) {
            n = copy_file_range(s, NULL, d, NULL, want, 0);
            if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL || errno == EOPNOTSUPP ||
                          errno == EPERM)) {
                plain = true;
                continue;
            }
        } else {
            n = read(s, p->buf, want);
            if (n > 0 && moat_write_all(d, p->buf, (size_t)n) < 0)
                return moat_err_sys(err, "'%s': write", rel);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return moat_err_sys(err, "'%s': copy", rel);
        }
        if (n == 0)
            return 0;
        p->bytes += (uint64_t)n;
        if (p->bytes > POP_MAX_BYTES)
            return moat_err(err, EFBIG, "more than %llu GiB of files", (unsigned long long)(POP_MAX_BYTES >> 30));
    }
}

static int pop_file(struct pop *p, int sdir, int ddir, const char *name, const char *rel, moat_error **err)
{
    /* O_NONBLOCK: what was a file may have been swapped for a fifo; checked below */
    _cleanup_close_ int s = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (s < 0)
        return moat_err_sys(err, "'%s': open", rel);
    struct stat st;
    if (fstat(s, &st) < 0)
        return moat_err_sys(err, "'%s': stat", rel);
    if (!S_ISREG(st.st_mode))
        return 0;
    if ((uint64_t)st.st_size > POP_MAX_BYTES - p->bytes)
        return moat_err(err, EFBIG, "more than %llu GiB of files", (unsigned long long)(POP_MAX_BYTES >> 30));
    _cleanup_close_ int d = openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (d < 0)
        return moat_err_sys(err, "'%s': create", rel);
    if (pop_data(p, s, d, rel, err) < 0)
        return -1;
    pop_xattrs(s, d);
    return pop_meta(d, &st, rel, err);
}

static int pop_link(int sdir, int ddir, const char *name, const struct stat *st, const char *rel,
                    moat_error **err)
{
    char target[PATH_MAX];
    ssize_t n = readlinkat(sdir, name, target, sizeof target);
    if (n < 0)
        return moat_err_sys(err, "'%s': readlink", rel);
    if ((size_t)n >= sizeof target)
        return moat_err(err, ENAMETOOLONG, "'%s': symlink target too long", rel);
    target[n] = 0;
    if (symlinkat(target, ddir, name) < 0)
        return moat_err_sys(err, "'%s': symlink", rel);
    if (fchownat(ddir, name, st->st_uid, st->st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        return moat_err_sys(err, "'%s': chown %u:%u", rel, (unsigned)st->st_uid, (unsigned)st->st_gid);
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    (void)utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW);
    return 0;
}

static int pop_dir(struct pop *p, int sdir, int ddir, const char *rel, int depth, moat_error **err);

static int pop_entry(struct pop *p, int sdir, int ddir, const char *name, const char *rel, int depth,
                     moat_error **err)
{
    struct stat st;
    if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : moat_err_sys(err, "'%s': stat", rel);
    if (++p->entries > POP_MAX_ENTRIES)
        return moat_err(err, E2BIG, "more than %llu files", POP_MAX_ENTRIES);
    if (S_ISREG(st.st_mode))
        return pop_file(p, sdir, ddir, name, rel, err);
    if (S_ISLNK(st.st_mode))
        return pop_link(sdir, ddir, name, &st, rel, err);
    if (!S_ISDIR(st.st_mode))
        return 0; /* device nodes, fifos, sockets: not copied */
    if (depth + 1 > POP_MAX_DEPTH)
        return moat_err(err, ELOOP, "'%s': deeper than %d levels", rel, POP_MAX_DEPTH);
    _cleanup_close_ int cs = openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cs < 0)
        return moat_err_sys(err, "'%s': open directory", rel);
    if (mkdirat(ddir, name, 0700) < 0)
        return moat_err_sys(err, "'%s': mkdir", rel);
    _cleanup_close_ int cd = openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (cd < 0)
        return moat_err_sys(err, "'%s': open new directory", rel);
    if (fstat(cs, &st) < 0)
        return moat_err_sys(err, "'%s': stat", rel);
    if (pop_dir(p, cs, cd, rel, depth + 1, err) < 0)
        return -1;
    pop_xattrs(cs, cd);
    return pop_meta(cd, &st, rel, err); /* last: the children's copies changed its mtime */
}

static int pop_dir(struct pop *p, int sdir, int ddir, const char *rel, int depth, moat_error **err)
{
    int fd = openat(sdir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "'%s': open directory", rel);
    _cleanup_closedir_ DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return moat_err_sys(err, "'%s': fdopendir", rel);
    }
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de)
            return errno ? moat_err_sys(err, "'%s': readdir", rel) : 0;
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_free_ char *crel = xasprintf("%s/%s", strcmp(rel, "/") ? rel : "", de->d_name);
        if (pop_entry(p, sdir, ddir, de->d_name, crel, depth, err) < 0)
            return -1;
    }
}

struct pop_arg {
    int rootfs, dst;
    const char *path;
};

/* In the sandbox (rootless: the store's user namespace, so that directories
 * of subordinate ids can be walked and owners set): resolve `path` inside the
 * root, copy.  The result says whether there was anything to copy. */
static int pop_job(void *argp, struct json_object **ret, moat_error **err)
{
    struct pop_arg *a = argp;
    moat_error *e = NULL;
    _cleanup_close_ int sp = moat_open_in_root(a->rootfs, a->path, O_PATH, 0, 0, &e);
    struct stat st;
    if (sp < 0) {
        if (e->errnum != ENOENT && e->errnum != ENOTDIR) {
            *err = e;
            return -1;
        }
        moat_error_free(e); /* the image has nothing there */
    }
    if (sp >= 0 && fstat(sp, &st) < 0)
        return moat_err_sys(err, "'%s': stat", a->path);
    bool copy = sp >= 0 && S_ISDIR(st.st_mode); /* Docker copies up directories only */
    *ret = json_object_new_object();
    json_object_object_add(*ret, "copied", json_object_new_boolean(copy));
    if (!copy)
        return 0;
    _cleanup_close_ int src = openat(sp, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (src < 0)
        return moat_err_sys(err, "'%s': open", a->path);
    if (fstat(src, &st) < 0)
        return moat_err_sys(err, "'%s': stat", a->path);
    struct pop *p = xcalloc(1, sizeof(*p));
    int rc = pop_dir(p, src, a->dst, a->path, 0, err);
    free(p);
    if (rc < 0)
        return -1;
    pop_xattrs(src, a->dst);
    return pop_meta(a->dst, &st, a->path, err); /* Docker: _data takes the directory's owner and mode */
}

struct empty_arg {
    int dst;
};

static int empty_job(void *argp, struct json_object **ret, moat_error **err)
{
    (void)ret;
    return moat_rm_rf_at(((struct empty_arg *)argp)->dst, "", err);
}

static int dir_is_empty(int dfd, bool *ret, moat_error **err)
{
    _cleanup_closedir_ DIR *d = open_dir(dfd);
    if (!d)
        return moat_err_sys(err, "open directory");
    *ret = true;
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
            *ret = false;
            break;
        }
    return 0;
}

int moat_volume_populate(struct moat_volumes *vs, const struct moat_volume *v, int rootfs_fd, const char *path,
                         moat_error **err)
{
    if (!v || !moat_volume_name_valid(v->name) || !path)
        return moat_err(err, EINVAL, "populate: bad volume or path");
    _cleanup_close_ int vfd = openat(vs->dirfd, v->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (vfd < 0)
        return errno == ENOENT ? moat_err(err, ENOENT, "no such volume: %s", v->name)
                               : moat_err_sys(err, "volume %s: open", v->name);
    _cleanup_close_ int dfd = openat(vfd, "_data", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return moat_err_sys(err, "volume %s: open '%s/%s/_data'", v->name, vs->dir, v->name);
    bool empty = false;
    if (dir_is_empty(dfd, &empty, err) < 0)
        return moat_err_wrap(err, "volume %s", v->name);
    if (!empty)
        return 0; /* Docker copies only into an empty volume */
    struct pop_arg a = {rootfs_fd, dfd, path};
    struct sbx_opts o = {.userns = &vs->ns, .write_fd = dfd, .read_fds = {rootfs_fd}, .n_read = 1};
    _cleanup_json_ struct json_object *res = NULL;
    if (sbx_run(&o, pop_job, &a, &res, err) < 0) {
        moat_error *e = NULL;
        struct empty_arg ea = {dfd};
        struct sbx_opts eo = {.userns = &vs->ns, .write_fd = dfd};
        if (sbx_run(&eo, empty_job, &ea, NULL, &e) < 0)
            moat_error_free(e);
        return moat_err_wrap(err, "copy '%s' of the image into volume %s", path, v->name);
    }
    return 0;
}

/* ---- bind sources ------------------------------------------------------------------ */

/* path is clean and absolute; is it `prefix` or beneath it (component-wise)? */
static bool path_under(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);
    while (n > 1 && prefix[n - 1] == '/')
        n--;
    if (n == 1 && prefix[0] == '/')
        return true;
    return strncmp(path, prefix, n) == 0 && (path[n] == 0 || path[n] == '/');
}

static int bind_forbidden(const char *path, const char *given, char *const *forbidden, moat_error **err)
{
    static const struct {
        const char *prefix, *why;
    } fixed[] = {
        {"/proc", "it exposes the host's kernel interfaces"},
        {"/sys", "it exposes the host's kernel interfaces"},
        {"/dev", "it exposes the host's devices"},
    };
    const char *via = strcmp(path, given) ? " (the path it resolves to)" : "";
    if (!strcmp(path, "/"))
        return moat_err(err, EPERM, "bind mount of / is not allowed: it exposes the whole host filesystem%s%s%s",
                        *via ? " (" : "", *via ? given : "", *via ? " resolves to /)" : "");
    for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
        if (path_under(path, fixed[i].prefix))
            return moat_err(err, EPERM, "bind mount of %s is not allowed: %s%s%s%s", path, fixed[i].why,
                            *via ? " (" : "", *via ? given : "", *via ? " resolves to it)" : "");
    for (size_t i = 0; forbidden && forbidden[i]; i++) {
        if (forbidden[i][0] != '/')
            continue;
        _cleanup_free_ char *f = moat_path_clean(forbidden[i]);
        if (path_under(path, f))
            return moat_err(err, EPERM, "bind mount of %s is not allowed: it is %s%s, which the engine protects%s%s%s",
                            path, strcmp(path, f) ? "under " : "", f, *via ? " (" : "", *via ? given : "",
                            *via ? " resolves to it)" : "");
    }
    return 0;
}

/* "//a/./b/" -> "/a/b"; ".." -> EINVAL. */
static int bind_normalise(const char *path, char **ret, moat_error **err)
{
    if (!path || path[0] != '/')
        return moat_err(err, EINVAL, "invalid mount config: bind source path must be absolute");
    size_t len = strlen(path);
    if (len >= PATH_MAX)
        return moat_err(err, ENAMETOOLONG, "invalid mount config: bind source path is too long");
    char *out = xmalloc(len + 2);
    size_t o = 0;
    for (const char *p = path; *p;) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t n = (size_t)(e - p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            return moat_err(err, EINVAL, "invalid mount config: bind source path must not contain '..': %s", path);
        }
        if (n > 0 && !(n == 1 && p[0] == '.')) {
            out[o++] = '/';
            memcpy(out + o, p, n);
            o += n;
        }
        p = e;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = 0;
    *ret = out;
    return 0;
}

/* Replace the walked prefix `done` (whose last component is a symlink to
 * `target`) and keep `rest`: the new lexically cleaned path. */
static char *bind_splice(const char *done, const char *target, const char *rest)
{
    _cleanup_free_ char *parent = NULL, *base = NULL;
    moat_path_split(done, &parent, &base);
    _cleanup_free_ char *joined =
        target[0] == '/' ? xasprintf("%s/%s", target, rest) : xasprintf("%s/%s/%s", parent, target, rest);
    return moat_path_clean(joined);
}

enum bind_step { BIND_DONE, BIND_RESTART };

/* Walk `path` from "/"; on a symlink put the resolved path in *ret_next. */
static int bind_walk(const char *path, const char *given, bool create, char **ret_next, moat_error **err)
{
    _cleanup_close_ int cur = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cur < 0)
        return moat_err_sys(err, "open /");
    const char *p = path;
    while (*p == '/')
        p++;
    while (*p) {
        const char *e = strchrnul(p, '/');
        _cleanup_free_ char *comp = xstrndup(p, (size_t)(e - p));
        _cleanup_free_ char *done = xstrndup(path, (size_t)(e - path));
        const char *rest = *e ? e + 1 : "";
        int fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) {
            if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
                return moat_err_sys(err, "invalid mount config for type \"bind\": create bind source %s", done);
            fd = openat(cur, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0) {
            if (errno == ENOENT)
                return moat_err(err, ENOENT,
                                "invalid mount config for type \"bind\": bind source path does not exist: %s", given);
            return moat_err_sys(err, "bind source %s: open %s", given, done);
        }
        close(cur);
        cur = fd;
        struct stat st;
        if (fstat(cur, &st) < 0)
            return moat_err_sys(err, "bind source %s: stat %s", given, done);
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            ssize_t n = readlinkat(cur, "", target, sizeof target);
            if (n < 0)
                return moat_err_sys(err, "bind source %s: readlink %s", given, done);
            if ((size_t)n >= sizeof target || n == 0)
                return moat_err(err, ENAMETOOLONG, "bind source %s: bad symlink %s", given, done);
            target[n] = 0;
            *ret_next = bind_splice(done, target, rest);
            return BIND_RESTART;
        }
        if (*e && !S_ISDIR(st.st_mode))
            return moat_err(err, ENOTDIR,
                            "invalid mount config for type \"bind\": bind source %s: %s is not a directory", given,
                            done);
        p = *e ? e + 1 : e;
        while (*p == '/')
            p++;
    }
    return BIND_DONE;
}

int moat_bind_source_check(const char *path, bool create, char *const *forbidden, char **ret, moat_error **err)
{
    _cleanup_free_ char *cur = NULL, *first = NULL;
    if (bind_normalise(path, &cur, err) < 0)
        return -1;
    first = xstrdup(cur);
    for (int links = 0;; links++) {
        if (bind_forbidden(cur, first, forbidden, err) < 0)
            return -1;
        char *next = NULL;
        int r = bind_walk(cur, path, create, &next, err);
        if (r < 0)
            return -1;
        if (r == BIND_DONE)
            break;
        free(cur);
        cur = next;
        if (links + 1 > BIND_MAX_LINKS)
            return moat_err(err, ELOOP, "bind source %s: too many levels of symbolic links", path);
    }
    *ret = TAKE_PTR(cur);
    return 0;
}

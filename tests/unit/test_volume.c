/* Volumes (src/engine/volume.c): records, create/remove/prune in a temp store
 * root, copy-up from a temp "rootfs", and the bind-source rule. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/layer.h"
#include "moat/util.h"
#include "moat/volume.h"
#include "unit.h"

struct venv {
    char dir[64];
    struct moat_volumes *vs;
};

static bool venv_open(struct venv *e)
{
    snprintf(e->dir, sizeof e->dir, "/tmp/moat-unit-vol-XXXXXX");
    if (!mkdtemp(e->dir))
        return false;
    moat_error *err = NULL;
    if (moat_volumes_open(e->dir, &e->vs, &err) < 0) {
        fprintf(stderr, "    open: %s\n", err->msg);
        moat_error_free(err);
        return false;
    }
    return true;
}

static void rm_tmp(const char *dir)
{
    int t = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    moat_error *err = NULL;
    if (moat_rm_rf_at(t, dir + 5, &err) < 0)
        moat_error_free(err);
    close(t);
}

static void venv_close(struct venv *e)
{
    moat_volumes_close(e->vs);
    rm_tmp(e->dir);
}

static void put(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || moat_write_all(fd, text, strlen(text)) < 0)
        abort();
    close(fd);
}

static char *slurp(const char *path)
{
    char *buf = NULL;
    size_t len = 0;
    moat_error *err = NULL;
    if (moat_read_file_at(AT_FDCWD, path, 1 << 20, &buf, &len, &err) < 0) {
        moat_error_free(err);
        return NULL;
    }
    return buf;
}

static void test_volume_create_get_list_remove(void)
{
    struct venv e;
    if (!venv_open(&e)) {
        CHECK(0);
        return;
    }
    struct stat st;
    char p[256];
    snprintf(p, sizeof p, "%s/volumes", e.dir);
    CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0700);

    char *labels[] = {"a", "b", NULL};
    struct moat_volume v = {0};
    moat_error *err = NULL;
    CHECK(moat_volume_create(e.vs, "myvol", labels, NULL, false, &v, &err) == 0);
    CHECK_STR(v.name, "myvol");
    CHECK_STR(v.driver, "local");
    snprintf(p, sizeof p, "%s/volumes/myvol/_data", e.dir);
    CHECK_STR(v.mountpoint, p);
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0755);
    CHECK(!v.anonymous);
    CHECK(v.created_at && strlen(v.created_at) == 20 && v.created_at[19] == 'Z' && v.created_at[10] == 'T');

    struct json_object *j = moat_volume_json(&v);
    _cleanup_free_ char *js = moat_json_dump(j, false);
    json_object_put(j);
    char want[512];
    snprintf(want, sizeof want,
             "{\"CreatedAt\":\"%s\",\"Driver\":\"local\",\"Labels\":{\"a\":\"b\"},\"Mountpoint\":\"%s\","
             "\"Name\":\"myvol\",\"Options\":null,\"Scope\":\"local\"}",
             v.created_at, p);
    CHECK_STR(js, want);

    struct moat_volume g = {0};
    CHECK(moat_volume_get(e.vs, "myvol", &g, &err) == 0);
    CHECK_STR(g.created_at, v.created_at);
    CHECK(g.labels && !strcmp(g.labels[0], "a") && !strcmp(g.labels[1], "b") && !g.labels[2]);
    CHECK(g.options == NULL);
    moat_volume_clear(&g);

    /* empty, non-NULL labels/options: {} on the wire, never null nor invented */
    char *empty[] = {NULL};
    CHECK(moat_volume_create(e.vs, "v2", empty, empty, false, &g, &err) == 0);
    j = moat_volume_json(&g);
    _cleanup_free_ char *js2 = moat_json_dump(j, false);
    json_object_put(j);
    CHECK(strstr(js2, "\"Labels\":{}") && strstr(js2, "\"Options\":{}"));
    moat_volume_clear(&g);

    struct moat_volume *list = NULL;
    size_t n = 0;
    CHECK(moat_volume_list(e.vs, &list, &n, &err) == 0);
    CHECK(n == 2 && !strcmp(list[0].name, "myvol") && !strcmp(list[1].name, "v2"));
    moat_volumes_free(list, n);

    snprintf(p, sizeof p, "%s/volumes/myvol/_data/f", e.dir);
    put(p, "data");
    CHECK(moat_volume_remove(e.vs, "myvol", false, &err) == 0);
    CHECK(moat_volume_get(e.vs, "myvol", &g, &err) < 0 && err->errnum == ENOENT);
    CHECK_ERR_HAS(err, "no such volume: myvol");
    moat_error_freep(&err);
    CHECK(moat_volume_remove(e.vs, "myvol", false, &err) < 0 && err->errnum == ENOENT);
    CHECK_ERR_HAS(err, "no such volume: myvol");
    moat_error_freep(&err);
    CHECK(moat_volume_remove(e.vs, "myvol", true, &err) == 0);       /* force: missing is fine */
    CHECK(moat_volume_remove(e.vs, "../etc", true, &err) == 0);      /* not a name: nothing to do */
    CHECK(moat_volume_remove(e.vs, "../etc", false, &err) < 0 && err->errnum == ENOENT);
    moat_error_freep(&err);
    snprintf(p, sizeof p, "%s/volumes/myvol", e.dir);
    CHECK(lstat(p, &st) < 0 && errno == ENOENT);
    moat_volume_clear(&v);
    venv_close(&e);
}

static size_t kv_count(char **kv) { return moat_strv_len(kv) / 2; }

static void test_volume_idempotent_create(void)
{
    struct venv e;
    if (!venv_open(&e)) {
        CHECK(0);
        return;
    }
    moat_error *err = NULL;
    char *l1[] = {"com.docker.compose.project", "proj", "x", "1", NULL};
    char *l1b[] = {"x", "1", "com.docker.compose.project", "proj", NULL}; /* same set, other order */
    char *l2[] = {"x", "2", NULL};
    struct moat_volume a = {0}, b = {0};
    CHECK(moat_volume_create(e.vs, "data", l1, NULL, false, &a, &err) == 0);
    sleep(1); /* a second create must not rewrite CreatedAt */
    CHECK(moat_volume_create(e.vs, "data", l1b, NULL, false, &b, &err) == 0);
    CHECK_STR(a.created_at, b.created_at);
    moat_volume_clear(&b);
    CHECK(moat_volume_create(e.vs, "data", l2, NULL, false, &b, &err) < 0 && err->errnum == EEXIST);
    CHECK_ERR_HAS(err, "volume data already exists with different labels");
    moat_error_freep(&err);
    /* no labels asked for (a container's "-v data:/x"): the volume as it is */
    CHECK(moat_volume_create(e.vs, "data", NULL, NULL, false, &b, &err) == 0);
    CHECK(kv_count(b.labels) == 2 && !strcmp(b.created_at, a.created_at));
    moat_volume_clear(&b);
    char *none[] = {NULL};
    CHECK(moat_volume_create(e.vs, "data", none, NULL, false, &b, &err) == 0);
    moat_volume_clear(&b);
    char *l3[] = {"x", "1", NULL}; /* a subset is a difference */
    CHECK(moat_volume_create(e.vs, "data", l3, NULL, false, &b, &err) < 0 && err->errnum == EEXIST);
    moat_error_freep(&err);

    char *opts[] = {"type", "tmpfs", NULL};
    CHECK(moat_volume_create(e.vs, "o", NULL, opts, false, &b, &err) < 0 && err->errnum == EINVAL);
    CHECK_ERR_HAS(err, "volume option type is not supported");
    moat_error_freep(&err);
    char *odd[] = {"k", NULL};
    CHECK(moat_volume_create(e.vs, "o", odd, NULL, false, &b, &err) < 0 && err->errnum == EINVAL);
    moat_error_freep(&err);

    /* anonymous: 64 random hex digits */
    CHECK(moat_volume_create(e.vs, NULL, NULL, NULL, true, &b, &err) == 0);
    CHECK(b.name && strlen(b.name) == 64 && strspn(b.name, "0123456789abcdef") == 64 && b.anonymous);
    moat_volume_clear(&b);

    CHECK(moat_volume_check_driver(NULL, &err) == 0);
    CHECK(moat_volume_check_driver("", &err) == 0);
    CHECK(moat_volume_check_driver("local", &err) == 0);
    CHECK(moat_volume_check_driver("nfs", &err) < 0 && err->errnum == EINVAL);
    CHECK_ERR_HAS(err, "volume driver 'nfs' is not supported");
    moat_error_freep(&err);
    moat_volume_clear(&a);
    venv_close(&e);
}

static void test_volume_names(void)
{
    char long255[256], long256[257];
    memset(long255, 'a', 255);
    long255[255] = 0;
    memset(long256, 'a', 256);
    long256[256] = 0;
    static const struct {
        const char *name;
        bool ok;
    } t[] = {
        {"a", true},      {"my-vol_1.x", true}, {"0abc", true},    {"", false},     {".hidden", false},
        {"-x", false},    {"_x", false},        {"a/b", false},    {"..", false},   {"a b", false},
        {"a:b", false},   {"caf\xc3\xa9", false}, {"/abs", false}, {".tmp-1-x", false},
    };
    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        if (moat_volume_name_valid(t[i].name) != t[i].ok) {
            fprintf(stderr, "    name '%s': expected %s\n", t[i].name, t[i].ok ? "valid" : "invalid");
            unit_failures++;
        }
    }
    CHECK(moat_volume_name_valid(long255));
    CHECK(!moat_volume_name_valid(long256));
    CHECK(!moat_volume_name_valid(NULL));

    struct venv e;
    if (!venv_open(&e)) {
        CHECK(0);
        return;
    }
    moat_error *err = NULL;
    struct moat_volume v = {0};
    CHECK(moat_volume_create(e.vs, "a/b", NULL, NULL, false, &v, &err) < 0 && err->errnum == EINVAL);
    CHECK_ERR_HAS(err, "includes invalid characters for a local volume name");
    moat_error_freep(&err);
    CHECK(moat_volume_get(e.vs, "../volumes", &v, &err) < 0 && err->errnum == ENOENT);
    moat_error_freep(&err);
    venv_close(&e);
}

static int busy_hook(void *ctx, const char *name, char **ret_container, moat_error **err)
{
    (void)err;
    (*(int *)ctx)++;
    if (!strcmp(name, "busy"))
        *ret_container = xstrdup("abc123");
    return 0;
}

static void test_volume_in_use_and_prune(void)
{
    struct venv e;
    if (!venv_open(&e)) {
        CHECK(0);
        return;
    }
    int calls = 0;
    moat_volumes_set_in_use_hook(e.vs, busy_hook, &calls);
    moat_error *err = NULL;
    struct moat_volume anon = {0}, anon_busy = {0};
    CHECK(moat_volume_create(e.vs, "busy", NULL, NULL, false, NULL, &err) == 0);
    CHECK(moat_volume_create(e.vs, "named", NULL, NULL, false, NULL, &err) == 0);
    CHECK(moat_volume_create(e.vs, NULL, NULL, NULL, true, &anon, &err) == 0);
    CHECK(moat_volume_create(e.vs, "busy", NULL, NULL, true, &anon_busy, &err) == 0); /* existing: returned */
    CHECK(!anon_busy.anonymous);
    moat_volume_clear(&anon_busy);

    CHECK(moat_volume_remove(e.vs, "busy", false, &err) < 0 && err->errnum == EBUSY);
    CHECK_ERR_HAS(err, "remove busy: volume is in use - [abc123]");
    moat_error_freep(&err);
    CHECK(moat_volume_remove(e.vs, "busy", true, &err) < 0 && err->errnum == EBUSY); /* force too */
    moat_error_freep(&err);
    CHECK(calls == 2);

    char p[256];
    snprintf(p, sizeof p, "%s/f", anon.mountpoint);
    put(p, "0123456789"); /* 10 bytes to reclaim */
    char **names = NULL;
    uint64_t reclaimed = 0;
    CHECK(moat_volumes_prune(e.vs, false, &names, &reclaimed, &err) == 0);
    CHECK(names && names[0] && !strcmp(names[0], anon.name) && !names[1]);
    CHECK(reclaimed == 10);
    moat_strv_free(names);

    names = NULL;
    CHECK(moat_volumes_prune(e.vs, true, &names, &reclaimed, &err) == 0);
    CHECK(names && names[0] && !strcmp(names[0], "named") && !names[1]); /* busy stays */
    moat_strv_free(names);
    struct moat_volume *list = NULL;
    size_t n = 0;
    CHECK(moat_volume_list(e.vs, &list, &n, &err) == 0);
    CHECK(n == 1 && !strcmp(list[0].name, "busy"));
    moat_volumes_free(list, n);
    moat_volume_clear(&anon);
    venv_close(&e);
}

static void test_volume_crash_leftovers(void)
{
    struct venv e;
    if (!venv_open(&e)) {
        CHECK(0);
        return;
    }
    moat_error *err = NULL;
    char p[256];
    /* an interrupted create of a dead process (pid beyond pid_max), one of a live one (pid 1) */
    snprintf(p, sizeof p, "%s/volumes/.tmp-999999999-dead", e.dir);
    CHECK(mkdir(p, 0700) == 0);
    snprintf(p, sizeof p, "%s/volumes/.tmp-999999999-dead/_data", e.dir);
    CHECK(mkdir(p, 0755) == 0);
    snprintf(p, sizeof p, "%s/volumes/.tmp-999999999-dead/_data/x", e.dir);
    put(p, "12345");
    snprintf(p, sizeof p, "%s/volumes/.tmp-1-live", e.dir);
    CHECK(mkdir(p, 0700) == 0);
    CHECK(moat_volume_create(e.vs, "real", NULL, NULL, false, NULL, &err) == 0);

    struct moat_volume *list = NULL;
    size_t n = 0;
    CHECK(moat_volume_list(e.vs, &list, &n, &err) == 0);
    CHECK(n == 1 && !strcmp(list[0].name, "real"));
    moat_volumes_free(list, n);

    char **names = NULL;
    uint64_t reclaimed = 0;
    CHECK(moat_volumes_prune(e.vs, false, &names, &reclaimed, &err) == 0);
    CHECK(names && !names[0]); /* no volume pruned, the leftovers were */
    CHECK(reclaimed == 5);
    moat_strv_free(names);
    struct stat st;
    snprintf(p, sizeof p, "%s/volumes/.tmp-999999999-dead", e.dir);
    CHECK(lstat(p, &st) < 0 && errno == ENOENT);
    snprintf(p, sizeof p, "%s/volumes/.tmp-1-live", e.dir);
    CHECK(lstat(p, &st) == 0);
    venv_close(&e);
}

static void test_volume_corrupt_record(void)
{
    struct venv e;
    if (!venv_open(&e)) {
        CHECK(0);
        return;
    }
    moat_error *err = NULL;
    CHECK(moat_volume_create(e.vs, "good", NULL, NULL, false, NULL, &err) == 0);
    CHECK(moat_volume_create(e.vs, "bad", NULL, NULL, false, NULL, &err) == 0);
    CHECK(moat_volume_create(e.vs, "gone", NULL, NULL, false, NULL, &err) == 0);
    CHECK(moat_volume_create(e.vs, "other", NULL, NULL, false, NULL, &err) == 0);
    char p[256];
    snprintf(p, sizeof p, "%s/volumes/bad/volume.json", e.dir);
    put(p, "{\"Name\":\"bad\",");
    snprintf(p, sizeof p, "%s/volumes/gone/volume.json", e.dir);
    CHECK(unlink(p) == 0);
    snprintf(p, sizeof p, "%s/volumes/other/volume.json", e.dir);
    put(p, "{\"Name\":\"good\",\"CreatedAt\":\"2026-12-02T04:00:00Z\"}"); /* names another volume */

    struct moat_volume *list = NULL;
    size_t n = 0;
    CHECK(moat_volume_list(e.vs, &list, &n, &err) == 0);
    CHECK(n == 1 && !strcmp(list[0].name, "good"));
    moat_volumes_free(list, n);

    struct moat_volume v = {0};
    snprintf(p, sizeof p, "%s/volumes/bad/volume.json", e.dir);
    CHECK(moat_volume_get(e.vs, "bad", &v, &err) < 0 && err->errnum == EIO);
    CHECK_ERR_HAS(err, p);
    moat_error_freep(&err);
    CHECK(moat_volume_get(e.vs, "gone", &v, &err) < 0 && err->errnum == EIO); /* not a 404 */
    CHECK_ERR_HAS(err, "gone/volume.json");
    moat_error_freep(&err);
    CHECK(moat_volume_get(e.vs, "other", &v, &err) < 0 && err->errnum == EIO);
    CHECK_ERR_HAS(err, "it names volume 'good'");
    moat_error_freep(&err);
    /* create over a corrupt one answers the error, does not overwrite */
    CHECK(moat_volume_create(e.vs, "bad", NULL, NULL, false, &v, &err) < 0 && err->errnum == EIO);
    moat_error_freep(&err);
    CHECK(moat_volume_remove(e.vs, "bad", false, &err) == 0);
    CHECK(moat_volume_remove(e.vs, "gone", false, &err) == 0);
    CHECK(moat_volume_get(e.vs, "bad", &v, &err) < 0 && err->errnum == ENOENT);
    moat_error_freep(&err);
    venv_close(&e);
}

/* A tiny image root: /data with a file, a setuid file, a subdir, symlinks
 * (one to the host's /etc/passwd), a fifo; /etc/marker; /evil -> /etc and
 * /up -> ../../../../etc (both must stay in the root). */
static bool make_rootfs(const char *root)
{
    char p[256];
    static const char *const dirs[] = {"data", "data/sub", "etc", "empty"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
        if (mkdir(p, 0755) < 0)
            return false;
    }
    snprintf(p, sizeof p, "%s/data/file", root);
    put(p, "hello volume\n");
    if (chmod(p, 0640) < 0 || chown(p, 1234, 5678) < 0)
        return false;
    struct timeval tv[2] = {{1000000000, 0}, {1000000000, 0}};
    if (utimes(p, tv) < 0)
        return false;
    snprintf(p, sizeof p, "%s/data/sub/suid", root);
    put(p, "#!/bin/sh\n");
    if (chmod(p, 04755) < 0)
        return false;
    snprintf(p, sizeof p, "%s/data/sub", root);
    if (chmod(p, 0750) < 0 || chown(p, 42, 43) < 0)
        return false;
    snprintf(p, sizeof p, "%s/data/passwd", root);
    if (symlink("/etc/passwd", p) < 0)
        return false;
    snprintf(p, sizeof p, "%s/data/rel", root);
    if (symlink("../etc/marker", p) < 0)
        return false;
    snprintf(p, sizeof p, "%s/data/fifo", root);
    if (mkfifo(p, 0644) < 0)
        return false;
    snprintf(p, sizeof p, "%s/data", root);
    if (chmod(p, 0775) < 0 || chown(p, 7, 8) < 0)
        return false;
    snprintf(p, sizeof p, "%s/etc/marker", root);
    put(p, "inside the image");
    snprintf(p, sizeof p, "%s/evil", root);
    if (symlink("/etc", p) < 0)
        return false;
    snprintf(p, sizeof p, "%s/up", root);
    return symlink("../../../../etc", p) == 0;
}

static void test_volume_populate(void)
{
    if (geteuid() != 0)
        UNIT_SKIP("needs root (image owners are set with chown)");
    struct venv e;
    if (!venv_open(&e)) {
        CHECK(0);
        return;
    }
    char root[128], p[512], t[256];
    snprintf(root, sizeof root, "%s/rootfs", e.dir);
    CHECK(mkdir(root, 0755) == 0);
    CHECK(make_rootfs(root));
    int rfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    moat_error *err = NULL;
    struct moat_volume v = {0}, w = {0}, x = {0}, y = {0};
    CHECK(moat_volume_create(e.vs, "pop", NULL, NULL, false, &v, &err) == 0);
    if (moat_volume_populate(e.vs, &v, rfd, "/data", &err) < 0) {
        fprintf(stderr, "    populate: %s\n", err->msg);
        moat_error_freep(&err);
        unit_failures++;
    }
    struct stat st;
    snprintf(p, sizeof p, "%s/file", v.mountpoint);
    _cleanup_free_ char *txt = slurp(p);
    CHECK_STR(txt, "hello volume\n");
    CHECK(lstat(p, &st) == 0 && (st.st_mode & 07777) == 0640 && st.st_uid == 1234 && st.st_gid == 5678 &&
          st.st_mtime == 1000000000);
    snprintf(p, sizeof p, "%s/sub/suid", v.mountpoint);
    CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 04755);
    snprintf(p, sizeof p, "%s/sub", v.mountpoint);
    CHECK(lstat(p, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750 && st.st_uid == 42 &&
          st.st_gid == 43);
    /* the symlink to the host's /etc/passwd is a symlink, never read */
    snprintf(p, sizeof p, "%s/passwd", v.mountpoint);
    CHECK(lstat(p, &st) == 0 && S_ISLNK(st.st_mode));
    ssize_t n = readlink(p, t, sizeof t - 1);
    CHECK(n == 11 && !memcmp(t, "/etc/passwd", 11));
    snprintf(p, sizeof p, "%s/rel", v.mountpoint);
    n = readlink(p, t, sizeof t - 1);
    CHECK(n == 13 && !memcmp(t, "../etc/marker", 13));
    snprintf(p, sizeof p, "%s/fifo", v.mountpoint);
    CHECK(lstat(p, &st) < 0 && errno == ENOENT); /* not copied */
    /* _data takes the directory's owner and mode */
    CHECK(lstat(v.mountpoint, &st) == 0 && (st.st_mode & 07777) == 0775 && st.st_uid == 7 && st.st_gid == 8);

    /* not empty any more: a second populate leaves it alone */
    snprintf(p, sizeof p, "%s/data/new", root);
    put(p, "later");
    CHECK(moat_volume_populate(e.vs, &v, rfd, "/data", &err) == 0);
    snprintf(p, sizeof p, "%s/new", v.mountpoint);
    CHECK(lstat(p, &st) < 0 && errno == ENOENT);

    /* a path the image lacks, or a file: nothing to copy */
    CHECK(moat_volume_create(e.vs, "w", NULL, NULL, false, &w, &err) == 0);
    CHECK(moat_volume_populate(e.vs, &w, rfd, "/nonexistent/dir", &err) == 0);
    CHECK(moat_volume_populate(e.vs, &w, rfd, "/data/file", &err) == 0);
    CHECK(moat_volume_populate(e.vs, &w, rfd, "/empty", &err) == 0);
    snprintf(p, sizeof p, "%s/file", w.mountpoint);
    CHECK(lstat(p, &st) < 0 && errno == ENOENT);

    /* a path through a symlink pointing outside stays in the root: the image's /etc, not the host's */
    CHECK(moat_volume_create(e.vs, "x", NULL, NULL, false, &x, &err) == 0);
    CHECK(moat_volume_populate(e.vs, &x, rfd, "/evil", &err) == 0);
    snprintf(p, sizeof p, "%s/marker", x.mountpoint);
    CHECK(lstat(p, &st) == 0 && S_ISREG(st.st_mode));
    snprintf(p, sizeof p, "%s/passwd", x.mountpoint);
    CHECK(lstat(p, &st) < 0 && errno == ENOENT);
    CHECK(moat_volume_create(e.vs, "y", NULL, NULL, false, &y, &err) == 0);
    CHECK(moat_volume_populate(e.vs, &y, rfd, "/up/", &err) == 0);
    snprintf(p, sizeof p, "%s/marker", y.mountpoint);
    CHECK(lstat(p, &st) == 0);
    snprintf(p, sizeof p, "%s/passwd", y.mountpoint);
    CHECK(lstat(p, &st) < 0 && errno == ENOENT);

    /* past a bound: a clear error and the volume is emptied again (a retry can populate it) */
    struct moat_volume z = {0};
    CHECK(moat_volume_create(e.vs, "z", NULL, NULL, false, &z, &err) == 0);
    int d = openat(rfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CHECK(mkdirat(d, "deep", 0755) == 0);
    for (int i = 0; i < 260 && d >= 0; i++) {
        int c = openat(d, i ? "d" : "deep", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (c >= 0 && i < 259 && mkdirat(c, "d", 0755) < 0) {
            close(c);
            c = -1;
        }
        close(d);
        d = c;
    }
    CHECK(d >= 0);
    close(d);
    CHECK(moat_volume_populate(e.vs, &z, rfd, "/deep", &err) < 0 && err->errnum == ELOOP);
    CHECK_ERR_HAS(err, "copy '/deep' of the image into volume z: ");
    CHECK_ERR_HAS(err, "deeper than 256 levels");
    moat_error_freep(&err);
    snprintf(p, sizeof p, "%s/d", z.mountpoint);
    CHECK(lstat(p, &st) < 0 && errno == ENOENT);

    close(rfd);
    moat_volume_clear(&v);
    moat_volume_clear(&w);
    moat_volume_clear(&x);
    moat_volume_clear(&y);
    moat_volume_clear(&z);
    venv_close(&e);
}

static void test_volume_bind_source(void)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/moat-unit-bind-XXXXXX");
    if (!mkdtemp(dir)) {
        CHECK(0);
        return;
    }
    char p[256], store[256], lproc[256], lstore[256], real[256], lreal[256], file[256];
    snprintf(store, sizeof store, "%s/store", dir);
    snprintf(lproc, sizeof lproc, "%s/toproc", dir);
    snprintf(lstore, sizeof lstore, "%s/tostore", dir);
    snprintf(real, sizeof real, "%s/real", dir);
    snprintf(lreal, sizeof lreal, "%s/ln", dir);
    snprintf(file, sizeof file, "%s/file", dir);
    CHECK(mkdir(store, 0700) == 0 && mkdir(real, 0755) == 0);
    CHECK(symlink("/proc", lproc) == 0);
    CHECK(symlink("store/sub/../", lstore) == 0);
    CHECK(symlink("real", lreal) == 0);
    put(file, "x");
    char *forbidden[] = {store, "/run/moat/moat.sock", NULL};

    struct {
        const char *path;
        bool create;
        int err;             /* 0: accepted */
        const char *needle;  /* in the error, or the returned path */
    } t[] = {
        {"relative/path", false, EINVAL, "invalid mount config: bind source path must be absolute"},
        {"", false, EINVAL, "must be absolute"},
        {"/", false, EPERM, "bind mount of / is not allowed"},
        {"//", false, EPERM, "bind mount of / is not allowed"},
        {"/proc", false, EPERM, "bind mount of /proc is not allowed: it exposes the host's kernel interfaces"},
        {"/proc/self/root", false, EPERM, "bind mount of /proc/self/root is not allowed"},
        {"/sys/fs/cgroup", false, EPERM, "bind mount of /sys/fs/cgroup is not allowed"},
        {"/dev", false, EPERM, "bind mount of /dev is not allowed: it exposes the host's devices"},
        {"//dev/./null", false, EPERM, "bind mount of /dev/null is not allowed"},
        {"/devices-are-not-dev", false, ENOENT, "bind source path does not exist: /devices-are-not-dev"},
        {"/tmp/../proc", false, EINVAL, "must not contain '..'"},
        {"/run/moat/moat.sock", false, EPERM, "which the engine protects"},
        {store, false, EPERM, "which the engine protects"},
        {lproc, false, EPERM, "bind mount of /proc is not allowed"},
        {lstore, false, EPERM, "which the engine protects"},
        {file, false, 0, file},
        {lreal, false, 0, real},
    };
    for (size_t i = 0; i < ARRAY_SIZE(t); i++) {
        moat_error *err = NULL;
        char *ret = NULL;
        int rc = moat_bind_source_check(t[i].path, t[i].create, forbidden, &ret, &err);
        bool ok = t[i].err ? rc < 0 && err && err->errnum == t[i].err && strstr(err->msg, t[i].needle)
                           : rc == 0 && ret && !strcmp(ret, t[i].needle);
        if (!ok) {
            fprintf(stderr, "    bind '%s': rc %d, %s (want %d '%s')\n", t[i].path, rc,
                    err ? err->msg : ret ? ret : "-", t[i].err, t[i].needle);
            unit_failures++;
        }
        free(ret);
        moat_error_free(err);
    }

    moat_error *err = NULL;
    char *ret = NULL;
    /* missing: an error without create, made as directories (0755) with it */
    snprintf(p, sizeof p, "%s/new/a/./b", dir);
    CHECK(moat_bind_source_check(p, false, forbidden, &ret, &err) < 0 && err->errnum == ENOENT);
    CHECK_ERR_HAS(err, "invalid mount config for type \"bind\": bind source path does not exist: ");
    CHECK_ERR_HAS(err, p);
    moat_error_freep(&err);
    CHECK(moat_bind_source_check(p, true, forbidden, &ret, &err) == 0);
    snprintf(p, sizeof p, "%s/new/a/b", dir);
    CHECK_STR(ret, p);
    free(ret);
    struct stat st;
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    /* created through a symlink: lands in its (resolved, checked) target */
    snprintf(p, sizeof p, "%s/ln/made", dir);
    CHECK(moat_bind_source_check(p, true, forbidden, &ret, &err) == 0);
    snprintf(p, sizeof p, "%s/real/made", dir);
    CHECK_STR(ret, p);
    free(ret);
    CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    /* never created inside a forbidden place, even through a symlink */
    snprintf(p, sizeof p, "%s/toproc/newdir", dir);
    CHECK(moat_bind_source_check(p, true, forbidden, &ret, &err) < 0 && err->errnum == EPERM);
    moat_error_freep(&err);
    snprintf(p, sizeof p, "%s/store/x", dir);
    CHECK(moat_bind_source_check(p, true, forbidden, &ret, &err) < 0 && err->errnum == EPERM);
    moat_error_freep(&err);
    CHECK(lstat(p, &st) < 0 && errno == ENOENT);
    /* a file in the middle */
    snprintf(p, sizeof p, "%s/file/x", dir);
    CHECK(moat_bind_source_check(p, true, forbidden, &ret, &err) < 0 && err->errnum == ENOTDIR);
    moat_error_freep(&err);
    /* a symlink loop */
    snprintf(p, sizeof p, "%s/loop", dir);
    CHECK(symlink("loop", p) == 0);
    CHECK(moat_bind_source_check(p, false, forbidden, &ret, &err) < 0 && err->errnum == ELOOP);
    moat_error_freep(&err);
    rm_tmp(dir);
}

/* Rootless: what a container wrote with subordinate ids (a 0555 directory
 * owned by container uid 1) cannot be unlinked by the user directly; remove
 * and copy-up go through the store's user namespace. */
struct sub_arg {
    int dir;
};

static int write_as_subuid(void *argp, struct json_object **ret, moat_error **err)
{
    (void)ret;
    int d = ((struct sub_arg *)argp)->dir;
    if (mkdirat(d, "d", 0755) < 0)
        return moat_err_sys(err, "mkdir");
    int fd = openat(d, "d/f", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || moat_write_all(fd, "abc", 3) < 0 || fchown(fd, 1234, 5678) < 0)
        return moat_err_sys(err, "file");
    close(fd);
    if (fchownat(d, "d", 1, 1, 0) < 0 || fchmodat(d, "d", 0555, 0) < 0)
        return moat_err_sys(err, "chown dir");
    return 0;
}

static void test_volume_rootless(void)
{
    if (geteuid() == 0)
        UNIT_SKIP("rootless only (run the unit binary as a user with subordinate ids)");
    struct image_userns ns;
    moat_error *err = NULL;
    CHECK(image_userns_default(&ns, &err) == 0);
    if (ns.n_uid < 2)
        UNIT_SKIP("the user has no subordinate ids");
    struct venv e;
    if (!venv_open(&e)) {
        CHECK(0);
        return;
    }
    struct moat_volume v = {0}, w = {0};
    CHECK(moat_volume_create(e.vs, "rl", NULL, NULL, false, &v, &err) == 0);
    int dfd = open(v.mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct sub_arg a = {dfd};
    struct sbx_opts o = {.userns = &ns, .write_fd = dfd};
    if (sbx_run(&o, write_as_subuid, &a, NULL, &err) < 0) {
        fprintf(stderr, "    sandbox: %s\n", err->msg);
        moat_error_freep(&err);
        unit_failures++;
    }
    struct stat st;
    CHECK(fstatat(dfd, "d", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid == ns.uid[1].hid);
    CHECK(unlinkat(dfd, "d/f", 0) < 0 && errno == EACCES); /* the user alone cannot */

    /* copy-up keeps the container's owners: read this volume as an image root */
    CHECK(moat_volume_create(e.vs, "copy", NULL, NULL, false, &w, &err) == 0);
    int rfd = open(e.dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (moat_volume_populate(e.vs, &w, rfd, "/volumes/rl/_data", &err) < 0) {
        fprintf(stderr, "    populate: %s\n", err->msg);
        moat_error_freep(&err);
        unit_failures++;
    }
    char p[256];
    snprintf(p, sizeof p, "%s/d", w.mountpoint);
    CHECK(lstat(p, &st) == 0 && st.st_uid == ns.uid[1].hid && (st.st_mode & 07777) == 0555);
    snprintf(p, sizeof p, "%s/d/f", w.mountpoint);
    CHECK(lstat(p, &st) == 0 && st.st_uid == ns.uid[1].hid + 1233 && st.st_gid == ns.gid[1].hid + 5677 &&
          st.st_size == 3);
    close(rfd);

    CHECK(moat_volume_remove(e.vs, "rl", false, &err) == 0);
    CHECK(moat_volume_remove(e.vs, "copy", false, &err) == 0);
    if (err) {
        fprintf(stderr, "    remove: %s\n", err->msg);
        moat_error_freep(&err);
    }
    snprintf(p, sizeof p, "%s/volumes/rl", e.dir);
    CHECK(lstat(p, &st) < 0 && errno == ENOENT);
    close(dfd);
    moat_volume_clear(&v);
    moat_volume_clear(&w);
    venv_close(&e);
}

static const struct unit_test volume_tests[] = {
    UNIT_TEST(test_volume_create_get_list_remove),
    UNIT_TEST(test_volume_idempotent_create),
    UNIT_TEST(test_volume_names),
    UNIT_TEST(test_volume_in_use_and_prune),
    UNIT_TEST(test_volume_crash_leftovers),
    UNIT_TEST(test_volume_corrupt_record),
    UNIT_TEST(test_volume_populate),
    UNIT_TEST(test_volume_bind_source),
    UNIT_TEST(test_volume_rootless),
    UNIT_END,
};
UNIT_SUITE(volume, volume_tests);

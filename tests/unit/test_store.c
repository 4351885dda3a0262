/* The image store: names and lookups, removal and garbage collection,
 * leftovers of killed processes, corruption, limits, save/load round trips. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tools/tarcorpus.h"
#include "image/image_internal.h"
#include "moat/store.h"
#include "moat/util.h"
#include "unit.h"

struct tstore {
    char dir[64];
    struct moat_store *s;
};

static void ts_open(struct tstore *t, const char *limits_json)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/moat-unit-store-XXXXXX");
    if (!mkdtemp(t->dir))
        abort();
    char root[128], cfg[128];
    snprintf(root, sizeof root, "%s/store", t->dir);
    snprintf(cfg, sizeof cfg, "%s/config", t->dir);
    mkdir(cfg, 0755);
    if (limits_json) {
        char p[160];
        snprintf(p, sizeof p, "%s/limits.json", cfg);
        int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        if (write(fd, limits_json, strlen(limits_json)) < 0)
            abort();
        close(fd);
    }
    struct moat_store_opts o = {.root = root, .config_dir = cfg};
    moat_error *err = NULL;
    if (moat_store_open(&o, &t->s, &err) < 0) {
        fprintf(stderr, "    store: %s\n", err->msg);
        abort();
    }
}

static void ts_close(struct tstore *t)
{
    moat_store_close(t->s);
    int d = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    moat_error *err = NULL;
    if (moat_rm_rf_at(d, t->dir + 5, &err) < 0)
        moat_error_free(err);
    close(d);
}

/* a small layer: etc/hello, etc/gone, bin/ */
static int small_layer(const char *filter, const char *content)
{
    int fd = memfd_create("layer", MFD_CLOEXEC);
    struct tb t;
    tb_open(&t, fd, filter);
    tb_dir(&t, "etc/", 0755);
    tb_file(&t, "etc/hello", content, 0644);
    tb_file(&t, "etc/gone", "bye\n", 0644);
    tb_dir(&t, "bin/", 0755);
    tb_close(&t);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static char *import(struct tstore *t, const char *ref, const char *content)
{
    _cleanup_close_ int fd = small_layer("gzip", content);
    char *id = NULL;
    struct moat_import_opts o = {.ref = ref, .source = "-"};
    moat_error *err = NULL;
    if (moat_image_import(t->s, fd, &o, &id, &err) < 0) {
        fprintf(stderr, "    import: %s\n", err->msg);
        moat_error_free(err);
        unit_failures++;
        return xstrdup("");
    }
    return id;
}

static size_t count_dir(struct tstore *t, const char *sub)
{
    char p[160];
    snprintf(p, sizeof p, "%s/store/%s", t->dir, sub);
    DIR *d = opendir(p);
    size_t n = 0;
    for (struct dirent *de; d && (de = readdir(d));)
        n += de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void test_names_and_lookup(void)
{
    struct tstore t;
    ts_open(&t, NULL);
    _cleanup_free_ char *id = import(&t, "example.com/app:1", "hello\n");
    _cleanup_error_ moat_error *err = NULL;
    struct moat_image img;
    CHECK(moat_image_lookup(t.s, "example.com/app:1", 0, &img, &err) == 0 && !strcmp(img.id, id));
    _cleanup_free_ char *by_digest = xasprintf("example.com/app@%s", img.manifest);
    moat_image_clear(&img);
    CHECK(moat_image_lookup(t.s, id, 0, &img, &err) == 0);
    moat_image_clear(&img);
    CHECK(moat_image_lookup(t.s, id + 7, 0, &img, &err) == 0);
    moat_image_clear(&img);
    char prefix[16];
    snprintf(prefix, sizeof prefix, "%.5s", id + 7);
    CHECK(moat_image_lookup(t.s, prefix, 0, &img, &err) == 0);
    moat_image_clear(&img);
    CHECK(moat_image_lookup(t.s, by_digest, 0, &img, &err) == 0);
    moat_image_clear(&img);
    CHECK(moat_image_lookup(t.s, "example.com/app:2", 0, &img, &err) < 0);
    CHECK_ERR_HAS(err, "No such image: example.com/app:2");
    moat_error_free(err);
    err = NULL;
    CHECK(moat_image_lookup(t.s, "Bad_Name", 0, &img, &err) < 0);
    CHECK_ERR_HAS(err, "must be lowercase");
    moat_error_free(err);
    err = NULL;

    CHECK(moat_image_tag(t.s, "example.com/app:1", "alias", &err) == 0);
    CHECK(moat_image_lookup(t.s, "alias:latest", 0, &img, &err) == 0 && !strcmp(img.id, id));
    CHECK(moat_strv_len(img.names) == 2);
    moat_image_clear(&img);
    /* by ID with two names: refused without force */
    struct moat_removal r = {0};
    CHECK(moat_image_remove(t.s, id, false, &r, &err) < 0);
    CHECK_ERR_HAS(err, "image is referenced in multiple repositories");
    moat_error_free(err);
    err = NULL;
    /* by name: untag only */
    CHECK(moat_image_remove(t.s, "alias", false, &r, &err) == 0);
    CHECK(r.lines && !strcmp(r.lines[0], "Untagged: alias:latest") && !r.lines[1]);
    moat_removal_clear(&r);
    CHECK(count_dir(&t, "layers") == 1);
    /* the last name: untag and delete, layers and blobs go */
    CHECK(moat_image_remove(t.s, "example.com/app:1", false, &r, &err) == 0);
    CHECK(moat_strv_len(r.lines) == 3 && moat_str_has_prefix(r.lines[1], "Deleted: sha256:"));
    moat_removal_clear(&r);
    CHECK(count_dir(&t, "layers") == 0 && count_dir(&t, "blobs/sha256") == 0);
    struct moat_image *v = NULL;
    size_t n = 9;
    CHECK(moat_images_list(t.s, &v, &n, &err) == 0 && n == 0);
    moat_images_free(v, n);
    ts_close(&t);
}

/* Two images whose IDs share a prefix: the shared prefix is ambiguous (a clear
 * error, for lookup and rmi alike), one more digit finds the one image. */
static void test_ambiguous_prefix(void)
{
    struct tstore t;
    ts_open(&t, NULL);
    char *ids[17] = {0};
    size_t a = 0, b = 0;
    bool found = false;
    /* 17 IDs: two of them share at least their first hex digit */
    for (size_t i = 0; i < 17 && !found; i++) {
        char content[32];
        snprintf(content, sizeof content, "content %zu\n", i);
        ids[i] = import(&t, NULL, content);
        for (size_t k = 0; k < i && !found && ids[i][0]; k++)
            if (ids[k][7] == ids[i][7])
                a = k, b = i, found = true;
    }
    CHECK(found);
    if (found) {
        size_t common = 0;
        while (ids[a][7 + common] == ids[b][7 + common])
            common++;
        CHECK(common >= 1 && common < 64);
        char prefix[80], longer[80], sha[96];
        snprintf(prefix, sizeof prefix, "%.*s", (int)common, ids[a] + 7);
        snprintf(longer, sizeof longer, "%.*s", (int)common + 1, ids[b] + 7);
        snprintf(sha, sizeof sha, "sha256:%s", prefix);
        _cleanup_error_ moat_error *err = NULL;
        struct moat_image img;
        char want[160];
        snprintf(want, sizeof want, "multiple IDs found with provided prefix: %s", prefix);
        CHECK(moat_image_lookup(t.s, prefix, 0, &img, &err) < 0);
        CHECK(err && err->errnum == EINVAL);
        CHECK_ERR_HAS(err, want);
        moat_error_free(err);
        err = NULL;
        snprintf(want, sizeof want, "multiple IDs found with provided prefix: %s", sha);
        CHECK(moat_image_lookup(t.s, sha, 0, &img, &err) < 0);
        CHECK_ERR_HAS(err, want);
        moat_error_free(err);
        err = NULL;
        /* rmi by the ambiguous prefix removes nothing */
        struct moat_removal r = {0};
        CHECK(moat_image_remove(t.s, prefix, true, &r, &err) < 0);
        CHECK_ERR_HAS(err, "multiple IDs found with provided prefix");
        moat_error_free(err);
        err = NULL;
        moat_removal_clear(&r);
        CHECK(moat_image_lookup(t.s, ids[a], 0, &img, &err) == 0);
        moat_image_clear(&img);
        /* one digit more: unique, that image */
        CHECK(moat_image_lookup(t.s, longer, 0, &img, &err) == 0 && !strcmp(img.id, ids[b]));
        moat_image_clear(&img);
        snprintf(longer, sizeof longer, "%.*s", (int)common + 1, ids[a] + 7);
        CHECK(moat_image_lookup(t.s, longer, 0, &img, &err) == 0 && !strcmp(img.id, ids[a]));
        moat_image_clear(&img);
    }
    for (size_t i = 0; i < 17; i++)
        free(ids[i]);
    ts_close(&t);
}

static void test_dangling_and_prune(void)
{
    struct tstore t;
    ts_open(&t, NULL);
    _cleanup_free_ char *a = import(&t, "app", "one\n");
    _cleanup_free_ char *b = import(&t, "app", "two\n"); /* takes the name: a dangles */
    _cleanup_error_ moat_error *err = NULL;
    struct moat_image *v = NULL;
    size_t n = 0;
    CHECK(moat_images_list(t.s, &v, &n, &err) == 0 && n == 2);
    for (size_t i = 0; i < n; i++)
        CHECK(!strcmp(v[i].id, a) ? v[i].names[0] == NULL : v[i].names[0] != NULL);
    moat_images_free(v, n);
    struct moat_removal r = {0};
    CHECK(moat_images_prune(t.s, false, &r, &err) == 0);
    bool deleted_a = false;
    for (size_t i = 0; r.lines && r.lines[i]; i++)
        deleted_a |= strstr(r.lines[i], a) != NULL;
    CHECK(deleted_a && r.reclaimed > 0);
    moat_removal_clear(&r);
    CHECK(moat_images_list(t.s, &v, &n, &err) == 0 && n == 1 && !strcmp(v[0].id, b));
    moat_images_free(v, n);
    CHECK(moat_images_prune(t.s, true, &r, &err) == 0);
    moat_removal_clear(&r);
    CHECK(moat_images_list(t.s, &v, &n, &err) == 0 && n == 0);
    moat_images_free(v, n);
    ts_close(&t);
}

/* What a process killed in the middle leaves behind is invisible, and
 * `system check` cleans it up without calling it a problem. */
static void test_killed_leftovers(void)
{
    struct tstore t;
    ts_open(&t, NULL);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct stage st;
        moat_error *err = NULL;
        _cleanup_close_ int fd = small_layer("none", "half\n");
        struct new_layer nl;
        if (stage_begin(t.s, &st, &err) < 0 || stage_blob_fd(&st, fd, NULL, -1, 1 << 30, nl.blob, &nl.blob_size, &err) < 0 ||
            stage_layer(&st, nl.blob, NULL, 0, &nl.info, &err) < 0)
            _exit(1);
        /* content moved in, but the index never names it */
        if (store_lock(t.s, LOCK_EX, &err) < 0 || stage_commit(&st, &err) < 0)
            _exit(2);
        store_unlock(t.s);
        struct stage st2;
        if (stage_begin(t.s, &st2, &err) < 0)
            _exit(3);
        _exit(0); /* as if killed: no stage_end */
    }
    int status;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    _cleanup_error_ moat_error *err = NULL;
    struct moat_image *v = NULL;
    size_t n = 9;
    CHECK(moat_images_list(t.s, &v, &n, &err) == 0 && n == 0);
    moat_images_free(v, n);
    CHECK(count_dir(&t, "tmp") == 2 && count_dir(&t, "layers") == 1);
    struct moat_check c;
    CHECK(moat_store_check(t.s, false, &c, &err) == 0);
    CHECK(c.problems == NULL && c.removed_temp == 2);
    moat_check_clear(&c);
    CHECK(count_dir(&t, "tmp") == 0);
    struct moat_removal r = {0};
    CHECK(moat_store_gc(t.s, &r, &err) == 0 && r.reclaimed > 0);
    moat_removal_clear(&r);
    CHECK(count_dir(&t, "layers") == 0 && count_dir(&t, "blobs/sha256") == 0);
    /* a staging directory whose owner is alive is left alone */
    struct stage live;
    CHECK(stage_begin(t.s, &live, &err) == 0);
    CHECK(moat_store_check(t.s, false, &c, &err) == 0 && c.removed_temp == 0 && count_dir(&t, "tmp") == 1);
    moat_check_clear(&c);
    stage_end(&live);
    ts_close(&t);
}

static void test_corruption(void)
{
    struct tstore t;
    ts_open(&t, NULL);
    _cleanup_free_ char *id = import(&t, "victim", "precious\n");
    _cleanup_error_ moat_error *err = NULL;
    struct moat_image img;
    CHECK(moat_image_lookup(t.s, "victim", 0, &img, &err) == 0);
    char p[256];
    snprintf(p, sizeof p, "%s/store/blobs/sha256/%s", t.dir, moat_digest_hex(img.mf->layers[0].digest));
    moat_image_clear(&img);
    int fd = open(p, O_RDWR | O_CLOEXEC);
    char c0;
    CHECK(pread(fd, &c0, 1, 20) == 1);
    c0 ^= 0x5a;
    CHECK(pwrite(fd, &c0, 1, 20) == 1);
    close(fd);
    struct moat_check c;
    CHECK(moat_store_check(t.s, false, &c, &err) == 0);
    CHECK(c.problems && strstr(c.problems[0], "is corrupt"));
    moat_check_clear(&c);
    CHECK(moat_store_check(t.s, true, &c, &err) == 0);
    moat_check_clear(&c);
    CHECK(moat_store_check(t.s, false, &c, &err) == 0 && c.problems == NULL && c.images == 0);
    moat_check_clear(&c);
    /* a corrupt config is caught when read */
    _cleanup_free_ char *id2 = import(&t, "victim2", "x\n");
    snprintf(p, sizeof p, "%s/store/blobs/sha256/%s", t.dir, id2 + 7);
    fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
    CHECK(write(fd, " ", 1) == 1);
    close(fd);
    CHECK(moat_image_lookup(t.s, "victim2", 0, &img, &err) < 0);
    CHECK_ERR_HAS(err, "is corrupt");
    ts_close(&t);
}

static void test_limits_refusal(void)
{
    struct tstore t;
    ts_open(&t, "{\"layerEntries\": 2}");
    _cleanup_close_ int fd = small_layer("zstd", "x\n");
    struct moat_import_opts o = {.ref = "toobig"};
    _cleanup_error_ moat_error *err = NULL;
    char *id = NULL;
    CHECK(moat_image_import(t.s, fd, &o, &id, &err) < 0);
    CHECK_ERR_HAS(err, "exceeds limit layerEntries (2) by 1");
    CHECK(count_dir(&t, "layers") == 0 && count_dir(&t, "tmp") == 0);
    struct moat_image *v = NULL;
    size_t n = 9;
    CHECK(moat_images_list(t.s, &v, &n, &err) == 0 && n == 0);
    moat_images_free(v, n);
    ts_close(&t);
}

static void test_save_load(void)
{
    struct tstore t;
    ts_open(&t, NULL);
    _cleanup_free_ char *a = import(&t, "one:1", "1\n");
    _cleanup_free_ char *b = import(&t, "two:2", "2\n");
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_image_tag(t.s, "two:2", "two:alias", &err) == 0);
    _cleanup_close_ int out = memfd_create("save", MFD_CLOEXEC);
    char *refs[] = {"one:1", "two", NULL}; /* "two": every tag of the repository */
    CHECK(moat_image_save(t.s, refs, out, &err) == 0);
    struct moat_removal r = {0};
    CHECK(moat_image_remove(t.s, "one:1", true, &r, &err) == 0 && moat_image_remove(t.s, b, true, &r, &err) == 0);
    moat_removal_clear(&r);
    lseek(out, 0, SEEK_SET);
    char **lines = NULL;
    CHECK(moat_image_load(t.s, out, NULL, &lines, &err) == 0);
    CHECK(moat_strv_len(lines) == 3 && moat_strv_contains(lines, "Loaded image: one:1") &&
          moat_strv_contains(lines, "Loaded image: two:2") && moat_strv_contains(lines, "Loaded image: two:alias"));
    moat_strv_free(lines);
    struct moat_image img;
    CHECK(moat_image_lookup(t.s, "one:1", 0, &img, &err) == 0 && !strcmp(img.id, a));
    moat_image_clear(&img);
    CHECK(moat_image_lookup(t.s, "two:alias", 0, &img, &err) == 0 && !strcmp(img.id, b));
    moat_image_clear(&img);
    /* an archive with nothing we know */
    _cleanup_close_ int junk = small_layer("none", "not an image\n");
    CHECK(moat_image_load(t.s, junk, NULL, &lines, &err) < 0);
    CHECK_ERR_HAS(err, "neither a docker-archive (manifest.json) nor an OCI layout (index.json)");
    struct moat_check c;
    moat_error_free(err);
    err = NULL;
    CHECK(moat_store_check(t.s, false, &c, &err) == 0 && c.problems == NULL && c.images == 2);
    moat_check_clear(&c);
    ts_close(&t);
}

/* A docker-archive whose layer does not match the config's diff ID, and one
 * whose blob does not match its name, are refused and leave nothing. */
static void test_load_mismatch(void)
{
    struct tstore t;
    ts_open(&t, NULL);
    _cleanup_close_ int fd = memfd_create("arch", MFD_CLOEXEC);
    struct tb a;
    tb_open(&a, fd, "none");
    const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":"
                      "[\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]}}";
    tb_file(&a, "cfg.json", cfg, 0644);
    tb_file(&a, "manifest.json", "[{\"Config\":\"cfg.json\",\"RepoTags\":[\"bad:1\"],\"Layers\":[\"l/layer.tar\"]}]", 0644);
    _cleanup_close_ int l = small_layer("none", "x\n");
    char buf[16384];
    ssize_t n = read(l, buf, sizeof buf);
    struct archive_entry *e = tb_entry("l/layer.tar", AE_IFREG, 0644);
    archive_entry_set_size(e, n);
    tb_put(&a, e, buf, (size_t)n);
    tb_close(&a);
    lseek(fd, 0, SEEK_SET);
    _cleanup_error_ moat_error *err = NULL;
    char **lines = NULL;
    CHECK(moat_image_load(t.s, fd, NULL, &lines, &err) < 0);
    CHECK_ERR_HAS(err, "content digest mismatch");
    CHECK(count_dir(&t, "layers") == 0 && count_dir(&t, "tmp") == 0 && count_dir(&t, "blobs/sha256") == 0);

    _cleanup_close_ int fd2 = memfd_create("arch", MFD_CLOEXEC);
    tb_open(&a, fd2, "gzip");
    tb_file(&a, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 0644);
    tb_file(&a, "index.json", "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MOAT_MT_OCI_MANIFEST "\","
                              "\"digest\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
                              "\"size\":2}]}", 0644);
    tb_file(&a, "blobs/sha256/1111111111111111111111111111111111111111111111111111111111111111", "{}", 0644);
    tb_close(&a);
    lseek(fd2, 0, SEEK_SET);
    moat_error_free(err);
    err = NULL;
    CHECK(moat_image_load(t.s, fd2, NULL, &lines, &err) < 0);
    CHECK_ERR_HAS(err, "digest mismatch: expected sha256:1111");
    ts_close(&t);
}

static const struct unit_test store_tests[] = {UNIT_TEST(test_names_and_lookup), UNIT_TEST(test_ambiguous_prefix), UNIT_TEST(test_dangling_and_prune),
                                               UNIT_TEST(test_killed_leftovers), UNIT_TEST(test_corruption),
                                               UNIT_TEST(test_limits_refusal),   UNIT_TEST(test_save_load),
                                               UNIT_TEST(test_load_mismatch),    UNIT_END};
UNIT_SUITE(store, store_tests);

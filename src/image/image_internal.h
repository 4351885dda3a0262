/* Internal interfaces of the image library (src/image). */
#ifndef MOAT_IMAGE_INTERNAL_H
#define MOAT_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/error.h"
#include "moat/subid.h"

/* strset.c: a set of strings with a byte of payload each. */
struct strset {
    char **keys;
    unsigned char *vals;
    size_t n, cap;
};
/* 1: added; 0: was present (*ret_old = previous value, then replaced by val). */
int strset_add(struct strset *set, const char *key, unsigned char val, unsigned char *ret_old);
bool strset_get(const struct strset *set, const char *key, unsigned char *ret_val);
void strset_free(struct strset *set);

#endif

/* userns.c: the rootless store's user namespace.  Layer files are stored as
 * seen from inside it: image uid 0 is the user, uids 1..N the first N of the
 * user's subordinate ids (the same mapping moat-runtime's rootless template
 * gives containers), so a container sees its image's owners unchanged. */
struct image_userns {
    bool enabled; /* false as root: no namespace, files keep the image's ids */
    struct moat_idmap uid[2], gid[2];
    size_t n_uid, n_gid;
};
/* The mapping for the calling user (root: enabled = false). */
int image_userns_default(struct image_userns *u, moat_error **err);
/* Write the maps of `pid`, a child that called unshare(CLONE_NEWUSER). */
int image_userns_write(pid_t pid, const struct image_userns *u, moat_error **err);
/* "0:1001:1,1:100000:65535" (the form recorded in the store's storage.json). */
char *image_userns_text(const struct moat_idmap *m, size_t n);

/* sandbox.c: run a function in a child that has given up what it does not need
 * (STYLE habit 8): the store's user namespace when rootless, a minimal
 * capability set, no_new_privs, Landlock (write only beneath write_fd, read
 * only beneath read_fds), a seccomp deny-list (no mount, ptrace, exec,
 * namespaces, sockets, kernel keyring/BPF/modules..., mknod of real devices
 * unless allowed) and only the listed fds open. */
struct json_object;
struct sbx_opts {
    const struct image_userns *userns; /* NULL or !enabled: stay in the caller's namespace */
    int write_fd;                      /* directory writable beneath, -1: none */
    int read_fds[4];                   /* directories readable beneath */
    size_t n_read;
    int keep_fds[4]; /* other fds the function uses (input streams) */
    size_t n_keep;
    bool devices;  /* allow mknod of device nodes (root, policy) */
    bool mount_ns; /* a private mount namespace where mounting is allowed (no Landlock then) */
};
/* The child's result: a JSON object (may be NULL) or an error. */
typedef int (*sbx_fn)(void *arg, struct json_object **ret, moat_error **err);
int sbx_run(const struct sbx_opts *o, sbx_fn fn, void *arg, struct json_object **ret, moat_error **err);

/* ---- the store (store.c) ---------------------------------------------------- */
#include "moat/digest.h"
#include "moat/layer.h"
#include "moat/store.h"

struct moat_store {
    char *root;
    int rootfd, blobsfd, layersfd, snapfd, tmpfd, lockfd;
    int lock_mode, lock_depth; /* LOCK_SH / LOCK_EX held, nesting depth */
    struct moat_limits limits;
    struct image_userns ns;
    moat_image_in_use_fn in_use;
    void *in_use_ctx;
};

/* Shared or exclusive store lock; nests (an exclusive holder may ask for shared). */
int store_lock(struct moat_store *s, int mode, moat_error **err);
void store_unlock(struct moat_store *s);

/* index.json in memory: one entry per (name, manifest); name NULL = dangling. */
struct idx_entry {
    char *digest, *media_type, *name, *tag_time;
    int64_t size;
};
struct store_index {
    struct idx_entry *v;
    size_t n;
};
int index_load(struct moat_store *s, struct store_index *x, moat_error **err);
int index_save(struct moat_store *s, const struct store_index *x, moat_error **err);
void index_free(struct store_index *x);
/* Point `name` at the manifest (adds an entry); the manifest it left keeps a
 * dangling entry if nothing else names it. */
void index_set_name(struct store_index *x, const char *name, const char *digest, int64_t size, const char *mt);
/* Make sure the manifest is listed (dangling if unnamed). */
void index_add_image(struct store_index *x, const char *digest, int64_t size, const char *mt);
/* Remove one name; the manifest stays listed as dangling. */
void index_remove_name(struct store_index *x, const char *name);
void index_remove_manifest(struct store_index *x, const char *digest);

/* Blobs. */
int blob_open(struct moat_store *s, const char *digest, uint64_t *ret_size, moat_error **err);
bool blob_exists(struct moat_store *s, const char *digest);
/* A small document blob, read whole and verified against its digest. */
int blob_read_doc(struct moat_store *s, const char *digest, char **ret, size_t *ret_len, moat_error **err);
/* Layers: layers/<hex>/{diff,layer.json}. */
bool layer_exists(struct moat_store *s, const char *diff_id);
int layer_size(struct moat_store *s, const char *diff_id, uint64_t *ret, moat_error **err);

/* The image a manifest digest describes (names not filled). */
int image_load(struct moat_store *s, const char *manifest, int64_t msize, struct moat_image *img, moat_error **err);
int64_t image_parse_time(const char *rfc3339);
/* Remove a tree under dirfd (in the store's user namespace when rootless). */
int store_rm_tree(struct moat_store *s, int dirfd, const char *name, moat_error **err);
/* Does any snapshot (or the engine's hook) use the image? */
int store_image_in_use(struct moat_store *s, const char *image_id, char **ret_who, bool *ret_running,
                       moat_error **err);
/* Diff IDs of the layers snapshots use (for GC). */
int store_snapshot_layers(struct moat_store *s, struct strset *ret, moat_error **err);
/* Garbage collection with the exclusive lock held. */
int store_gc_locked(struct moat_store *s, struct moat_removal *r, moat_error **err);
void removal_add(struct moat_removal *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- staging (stage.c) --------------------------------------------------------- */
struct stage {
    struct moat_store *s;
    char *name;
    int fd, blobsfd, layersfd;
    char **blobs, **layers; /* staged digests / diff IDs */
    unsigned counter;
};
struct layer_info {
    char diff_id[MOAT_DIGEST_SIZE];
    uint64_t size, tar_bytes;
    enum moat_compression compression;
};
int stage_begin(struct moat_store *s, struct stage *t, moat_error **err);
void stage_end(struct stage *t);
/* Copy in_fd into a staged blob, verified against expect_digest/expect_size
 * when given (NULL / -1: none), at most `max` bytes. */
int stage_blob_fd(struct stage *t, int in_fd, const char *expect_digest, int64_t expect_size, uint64_t max,
                  char ret_digest[MOAT_DIGEST_SIZE], uint64_t *ret_size, moat_error **err);
int stage_blob_buf(struct stage *t, const void *buf, size_t len, char ret_digest[MOAT_DIGEST_SIZE],
                   moat_error **err);
/* Open a blob, staged or stored. */
int stage_open_blob(struct stage *t, const char *digest, moat_error **err);
/* Unpack a layer blob (sandboxed) unless the store has that layer already
 * (then only verify the blob against expect_diff_id when they can differ). */
int stage_layer(struct stage *t, const char *blob_digest, const char *expect_diff_id, uint64_t image_before,
                struct layer_info *ret, moat_error **err);
/* Move staged blobs and layers into the store (exclusive lock held). */
int stage_commit(struct stage *t, moat_error **err);
/* Every blob and layer an image needs is in the store (exclusive lock held). */
int stage_check_image(struct moat_store *s, const char *manifest, moat_error **err);

/* ---- snapshots, as the rest of the store sees them (snapshot.c) ------------------- */
size_t snapshot_count(struct moat_store *s);
/* Number of snapshots and the bytes their own changes take. */
int snapshot_usage(struct moat_store *s, size_t *ret_n, uint64_t *ret_bytes, moat_error **err);

/* ---- making images (import.c) ------------------------------------------------------- */
struct new_layer {
    char blob[MOAT_DIGEST_SIZE];
    uint64_t blob_size;
    struct layer_info info;
};
/* Finish an image from a config (rootfs.diff_ids and history already set)
 * and its layer descriptors: stage config and manifest, commit, name it
 * (names: full references, or NULL for none), return the image ID. */
int image_commit(struct stage *t, struct json_object *config, struct json_object *layer_descs, char *const *names,
                 char **ret_id, moat_error **err);
/* Commit a staged manifest (its blobs and layers staged or stored) and name it. */
int image_commit_manifest(struct stage *t, const char *manifest, int64_t size, const char *media_type,
                          char *const *names, moat_error **err);

/* ---- trees of layers and snapshots (apply.c, diff.c) ------------------------------ */
#include <sys/stat.h>
bool tree_is_whiteout(const struct stat *st);
bool tree_keep_xattr(const char *name);
bool tree_is_opaque(int dirfd);
/* The copy driver: the image's layers applied into snapdir/rootfs (sandboxed). */
int snapshot_copy_layers(struct moat_store *s, int snapdir, const struct moat_image *img, moat_error **err);

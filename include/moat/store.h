/* The image store: content-addressed blobs, an OCI image-layout index of
 * names, unpacked layers, snapshots.  Everything about images goes through
 * here; the moat CLI (and later the engine) only formats what it returns.
 *
 * Layout under the root (0700):
 *   oci-layout, index.json   OCI image layout: index.json lists manifests, a
 *                            tag in the annotations io.containerd.image.name
 *                            (full reference) and org.opencontainers.image.ref.name
 *   blobs/sha256/<hex>       manifests, configs, layer tars (as received)
 *   layers/<hex>/            a layer unpacked (hex of its diff ID): diff/ and layer.json
 *   snapshots/<id>/          container root filesystems (include/moat/snapshot.h)
 *   tmp/<random>/            staging of one operation, flock()ed by its owner
 *   storage.json             rootless or not, the id mapping the files were written with
 *   lock                     flock(): shared for readers, exclusive to change names or remove
 *
 * Crash safety: content is written under tmp/ (temporary name, fsync), moved
 * into blobs/ and layers/ by rename, and an image becomes visible only when
 * index.json is replaced atomically at the end.  A process killed at any
 * moment leaves at most unreferenced content, which garbage collection
 * removes.  Every blob is verified (size and sha256) while it is written. */
#ifndef MOAT_STORE_H
#define MOAT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat/error.h"
#include "moat/image.h"
#include "moat/layer.h"

struct moat_store;
struct json_object;

struct moat_store_opts {
    const char *root;       /* NULL: $MOAT_ROOT, else moat_store_default_root() */
    const char *config_dir; /* NULL: moat_config_dir() (limits.json) */
};

/* /var/lib/moat as root, $XDG_DATA_HOME/moat (~/.local/share/moat) otherwise. */
char *moat_store_default_root(void);
int moat_store_open(const struct moat_store_opts *o, struct moat_store **ret, moat_error **err);
void moat_store_close(struct moat_store *s);
const char *moat_store_root(const struct moat_store *s);
bool moat_store_rootless(const struct moat_store *s);
const struct moat_limits *moat_store_limits(const struct moat_store *s);

/* ---- images ---------------------------------------------------------------- */

struct moat_image {
    char *id;            /* the config digest: Docker's image ID */
    char *manifest;      /* manifest digest */
    char **names;        /* full references ("docker.io/library/busybox:latest"); empty: dangling */
    char *created;       /* the config's "created", or NULL */
    int64_t created_unix; /* 0 when unknown */
    char *last_tag_time;
    uint64_t size;       /* sum of the layers' content sizes */
    struct moat_manifest *mf;
    struct moat_image_config *config;
};
void moat_image_clear(struct moat_image *img);
int moat_images_list(struct moat_store *s, struct moat_image **ret, size_t *ret_n, moat_error **err);
void moat_images_free(struct moat_image *v, size_t n);

/* Resolve a reference the way Docker does: full ID (sha256:<hex> or <hex>),
 * name[:tag] (":latest" implied), name@digest (manifest digest), then a
 * unique ID prefix.  MOAT_LOOKUP_BUILTIN builds the built-in busybox image
 * when "busybox[:latest]" is asked for and missing. */
enum { MOAT_LOOKUP_BUILTIN = 1 };
int moat_image_lookup(struct moat_store *s, const char *ref, unsigned flags, struct moat_image *ret, moat_error **err);

int moat_image_tag(struct moat_store *s, const char *source, const char *target, moat_error **err);

/* What a removal did, in Docker's words: "Untagged: busybox:latest",
 * "Deleted: sha256:...". */
struct moat_removal {
    char **lines;
    uint64_t reclaimed; /* bytes */
};
void moat_removal_clear(struct moat_removal *r);

/* Is an image used by a container?  The store knows its own snapshots; the
 * engine adds its containers through this hook (ret_running: a running one
 * can't be forced away).  Return 1 with *ret_container set, 0, or -1. */
typedef int (*moat_image_in_use_fn)(void *ctx, const char *image_id, char **ret_container, bool *ret_running,
                                    moat_error **err);
void moat_store_set_in_use_hook(struct moat_store *s, moat_image_in_use_fn fn, void *ctx);

/* docker rmi: untag, and delete what no name and no container needs. */
int moat_image_remove(struct moat_store *s, const char *ref, bool force, struct moat_removal *r, moat_error **err);
/* docker image prune: dangling images (all: every image no container uses). */
int moat_images_prune(struct moat_store *s, bool all, struct moat_removal *r, moat_error **err);

struct moat_import_opts {
    const char *ref;     /* REPOSITORY[:TAG] or NULL (untagged) */
    char **changes;      /* --change instructions */
    const char *message; /* --message: the history comment */
    const char *source;  /* "-" or the file name, for the history */
};
/* docker import: one layer from a tar stream (plain, gzip or zstd). */
int moat_image_import(struct moat_store *s, int fd, const struct moat_import_opts *o, char **ret_id, moat_error **err);

/* docker load: a docker-archive or an OCI archive from fd (tar, maybe
 * compressed), or an OCI image layout directory (dir != NULL).  *ret_lines:
 * "Loaded image: busybox:latest" / "Loaded image ID: sha256:...". */
int moat_image_load(struct moat_store *s, int fd, const char *dir, char ***ret_lines, moat_error **err);
/* docker save: a tar that is both a docker-archive (manifest.json) and an
 * OCI image layout (oci-layout, index.json, blobs/). */
int moat_image_save(struct moat_store *s, char *const *refs, int out_fd, moat_error **err);

/* docker image inspect: one image in Docker's JSON shape; driver: GraphDriver.Name, the
 * driver containers of it get (NULL: "overlay"). */
int moat_image_inspect(struct moat_store *s, const struct moat_image *img, const char *driver, struct json_object **ret,
                       moat_error **err);

struct moat_history_row {
    char *id; /* the image ID for the newest row, NULL ("<missing>") for the rest */
    char *created;
    int64_t created_unix;
    char *created_by, *comment;
    uint64_t size;
};
int moat_image_history(struct moat_store *s, const struct moat_image *img, struct moat_history_row **ret,
                       size_t *ret_n, moat_error **err);
void moat_history_free(struct moat_history_row *v, size_t n);

/* The built-in image: Debian's busybox-static (/bin/busybox, or
 * $MOAT_BUSYBOX) as a single-layer image named busybox:latest. */
#define MOAT_BUILTIN_BUSYBOX "docker.io/library/busybox:latest"
int moat_image_build_busybox(struct moat_store *s, const char *busybox, char **ret_id, moat_error **err);

/* Store the layer tar read from fd as a new image on top of `base` (an image
 * reference, or NULL for none): what commit and build do. */
struct moat_commit_opts {
    const char *ref;     /* name for the new image, or NULL */
    char **changes;
    const char *comment, *author, *created_by;
};
int moat_image_add_layer(struct moat_store *s, const char *base, int layer_fd, const struct moat_commit_opts *o,
                         char **ret_id, moat_error **err);

/* ---- maintenance -------------------------------------------------------------- */

struct moat_df {
    size_t images, images_active, snapshots;
    uint64_t images_size, images_reclaimable, snapshots_size;
};
int moat_store_df(struct moat_store *s, struct moat_df *r, moat_error **err);

struct moat_check {
    char **problems; /* one line each; empty: the store is sound */
    size_t blobs, images, layers, snapshots, removed_temp;
    uint64_t bytes;
};
/* Re-hash every blob, re-parse every document, check every image's layers
 * and snapshots; remove stale temporary files.  repair: also drop what is
 * corrupt (and the images that need it). */
int moat_store_check(struct moat_store *s, bool repair, struct moat_check *r, moat_error **err);
void moat_check_clear(struct moat_check *r);

/* Remove every image, layer, blob and snapshot (podman's `system reset`):
 * rootless, the store holds files of the user's subordinate ids that only
 * the store's user namespace can remove. */
int moat_store_reset(struct moat_store *s, moat_error **err);

/* Remove blobs and layers nothing refers to and stale staging directories. */
int moat_store_gc(struct moat_store *s, struct moat_removal *r, moat_error **err);

/* How snapshots are made here (probed once, recorded in storage.json). */
struct moat_store_info {
    char *driver;  /* "overlay" or "copy" */
    char *reason;  /* why copy, or NULL */
    char *backing_fs;
    bool d_type, userxattr, rootless;
    char *uidmap, *gidmap; /* "0:1001:1,1:100000:65535" (rootless) */
};
int moat_store_info(struct moat_store *s, struct moat_store_info *r, moat_error **err);
/* Only the driver and why copy (storage.json; probed and recorded the first time). */
int moat_store_driver(struct moat_store *s, char **ret_driver, char **ret_reason, moat_error **err);
void moat_store_info_clear(struct moat_store_info *r);

#endif

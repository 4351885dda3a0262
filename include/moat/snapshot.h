/* Snapshots: a copy-on-write root filesystem for each container.
 *
 * Driver "overlay": kernel overlayfs over the image's unpacked layers (lower,
 * read-only, shared), with the snapshot's own upper/ and work/ directories.
 * Mounted with the userxattr option (user.overlay.* xattrs), which also works
 * inside a user namespace (rootless, kernel >= 5.11).  Driver "copy": the
 * layers applied one after the other into the snapshot's rootfs/ (whiteouts
 * and opaque directories honoured), for filesystems or hosts where overlayfs
 * can't be mounted.  The store probes once which one works (moat info).
 *
 * The runtime mounts a snapshot itself: moat_snapshot_mount() returns a
 * detached mount (fsopen("overlay")/fsmount, or a bind of rootfs/ for copy)
 * for move_mount().  Rootless, it must be called inside a user namespace
 * with a mount namespace of its own: moat-runtime does that for a container
 * (the engine hands it the layers in run.moat.overlay.* annotations), and
 * moat_snapshot_view/moat_snapshot_run below for the engine's own reads. */
#ifndef MOAT_SNAPSHOT_H
#define MOAT_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/digest.h"
#include "moat/error.h"

struct moat_store;

struct moat_snapshot {
    char *id;
    char *image_id;     /* the image it was made from */
    char *owner;        /* who uses it (a container name), or NULL */
    char *driver;       /* "overlay" or "copy" */
    char *dir;          /* snapshots/<id> */
    char **lower;       /* overlay: the layers' diff directories, top first */
    char **diff_ids;    /* the image's layers, bottom first */
    char *upper, *work; /* overlay */
    char *rootfs;       /* copy: the tree; overlay: an empty directory to mount on */
};

struct moat_snapshot_opts {
    const char *owner;
    bool copy;          /* force the copy driver */
    bool chown_upper;   /* as root: give the writable top to uid:gid (the container's root) */
    uid_t uid;
    gid_t gid;
};

/* Ids: [A-Za-z0-9][A-Za-z0-9_.-]{0,127}. */
int moat_snapshot_create(struct moat_store *s, const char *id, const char *image_ref,
                         const struct moat_snapshot_opts *o, struct moat_snapshot **ret, moat_error **err);
int moat_snapshot_get(struct moat_store *s, const char *id, struct moat_snapshot **ret, moat_error **err);
/* Every snapshot (ids). */
int moat_snapshot_list(struct moat_store *s, char ***ret, moat_error **err);
int moat_snapshot_remove(struct moat_store *s, const char *id, moat_error **err);
void moat_snapshot_free(struct moat_snapshot *sn);

struct moat_snapshot_mount_opts {
    int userns_fd;      /* >= 0: id-map the layers into this user namespace (root, kernel >= 6.13) */
    bool read_only;
};
/* A detached mount of the snapshot's root filesystem, for move_mount(). */
int moat_snapshot_mount(struct moat_store *s, const struct moat_snapshot *sn, const struct moat_snapshot_mount_opts *o,
                        int *ret_mnt_fd, moat_error **err);

/* The snapshot's tree as its container sees it, read-only (a detached mount
 * or, for copy, the tree's directory; O_PATH-like, for openat), to read it
 * before the container starts: its users and groups, the content a new
 * volume is filled from.  Overlay: the upper directory over the layers,
 * rootless made in the store's user namespace and handed back.  Not while
 * the container runs (a second overlay over a live upper directory). */
int moat_snapshot_view(struct moat_store *s, const struct moat_snapshot *sn, int *ret_fd, moat_error **err);

/* Run fn in a sandboxed child with the snapshot mounted read-write in a mount
 * namespace of its own (rootless: inside the store's user namespace, so ids
 * are the container's and every file is reachable); keep_fds stay open there
 * (at most 4).  For a stopped container's docker cp and export.  fn's error
 * comes back as this call's. */
typedef int (*moat_snapshot_fn)(int rootfd, void *arg, moat_error **err);
int moat_snapshot_run(struct moat_store *s, const struct moat_snapshot *sn, const int *keep_fds, size_t n_keep,
                      moat_snapshot_fn fn, void *arg, moat_error **err);

/* docker diff: what the container changed, sorted by path.  kind is 'A'
 * (added), 'C' (changed) or 'D' (deleted). */
struct moat_change {
    char kind;
    char *path; /* "/etc/passwd" */
};
int moat_snapshot_diff(struct moat_store *s, const struct moat_snapshot *sn, struct moat_change **ret, size_t *ret_n,
                       moat_error **err);
void moat_changes_free(struct moat_change *v, size_t n);

/* The changes as a layer tar (uncompressed; deletions as .wh. whiteouts),
 * written to out_fd; returns its diff ID and length.  For commit and build. */
int moat_snapshot_export_layer(struct moat_store *s, const struct moat_snapshot *sn, int out_fd,
                               char ret_diff_id[MOAT_DIGEST_SIZE], uint64_t *ret_size, moat_error **err);

/* docker commit: the snapshot's changes as a new image on top of its image. */
struct moat_commit_opts;
int moat_snapshot_commit(struct moat_store *s, const char *id, const struct moat_commit_opts *o, char **ret_image_id,
                         moat_error **err);

#endif

/* Named volumes (driver "local") and bind-source checks.
 *
 *   <root>/volumes/            0700
 *     <name>/volume.json       {"Name","Driver","Labels","Options","CreatedAt","Anonymous"} (atomic)
 *     <name>/_data/            the content (the Mountpoint)
 *
 * Names: [a-zA-Z0-9][a-zA-Z0-9_.-]{0,254} (Docker's); an anonymous volume is
 * named by 64 random hex digits.  A volume in use by a container cannot be
 * removed (the engine answers through the in-use hook).  Every mount of a
 * volume or bind is nosuid,nodev (the spec builder adds them).
 *
 * Bind sources are checked here: the path must be absolute, exist (Docker
 * creates a missing directory for -v; moat does the same, as a directory,
 * never following a symlink to do it), and not be a forbidden place: the
 * engine's sockets, the store root, /, /proc, /sys, /dev and anything under
 * the last three (policy will allow exceptions later).
 *
 * Implementation notes (src/engine/volume.c):
 * - Creation is crash-safe: the volume is built as <root>/volumes/.tmp-<pid>-<hex>
 *   (volume.json written atomically, fsynced) and renamed to <name> with
 *   RENAME_NOREPLACE.  Removal first renames <name> to a .tmp-* name, then
 *   deletes the tree.  list/get ignore .tmp-* entries; prune removes those
 *   whose creator (the pid in the name) is gone.
 * - A volume whose volume.json is missing or corrupt is skipped by list (with
 *   a warning in the log) and by prune; get (and create of that name) answers
 *   EIO naming the file; remove still removes it.
 * - Trees are deleted and copy-up is done in the store's sandbox (sbx_run:
 *   rootless, inside the store's user namespace, so files a container wrote
 *   with subordinate ids can be removed and owners can be set; Landlock limits
 *   writes to the volume).
 * - Labels/Options NULL are written and shown as JSON null, a non-NULL empty
 *   vector as {} (Docker CLI sends DriverOpts {}); nothing is invented.
 *
 * The bind-source rule (moat_bind_source_check), exactly:
 *   1. not absolute -> EINVAL; a ".." component -> EINVAL; "//" and "/./"
 *      collapse.
 *   2. the cleaned path is refused (EPERM) when it is "/", or is or lies
 *      under /proc, /sys, /dev or one of `forbidden` (component-wise: /devices
 *      is fine, /dev/x is not).  A parent of a forbidden path (/run, /var) is
 *      allowed.
 *   3. it is walked from "/" one component at a time with
 *      openat(O_PATH|O_NOFOLLOW).  A symlink is resolved by moat itself (its
 *      target, relative to the directory holding it, replaces the walked
 *      prefix; at most 40 links) and the new path goes through rule 2 again,
 *      so /tmp/x -> /proc is refused.  *ret is the fully resolved path.
 *   4. a missing component: create=false -> ENOENT; create=true -> it and the
 *      rest are made as directories (mode 0755, mkdirat under an O_NOFOLLOW
 *      fd, never following a symlink).  A non-directory in the middle ->
 *      ENOTDIR.  The last component may be a file or a directory.
 *   The check is made when the container is created: whoever mounts *ret later
 *   should open it with O_PATH|O_NOFOLLOW (open_tree) rather than trust that no
 *   component was swapped for a symlink in between. */
#ifndef MOAT_VOLUME_H
#define MOAT_VOLUME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat/error.h"

struct json_object;
struct moat_volumes;

struct moat_volume {
    char *name, *driver, *mountpoint, *created_at;
    char **labels;  /* k, v, ..., NULL */
    char **options; /* k, v, ..., NULL (local driver: none supported beyond type=tmpfs? refused) */
    bool anonymous;
};

/* store_root must exist; <root>/volumes is created (0700) when missing. */
int moat_volumes_open(const char *store_root, struct moat_volumes **ret, moat_error **err);
void moat_volumes_close(struct moat_volumes *vs);

/* [a-zA-Z0-9][a-zA-Z0-9_.-]{0,254} */
bool moat_volume_name_valid(const char *name);
/* The API layer checks the request's Driver with this: "" / NULL / "local"
 * pass, anything else is EINVAL (create itself records "local"). */
int moat_volume_check_driver(const char *driver, moat_error **err);

/* Docker: creating an existing volume returns it.  When labels are asked for
 * (non-empty) they must equal the volume's (as a set), else EEXIST; no labels
 * (NULL or empty) accept the volume's own.  name NULL or "": 64 random hex digits.  Any option is EINVAL
 * ("volume option X is not supported"): the local driver's type/device/o are
 * not implemented. */
int moat_volume_create(struct moat_volumes *vs, const char *name, char *const *labels, char *const *options,
                       bool anonymous, struct moat_volume *ret, moat_error **err);
int moat_volume_get(struct moat_volumes *vs, const char *name, struct moat_volume *ret, moat_error **err);
int moat_volume_list(struct moat_volumes *vs, struct moat_volume **ret, size_t *ret_n, moat_error **err);

typedef int (*moat_volume_in_use_fn)(void *ctx, const char *name, char **ret_container, moat_error **err);
void moat_volumes_set_in_use_hook(struct moat_volumes *vs, moat_volume_in_use_fn fn, void *ctx);
/* ENOENT when missing (force: a missing volume is not an error), EBUSY
 * ("volume is in use - [id]") when used, force or not. */
int moat_volume_remove(struct moat_volumes *vs, const char *name, bool force, moat_error **err);
/* Remove unused volumes (all: named ones too; Docker >= 23 prunes only anonymous ones by default). */
int moat_volumes_prune(struct moat_volumes *vs, bool all, char ***ret_names, uint64_t *ret_reclaimed,
                       moat_error **err);

/* Docker's copy-up: fill an empty new volume (a volume that is not empty, or
 * a path the image lacks or that is not a directory: nothing is done) with what the image has at
 * `path` inside rootfs (dirfd of the container's root filesystem), keeping
 * modes, owners and xattrs; every path opened confined to rootfs (openat2
 * RESOLVE_IN_ROOT), no symlink followed.  Regular files, directories and
 * symlinks (as symlinks) are copied; device nodes, fifos and sockets skipped;
 * hard links become separate copies.  Bounded: 4 GiB of file data, 1,000,000
 * entries, 256 levels (EFBIG / E2BIG / ELOOP); on error the volume is emptied
 * again. */
int moat_volume_populate(struct moat_volumes *vs, const struct moat_volume *v, int rootfs_fd, const char *path,
                         moat_error **err);

/* The volume object of the API (GET /volumes/{name}). */
struct json_object *moat_volume_json(const struct moat_volume *v);
void moat_volume_clear(struct moat_volume *v);
void moat_volumes_free(struct moat_volume *v, size_t n);

/* Check (and for -v, create as a directory) a bind source.  forbidden: extra
 * absolute paths refused with everything under them (the engine passes its
 * socket and store).  *ret is the normalised path. */
int moat_bind_source_check(const char *path, bool create, char *const *forbidden, char **ret, moat_error **err);

#endif

/* Container filesystem archives for the API (routes_ctr_io.c): docker export,
 * docker cp (GET/HEAD/PUT /containers/{id}/archive).
 *
 * Every walk is relative to a directory fd treated as the container's "/":
 * reading opens each component with openat(O_NOFOLLOW) from its parent's fd,
 * so no symlink is ever followed; extraction refuses absolute names, "..",
 * device nodes, hardlinks to anything it did not extract itself, and any
 * entry whose parent on disk is a symlink (a link the tar or the container
 * planted is stored, never followed).  These functions read or write whole
 * trees: call them in a child process, never on the engine's loop. */
#ifndef MOAT_ENGINE_ARCHIVE_H
#define MOAT_ENGINE_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "moat/error.h"

/* An id mapping, container id -> host id, as in /proc/<pid>/uid_map. */
struct archive_idmap {
    uint32_t cid, hid, size;
};
#define ARCHIVE_MAX_MAPS 8
struct archive_ids {
    struct archive_idmap uid[ARCHIVE_MAX_MAPS], gid[ARCHIVE_MAX_MAPS];
    size_t n_uid, n_gid;
};
/* "0:1001:1,1:100000:65535" (the store's uidmap text) -> maps; -1 when malformed. */
int archive_idmap_parse(const char *text, struct archive_idmap *ret, size_t max, size_t *ret_n);
/* Host id -> the id seen inside; ids outside every range are kept when below
 * 65536 (an unmapped view of the image's own layers), else the overflow id 65534. */
uint32_t archive_id_to_container(const struct archive_idmap *m, size_t n, uint32_t host);
/* Container id -> host id; false when it is not mapped. */
bool archive_id_to_host(const struct archive_idmap *m, size_t n, uint32_t cid, uint32_t *ret);

/* Go's os.FileMode of a stat mode (docker's stat header): type bits (dir
 * 1<<31, symlink 1<<27, device 1<<26, pipe 1<<25, socket 1<<24, char device
 * 1<<21 with the device bit), setuid 1<<23, setgid 1<<22, sticky 1<<20, perm. */
uint32_t archive_go_mode(mode_t mode);
/* Standard base64 (with padding); malloc'd. */
char *archive_base64(const void *data, size_t len);
/* X-Docker-Container-Path-Stat: base64 of {"name","size","mode","mtime","linkTarget"}
 * (mtime RFC 3339 with nanoseconds, UTC). */
char *archive_stat_header(const char *name, int64_t size, mode_t mode, const struct timespec *mtime,
                          const char *link_target);

/* Write a tar of `name` (a file, link or directory tree, relative to dirfd,
 * not followed) to out_fd, its entries named `top` and top/... ("." for the
 * whole root: then entries are a/b, c...).  Owners are mapped back with ids
 * (NULL: kept). */
int archive_write_tree(int dirfd, const char *name, const char *top, const struct archive_ids *ids, int out_fd,
                       moat_error **err);

struct archive_extract_opts {
    bool no_overwrite_dir_non_dir; /* a directory never replaces a file, nor a file a directory */
    bool copy_uidgid;              /* owners from the tar (mapped); else the container's root */
    const struct archive_ids *ids; /* container -> host; NULL: no chown at all (rootless) */
};
/* Extract the tar read from in_fd into destfd (a directory inside the root).
 * EINVAL with the entry's name for a refused entry or a bad tar. */
int archive_extract(int destfd, int in_fd, const struct archive_extract_opts *o, moat_error **err);

#endif

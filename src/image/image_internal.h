/* Internal interfaces of the image library (src/image). */
#ifndef MOAT_IMAGE_INTERNAL_H
#define MOAT_IMAGE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/error.h"

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
struct image_idmap {
    uint32_t cid, hid, size;
};
struct image_userns {
    bool enabled; /* false as root: no namespace, files keep the image's ids */
    struct image_idmap uid[2], gid[2];
    size_t n_uid, n_gid;
};
/* The mapping for the calling user (root: enabled = false). */
int image_userns_default(struct image_userns *u, moat_error **err);
/* Write the maps of `pid`, a child that called unshare(CLONE_NEWUSER). */
int image_userns_write(pid_t pid, const struct image_userns *u, moat_error **err);
/* "0:1001:1,1:100000:65535" (the form recorded in the store's storage.json). */
char *image_userns_text(const struct image_idmap *m, size_t n);

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
    bool devices; /* allow mknod of device nodes (root, policy) */
};
/* The child's result: a JSON object (may be NULL) or an error. */
typedef int (*sbx_fn)(void *arg, struct json_object **ret, moat_error **err);
int sbx_run(const struct sbx_opts *o, sbx_fn fn, void *arg, struct json_object **ret, moat_error **err);

/* Internals of the spec builder (spec.c, spec_parts.c), shared with the unit tests. */
#ifndef MOAT_ENGINE_SPEC_INTERNAL_H
#define MOAT_ENGINE_SPEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat/error.h"
#include "moat/spec.h"

struct json_object;

/* A resolved process user. */
struct spec_ids {
    uint32_t uid, gid;
    uint32_t *gids; /* additional groups (heap) */
    size_t n_gids;
};

/* "uid", "uid:gid", "name", "name:group" ("" = root) resolved against the
 * rootfs's /etc/passwd and /etc/group, read through include/moat/path.h
 * (confined to the rootfs, bounded).  rootfs NULL: numeric ids only.
 * group_add: HostConfig.GroupAdd (names or gids). */
int spec_resolve_user(const char *rootfs, const char *user, char *const *group_add, struct spec_ids *ret,
                      moat_error **err);
/* The same through an open directory of the root (rootfd >= 0). */
int spec_resolve_user_at(int rootfd, const char *user, char *const *group_add, struct spec_ids *ret,
                         moat_error **err);

/* Env: replace the same key or append; "KEY" alone removes KEY. */
void spec_env_set(char ***env, const char *kv);
/* Capabilities after CapAdd/CapDrop (bit n = capability n). */
/* base: the effective policy's default capabilities. */
int spec_caps_mask(uint64_t base, char *const *add, char *const *drop, uint64_t *ret, moat_error **err);
void spec_set_caps(struct json_object *proc, uint64_t mask, bool root);

int spec_rlimits(const struct moat_create_req *r, struct json_object *proc, moat_error **err);
int spec_resources(const struct moat_spec_in *in, struct json_object *linux_obj, moat_error **err);
int spec_mounts(const struct moat_spec_in *in, struct json_object *config, moat_error **err);

/* spec_host.c: what the policy may allow beyond the defaults. */
struct spec_device {
    char *host, *ctr, *perms; /* clean absolute paths; perms from "rwm" */
    char type;                /* 'c' or 'b' once resolved */
    unsigned major, minor;
};
/* One HostConfig.Devices entry ("PathOnHost:PathInContainer:perms"): syntax only. */
int spec_device_parse(const char *spec, struct spec_device *ret, moat_error **err);
/* The host's node: it must exist, be a character or block device, and be
 * reached without a symlink. */
int spec_device_resolve(struct spec_device *d, moat_error **err);
void spec_device_clear(struct spec_device *d);
int spec_devices_check(char *const *devices, moat_error **err);
/* Bind mounts of the host's nodes and their device cgroup rules. */
int spec_devices(const struct moat_spec_in *in, struct json_object *config, moat_error **err);
/* --privileged: no masked or read-only paths, /sys read-write (capabilities
 * and seccomp are spec.c's). */
void spec_privileged(struct json_object *config);
/* PidMode/IpcMode/UTSMode/CgroupnsMode=host: namespaces left out, /dev/shm
 * and /dev/mqueue the host's. */
void spec_host_namespaces(const struct moat_spec_in *in, struct json_object *config);

#endif

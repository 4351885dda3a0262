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

/* Env: replace the same key or append; "KEY" alone removes KEY. */
void spec_env_set(char ***env, const char *kv);
/* Capabilities after CapAdd/CapDrop (bit n = capability n). */
/* base: the effective policy's default capabilities. */
int spec_caps_mask(uint64_t base, char *const *add, char *const *drop, uint64_t *ret, moat_error **err);
void spec_set_caps(struct json_object *proc, uint64_t mask, bool root);

int spec_rlimits(const struct moat_create_req *r, struct json_object *proc, moat_error **err);
int spec_resources(const struct moat_spec_in *in, struct json_object *linux_obj, moat_error **err);
int spec_mounts(const struct moat_spec_in *in, struct json_object *config, moat_error **err);

#endif

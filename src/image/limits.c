/* Unpack limits: defaults and limits.json (see include/moat/layer.h). */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "moat/json.h"
#include "moat/layer.h"
#include "moat/util.h"

#define GiB (1ull << 30)
#define MiB (1ull << 20)

void moat_limits_default(struct moat_limits *l)
{
    *l = (struct moat_limits){
        .layer_bytes = 32 * GiB,
        .image_bytes = 64 * GiB,
        .layer_entries = 1000000,
        .path_length = 4096,
        .xattr_bytes = 64 * 1024,
        .compression_ratio = 200,
        .ratio_after = 64 * MiB,
        .image_layers = 128,
        .allow_devices = false,
    };
}

void moat_limits_human(uint64_t n, char *buf, size_t len)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    size_t u = 0;
    uint64_t v = n;
    while (v >= 1024 && v % 1024 == 0 && u + 1 < ARRAY_SIZE(units)) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, "%" PRIu64 " %s", v, units[u]);
}

char *moat_limits_describe(const struct moat_limits *l)
{
    char lb[32], ib[32];
    moat_limits_human(l->layer_bytes, lb, sizeof lb);
    moat_limits_human(l->image_bytes, ib, sizeof ib);
    return xasprintf("layer %s, image %s, %" PRIu64 " entries per layer, path %" PRIu64 " bytes, xattrs %" PRIu64
                     " bytes, compression %" PRIu64 ":1, %" PRIu64 " layers, devices %s",
                     lb, ib, l->layer_entries, l->path_length, l->xattr_bytes, l->compression_ratio, l->image_layers,
                     l->allow_devices ? "allowed (root)" : "refused");
}

static const struct {
    const char *key;
    size_t off;
} u64_keys[] = {
    {"layerBytes", offsetof(struct moat_limits, layer_bytes)},
    {"imageBytes", offsetof(struct moat_limits, image_bytes)},
    {"layerEntries", offsetof(struct moat_limits, layer_entries)},
    {"pathLength", offsetof(struct moat_limits, path_length)},
    {"xattrBytes", offsetof(struct moat_limits, xattr_bytes)},
    {"compressionRatio", offsetof(struct moat_limits, compression_ratio)},
    {"compressionRatioAfter", offsetof(struct moat_limits, ratio_after)},
    {"imageLayers", offsetof(struct moat_limits, image_layers)},
};

int moat_limits_parse(const char *buf, size_t len, const char *what, struct moat_limits *l, moat_error **err)
{
    _cleanup_json_ struct json_object *root = NULL;
    if (moat_json_parse(buf, len, 64 * 1024, what, &root, err) < 0)
        return -1;
    if (!json_object_is_type(root, json_type_object))
        return moat_err(err, EINVAL, "%s: expected an object", what);
    struct moat_limits n = *l;
    json_object_object_foreach(root, key, val)
    {
        (void)val;
        bool known = !strcmp(key, "allowDevices");
        for (size_t i = 0; i < ARRAY_SIZE(u64_keys) && !known; i++)
            known = !strcmp(key, u64_keys[i].key);
        if (!known)
            return moat_err(err, EINVAL, "%s: /%s: unknown limit", what, key);
    }
    for (size_t i = 0; i < ARRAY_SIZE(u64_keys); i++) {
        uint64_t v;
        _cleanup_free_ char *where = xasprintf("%s: ", what);
        int r = moat_json_u64(root, where, u64_keys[i].key, false, &v, err);
        if (r < 0)
            return -1;
        if (r > 0) {
            if (v == 0)
                return moat_err(err, EINVAL, "%s: /%s: must be at least 1", what, u64_keys[i].key);
            *(uint64_t *)((char *)&n + u64_keys[i].off) = v;
        }
    }
    _cleanup_free_ char *where = xasprintf("%s: ", what);
    if (moat_json_bool(root, where, "allowDevices", false, &n.allow_devices, err) < 0)
        return -1;
    if (n.path_length > 65536)
        return moat_err(err, EINVAL, "%s: /pathLength: at most 65536", what);
    *l = n;
    return 0;
}

char *moat_config_dir(void)
{
    const char *env = getenv("MOAT_CONFIG_DIR");
    if (env && *env)
        return xstrdup(env);
    if (geteuid() == 0)
        return xstrdup("/etc/moat");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && *xdg == '/')
        return xasprintf("%s/moat", xdg);
    const char *home = getenv("HOME");
    return xasprintf("%s/.config/moat", home && *home ? home : "/");
}

int moat_limits_load(const char *config_dir, struct moat_limits *l, moat_error **err)
{
    moat_limits_default(l);
    _cleanup_free_ char *dir = config_dir ? xstrdup(config_dir) : moat_config_dir();
    _cleanup_free_ char *path = xasprintf("%s/" MOAT_LIMITS_FILE, dir);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return moat_err_sys(err, "open '%s'", path);
    }
    _cleanup_free_ char *buf = NULL;
    size_t len;
    if (moat_read_fd_bounded(fd, 64 * 1024, &buf, &len, err) < 0)
        return moat_err_wrap(err, "read '%s'", path);
    return moat_limits_parse(buf, len, path, l, err);
}

/* What the effective policy may allow beyond moat's defaults, as config.json
 * (spec.c calls these only after moat_policy_eval_security() found nothing
 * to refuse):
 *
 *  - privileged: "privileged inside its user namespace": every capability
 *    (spec.c), no seccomp filter unless one is named (spec.c), no masked or
 *    read-only paths, /sys writable as far as the kernel lets a user
 *    namespace write it.  The host's devices are NOT added: only --device
 *    brings one in.
 *  - host devices (--device): a bind mount of the host's node (a user
 *    namespace cannot mknod) and, where the container has a device cgroup
 *    (root), an allow rule with the requested permissions.
 *  - host pid/ipc/uts/cgroup namespaces: the namespace is left out of the
 *    config, and what a child user namespace cannot mount fresh is the
 *    host's: /proc (moat-runtime binds the host's when the kernel refuses a
 *    fresh one), /dev/shm, /dev/mqueue.
 *
 * Everything here is syntax or what the kernel makes possible; whether it is
 * allowed is the policy's decision alone. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "moat/json.h"
#include "moat/path.h"
#include "moat/util.h"
#include "spec_internal.h"

#ifndef MQUEUE_MAGIC
#define MQUEUE_MAGIC 0x19800202
#endif

/* ---- small JSON helpers ------------------------------------------------------------- */

static struct json_object *jget(struct json_object *o, const char *key)
{
    struct json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static struct json_object *strs(const char *const *v)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

static struct json_object *bind_json(const char *dest, const char *src, const char *const *opts)
{
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "destination", json_object_new_string(dest));
    json_object_object_add(m, "type", json_object_new_string("bind"));
    json_object_object_add(m, "source", json_object_new_string(src));
    json_object_object_add(m, "options", strs(opts));
    return m;
}

static const char *mount_dest(struct json_object *m)
{
    struct json_object *d = jget(m, "destination");
    return d ? json_object_get_string(d) : "";
}

/* ---- host devices ---------------------------------------------------------------------- */

void spec_device_clear(struct spec_device *d)
{
    free(d->host);
    free(d->ctr);
    free(d->perms);
    *d = (struct spec_device){0};
}

static bool path_ok(const char *p)
{
    if (p[0] != '/' || strlen(p) >= PATH_MAX)
        return false;
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return false;
    return true;
}

int spec_device_parse(const char *spec, struct spec_device *ret, moat_error **err)
{
    /* HostConfig.Devices as the request parser keeps them:
     * "PathOnHost:PathInContainer:CgroupPermissions", each part maybe empty. */
    *ret = (struct spec_device){0};
    const char *c1 = strchr(spec, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    _cleanup_free_ char *host = c1 ? xstrndup(spec, (size_t)(c1 - spec)) : xstrdup(spec);
    _cleanup_free_ char *ctr = c1 ? (c2 ? xstrndup(c1 + 1, (size_t)(c2 - c1 - 1)) : xstrdup(c1 + 1)) : xstrdup("");
    const char *perms = c2 ? c2 + 1 : "";
    if (!host[0])
        return moat_err(err, EINVAL, "HostConfig.Devices: '%s': PathOnHost is required", spec);
    if (!path_ok(host))
        return moat_err(err, EINVAL, "HostConfig.Devices: '%s': PathOnHost must be an absolute path", spec);
    if (ctr[0] && !path_ok(ctr))
        return moat_err(err, EINVAL, "HostConfig.Devices: '%s': PathInContainer must be an absolute path", spec);
    if (strchr(perms, ':'))
        return moat_err(err, EINVAL, "HostConfig.Devices: '%s': too many ':' (expected HOST[:CONTAINER][:rwm])", spec);
    bool seen[3] = {false};
    for (const char *p = perms; *p; p++) {
        const char *k = strchr("rwm", *p);
        if (!k || seen[k - "rwm"])
            return moat_err(err, EINVAL, "HostConfig.Devices: '%s': invalid permissions '%s' (a combination of r, w "
                            "and m)", spec, perms);
        seen[k - "rwm"] = true;
    }
    struct spec_device d = {.host = moat_path_clean(host), .ctr = moat_path_clean(ctr[0] ? ctr : host),
                            .perms = xstrdup(perms[0] ? perms : "rwm")};
    if (!strcmp(d.ctr, "/")) {
        spec_device_clear(&d);
        return moat_err(err, EINVAL, "HostConfig.Devices: '%s': a device can't be mounted at '/'", spec);
    }
    *ret = d;
    return 0;
}

int spec_device_resolve(struct spec_device *d, moat_error **err)
{
    _cleanup_free_ char *real = realpath(d->host, NULL);
    if (!real)
        return moat_err_sys(err, "--device %s: the host has no device node at '%s'", d->host, d->host);
    /* The policy matched the path as given: it must be the node itself, so
     * a symlink can't lead a pattern like "/dev/snd/<star>" to another device. */
    if (strcmp(real, d->host))
        return moat_err(err, EINVAL, "--device %s: the path goes through a symbolic link (to '%s'): give the "
                                     "device's own path", d->host, real);
    struct stat st;
    if (stat(real, &st) < 0)
        return moat_err_sys(err, "--device %s: stat '%s'", d->host, real);
    if (!S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
        return moat_err(err, EINVAL, "--device %s: '%s' is not a character or block device", d->host, real);
    d->type = S_ISCHR(st.st_mode) ? 'c' : 'b';
    d->major = major(st.st_rdev);
    d->minor = minor(st.st_rdev);
    return 0;
}

int spec_devices_check(char *const *devices, moat_error **err)
{
    for (size_t i = 0; devices && devices[i]; i++) {
        struct spec_device d;
        if (spec_device_parse(devices[i], &d, err) < 0)
            return -1;
        int rc = spec_device_resolve(&d, err);
        spec_device_clear(&d);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int spec_devices(const struct moat_spec_in *in, struct json_object *c, moat_error **err)
{
    char *const *devs = in->req->devices;
    if (!devs || !devs[0])
        return 0;
    struct json_object *mounts = jget(c, "mounts");
    struct json_object *rules = jget(jget(jget(c, "linux"), "resources"), "devices");
    for (size_t i = 0; devs[i]; i++) {
        _cleanup_(spec_device_clear) struct spec_device d = {0};
        if (spec_device_parse(devs[i], &d, err) < 0 || spec_device_resolve(&d, err) < 0)
            return -1;
        if (!rules && (!strchr(d.perms, 'r') || !strchr(d.perms, 'w')))
            /* No device cgroup (rootless: its rules need CAP_SYS_ADMIN on the
             * host): access is the node's own file mode, r and w together. */
            return moat_err(err, EPERM, "--device %s: permissions '%s' are not supported in rootless mode because a "
                            "rootless container has no device cgroup to enforce them (use rw or rwm)", d.host, d.perms);
        for (size_t k = 0; mounts && k < json_object_array_length(mounts); k++)
            if (!strcmp(mount_dest(json_object_array_get_idx(mounts, k)), d.ctr))
                return moat_err(err, EINVAL, "--device %s: Duplicate mount point: %s", d.host, d.ctr);
        /* A bind of the host's node: no nodev (that is the point), nosuid,
         * after /dev (a tmpfs) in mount order. */
        json_object_array_add(mounts, bind_json(d.ctr, d.host, (const char *const[]){"bind", "nosuid", "rw", NULL}));
        if (rules) {
            struct json_object *r = json_object_new_object();
            json_object_object_add(r, "allow", json_object_new_boolean(1));
            json_object_object_add(r, "type", json_object_new_string(d.type == 'b' ? "b" : "c"));
            json_object_object_add(r, "major", json_object_new_int64(d.major));
            json_object_object_add(r, "minor", json_object_new_int64(d.minor));
            json_object_object_add(r, "access", json_object_new_string(d.perms));
            json_object_array_add(rules, r);
        }
    }
    return 0;
}

/* ---- privileged ------------------------------------------------------------------------ */

static void drop_opt(struct json_object *m, const char *opt)
{
    struct json_object *opts = jget(m, "options");
    for (size_t i = 0; opts && i < json_object_array_length(opts);) {
        if (!strcmp(json_object_get_string(json_object_array_get_idx(opts, i)), opt))
            json_object_array_del_idx(opts, i, 1);
        else
            i++;
    }
}

void spec_privileged(struct json_object *c)
{
    struct json_object *lx = jget(c, "linux");
    json_object_object_add(lx, "maskedPaths", json_object_new_array());
    json_object_object_add(lx, "readonlyPaths", json_object_new_array());
    /* /sys read-write: the kernel still checks each attribute against the
     * host's capabilities, so in a user namespace that is what it allows
     * (e.g. its own network devices' attributes), no more. */
    struct json_object *mounts = jget(c, "mounts");
    for (size_t i = 0; mounts && i < json_object_array_length(mounts); i++) {
        struct json_object *m = json_object_array_get_idx(mounts, i);
        if (!strcmp(mount_dest(m), "/sys"))
            drop_opt(m, "ro");
    }
}

/* ---- host namespaces ------------------------------------------------------------------- */

static bool mode_host(const char *m) { return m && !strcmp(m, "host"); }

static void drop_ns(struct json_object *lx, const char *type)
{
    struct json_object *nss = jget(lx, "namespaces");
    for (size_t i = 0; nss && i < json_object_array_length(nss); i++) {
        struct json_object *t = jget(json_object_array_get_idx(nss, i), "type");
        if (t && !strcmp(json_object_get_string(t), type)) {
            json_object_array_del_idx(nss, i, 1);
            return;
        }
    }
}

static bool is_fs(const char *path, long magic)
{
    struct statfs sfs;
    return statfs(path, &sfs) == 0 && sfs.f_type == magic;
}

void spec_host_namespaces(const struct moat_spec_in *in, struct json_object *c)
{
    const struct moat_create_req *r = in->req;
    struct json_object *lx = jget(c, "linux"), *mounts = jget(c, "mounts");
    if (mode_host(r->pid_mode))
        /* /proc stays a "proc" mount: a child user namespace may not mount a
         * fresh procfs for the host's pid namespace, and moat-runtime then
         * binds the host's /proc (recursively, nosuid,nodev,noexec), with the
         * masked and read-only paths on top as usual. */
        drop_ns(lx, "pid");
    if (mode_host(r->uts_mode)) {
        drop_ns(lx, "uts");
        json_object_object_del(c, "hostname");
        json_object_object_del(c, "domainname");
    }
    if (mode_host(r->cgroupns_mode))
        /* moat-runtime binds the container's cgroup read-only when a fresh
         * cgroup mount is refused. */
        drop_ns(lx, "cgroup");
    if (mode_host(r->ipc_mode)) {
        drop_ns(lx, "ipc");
        /* Docker's --ipc host: the host's /dev/shm; and its /dev/mqueue when
         * the host has one (a fresh mqueue instance belongs to the host's IPC
         * namespace, which a user namespace may not mount). */
        bool shm = is_fs("/dev/shm", TMPFS_MAGIC);
        bool mq = is_fs("/dev/mqueue", MQUEUE_MAGIC);
        for (size_t i = 0; mounts && i < json_object_array_length(mounts);) {
            struct json_object *m = json_object_array_get_idx(mounts, i);
            const char *d = mount_dest(m), *t = json_object_get_string(jget(m, "type"));
            bool template_shm = !strcmp(d, "/dev/shm") && t && !strcmp(t, "tmpfs") &&
                                !strcmp(json_object_get_string(jget(m, "source")), "shm");
            bool template_mq = !strcmp(d, "/dev/mqueue") && t && !strcmp(t, "mqueue");
            if (template_shm && shm) {
                json_object_array_put_idx(mounts, i, bind_json("/dev/shm", "/dev/shm",
                                                               (const char *const[]){"rbind", "nosuid", "nodev",
                                                                                     "noexec", NULL}));
            } else if (template_mq && mq) {
                json_object_array_put_idx(mounts, i, bind_json("/dev/mqueue", "/dev/mqueue",
                                                               (const char *const[]){"rbind", "nosuid", "nodev",
                                                                                     "noexec", NULL}));
            } else if (template_shm || template_mq) {
                json_object_array_del_idx(mounts, i, 1);
                continue;
            }
            i++;
        }
    }
}

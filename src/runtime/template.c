/* `moat-runtime spec`: the hardened config.json template, and `features`.
 *
 * Defaults: user namespace (as root mapped to an unprivileged range owned by
 * the dedicated user "moat" in /etc/subuid; as a normal user to that user's
 * own ranges), an empty capability set, no_new_privs, the default seccomp
 * profile, Docker's masked and read-only paths (and more), a pids limit.
 *
 * The rootless template has no linux.resources at all, so no pids limit (nor
 * a device rule): on cgroup v1 (this project's CI hosts) nothing is delegated
 * to a normal user, and a limit there fails the container unless the config
 * also says run.moat.cgroup.optional=true (then it is ignored with a warning).
 * A user with a delegated cgroup v2 subtree can add linux.resources.pids
 * themselves; the runtime applies it there. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/runtime_internal.h"
#include "moat/json.h"
#include "moat/subid.h"
#include "moat/util.h"

#define MOAT_SUBID_OWNER "moat"
#define RANGE 65536

static struct json_object *strs(const char *const *v)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

static struct json_object *mount_obj(const char *dest, const char *type, const char *src, const char *const *opts)
{
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "destination", json_object_new_string(dest));
    json_object_object_add(m, "type", json_object_new_string(type));
    json_object_object_add(m, "source", json_object_new_string(src));
    json_object_object_add(m, "options", strs(opts));
    return m;
}

static struct json_object *idmap(unsigned cid, unsigned long hid, unsigned long size)
{
    struct json_object *m = json_object_new_object();
    json_object_object_add(m, "containerID", json_object_new_int64(cid));
    json_object_object_add(m, "hostID", json_object_new_int64((int64_t)hid));
    json_object_object_add(m, "size", json_object_new_int64((int64_t)size));
    return m;
}

static int add_id_maps(struct json_object *lx, bool rootless, moat_error **err)
{
    struct json_object *um = json_object_new_array(), *gm = json_object_new_array();
    json_object_object_add(lx, "uidMappings", um);
    json_object_object_add(lx, "gidMappings", gm);
    unsigned long us, uc, gs, gc;
    if (!rootless) {
        int r = moat_subid_first_range(MOAT_SUBID_OWNER, true, &us, &uc, err);
        if (r > 0)
            r = moat_subid_first_range(MOAT_SUBID_OWNER, false, &gs, &gc, err);
        if (r < 0)
            return -1;
        if (r == 0 || uc < RANGE || gc < RANGE)
            return moat_err(err, ENOENT,
                            "no subordinate id range of at least %d ids for user '%s' in /etc/subuid and /etc/subgid: "
                            "`make deps` creates one (or: useradd --system %s; usermod --add-subuids "
                            "1000000-1999999 --add-subgids 1000000-1999999 %s)",
                            RANGE, MOAT_SUBID_OWNER, MOAT_SUBID_OWNER, MOAT_SUBID_OWNER);
        json_object_array_add(um, idmap(0, us, RANGE));
        json_object_array_add(gm, idmap(0, gs, RANGE));
        return 0;
    }
    /* A normal user: container root is the user; 1.. come from the user's ranges. */
    json_object_array_add(um, idmap(0, geteuid(), 1));
    json_object_array_add(gm, idmap(0, getegid(), 1));
    struct passwd *pw = getpwuid(geteuid());
    int r = pw ? moat_subid_first_range(pw->pw_name, true, &us, &uc, err) : 0;
    if (r > 0)
        r = moat_subid_first_range(pw->pw_name, false, &gs, &gc, err);
    if (r < 0)
        return -1;
    if (r > 0) {
        json_object_array_add(um, idmap(1, us, uc < RANGE - 1 ? uc : RANGE - 1));
        json_object_array_add(gm, idmap(1, gs, gc < RANGE - 1 ? gc : RANGE - 1));
    }
    return 0;
}

static struct json_object *masked_paths(void)
{
    static const char *const base[] = {
        "/proc/acpi",        "/proc/asound",          "/proc/interrupts", "/proc/kcore",
        "/proc/keys",        "/proc/latency_stats",   "/proc/sched_debug", "/proc/scsi",
        "/proc/timer_list",  "/proc/timer_stats",     "/sys/devices/virtual/powercap", "/sys/firmware",
        "/sys/fs/selinux",   "/sys/dev/block",        "/sys/kernel/security", NULL};
    struct json_object *a = strs(base);
    glob_t g;
    if (glob("/sys/devices/system/cpu/cpu[0-9]*/thermal_throttle", GLOB_NOSORT, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            json_object_array_add(a, json_object_new_string(g.gl_pathv[i]));
        globfree(&g);
    }
    return a;
}

int moat_spec_template(bool rootless, struct json_object **ret, moat_error **err)
{
    return moat_spec_template_ex(rootless, true, ret, err);
}

int moat_spec_template_ex(bool rootless, bool id_maps, struct json_object **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *c = json_object_new_object();
    json_object_object_add(c, "ociVersion", json_object_new_string("1.2.0"));

    struct json_object *p = json_object_new_object();
    json_object_object_add(c, "process", p);
    json_object_object_add(p, "terminal", json_object_new_boolean(1));
    struct json_object *user = json_object_new_object();
    json_object_object_add(user, "uid", json_object_new_int(0));
    json_object_object_add(user, "gid", json_object_new_int(0));
    json_object_object_add(p, "user", user);
    json_object_object_add(p, "args", strs((const char *const[]){"sh", NULL}));
    json_object_object_add(
        p, "env",
        strs((const char *const[]){"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm",
                                   NULL}));
    json_object_object_add(p, "cwd", json_object_new_string("/"));
    struct json_object *caps = json_object_new_object();
    static const char *const sets[] = {"bounding", "effective", "inheritable", "permitted", "ambient"};
    for (size_t i = 0; i < ARRAY_SIZE(sets); i++)
        json_object_object_add(caps, sets[i], json_object_new_array());
    json_object_object_add(p, "capabilities", caps);
    struct json_object *rl = json_object_new_object();
    json_object_object_add(rl, "type", json_object_new_string("RLIMIT_NOFILE"));
    json_object_object_add(rl, "hard", json_object_new_int(1024));
    json_object_object_add(rl, "soft", json_object_new_int(1024));
    struct json_object *rls = json_object_new_array();
    json_object_array_add(rls, rl);
    json_object_object_add(p, "rlimits", rls);
    json_object_object_add(p, "noNewPrivileges", json_object_new_boolean(1));

    struct json_object *root = json_object_new_object();
    json_object_object_add(root, "path", json_object_new_string("rootfs"));
    json_object_object_add(root, "readonly", json_object_new_boolean(1));
    json_object_object_add(c, "root", root);
    json_object_object_add(c, "hostname", json_object_new_string("moat"));

    struct json_object *mounts = json_object_new_array();
    json_object_object_add(c, "mounts", mounts);
    json_object_array_add(mounts, mount_obj("/proc", "proc", "proc", (const char *const[]){"nosuid", "noexec", "nodev", NULL}));
    json_object_array_add(mounts, mount_obj("/dev", "tmpfs", "tmpfs",
                                            (const char *const[]){"nosuid", "strictatime", "mode=755", "size=65536k", NULL}));
    json_object_array_add(mounts, mount_obj("/dev/pts", "devpts", "devpts",
                                            (const char *const[]){"nosuid", "noexec", "newinstance", "ptmxmode=0666",
                                                                  "mode=0620", "gid=5", NULL}));
    json_object_array_add(mounts, mount_obj("/dev/shm", "tmpfs", "shm",
                                            (const char *const[]){"nosuid", "noexec", "nodev", "mode=1777", "size=65536k", NULL}));
    json_object_array_add(mounts, mount_obj("/dev/mqueue", "mqueue", "mqueue",
                                            (const char *const[]){"nosuid", "noexec", "nodev", NULL}));
    json_object_array_add(mounts, mount_obj("/sys", "sysfs", "sysfs",
                                            (const char *const[]){"nosuid", "noexec", "nodev", "ro", NULL}));
    json_object_array_add(mounts, mount_obj("/sys/fs/cgroup", "cgroup", "cgroup",
                                            (const char *const[]){"nosuid", "noexec", "nodev", "relatime", "ro", NULL}));

    struct json_object *lx = json_object_new_object();
    json_object_object_add(c, "linux", lx);
    if (id_maps && add_id_maps(lx, rootless, err) < 0)
        return -1;
    if (!rootless) {
        /* Rootless on cgroup v1 has no delegated cgroup: no limits there (see
         * the top of the file). */
        struct json_object *res = json_object_new_object(), *devs = json_object_new_array(), *deny = json_object_new_object();
        json_object_object_add(deny, "allow", json_object_new_boolean(0));
        json_object_object_add(deny, "access", json_object_new_string("rwm"));
        json_object_array_add(devs, deny);
        json_object_object_add(res, "devices", devs);
        struct json_object *pids = json_object_new_object();
        json_object_object_add(pids, "limit", json_object_new_int(1024));
        json_object_object_add(res, "pids", pids);
        json_object_object_add(lx, "resources", res);
    }
    struct json_object *nss = json_object_new_array();
    static const char *const ns[] = {"pid", "network", "ipc", "uts", "mount", "cgroup", "user"};
    for (size_t i = 0; i < ARRAY_SIZE(ns); i++) {
        struct json_object *o = json_object_new_object();
        json_object_object_add(o, "type", json_object_new_string(ns[i]));
        json_object_array_add(nss, o);
    }
    json_object_object_add(lx, "namespaces", nss);
    json_object_object_add(lx, "maskedPaths", masked_paths());
    json_object_object_add(lx, "readonlyPaths",
                           strs((const char *const[]){"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                                      "/proc/sysrq-trigger", NULL}));
    size_t plen = 0;
    const char *profile = moat_seccomp_builtin_profile("default", &plen);
    struct json_object *sc = NULL;
    if (!profile || moat_seccomp_profile_to_oci(profile, plen, "default.json", 0, &sc, err) < 0)
        return profile ? moat_err_wrap(err, "default seccomp profile")
                       : moat_err(err, ENOENT, "the default seccomp profile is not built in");
    json_object_object_add(lx, "seccomp", sc);
    *ret = TAKE_PTR(c);
    return 0;
}

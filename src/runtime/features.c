/* `moat-runtime features`: what this runtime implements (runtime-spec features.md). */
#include <json-c/json.h>

#include "runtime/runtime_internal.h"
#include "moat/util.h"
#include "moat/version.h"

static struct json_object *arr(const char *const *v)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

struct json_object *moat_features_json(void)
{
    struct json_object *f = json_object_new_object();
    json_object_object_add(f, "ociVersionMin", json_object_new_string("1.0.0"));
    json_object_object_add(f, "ociVersionMax", json_object_new_string("1.2.0"));
    json_object_object_add(f, "hooks", arr((const char *const[]){"prestart", "createRuntime", "createContainer",
                                                                 "startContainer", "poststart", "poststop", NULL}));
    json_object_object_add(
        f, "mountOptions",
        arr((const char *const[]){"ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "noatime",
                                  "relatime", "strictatime", "nodiratime", "diratime", "nosymfollow", "symfollow",
                                  "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
                                  "rnoatime", "rrelatime", "rstrictatime", "bind", "rbind", "private", "rprivate",
                                  "shared", "rshared", "slave", "rslave", "unbindable", "runbindable", "tmpcopyup",
                                  "idmap", "ridmap", "sync", "dirsync", "lazytime", NULL}));
    struct json_object *lx = json_object_new_object();
    json_object_object_add(f, "linux", lx);
    json_object_object_add(lx, "namespaces", arr((const char *const[]){"cgroup", "ipc", "mount", "network", "pid",
                                                                       "time", "user", "uts", NULL}));
    struct json_object *caps = json_object_new_array();
    for (int c = 0; c <= oci_cap_last(); c++)
        json_object_array_add(caps, json_object_new_string(oci_cap_name(c)));
    json_object_object_add(lx, "capabilities", caps);
    struct json_object *cg = json_object_new_object();
    json_object_object_add(cg, "v1", json_object_new_boolean(1));
    json_object_object_add(cg, "v2", json_object_new_boolean(1));
    json_object_object_add(cg, "systemd", json_object_new_boolean(0));
    json_object_object_add(cg, "systemdUser", json_object_new_boolean(0));
    json_object_object_add(cg, "rdma", json_object_new_boolean(0));
    json_object_object_add(lx, "cgroup", cg);
    struct json_object *sc = json_object_new_object();
    json_object_object_add(sc, "enabled", json_object_new_boolean(1));
    json_object_object_add(sc, "actions",
                           arr((const char *const[]){"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                                                     "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                                                     "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP", NULL}));
    json_object_object_add(sc, "operators",
                           arr((const char *const[]){"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                                                     "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE", NULL}));
    json_object_object_add(sc, "archs", arr((const char *const[]){"SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                                                  "SCMP_ARCH_X32", NULL}));
    json_object_object_add(lx, "seccomp", sc);
    struct json_object *aa = json_object_new_object();
    json_object_object_add(aa, "enabled", json_object_new_boolean(moat_apparmor_enabled()));
    json_object_object_add(lx, "apparmor", aa);
    struct json_object *se = json_object_new_object();
    json_object_object_add(se, "enabled", json_object_new_boolean(moat_selinux_enabled()));
    json_object_object_add(lx, "selinux", se);
    struct json_object *me = json_object_new_object(), *idm = json_object_new_object();
    json_object_object_add(idm, "enabled", json_object_new_boolean(1));
    json_object_object_add(me, "idmap", idm);
    json_object_object_add(lx, "mountExtensions", me);
    struct json_object *ann = json_object_new_object();
    json_object_object_add(ann, "run.moat.version", json_object_new_string(MOAT_VERSION));
    json_object_object_add(ann, ANNOT_LANDLOCK, json_object_new_string(moat_landlock_abi() > 0 ? "true|rootfs" : "unsupported"));
    json_object_object_add(ann, ANNOT_LSM_OPTIONAL, json_object_new_string("true"));
    json_object_object_add(ann, ANNOT_RLIMIT_CLAMP, json_object_new_string("true"));
    json_object_object_add(ann, ANNOT_CGROUP_OPTIONAL, json_object_new_string("true"));
    json_object_object_add(f, "annotations", ann);
    return f;
}

/* Docker's seccomp profile format (profiles/seccomp/NAME.json) -> OCI
 * linux.seccomp, for a container with a given capability set.
 *
 * Profiles may come from users (`--security-opt seccomp=FILE`), so this is a
 * parser of untrusted input: bounded sizes and counts, every field type
 * checked, errors name the JSON path.  Semantics follow moby's
 * profiles/seccomp: a rule is dropped when any of its `excludes` matches
 * (arch, any listed cap held, kernel >= minKernel) or any of its `includes`
 * fails (arch, all listed caps held, kernel >= minKernel). */
#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include "moat/json.h"
#include "moat/log.h"
#include "moat/oci.h"
#include "moat/seccomp.h"
#include "moat/util.h"
#include "runtime/seccomp_internal.h"

#define PROFILE_MAX_BYTES (1u << 20)
#define PROFILE_MAX_RULES OCI_MAX_ENTRIES
#define PROFILE_MAX_NAMES 1024 /* per rule, as the OCI parser allows */
#define PROFILE_MAX_ARCHES 32
#define PROFILE_MAX_CAPS 64
#define PROFILE_MAX_ARCHMAP 64

/* The host as Docker names it: Go's GOARCH (includes/excludes "arches") and
 * libseccomp's name (archMap "architecture"). */
#if defined(__x86_64__) && defined(__ILP32__)
#define HOST_GOARCH "x32"
#define HOST_SCMP_ARCH "SCMP_ARCH_X32"
#elif defined(__x86_64__)
#define HOST_GOARCH "amd64"
#define HOST_SCMP_ARCH "SCMP_ARCH_X86_64"
#elif defined(__i386__)
#define HOST_GOARCH "386"
#define HOST_SCMP_ARCH "SCMP_ARCH_X86"
#elif defined(__aarch64__)
#define HOST_GOARCH "arm64"
#define HOST_SCMP_ARCH "SCMP_ARCH_AARCH64"
#elif defined(__arm__)
#define HOST_GOARCH "arm"
#define HOST_SCMP_ARCH "SCMP_ARCH_ARM"
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_GOARCH "ppc64le"
#define HOST_SCMP_ARCH "SCMP_ARCH_PPC64LE"
#elif defined(__s390x__)
#define HOST_GOARCH "s390x"
#define HOST_SCMP_ARCH "SCMP_ARCH_S390X"
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_GOARCH "riscv64"
#define HOST_SCMP_ARCH "SCMP_ARCH_RISCV64"
#else
#error "moat: unsupported host architecture for seccomp profiles"
#endif

struct kver {
    unsigned major, minor;
};

/* "MAJOR.MINOR" with a bound on each part; `tail` allows "-rc1", ".3"... */
static int parse_kver(const char *s, bool tail, struct kver *ret)
{
    unsigned v[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        size_t n = 0;
        while (s[n] >= '0' && s[n] <= '9') {
            if (n >= 4)
                return -1;
            v[i] = v[i] * 10 + (unsigned)(s[n] - '0');
            n++;
        }
        if (n == 0)
            return -1;
        s += n;
        if (i == 0) {
            if (*s != '.')
                return -1;
            s++;
        }
    }
    if (*s && !tail)
        return -1;
    *ret = (struct kver){v[0], v[1]};
    return 0;
}

int moat_kernel_version(unsigned *ret_major, unsigned *ret_minor)
{
    struct utsname u;
    struct kver k;
    if (uname(&u) < 0 || parse_kver(u.release, true, &k) < 0)
        return -1;
    *ret_major = k.major;
    *ret_minor = k.minor;
    return 0;
}

static bool kver_ge(const struct kver *a, const struct kver *b)
{
    return a->major != b->major ? a->major > b->major : a->minor >= b->minor;
}

struct conv {
    uint64_t caps;
    struct kver kernel;
};

/* A cap the table does not know cannot be held. */
static bool cap_held(const struct conv *c, const char *name)
{
    int cap = oci_cap_from_name(name);
    if (cap < 0) {
        moat_log(MOAT_LOG_DEBUG, "seccomp profile: unknown capability '%s' counts as not held", name);
        return false;
    }
    return cap < 64 && (c->caps >> cap) & 1;
}

/* Evaluate an "includes" or "excludes" object: *ret = does it match?
 * includes match when every condition holds; excludes when any does. */
static int eval_cond(const struct conv *c, struct json_object *rule, const char *where, const char *key, bool *ret,
                     moat_error **err)
{
    struct json_object *o;
    bool inc = strcmp(key, "includes") == 0;
    *ret = inc;
    int r = moat_json_obj(rule, where, key, false, &o, err);
    if (r <= 0)
        return r;
    _cleanup_free_ char *w = moat_jpath(where, key);
    _cleanup_strv_ char **arches = NULL, **caps = NULL;
    _cleanup_free_ char *mk = NULL;
    if (moat_json_strv(o, w, "arches", false, PROFILE_MAX_ARCHES, &arches, err) < 0 ||
        moat_json_strv(o, w, "caps", false, PROFILE_MAX_CAPS, &caps, err) < 0 ||
        moat_json_str(o, w, "minKernel", false, &mk, err) < 0)
        return -1;
    struct kver want;
    if (mk && parse_kver(mk, false, &want) < 0)
        return moat_err(err, EINVAL, "%s/minKernel: '%s' is not a kernel version like \"4.8\"", w, mk);
    if (arches && arches[0]) {
        bool in = moat_strv_contains(arches, HOST_GOARCH);
        if (inc && !in)
            *ret = false;
        if (!inc && in)
            *ret = true;
    }
    for (size_t i = 0; caps && caps[i]; i++) {
        bool held = cap_held(c, caps[i]);
        if (inc && !held)
            *ret = false;
        if (!inc && held)
            *ret = true;
    }
    if (mk) {
        bool ge = kver_ge(&c->kernel, &want);
        if (inc && !ge)
            *ret = false;
        if (!inc && ge)
            *ret = true;
    }
    return 0;
}

static int conv_args(struct json_object *rule, const char *where, struct json_object *out, moat_error **err)
{
    struct json_object *args;
    int r = moat_json_arr(rule, where, "args", false, &args, err);
    if (r <= 0)
        return r;
    size_t n = json_object_array_length(args);
    if (n > 6)
        return moat_err(err, E2BIG, "%s/args: at most 6 argument conditions", where);
    if (n == 0)
        return 0;
    struct json_object *oargs = json_object_new_array();
    json_object_object_add(out, "args", oargs);
    for (size_t i = 0; i < n; i++) {
        struct json_object *a = json_object_array_get_idx(args, i);
        _cleanup_free_ char *w = xasprintf("%s/args/%zu", where, i);
        _cleanup_free_ char *op = NULL;
        int64_t index;
        uint64_t value, two = 0;
        int opv;
        if (!json_object_is_type(a, json_type_object))
            return moat_err(err, EINVAL, "%s: expected an object", w);
        if (moat_json_i64(a, w, "index", true, 0, 5, &index, err) < 0 ||
            moat_json_u64(a, w, "value", true, &value, err) < 0 ||
            moat_json_u64(a, w, "valueTwo", false, &two, err) < 0 || moat_json_str(a, w, "op", true, &op, err) < 0)
            return -1;
        if (moat_seccomp_op_from_name(op, &opv) < 0)
            return moat_err(err, EINVAL, "%s/op: unknown operator '%s'", w, op);
        struct json_object *oa = json_object_new_object();
        json_object_array_add(oargs, oa);
        json_object_object_add(oa, "index", json_object_new_int64(index));
        json_object_object_add(oa, "value", json_object_new_uint64(value));
        json_object_object_add(oa, "valueTwo", json_object_new_uint64(two));
        json_object_object_add(oa, "op", json_object_new_string(op));
    }
    return 0;
}

/* "action" + optional errno field, checked as the compiler will. */
static int conv_action(struct json_object *obj, const char *where, const char *akey, const char *ekey,
                       struct json_object *out, moat_error **err)
{
    _cleanup_free_ char *action = NULL;
    int64_t e;
    if (moat_json_str(obj, where, akey, true, &action, err) < 0)
        return -1;
    if (!moat_seccomp_action_known(action))
        return moat_err(err, EINVAL, "%s/%s: unknown action '%s'", where, akey, action);
    bool errno_action = strcmp(action, "SCMP_ACT_ERRNO") == 0;
    int r = moat_json_i64(obj, where, ekey, false, 0, errno_action ? 4095 : 65535, &e, err);
    if (r < 0)
        return -1;
    if (r > 0 && !moat_seccomp_action_takes_errno(action))
        return moat_err(err, EINVAL, "%s/%s: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take a return value, not %s",
                        where, ekey, action);
    json_object_object_add(out, akey, json_object_new_string(action));
    if (r > 0)
        json_object_object_add(out, ekey, json_object_new_int64(e));
    return 0;
}

static int conv_names(struct json_object *rule, const char *where, struct json_object *out, moat_error **err)
{
    _cleanup_strv_ char **names = NULL;
    _cleanup_free_ char *name = NULL;
    if (moat_json_strv(rule, where, "names", false, PROFILE_MAX_NAMES, &names, err) < 0 ||
        moat_json_str(rule, where, "name", false, &name, err) < 0)
        return -1;
    if (name && names)
        return moat_err(err, EINVAL, "%s: use either 'name' or 'names', not both", where);
    if (name)
        moat_strv_push(&names, name);
    if (!names || !names[0])
        return moat_err(err, EINVAL, "%s/names: must name at least one syscall", where);
    struct json_object *arr = json_object_new_array();
    json_object_object_add(out, "names", arr);
    for (size_t i = 0; names[i]; i++) {
        if (!names[i][0] || strlen(names[i]) > 64)
            return moat_err(err, EINVAL, "%s/names/%zu: not a syscall name", where, i);
        json_object_array_add(arr, json_object_new_string(names[i]));
    }
    return 0;
}

static int conv_syscalls(const struct conv *c, struct json_object *root, struct json_object *out, moat_error **err)
{
    struct json_object *arr;
    int r = moat_json_arr(root, "", "syscalls", false, &arr, err);
    if (r < 0)
        return -1;
    size_t n = r > 0 ? json_object_array_length(arr) : 0;
    if (n > PROFILE_MAX_RULES)
        return moat_err(err, E2BIG, "/syscalls: %zu rules is over the limit of %d", n, PROFILE_MAX_RULES);
    struct json_object *oarr = json_object_new_array();
    json_object_object_add(out, "syscalls", oarr);
    for (size_t i = 0; i < n; i++) {
        struct json_object *rule = json_object_array_get_idx(arr, i);
        _cleanup_free_ char *w = xasprintf("/syscalls/%zu", i);
        if (!json_object_is_type(rule, json_type_object))
            return moat_err(err, EINVAL, "%s: expected an object", w);
        _cleanup_json_ struct json_object *o = json_object_new_object();
        bool inc, exc;
        /* Check every rule fully, even one this host drops. */
        if (conv_names(rule, w, o, err) < 0 || conv_action(rule, w, "action", "errnoRet", o, err) < 0 ||
            conv_args(rule, w, o, err) < 0 || eval_cond(c, rule, w, "includes", &inc, err) < 0 ||
            eval_cond(c, rule, w, "excludes", &exc, err) < 0)
            return -1;
        if (inc && !exc)
            json_object_array_add(oarr, TAKE_PTR(o));
    }
    return 0;
}

static int check_arch(const char *name, const char *where, moat_error **err)
{
    uint32_t a;
    if (moat_seccomp_arch_from_name(name, &a) < 0)
        return moat_err(err, EINVAL, "%s: unknown architecture '%s'", where, name);
    return 0;
}

/* archMap: the entry for the host gives [host] + its subArchitectures.
 * The older top-level "architectures" list is taken as is. */
static int conv_arches(struct json_object *root, struct json_object *out, moat_error **err)
{
    struct json_object *map;
    _cleanup_strv_ char **legacy = NULL;
    int r = moat_json_arr(root, "", "archMap", false, &map, err);
    if (r < 0 || moat_json_strv(root, "", "architectures", false, PROFILE_MAX_ARCHES, &legacy, err) < 0)
        return -1;
    if (r > 0 && legacy)
        return moat_err(err, EINVAL, "/: use either 'architectures' or 'archMap', not both");
    _cleanup_strv_ char **arches = NULL;
    for (size_t i = 0; legacy && legacy[i]; i++) {
        _cleanup_free_ char *w = xasprintf("/architectures/%zu", i);
        if (check_arch(legacy[i], w, err) < 0)
            return -1;
        moat_strv_push(&arches, legacy[i]);
    }
    size_t n = r > 0 ? json_object_array_length(map) : 0;
    if (n > PROFILE_MAX_ARCHMAP)
        return moat_err(err, E2BIG, "/archMap: %zu entries is over the limit of %d", n, PROFILE_MAX_ARCHMAP);
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(map, i);
        _cleanup_free_ char *w = xasprintf("/archMap/%zu", i);
        _cleanup_free_ char *arch = NULL;
        _cleanup_strv_ char **subs = NULL;
        if (!json_object_is_type(e, json_type_object))
            return moat_err(err, EINVAL, "%s: expected an object", w);
        if (moat_json_str(e, w, "architecture", true, &arch, err) < 0 ||
            moat_json_strv(e, w, "subArchitectures", false, PROFILE_MAX_ARCHES, &subs, err) < 0)
            return -1;
        _cleanup_free_ char *aw = moat_jpath(w, "architecture");
        if (check_arch(arch, aw, err) < 0)
            return -1;
        for (size_t j = 0; subs && subs[j]; j++) {
            _cleanup_free_ char *sw = xasprintf("%s/subArchitectures/%zu", w, j);
            if (check_arch(subs[j], sw, err) < 0)
                return -1;
        }
        if (strcmp(arch, HOST_SCMP_ARCH) != 0 || moat_strv_contains(arches, arch))
            continue;
        moat_strv_push(&arches, arch);
        for (size_t j = 0; subs && subs[j]; j++)
            if (!moat_strv_contains(arches, subs[j]))
                moat_strv_push(&arches, subs[j]);
    }
    if (!arches || !arches[0])
        return 0;
    if (moat_strv_len(arches) > PROFILE_MAX_ARCHES)
        return moat_err(err, E2BIG, "/archMap: more than %d architectures for this host", PROFILE_MAX_ARCHES);
    struct json_object *oa = json_object_new_array();
    json_object_object_add(out, "architectures", oa);
    for (size_t i = 0; arches[i]; i++)
        json_object_array_add(oa, json_object_new_string(arches[i]));
    return 0;
}

static int conv_top(struct json_object *root, struct json_object *out, moat_error **err)
{
    _cleanup_strv_ char **flags = NULL;
    _cleanup_free_ char *lpath = NULL, *lmeta = NULL;
    if (conv_action(root, "", "defaultAction", "defaultErrnoRet", out, err) < 0 ||
        moat_json_strv(root, "", "flags", false, PROFILE_MAX_ARCHES, &flags, err) < 0 ||
        moat_json_str(root, "", "listenerPath", false, &lpath, err) < 0 ||
        moat_json_str(root, "", "listenerMetadata", false, &lmeta, err) < 0)
        return -1;
    if (lpath && (!lpath[0] || strlen(lpath) >= 4096))
        return moat_err(err, EINVAL, "/listenerPath: invalid path");
    if (lmeta && strlen(lmeta) > 4096)
        return moat_err(err, EINVAL, "/listenerMetadata: over 4096 bytes");
    if (flags && flags[0]) {
        struct json_object *fa = json_object_new_array();
        json_object_object_add(out, "flags", fa);
        for (size_t i = 0; flags[i]; i++) {
            unsigned int f;
            if (moat_seccomp_flag_from_name(flags[i], &f) < 0)
                return moat_err(err, EINVAL, "/flags/%zu: unknown flag '%s'", i, flags[i]);
            json_object_array_add(fa, json_object_new_string(flags[i]));
        }
    }
    if (lpath)
        json_object_object_add(out, "listenerPath", json_object_new_string(lpath));
    if (lmeta)
        json_object_object_add(out, "listenerMetadata", json_object_new_string(lmeta));
    return 0;
}

int moat_seccomp_profile_to_oci(const char *buf, size_t len, const char *what, uint64_t caps,
                                struct json_object **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *root = NULL;
    if (moat_json_parse(buf, len, PROFILE_MAX_BYTES, what, &root, err) < 0)
        return -1;
    if (!json_object_is_type(root, json_type_object))
        return moat_err(err, EINVAL, "%s: expected a JSON object at the top level", what);
    struct conv c = {.caps = caps};
    if (moat_kernel_version(&c.kernel.major, &c.kernel.minor) < 0)
        return moat_err(err, EINVAL, "%s: cannot read the running kernel's version for minKernel", what);
    _cleanup_json_ struct json_object *out = json_object_new_object();
    if (conv_top(root, out, err) < 0 || conv_arches(root, out, err) < 0 || conv_syscalls(&c, root, out, err) < 0)
        return moat_err_wrap(err, "%s", what);
    *ret = TAKE_PTR(out);
    return 0;
}

const char *moat_seccomp_builtin_profile(const char *name, size_t *ret_len)
{
    for (const struct moat_embedded_file *f = moat_seccomp_embedded_profiles; f->name; f++)
        if (strcmp(f->name, name) == 0) {
            if (ret_len)
                *ret_len = f->len;
            return f->data;
        }
    return NULL;
}

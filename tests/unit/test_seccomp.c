/* Seccomp: the Docker-profile converter, the compiler (errors, the -ENOSYS
 * stub, the program it builds, run through a small classic-BPF simulator)
 * and real loads in fork()ed children. */
#include <cap-ng.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "moat/json.h"
#include "moat/oci.h"
#include "moat/seccomp.h"
#include "moat/util.h"
#include "runtime/seccomp_internal.h"
#include "unit.h"

#define CAP(n) (1ull << (n))
/* moat's default capability set (DEVELOPERS.md). */
static const uint64_t moat_caps = CAP(0) /* CHOWN */ | CAP(1) /* DAC_OVERRIDE */ | CAP(3) /* FOWNER */ |
                                  CAP(4) /* FSETID */ | CAP(5) /* KILL */ | CAP(6) /* SETGID */ |
                                  CAP(7) /* SETUID */ | CAP(10) /* NET_BIND_SERVICE */;
#define CAP_SYS_ADMIN_BIT CAP(21)
#define CAP_SYS_PTRACE_BIT CAP(19)

static void prog_freep(struct moat_seccomp_prog **p) { moat_seccomp_prog_free(*p); }
#define _cleanup_prog_ _cleanup_(prog_freep)

/* ---- helpers ---------------------------------------------------------------------------- */

static struct json_object *convert(const char *profile, uint64_t caps, moat_error **err)
{
    struct json_object *o = NULL;
    if (moat_seccomp_profile_to_oci(profile, strlen(profile), "test.json", caps, &o, err) < 0)
        return NULL;
    return o;
}

static struct json_object *convert_builtin(const char *name, uint64_t caps)
{
    size_t len = 0;
    const char *p = moat_seccomp_builtin_profile(name, &len);
    struct json_object *o = NULL;
    _cleanup_error_ moat_error *err = NULL;
    if (!p || moat_seccomp_profile_to_oci(p, len, name, caps, &o, &err) < 0) {
        fprintf(stderr, "    convert %s: %s\n", name, err ? err->msg : "no such profile");
        return NULL;
    }
    return o;
}

/* Compile an OCI linux.seccomp object the way the runtime gets it: inside a
 * config.json, through the OCI parser. */
static int compile_obj(struct json_object *sc, struct moat_seccomp_prog **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *root = json_object_new_object();
    struct json_object *lx = json_object_new_object();
    json_object_object_add(root, "ociVersion", json_object_new_string("1.0.2"));
    json_object_object_add(root, "linux", lx);
    json_object_object_add(lx, "seccomp", json_object_get(sc));
    const char *s = json_object_to_json_string(root);
    _cleanup_spec_ struct oci_spec *spec = NULL;
    if (oci_spec_parse(s, strlen(s), "config.json", &spec, err) < 0)
        return -1;
    return moat_seccomp_compile(spec->linux_.seccomp, ret, err);
}

static int compile_str(const char *json, struct moat_seccomp_prog **ret, moat_error **err)
{
    _cleanup_json_ struct json_object *o = json_tokener_parse(json);
    if (!o)
        return moat_err(err, EINVAL, "test JSON does not parse");
    return compile_obj(o, ret, err);
}

static struct moat_seccomp_prog *compile_builtin(const char *name, uint64_t caps)
{
    _cleanup_json_ struct json_object *o = convert_builtin(name, caps);
    struct moat_seccomp_prog *prog = NULL;
    _cleanup_error_ moat_error *err = NULL;
    if (o && compile_obj(o, &prog, &err) < 0)
        fprintf(stderr, "    compile %s: %s\n", name, err->msg);
    return prog;
}

/* The rules whose names include `name`: count, and the nth one. */
static size_t rules_naming(struct json_object *oci, const char *name, size_t nth, struct json_object **ret)
{
    struct json_object *arr, *names;
    size_t found = 0;
    if (ret)
        *ret = NULL;
    if (!json_object_object_get_ex(oci, "syscalls", &arr))
        return 0;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        struct json_object *r = json_object_array_get_idx(arr, i);
        json_object_object_get_ex(r, "names", &names);
        for (size_t j = 0; j < json_object_array_length(names); j++)
            if (strcmp(json_object_get_string(json_object_array_get_idx(names, j)), name) == 0) {
                if (found == nth && ret)
                    *ret = r;
                found++;
                break;
            }
    }
    return found;
}

static const char *rule_str(struct json_object *rule, const char *key)
{
    struct json_object *v;
    return rule && json_object_object_get_ex(rule, key, &v) ? json_object_get_string(v) : NULL;
}

static bool rule_has_args(struct json_object *rule)
{
    struct json_object *v;
    return rule && json_object_object_get_ex(rule, "args", &v) && json_object_array_length(v) > 0;
}

/* ---- a classic-BPF simulator, enough for libseccomp's output ----------------------------- */

#define SIM_END 0xfeedf00du /* ran off the end (a stub passing on to the filter) */
#define SIM_BAD 0xbadbad0u  /* invalid program */

static uint32_t sim_alu(uint16_t op, uint32_t a, uint32_t v)
{
    switch (op) {
    case BPF_ADD: return a + v;
    case BPF_SUB: return a - v;
    case BPF_AND: return a & v;
    case BPF_OR: return a | v;
    case BPF_LSH: return v < 32 ? a << v : 0;
    case BPF_RSH: return v < 32 ? a >> v : 0;
    case BPF_NEG: return -a;
    }
    return a;
}

static bool sim_cond(uint16_t op, uint32_t a, uint32_t v)
{
    switch (op) {
    case BPF_JEQ: return a == v;
    case BPF_JGT: return a > v;
    case BPF_JGE: return a >= v;
    case BPF_JSET: return (a & v) != 0;
    }
    return false;
}

static uint32_t bpf_sim(const struct sock_filter *f, size_t n, const struct seccomp_data *d)
{
    uint32_t A = 0, X = 0, M[BPF_MEMWORDS] = {0};
    size_t pc = 0;
    while (pc < n) {
        const struct sock_filter *i = &f[pc++];
        uint16_t cls = BPF_CLASS(i->code);
        if ((cls == BPF_LD || cls == BPF_LDX || cls == BPF_ST || cls == BPF_STX) &&
            (BPF_MODE(i->code) == BPF_MEM || cls == BPF_ST || cls == BPF_STX) && i->k >= BPF_MEMWORDS)
            return SIM_BAD;
        if (i->code == (BPF_LD | BPF_W | BPF_ABS)) {
            if (i->k % 4 || i->k > sizeof(*d) - 4)
                return SIM_BAD;
            memcpy(&A, (const char *)d + i->k, 4);
        } else if (i->code == (BPF_LD | BPF_IMM)) {
            A = i->k;
        } else if (i->code == (BPF_LDX | BPF_IMM)) {
            X = i->k;
        } else if (i->code == (BPF_LD | BPF_MEM)) {
            A = M[i->k];
        } else if (i->code == (BPF_LDX | BPF_MEM)) {
            X = M[i->k];
        } else if (cls == BPF_ST) {
            M[i->k] = A;
        } else if (cls == BPF_STX) {
            M[i->k] = X;
        } else if (cls == BPF_ALU) {
            A = sim_alu(BPF_OP(i->code), A, BPF_SRC(i->code) == BPF_X ? X : i->k);
        } else if (i->code == (BPF_MISC | BPF_TAX)) {
            X = A;
        } else if (i->code == (BPF_MISC | BPF_TXA)) {
            A = X;
        } else if (i->code == (BPF_JMP | BPF_JA)) {
            pc += i->k;
        } else if (cls == BPF_JMP) {
            pc += sim_cond(BPF_OP(i->code), A, BPF_SRC(i->code) == BPF_X ? X : i->k) ? i->jt : i->jf;
        } else if (i->code == (BPF_RET | BPF_K)) {
            return i->k;
        } else if (i->code == (BPF_RET | BPF_A)) {
            return A;
        } else {
            return SIM_BAD;
        }
    }
    return pc == n ? SIM_END : SIM_BAD;
}

static uint32_t sim(const struct sock_filter *f, size_t n, uint32_t arch, uint32_t nr, uint64_t a0, uint64_t a1,
                    uint64_t a2)
{
    struct seccomp_data d = {.nr = (int)nr, .arch = arch, .args = {a0, a1, a2}};
    return bpf_sim(f, n, &d);
}

static uint32_t sim_prog(const struct moat_seccomp_prog *p, uint32_t arch, uint32_t nr, uint64_t a0)
{
    size_t n;
    const struct sock_filter *f = moat_seccomp_prog_insns(p, &n);
    return sim(f, n, arch, nr, a0, 0, 0);
}

#define RET_ERRNO(e) (SECCOMP_RET_ERRNO | (e))
#define X32(nr) (MOAT_SECCOMP_X32_BIT | (nr))

/* ---- the -ENOSYS stub ---------------------------------------------------------------------- */

/* Every jump of a stub lands inside it or exactly at its end. */
static bool stub_jumps_ok(const struct sock_filter *f, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (BPF_CLASS(f[i].code) != BPF_JMP)
            continue;
        if (f[i].code == (BPF_JMP | BPF_JA) ? i + 1 + f[i].k > n : i + 1 + f[i].jt > n || i + 1 + f[i].jf > n)
            return false;
    }
    return true;
}

static void test_stub_logic(void)
{
    struct moat_seccomp_stub_arch a[3] = {
        {.audit_arch = AUDIT_ARCH_X86_64, .split_x32 = true, .main = {true, 456}, .x32 = {true, X32(547)}},
        {.audit_arch = AUDIT_ARCH_I386, .main = {true, 456}},
        {.audit_arch = AUDIT_ARCH_AARCH64, .main = {false, 0}},
    };
    _cleanup_free_ struct sock_filter *f = NULL;
    size_t n;
    CHECK(moat_seccomp_build_stub(a, 3, &f, &n) > 0);
    CHECK(stub_jumps_ok(f, n));
    const uint32_t enosys = RET_ERRNO(ENOSYS);
    CHECK(sim(f, n, AUDIT_ARCH_X86_64, 39, 0, 0, 0) == SIM_END);
    CHECK(sim(f, n, AUDIT_ARCH_X86_64, 456, 0, 0, 0) == SIM_END);
    CHECK(sim(f, n, AUDIT_ARCH_X86_64, 457, 0, 0, 0) == enosys);
    CHECK(sim(f, n, AUDIT_ARCH_X86_64, 0x80000001u, 0, 0, 0) == enosys);
    CHECK(sim(f, n, AUDIT_ARCH_X86_64, X32(39), 0, 0, 0) == SIM_END);
    CHECK(sim(f, n, AUDIT_ARCH_X86_64, X32(547), 0, 0, 0) == SIM_END);
    CHECK(sim(f, n, AUDIT_ARCH_X86_64, X32(548), 0, 0, 0) == enosys);
    CHECK(sim(f, n, AUDIT_ARCH_X86_64, 0xffffffffu, 0, 0, 0) == enosys);
    CHECK(sim(f, n, AUDIT_ARCH_I386, 20, 0, 0, 0) == SIM_END);
    CHECK(sim(f, n, AUDIT_ARCH_I386, 457, 0, 0, 0) == enosys);
    CHECK(sim(f, n, AUDIT_ARCH_AARCH64, 5000, 0, 0, 0) == SIM_END); /* no stub for it */
    CHECK(sim(f, n, AUDIT_ARCH_ARM, 5000, 0, 0, 0) == SIM_END);     /* not in the filter */
    free(TAKE_PTR(f));

    /* x32 not in the filter: its numbers go on to the filter (bad arch). */
    a[0].x32.present = false;
    CHECK(moat_seccomp_build_stub(a, 1, &f, &n) > 0);
    CHECK(stub_jumps_ok(f, n));
    CHECK(sim(f, n, AUDIT_ARCH_X86_64, X32(5000), 0, 0, 0) == SIM_END);
    CHECK(sim(f, n, AUDIT_ARCH_X86_64, 5000, 0, 0, 0) == enosys);
    free(TAKE_PTR(f));

    /* Nothing to do, and too many arches. */
    CHECK(moat_seccomp_build_stub(&a[2], 1, &f, &n) == 0 && n == 0 && !f);
    struct moat_seccomp_stub_arch many[MOAT_SECCOMP_STUB_MAX_ARCHES + 1];
    for (size_t i = 0; i < ARRAY_SIZE(many); i++)
        many[i] = (struct moat_seccomp_stub_arch){.audit_arch = 0x1000 + (uint32_t)i, .split_x32 = i % 2 == 0,
                                                  .main = {true, 100 + (uint32_t)i}, .x32 = {true, X32(7)}};
    CHECK(moat_seccomp_build_stub(many, ARRAY_SIZE(many), &f, &n) < 0);
    /* The largest stub: every jump still in range, the last arch still checked. */
    CHECK(moat_seccomp_build_stub(many, MOAT_SECCOMP_STUB_MAX_ARCHES, &f, &n) > 0);
    CHECK(stub_jumps_ok(f, n));
    uint32_t last = 0x1000 + MOAT_SECCOMP_STUB_MAX_ARCHES - 1;
    CHECK(sim(f, n, last, 100 + MOAT_SECCOMP_STUB_MAX_ARCHES - 1, 0, 0, 0) == SIM_END);
    CHECK(sim(f, n, last, 100 + MOAT_SECCOMP_STUB_MAX_ARCHES, 0, 0, 0) == enosys);
    CHECK(sim(f, n, 0x1000, X32(8), 0, 0, 0) == enosys);
    CHECK(sim(f, n, 0x1001, X32(8), 0, 0, 0) == enosys); /* not split: X32 bit is just a big number */
}

/* ---- converter ---------------------------------------------------------------------------- */

static void test_profile_default_caps(void)
{
    _cleanup_json_ struct json_object *o = convert_builtin("default", moat_caps);
    if (!o) {
        unit_failures++;
        return;
    }
    struct json_object *r, *arches;
    CHECK_STR(rule_str(o, "defaultAction"), "SCMP_ACT_ERRNO");
    CHECK(json_object_object_get_ex(o, "architectures", &arches) && json_object_array_length(arches) == 3);
    CHECK_STR(json_object_get_string(json_object_array_get_idx(arches, 0)), "SCMP_ARCH_X86_64");
    CHECK_STR(json_object_get_string(json_object_array_get_idx(arches, 1)), "SCMP_ARCH_X86");
    CHECK_STR(json_object_get_string(json_object_array_get_idx(arches, 2)), "SCMP_ARCH_X32");
    /* Refused: SYS_ADMIN-gated, never-allowed, other caps. */
    const char *absent[] = {"mount", "umount2", "unshare", "setns", "bpf", "perf_event_open", "keyctl", "add_key",
                            "request_key", "io_uring_setup", "io_uring_enter", "userfaultfd", "open_by_handle_at",
                            "chroot", "kcmp", "reboot", "init_module", "acct", "kexec_load", "riscv_flush_icache"};
    for (size_t i = 0; i < ARRAY_SIZE(absent); i++)
        if (rules_naming(o, absent[i], 0, NULL) != 0) {
            fprintf(stderr, "    '%s' should not be allowed\n", absent[i]);
            unit_failures++;
        }
    /* clone: only without namespace flags. */
    CHECK(rules_naming(o, "clone", 0, &r) == 1 && rule_has_args(r));
    struct json_object *args, *a0, *v;
    CHECK(json_object_object_get_ex(r, "args", &args) && (a0 = json_object_array_get_idx(args, 0)));
    CHECK(json_object_object_get_ex(a0, "value", &v) && json_object_get_uint64(v) == 0x7E020000);
    CHECK_STR(rule_str(a0, "op"), "SCMP_CMP_MASKED_EQ");
    /* clone3: ENOSYS. */
    CHECK(rules_naming(o, "clone3", 0, &r) == 1);
    CHECK_STR(rule_str(r, "action"), "SCMP_ACT_ERRNO");
    CHECK(json_object_object_get_ex(r, "errnoRet", &v) && json_object_get_int(v) == ENOSYS);
    CHECK(rules_naming(o, "socket", 0, NULL) == 6);
    CHECK(rules_naming(o, "personality", 0, NULL) == 5);
    CHECK(rules_naming(o, "ptrace", 0, &r) == 1 && !rule_has_args(r)); /* minKernel 4.8 */
    CHECK(rules_naming(o, "arch_prctl", 0, NULL) == 1 && rules_naming(o, "modify_ldt", 0, NULL) == 1);
    CHECK(rules_naming(o, "getpid", 0, NULL) == 1);
}

static void test_profile_sys_admin(void)
{
    _cleanup_json_ struct json_object *o = convert_builtin("default", moat_caps | CAP_SYS_ADMIN_BIT);
    _cleanup_json_ struct json_object *p = convert_builtin("default", CAP_SYS_PTRACE_BIT);
    if (!o || !p) {
        unit_failures++;
        return;
    }
    struct json_object *r;
    CHECK(rules_naming(o, "mount", 0, &r) == 1 && !rule_has_args(r));
    CHECK(rules_naming(o, "clone", 0, &r) == 1 && !rule_has_args(r)); /* no flag filter */
    CHECK(rules_naming(o, "clone3", 0, &r) == 1);
    CHECK_STR(rule_str(r, "action"), "SCMP_ACT_ALLOW");
    CHECK(rules_naming(o, "unshare", 0, NULL) == 1 && rules_naming(o, "setns", 0, NULL) == 1);
    CHECK(rules_naming(o, "keyctl", 0, NULL) == 0); /* never, whatever the caps */
    CHECK(rules_naming(p, "kcmp", 0, NULL) == 1 && rules_naming(p, "mount", 0, NULL) == 0);
    CHECK(rules_naming(p, "process_vm_readv", 0, NULL) == 2); /* minKernel rule + cap rule */
}

static void test_profile_restricted(void)
{
    /* Whatever the caps, restricted never grants the cap-gated syscalls. */
    _cleanup_json_ struct json_object *o = convert_builtin("restricted", ~0ull);
    if (!o) {
        unit_failures++;
        return;
    }
    struct json_object *arches, *r;
    CHECK(json_object_object_get_ex(o, "architectures", &arches) && json_object_array_length(arches) == 1);
    const char *absent[] = {"mount", "fsopen", "pivot_root", "unshare", "setns", "ptrace", "process_vm_readv",
                            "userfaultfd", "perf_event_open", "bpf", "name_to_handle_at", "open_by_handle_at",
                            "kcmp", "acct", "chroot", "keyctl", "io_uring_setup", "modify_ldt", "socketcall"};
    for (size_t i = 0; i < ARRAY_SIZE(absent); i++)
        if (rules_naming(o, absent[i], 0, NULL) != 0) {
            fprintf(stderr, "    '%s' should not be allowed\n", absent[i]);
            unit_failures++;
        }
    CHECK(rules_naming(o, "clone", 0, &r) == 1 && rule_has_args(r));
    CHECK(rules_naming(o, "clone3", 0, &r) == 1);
    CHECK_STR(rule_str(r, "action"), "SCMP_ACT_ERRNO");
    CHECK(rules_naming(o, "socket", 0, NULL) == 4);
    CHECK(rules_naming(o, "read", 0, NULL) == 1);
}

static const char *cond_profile =
    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86_64\"],\"syscalls\":["
    "{\"names\":[\"r_new_kernel\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"99.0\"}},"
    "{\"names\":[\"r_old_kernel\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"4.0\"}},"
    "{\"names\":[\"r_exc_kernel\"],\"action\":\"SCMP_ACT_ALLOW\",\"excludes\":{\"minKernel\":\"4.0\"}},"
    "{\"names\":[\"r_exc_new\"],\"action\":\"SCMP_ACT_ALLOW\",\"excludes\":{\"minKernel\":\"99.9\"}},"
    "{\"name\":\"r_arm64\",\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":[\"arm64\",\"arm\"]}},"
    "{\"names\":[\"r_amd64\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"arches\":[\"s390x\",\"amd64\"]}},"
    "{\"names\":[\"r_not_amd64\"],\"action\":\"SCMP_ACT_ALLOW\",\"excludes\":{\"arches\":[\"amd64\"]}},"
    "{\"names\":[\"r_two_caps\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":[\"CAP_KILL\",\"CAP_SYS_TIME\"]}},"
    "{\"names\":[\"r_one_cap\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":[\"CAP_KILL\"]}},"
    "{\"names\":[\"r_exc_cap\"],\"action\":\"SCMP_ACT_ALLOW\",\"excludes\":{\"caps\":[\"CAP_SYS_TIME\",\"CAP_KILL\"]}},"
    "{\"names\":[\"r_future_cap\"],\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"caps\":[\"CAP_FROM_THE_FUTURE\"]}},"
    "{\"names\":[\"r_args\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":100,"
    " \"args\":[{\"index\":1,\"value\":18446744073709551615,\"valueTwo\":7,\"op\":\"SCMP_CMP_MASKED_EQ\"}],"
    " \"comment\":\"ignored\"}]}";

static void test_profile_conditions(void)
{
#ifndef __x86_64__
    UNIT_SKIP("arch conditions are written for an amd64 host");
#endif
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *o = convert(cond_profile, CAP(5) /* KILL */, &err);
    if (!o) {
        fprintf(stderr, "    %s\n", err->msg);
        unit_failures++;
        return;
    }
    CHECK(rules_naming(o, "r_new_kernel", 0, NULL) == 0);
    CHECK(rules_naming(o, "r_old_kernel", 0, NULL) == 1);
    CHECK(rules_naming(o, "r_exc_kernel", 0, NULL) == 0);
    CHECK(rules_naming(o, "r_exc_new", 0, NULL) == 1);
    CHECK(rules_naming(o, "r_arm64", 0, NULL) == 0);
    CHECK(rules_naming(o, "r_amd64", 0, NULL) == 1);
    CHECK(rules_naming(o, "r_not_amd64", 0, NULL) == 0);
    CHECK(rules_naming(o, "r_two_caps", 0, NULL) == 0);
    CHECK(rules_naming(o, "r_one_cap", 0, NULL) == 1);
    CHECK(rules_naming(o, "r_exc_cap", 0, NULL) == 0);
    CHECK(rules_naming(o, "r_future_cap", 0, NULL) == 0);
    struct json_object *r, *args, *a, *v;
    CHECK(rules_naming(o, "r_args", 0, &r) == 1);
    CHECK(json_object_object_get_ex(r, "errnoRet", &v) && json_object_get_int(v) == 100);
    CHECK(json_object_object_get_ex(r, "args", &args) && (a = json_object_array_get_idx(args, 0)));
    CHECK(json_object_object_get_ex(a, "value", &v) && json_object_get_uint64(v) == UINT64_MAX);
    CHECK(json_object_object_get_ex(a, "valueTwo", &v) && json_object_get_uint64(v) == 7);
    CHECK(!json_object_object_get_ex(r, "comment", &v));
    /* With both caps the two-cap rule is in, and the exclude drops its rule. */
    _cleanup_json_ struct json_object *o2 = convert(cond_profile, CAP(5) | CAP(25) /* SYS_TIME */, &err);
    CHECK(o2 && rules_naming(o2, "r_two_caps", 0, NULL) == 1);
    /* The converted object compiles (unknown names are skipped). */
    _cleanup_prog_ struct moat_seccomp_prog *prog = NULL;
    CHECK(compile_obj(o, &prog, &err) == 0);
}

static void check_profile_error(const char *profile, const char *needle)
{
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_json_ struct json_object *o = convert(profile, moat_caps, &err);
    CHECK(o == NULL);
    CHECK_ERR_HAS(err, needle);
}

static void test_profile_errors(void)
{
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
                        "\"action\":\"SCMP_ACT_ALLOW\"},{\"names\":[\"x\"],\"action\":\"SCMP_ACT_FOO\"}]}",
                        "test.json: /syscalls/1/action: unknown action 'SCMP_ACT_FOO'");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_NOPE\"}", "/defaultAction: unknown action 'SCMP_ACT_NOPE'");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"name\":\"a\",\"names\":[\"b\"],"
                        "\"action\":\"SCMP_ACT_ALLOW\"}]}",
                        "/syscalls/0: use either 'name' or 'names'");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[],"
                        "\"action\":\"SCMP_ACT_ALLOW\"}]}",
                        "/syscalls/0/names: must name at least one syscall");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"a\"],"
                        "\"action\":\"SCMP_ACT_ALLOW\",\"includes\":{\"minKernel\":\"4.x\"}}]}",
                        "/syscalls/0/includes/minKernel: '4.x' is not a kernel version");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"a\"],"
                        "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_ABOUT\"}]}]}",
                        "/syscalls/0/args/0/op: unknown operator 'SCMP_CMP_ABOUT'");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"a\"],"
                        "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":6,\"value\":1,\"op\":\"SCMP_CMP_EQ\"}]}]}",
                        "/syscalls/0/args/0/index: 6 is out of range");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"a\"],"
                        "\"action\":\"SCMP_ACT_ALLOW\",\"errnoRet\":1}]}",
                        "/syscalls/0/errnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":5000}",
                        "/defaultErrnoRet: 5000 is out of range");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":[{\"architecture\":\"SCMP_ARCH_VAX\"}]}",
                        "/archMap/0/architecture: unknown architecture 'SCMP_ARCH_VAX'");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"archMap\":[],\"architectures\":[]}",
                        "use either 'architectures' or 'archMap'");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"flags\":[\"SECCOMP_FILTER_FLAG_FAST\"]}",
                        "/flags/0: unknown flag 'SECCOMP_FILTER_FLAG_FAST'");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":{}}", "/syscalls: expected an array");
    check_profile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[7]}", "/syscalls/0: expected an object");
    check_profile_error("[1]", "test.json: expected a JSON object");
    check_profile_error("{\"defaultAction\":", "test.json: unexpected end of input");
    /* Over the size bound. */
    size_t big = (1u << 20) + 16;
    _cleanup_free_ char *huge = xmalloc(big + 1);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    huge[big] = 0;
    check_profile_error(huge, "byte limit");
    size_t len;
    CHECK(moat_seccomp_builtin_profile("nope", &len) == NULL);
    CHECK(moat_seccomp_builtin_profile("default", &len) && len > 1000);
}

/* ---- compiler: errors and the program it builds ------------------------------------------ */

static void check_compile_error(const char *json, const char *needle)
{
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_prog_ struct moat_seccomp_prog *p = NULL;
    CHECK(compile_str(json, &p, &err) < 0 && !p);
    CHECK_ERR_HAS(err, needle);
}

static void test_compile_errors(void)
{
    check_compile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":["
                        "{\"names\":[\"read\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                        "{\"names\":[\"write\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                        "{\"names\":[\"close\"],\"action\":\"SCMP_ACT_ALLOW\"},"
                        "{\"names\":[\"open\"],\"action\":\"SCMP_ACT_FOO\"}]}",
                        "/linux/seccomp/syscalls/3/action: unknown action 'SCMP_ACT_FOO'");
    check_compile_error("{\"defaultAction\":\"SCMP_ACT_WHATEVER\"}",
                        "/linux/seccomp/defaultAction: unknown action 'SCMP_ACT_WHATEVER'");
    check_compile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\"],"
                        "\"action\":\"SCMP_ACT_ALLOW\",\"args\":[{\"index\":0,\"value\":1,\"op\":\"SCMP_CMP_XX\"}]}]}",
                        "/linux/seccomp/syscalls/0/args/0/op: unknown operator 'SCMP_CMP_XX'");
    check_compile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"architectures\":[\"SCMP_ARCH_X86\",\"SCMP_ARCH_PDP11\"]}",
                        "/linux/seccomp/architectures/1: unknown architecture 'SCMP_ARCH_PDP11'");
    check_compile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"flags\":[\"SECCOMP_FILTER_FLAG_NOPE\"]}",
                        "/linux/seccomp/flags/0: unknown flag 'SECCOMP_FILTER_FLAG_NOPE'");
    check_compile_error("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":70000}",
                        "/linux/seccomp/defaultErrnoRet: errno 70000 is out of range");
    check_compile_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"defaultErrnoRet\":1}",
                        "/linux/seccomp/defaultErrnoRet: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE");
    check_compile_error("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"read\"],"
                        "\"action\":\"SCMP_ACT_KILL\",\"errnoRet\":3}]}",
                        "/linux/seccomp/syscalls/0/errnoRet: only SCMP_ACT_ERRNO");

    /* Unknown syscall names are skipped, not errors. */
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_prog_ struct moat_seccomp_prog *p = NULL;
    CHECK(compile_str("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"no_such_syscall\",\"getpid\"],"
                      "\"action\":\"SCMP_ACT_ALLOW\"}]}",
                      &p, &err) == 0);
    CHECK(p && !moat_seccomp_prog_needs_notify(p));
}

#ifdef __x86_64__
static void test_compile_program(void)
{
    _cleanup_prog_ struct moat_seccomp_prog *p = compile_builtin("default", moat_caps);
    _cleanup_prog_ struct moat_seccomp_prog *r = compile_builtin("restricted", 0);
    if (!p || !r) {
        unit_failures++;
        return;
    }
    const uint32_t X64 = AUDIT_ARCH_X86_64, I386 = AUDIT_ARCH_I386, EPERM_ = RET_ERRNO(EPERM);
    CHECK(sim_prog(p, X64, 39 /* getpid */, 0) == SECCOMP_RET_ALLOW);
    CHECK(sim_prog(p, X64, 250 /* keyctl */, 0) == EPERM_);
    CHECK(sim_prog(p, X64, 165 /* mount */, 0) == EPERM_);
    CHECK(sim_prog(p, X64, 435 /* clone3 */, 0) == RET_ERRNO(ENOSYS));
    CHECK(sim_prog(p, X64, 56 /* clone */, SIGCHLD) == SECCOMP_RET_ALLOW);
    CHECK(sim_prog(p, X64, 56, CLONE_NEWUSER | SIGCHLD) == EPERM_);
    CHECK(sim_prog(p, X64, 56, CLONE_NEWNET) == EPERM_);
    CHECK(sim_prog(p, X64, 41 /* socket */, AF_INET) == SECCOMP_RET_ALLOW);
    CHECK(sim_prog(p, X64, 41, AF_ALG) == EPERM_);
    CHECK(sim_prog(p, X64, 41, AF_VSOCK) == EPERM_);
    CHECK(sim_prog(p, X64, 41, 39) == SECCOMP_RET_ALLOW);
    CHECK(sim_prog(p, X64, 41, 41) == SECCOMP_RET_ALLOW && sim_prog(p, X64, 41, 45) == SECCOMP_RET_ALLOW);
    CHECK(sim_prog(p, X64, 41, 63) == SECCOMP_RET_ALLOW && sim_prog(p, X64, 41, 64) == EPERM_);
    CHECK(sim_prog(p, X64, 41, (1ull << 32) | AF_ALG) == EPERM_); /* the kernel truncates `int family` */
    CHECK(sim_prog(p, X64, 135 /* personality */, 0xffffffff) == SECCOMP_RET_ALLOW);
    CHECK(sim_prog(p, X64, 135, 0x40000) == EPERM_);
    CHECK(sim_prog(p, X64, 246 /* kexec_load: below the highest, unnamed */, 0) == EPERM_);
    CHECK(sim_prog(p, X64, 1000, 0) == RET_ERRNO(ENOSYS));
    /* i386 and x32 get the same rules. */
    CHECK(sim_prog(p, I386, 20 /* getpid */, 0) == SECCOMP_RET_ALLOW);
    CHECK(sim_prog(p, I386, 288 /* keyctl */, 0) == EPERM_);
    CHECK(sim_prog(p, I386, 120 /* clone */, CLONE_NEWUSER) == EPERM_);
    CHECK(sim_prog(p, I386, 359 /* socket */, AF_ALG) == EPERM_);
    CHECK(sim_prog(p, I386, 1000, 0) == RET_ERRNO(ENOSYS));
    CHECK(sim_prog(p, X64, X32(39), 0) == SECCOMP_RET_ALLOW);
    CHECK(sim_prog(p, X64, X32(250), 0) == EPERM_);
    CHECK(sim_prog(p, X64, X32(1000), 0) == RET_ERRNO(ENOSYS));
    CHECK(sim_prog(p, AUDIT_ARCH_AARCH64, 39, 0) == SECCOMP_RET_KILL_PROCESS); /* not in the filter */

    /* restricted: native ABI only; narrower sockets; clone3 ENOSYS. */
    CHECK(sim_prog(r, X64, 39, 0) == SECCOMP_RET_ALLOW);
    CHECK(sim_prog(r, I386, 20, 0) == SECCOMP_RET_KILL_PROCESS);
    CHECK(sim_prog(r, X64, X32(39), 0) == SECCOMP_RET_KILL_PROCESS);
    CHECK(sim_prog(r, X64, 41, AF_UNIX) == SECCOMP_RET_ALLOW && sim_prog(r, X64, 41, AF_INET6) == SECCOMP_RET_ALLOW);
    CHECK(sim_prog(r, X64, 41, AF_PACKET) == EPERM_ && sim_prog(r, X64, 41, AF_ALG) == EPERM_);
    CHECK(sim_prog(r, X64, 101 /* ptrace */, 0) == EPERM_);
    CHECK(sim_prog(r, X64, 303 /* name_to_handle_at */, 0) == EPERM_);
    CHECK(sim_prog(r, X64, 435, 0) == RET_ERRNO(ENOSYS));
    CHECK(sim_prog(r, X64, 1000, 0) == RET_ERRNO(ENOSYS));
}
#else
static void test_compile_program(void) { UNIT_SKIP("the expected syscall numbers are x86_64's"); }
#endif

/* A rule naming the same argument twice: each condition is its own rule (OR),
 * as runc does.  Different arguments in one rule: all must hold (AND). */
static void test_compile_same_arg_or(void)
{
#ifndef __x86_64__
    UNIT_SKIP("the expected syscall numbers are x86_64's");
#endif
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_prog_ struct moat_seccomp_prog *p = NULL;
    CHECK(compile_str("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":6,\"syscalls\":["
                      "{\"names\":[\"personality\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
                      " {\"index\":0,\"value\":0,\"op\":\"SCMP_CMP_EQ\"},{\"index\":0,\"value\":8,\"op\":\"SCMP_CMP_EQ\"}]},"
                      "{\"names\":[\"socket\"],\"action\":\"SCMP_ACT_ALLOW\",\"args\":["
                      " {\"index\":0,\"value\":16,\"op\":\"SCMP_CMP_EQ\"},{\"index\":2,\"value\":0,\"op\":\"SCMP_CMP_EQ\"}]},"
                      "{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_TRACE\",\"errnoRet\":9}]}",
                      &p, &err) == 0);
    if (!p) {
        fprintf(stderr, "    %s\n", err->msg);
        return;
    }
    size_t n;
    const struct sock_filter *f = moat_seccomp_prog_insns(p, &n);
    const uint32_t X64 = AUDIT_ARCH_X86_64;
    CHECK(sim(f, n, X64, 135, 0, 0, 0) == SECCOMP_RET_ALLOW);
    CHECK(sim(f, n, X64, 135, 8, 0, 0) == SECCOMP_RET_ALLOW);
    CHECK(sim(f, n, X64, 135, 4, 0, 0) == RET_ERRNO(6));
    CHECK(sim(f, n, X64, 41, 16, 0, 0) == SECCOMP_RET_ALLOW);
    CHECK(sim(f, n, X64, 41, 16, 0, 9) == RET_ERRNO(6));
    CHECK(sim(f, n, X64, 41, 2, 0, 0) == RET_ERRNO(6));
    CHECK(sim(f, n, X64, 110, 0, 0, 0) == (SECCOMP_RET_TRACE | 9));
    /* Stub: personality (135) is the highest named; 136 answers ENOSYS. */
    CHECK(sim(f, n, X64, 136, 0, 0, 0) == RET_ERRNO(ENOSYS));
    CHECK(sim(f, n, X64, 120, 0, 0, 0) == RET_ERRNO(6));
}

/* ---- real loads in fork()ed children --------------------------------------------------------- */

/* Run fn in a child; returns its wait status. */
static int in_child(int (*fn)(const void *), const void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        /* A filter that kills must not leave core files behind. */
        struct rlimit rl = {0, 0};
        setrlimit(RLIMIT_CORE, &rl);
        prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
        /* exit_group directly: the sanitizers' _exit hook needs syscalls a
         * strict filter refuses. */
        syscall(SYS_exit_group, fn(arg));
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return st;
}

static void child_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void child_say(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        (void)!write(STDERR_FILENO, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* no_new_privs, then load: exit code 90 when loading fails. */
static int child_load(const struct moat_seccomp_prog *p, int *notify_fd)
{
    moat_error *err = NULL;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return 91;
    if (moat_seccomp_load(p, notify_fd, &err) < 0) {
        child_say("    load: %s\n", err->msg);
        return 90;
    }
    return 0;
}

struct sys_check {
    const char *what;
    long nr;
    long a[3];
    int want; /* errno, or 0: must succeed */
};

static int run_checks(const struct sys_check *c, size_t n)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        errno = 0;
        long r = syscall(c[i].nr, c[i].a[0], c[i].a[1], c[i].a[2], 0L, 0L, 0L);
        if (r == 0 && c[i].nr == SYS_clone)
            syscall(SYS_exit_group, 0); /* a clone that should have been refused: the new child leaves */
        int e = r < 0 ? errno : 0;
        if (r >= 0 && c[i].nr == SYS_socket)
            close((int)r);
        if (e != c[i].want) {
            child_say("    %s: got %ld (errno %d), want errno %d\n", c[i].what, r, e, c[i].want);
            bad = 1;
        }
    }
    return bad;
}

struct checks_arg {
    const struct moat_seccomp_prog *prog;
    const struct sys_check *checks;
    size_t n;
};

static int child_checks(const void *p)
{
    const struct checks_arg *a = p;
    int r = child_load(a->prog, NULL);
    return r ? r : run_checks(a->checks, a->n);
}

static void test_load_default_profile(void)
{
#ifndef __x86_64__
    UNIT_SKIP("the probes use x86_64 syscall numbers");
#endif
    _cleanup_prog_ struct moat_seccomp_prog *p = compile_builtin("default", moat_caps);
    if (!p) {
        unit_failures++;
        return;
    }
    /* Compiling changed nothing in this process. */
    _cleanup_free_ char *status = NULL;
    size_t len;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_read_file_at(AT_FDCWD, "/proc/self/status", 65536, &status, &len, &err) == 0);
    CHECK(status && strstr(status, "\nSeccomp:\t0\n"));
    /* 463 (setxattrat) is newer than anything libseccomp 2.5 names: the kernel
     * knows it, so an ENOSYS below comes from the stub. */
    errno = 0;
    long known = syscall(463, -1L, 0L, 0L, 0L, 0L, 0L);
    bool kernel_knows_463 = !(known < 0 && errno == ENOSYS);
    const struct sys_check checks[] = {
        {"getpid", SYS_getpid, {0}, 0},
        {"keyctl", SYS_keyctl, {0 /* GET_KEYRING_ID */, -3 /* session */, 0}, EPERM},
        {"add_key", SYS_add_key, {0, 0, 0}, EPERM},
        {"mount", SYS_mount, {(long)"none", (long)"/nonexistent-moat-test", (long)"tmpfs"}, EPERM},
        {"unshare(CLONE_NEWUSER)", SYS_unshare, {CLONE_NEWUSER}, EPERM},
        {"clone(CLONE_NEWUSER)", SYS_clone, {CLONE_NEWUSER | SIGCHLD, 0, 0}, EPERM},
        {"clone3", SYS_clone3, {0, 0}, ENOSYS},
        {"socket(AF_ALG)", SYS_socket, {AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0}, EPERM},
        {"socket(AF_VSOCK)", SYS_socket, {AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0}, EPERM},
        {"socket(AF_ALG | 1<<32)", SYS_socket, {(1L << 32) | AF_ALG, SOCK_SEQPACKET | SOCK_CLOEXEC, 0}, EPERM},
        {"socket(AF_INET)", SYS_socket, {AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0}, 0},
        {"io_uring_setup", SYS_io_uring_setup, {1, 0}, EPERM},
        {"personality(ADDR_NO_RANDOMIZE)", SYS_personality, {ADDR_NO_RANDOMIZE}, EPERM},
        {"personality(query)", SYS_personality, {0xffffffffL}, 0},
        {"bpf", SYS_bpf, {0, 0, 0}, EPERM},
        {"kexec_load (unnamed, below the highest)", SYS_kexec_load, {0, 0, 0}, EPERM},
        {"syscall 1000", 1000, {0}, ENOSYS},
        {"syscall 463 (newer than the profile)", 463, {-1L, 0, 0}, ENOSYS},
    };
    struct checks_arg a = {p, checks, ARRAY_SIZE(checks) - (kernel_knows_463 ? 0 : 1)};
    int st = in_child(child_checks, &a);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_load_restricted_profile(void)
{
#ifndef __x86_64__
    UNIT_SKIP("the probes use x86_64 syscall numbers");
#endif
    _cleanup_prog_ struct moat_seccomp_prog *p = compile_builtin("restricted", 0);
    if (!p) {
        unit_failures++;
        return;
    }
    const struct sys_check checks[] = {
        {"getpid", SYS_getpid, {0}, 0},
        {"socket(AF_UNIX)", SYS_socket, {AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0}, 0},
        {"socket(AF_NETLINK, ROUTE)", SYS_socket, {AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0}, 0},
        {"socket(AF_NETLINK, AUDIT)", SYS_socket, {AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 9}, EPERM},
        {"socket(AF_PACKET)", SYS_socket, {AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0}, EPERM},
        {"ptrace(PTRACE_TRACEME)", SYS_ptrace, {0}, EPERM},
        {"userfaultfd", SYS_userfaultfd, {0}, EPERM},
        {"clone3", SYS_clone3, {0, 0}, ENOSYS},
        {"syscall 1000", 1000, {0}, ENOSYS},
    };
    struct checks_arg a = {p, checks, ARRAY_SIZE(checks)};
    int st = in_child(child_checks, &a);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int child_errno_and_default(const void *p)
{
    int r = child_load(p, NULL);
    if (r)
        return r;
    const struct sys_check checks[] = {
        {"getppid: errnoRet 100", SYS_getppid, {0}, 100},
        {"getuid: defaultErrnoRet ENXIO", SYS_getuid, {0}, ENXIO},
        {"getpid: allowed", SYS_getpid, {0}, 0},
        {"syscall 1000: ENOSYS", 1000, {0}, ENOSYS},
    };
    return run_checks(checks, ARRAY_SIZE(checks));
}

static int child_call_getpgrp(const void *p)
{
    int r = child_load(p, NULL);
    if (r)
        return r;
    syscall(SYS_getpgrp);
    return 0; /* not reached when the filter works */
}

static void test_load_actions(void)
{
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_prog_ struct moat_seccomp_prog *p = NULL, *k = NULL;
    CHECK(compile_str("{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"defaultErrnoRet\":6,"
                      "\"flags\":[\"SECCOMP_FILTER_FLAG_TSYNC\",\"SECCOMP_FILTER_FLAG_LOG\",\"SECCOMP_FILTER_FLAG_SPEC_ALLOW\"],"
                      "\"syscalls\":[{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":100},"
                      "{\"names\":[\"exit\",\"exit_group\",\"write\",\"getpid\",\"rt_sigreturn\"],"
                      "\"action\":\"SCMP_ACT_ALLOW\"}]}",
                      &p, &err) == 0);
    CHECK(compile_str("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[{\"names\":[\"getpgrp\"],"
                      "\"action\":\"SCMP_ACT_KILL_PROCESS\"}]}",
                      &k, &err) == 0);
    if (!p || !k) {
        fprintf(stderr, "    %s\n", err->msg);
        unit_failures++;
        return;
    }
    int st = in_child(child_errno_and_default, p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = in_child(child_call_getpgrp, k);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS);
}

static int child_notify(const void *p)
{
    int fd = -1;
    int r = child_load(p, &fd);
    if (r)
        return r;
    if (fd < 0)
        return 10;
    int fl = fcntl(fd, F_GETFD);
    if (fl < 0 || !(fl & FD_CLOEXEC))
        return 11;
    return 0;
}

static int child_without_nnp(const void *p)
{
    /* No no_new_privs and no CAP_SYS_ADMIN: the kernel refuses. */
    moat_error *err = NULL;
    capng_clear(CAPNG_SELECT_BOTH);
    if (capng_apply(CAPNG_SELECT_BOTH) < 0)
        return 20;
    if (moat_seccomp_load(p, NULL, &err) == 0)
        return 21;
    return err->errnum == EACCES && strstr(err->msg, "no_new_privs") ? 0 : 22;
}

static void test_load_notify_and_refusal(void)
{
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_prog_ struct moat_seccomp_prog *p = NULL;
    CHECK(compile_str("{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"flags\":[\"SECCOMP_FILTER_FLAG_TSYNC\","
                      "\"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV\"],"
                      "\"syscalls\":[{\"names\":[\"getppid\"],\"action\":\"SCMP_ACT_NOTIFY\"}]}",
                      &p, &err) == 0);
    if (!p) {
        fprintf(stderr, "    %s\n", err->msg);
        unit_failures++;
        return;
    }
    CHECK(moat_seccomp_prog_needs_notify(p));
    int st = in_child(child_notify, p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (geteuid() != 0)
        UNIT_SKIP("dropping CAP_SYS_ADMIN to see the refusal needs root");
    st = in_child(child_without_nnp, p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

#ifdef __x86_64__
/* An i386 syscall from this 64-bit process (IA32 emulation). */
static long int80(long nr, long a, long b, long c)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a), "c"(b), "d"(c) : "r8", "r9", "r10", "r11", "memory");
    return ret;
}

static int child_i386(const void *p)
{
    int r = child_load(p, NULL);
    if (r)
        return r;
    if (int80(20 /* getpid */, 0, 0, 0) != getpid())
        return 30;
    if (int80(288 /* keyctl */, 0, -3, 0) != -EPERM)
        return 31;
    if (int80(120 /* clone */, CLONE_NEWUSER | SIGCHLD, 0, 0) != -EPERM)
        return 32;
    if (int80(435 /* clone3 */, 0, 0, 0) != -ENOSYS)
        return 33;
    if (int80(1000, 0, 0, 0) != -ENOSYS)
        return 34;
    return 0;
}

/* Probe in a child: a kernel without IA32 emulation (ia32_emulation=0, or
 * built without it) answers int 0x80 with SIGSEGV rather than -ENOSYS. */
static bool have_ia32(void)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL); /* no sanitizer report for the expected fault */
        _exit(int80(20, 0, 0, 0) == getpid() ? 0 : 1);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return false;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_load_i386_compat(void)
{
    if (!have_ia32())
        UNIT_SKIP("the kernel has no IA32 emulation");
    _cleanup_prog_ struct moat_seccomp_prog *p = compile_builtin("default", moat_caps);
    if (!p) {
        unit_failures++;
        return;
    }
    int st = in_child(child_i386, p);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (WIFEXITED(st) && WEXITSTATUS(st))
        fprintf(stderr, "    i386 check %d failed\n", WEXITSTATUS(st));
}
#else
static void test_load_i386_compat(void) { UNIT_SKIP("x86_64 only"); }
#endif

static const struct unit_test seccomp_tests[] = {
    UNIT_TEST(test_stub_logic),
    UNIT_TEST(test_profile_default_caps),
    UNIT_TEST(test_profile_sys_admin),
    UNIT_TEST(test_profile_restricted),
    UNIT_TEST(test_profile_conditions),
    UNIT_TEST(test_profile_errors),
    UNIT_TEST(test_compile_errors),
    UNIT_TEST(test_compile_program),
    UNIT_TEST(test_compile_same_arg_or),
    UNIT_TEST(test_load_default_profile),
    UNIT_TEST(test_load_restricted_profile),
    UNIT_TEST(test_load_actions),
    UNIT_TEST(test_load_notify_and_refusal),
    UNIT_TEST(test_load_i386_compat),
    UNIT_END,
};
UNIT_SUITE(seccomp, seccomp_tests);

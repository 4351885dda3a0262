/* Seccomp: OCI linux.seccomp -> BPF program (libseccomp), loaded later with
 * seccomp(2).
 *
 * The runtime compiles in the parent before forking the container and loads
 * right before execve, so compiling has no effect on the calling process: the
 * libseccomp context is exported as raw BPF (through a memfd), the -ENOSYS
 * stub is prepended, and loading is a single seccomp() call. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "moat/cleanup.h"
#include "moat/log.h"
#include "moat/seccomp.h"
#include "moat/util.h"
#include "runtime/seccomp_internal.h"

#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif
#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

#define SC_PATH "/linux/seccomp"
#define MAX_ERRNO_RET 4095u /* the kernel clamps SECCOMP_RET_ERRNO data to MAX_ERRNO */

struct moat_seccomp_prog {
    struct sock_filter *insns;
    size_t n_insns;
    unsigned int flags; /* SECCOMP_FILTER_FLAG_* from the spec (without NEW_LISTENER) */
    bool notify;
};

/* ---- name tables ------------------------------------------------------------------------- */

static const struct {
    const char *name;
    uint32_t arch;
} arch_table[] = {
    {"SCMP_ARCH_X86", SCMP_ARCH_X86},
    {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
    {"SCMP_ARCH_X32", SCMP_ARCH_X32},
    {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
    {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},
    {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
    {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},
    {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
    {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
    {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
    {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32},
    {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
    {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},
    {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},
    {"SCMP_ARCH_S390", SCMP_ARCH_S390},
    {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},
    {"SCMP_ARCH_PARISC", SCMP_ARCH_PARISC},
    {"SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64},
#ifdef SCMP_ARCH_RISCV64
    {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
#endif
#ifdef SCMP_ARCH_LOONGARCH64
    {"SCMP_ARCH_LOONGARCH64", SCMP_ARCH_LOONGARCH64},
#endif
#ifdef SCMP_ARCH_M68K
    {"SCMP_ARCH_M68K", SCMP_ARCH_M68K},
#endif
#ifdef SCMP_ARCH_SH
    {"SCMP_ARCH_SH", SCMP_ARCH_SH},
#endif
};

static const struct {
    const char *name;
    enum scmp_compare op;
} op_table[] = {
    {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
    {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
    {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
};

static const struct {
    const char *name;
    unsigned int flag;
} flag_table[] = {
    {"SECCOMP_FILTER_FLAG_TSYNC", SECCOMP_FILTER_FLAG_TSYNC},
    {"SECCOMP_FILTER_FLAG_LOG", SECCOMP_FILTER_FLAG_LOG},
    {"SECCOMP_FILTER_FLAG_SPEC_ALLOW", SECCOMP_FILTER_FLAG_SPEC_ALLOW},
    {"SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV},
};

enum act_data { ACT_NO_DATA, ACT_ERRNO, ACT_TRACE };
static const struct {
    const char *name;
    uint32_t act;
    enum act_data data;
} action_table[] = {
    {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD, ACT_NO_DATA},
    {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD, ACT_NO_DATA},
    {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS, ACT_NO_DATA},
    {"SCMP_ACT_TRAP", SCMP_ACT_TRAP, ACT_NO_DATA},
    {"SCMP_ACT_ERRNO", SCMP_ACT_ERRNO(0), ACT_ERRNO},
    {"SCMP_ACT_TRACE", SCMP_ACT_TRACE(0), ACT_TRACE},
    {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW, ACT_NO_DATA},
    {"SCMP_ACT_LOG", SCMP_ACT_LOG, ACT_NO_DATA},
    {"SCMP_ACT_NOTIFY", SCMP_ACT_NOTIFY, ACT_NO_DATA},
};

int moat_seccomp_arch_from_name(const char *name, uint32_t *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(arch_table); i++)
        if (strcmp(name, arch_table[i].name) == 0) {
            *ret = arch_table[i].arch;
            return 0;
        }
    return -1;
}

int moat_seccomp_op_from_name(const char *name, int *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(op_table); i++)
        if (strcmp(name, op_table[i].name) == 0) {
            *ret = (int)op_table[i].op;
            return 0;
        }
    return -1;
}

int moat_seccomp_flag_from_name(const char *name, unsigned int *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(flag_table); i++)
        if (strcmp(name, flag_table[i].name) == 0) {
            *ret = flag_table[i].flag;
            return 0;
        }
    return -1;
}

static int action_index(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(action_table); i++)
        if (strcmp(name, action_table[i].name) == 0)
            return (int)i;
    return -1;
}

bool moat_seccomp_action_known(const char *name) { return action_index(name) >= 0; }

bool moat_seccomp_action_takes_errno(const char *name)
{
    int i = action_index(name);
    return i >= 0 && action_table[i].data != ACT_NO_DATA;
}

/* OCI action name + optional errnoRet -> libseccomp action.  `where` is the
 * rule's JSON path, `akey`/`ekey` the names of the two fields. */
static int resolve_action(const char *name, bool has_errno, uint32_t errno_ret, const char *where, const char *akey,
                          const char *ekey, uint32_t *ret, moat_error **err)
{
    int i = action_index(name);
    if (i < 0)
        return moat_err(err, EINVAL, "%s/%s: unknown action '%s'", where, akey, name);
    switch (action_table[i].data) {
    case ACT_NO_DATA:
        if (has_errno)
            return moat_err(err, EINVAL, "%s/%s: only SCMP_ACT_ERRNO and SCMP_ACT_TRACE take a return value, not %s",
                            where, ekey, name);
        *ret = action_table[i].act;
        return 0;
    case ACT_ERRNO:
        if (has_errno && errno_ret > MAX_ERRNO_RET)
            return moat_err(err, ERANGE, "%s/%s: errno %u is out of range [0, %u]", where, ekey, errno_ret,
                            MAX_ERRNO_RET);
        *ret = SCMP_ACT_ERRNO(has_errno ? errno_ret : EPERM);
        return 0;
    case ACT_TRACE:
        if (has_errno && errno_ret > 0xffffu)
            return moat_err(err, ERANGE, "%s/%s: trace message %u is out of range [0, 65535]", where, ekey,
                            errno_ret);
        *ret = SCMP_ACT_TRACE(has_errno ? errno_ret : EPERM);
        return 0;
    }
    return moat_err(err, EINVAL, "%s/%s: unknown action '%s'", where, akey, name);
}

/* ---- the -ENOSYS stub -------------------------------------------------------------------- */

#define STUB_JA_END 0xffffffffu /* placeholder k of a jump to the end, fixed up last */

static void stub_emit(struct sock_filter *f, size_t *pc, struct sock_filter insn) { f[(*pc)++] = insn; }

/* One ABI half: "if nr > max return ENOSYS" and go to the end; or straight
 * to the end when this ABI gets no stub. */
static size_t stub_part_len(const struct moat_seccomp_stub_part *p) { return p->present ? 3 : 1; }

static void stub_emit_part(struct sock_filter *f, size_t *pc, const struct moat_seccomp_stub_part *p)
{
    if (p->present) {
        stub_emit(f, pc, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, p->max_nr, 0, 1));
        stub_emit(f, pc, (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));
    }
    stub_emit(f, pc, (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, STUB_JA_END));
}

static bool stub_needed(const struct moat_seccomp_stub_arch *a)
{
    return a->main.present || (a->split_x32 && a->x32.present);
}

int moat_seccomp_build_stub(const struct moat_seccomp_stub_arch *arches, size_t n, struct sock_filter **ret,
                            size_t *ret_len)
{
    *ret = NULL;
    *ret_len = 0;
    if (n > MOAT_SECCOMP_STUB_MAX_ARCHES)
        return -1;
    bool any = false;
    for (size_t i = 0; i < n; i++)
        any |= stub_needed(&arches[i]);
    if (!any)
        return 0;
    /* Per arch at most: jeq, ld nr, jset, 3 + 3; plus the leading ld arch. */
    struct sock_filter *f = xcalloc(1 + n * 9, sizeof(*f));
    size_t pc = 0;
    stub_emit(f, &pc, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
    for (size_t i = 0; i < n; i++) {
        const struct moat_seccomp_stub_arch *a = &arches[i];
        if (!stub_needed(a))
            continue;
        /* The accumulator holds the arch until an entry matches; a matched
         * entry always leaves through a return or a jump to the end. */
        size_t start = pc;
        stub_emit(f, &pc, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, a->audit_arch, 0, 0));
        stub_emit(f, &pc, (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
        if (a->split_x32)
            stub_emit(f, &pc,
                      (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MOAT_SECCOMP_X32_BIT,
                                                   (uint8_t)stub_part_len(&a->main), 0));
        stub_emit_part(f, &pc, &a->main);
        if (a->split_x32)
            stub_emit_part(f, &pc, &a->x32);
        f[start].jf = (uint8_t)(pc - start - 1); /* at most 8: next entry */
    }
    for (size_t i = 0; i < pc; i++)
        if (f[i].code == (BPF_JMP | BPF_JA) && f[i].k == STUB_JA_END)
            f[i].k = (uint32_t)(pc - i - 1);
    *ret = f;
    *ret_len = pc;
    return (int)pc;
}

/* ---- compile ----------------------------------------------------------------------------- */

static void seccomp_ctx_releasep(scmp_filter_ctx *ctx)
{
    if (*ctx)
        seccomp_release(*ctx);
}
#define _cleanup_scmp_ _cleanup_(seccomp_ctx_releasep)

/* Whether the running kernel accepts a filter flag: with a NULL program the
 * kernel validates the flags first (EINVAL) and then faults (EFAULT).
 * Nothing is installed either way. */
static bool kernel_has_flag(unsigned int flag)
{
    unsigned int probe = flag;
    if (flag == SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV)
        probe |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, probe, NULL);
    return r < 0 && errno == EFAULT;
}

static int parse_flags(const struct oci_seccomp *sc, unsigned int *ret, moat_error **err)
{
    *ret = 0;
    for (size_t i = 0; sc->flags && sc->flags[i]; i++) {
        unsigned int f;
        if (moat_seccomp_flag_from_name(sc->flags[i], &f) < 0)
            return moat_err(err, EINVAL, SC_PATH "/flags/%zu: unknown flag '%s'", i, sc->flags[i]);
        if (!kernel_has_flag(f))
            return moat_err(err, EOPNOTSUPP, SC_PATH "/flags/%zu: flag '%s' is not supported by the running kernel", i,
                            sc->flags[i]);
        *ret |= f;
    }
    return 0;
}

/* The arches in the filter: native first, then the spec's (deduplicated). */
static int add_arches(scmp_filter_ctx ctx, const struct oci_seccomp *sc, uint32_t *arches, size_t *n,
                      moat_error **err)
{
    arches[0] = seccomp_arch_native();
    *n = 1;
    for (size_t i = 0; sc->architectures && sc->architectures[i]; i++) {
        uint32_t a;
        if (moat_seccomp_arch_from_name(sc->architectures[i], &a) < 0)
            return moat_err(err, EINVAL, SC_PATH "/architectures/%zu: unknown architecture '%s'", i,
                            sc->architectures[i]);
        bool seen = false;
        for (size_t j = 0; j < *n; j++)
            seen |= arches[j] == a;
        if (seen)
            continue;
        if (*n >= MOAT_SECCOMP_STUB_MAX_ARCHES)
            return moat_err(err, E2BIG, SC_PATH "/architectures: too many architectures");
        int r = seccomp_arch_add(ctx, a);
        if (r < 0 && r != -EEXIST)
            return moat_err_errno(err, -r, SC_PATH "/architectures/%zu: cannot add architecture '%s'", i,
                                  sc->architectures[i]);
        arches[(*n)++] = a;
    }
    return 0;
}

/* Add one OCI rule.  Like runc: all argument conditions of a rule must hold
 * (AND), except when the rule names the same argument twice, which libseccomp
 * cannot express; then each condition becomes a rule of its own (OR). */
static int add_rule(scmp_filter_ctx ctx, const struct oci_seccomp_rule *rule, size_t ri, uint32_t act,
                    moat_error **err)
{
    struct scmp_arg_cmp cmp[6];
    unsigned seen = 0;
    bool same_arg = false;
    if (rule->n_args > ARRAY_SIZE(cmp))
        return moat_err(err, E2BIG, SC_PATH "/syscalls/%zu/args: at most 6 argument conditions", ri);
    for (size_t j = 0; j < rule->n_args; j++) {
        const struct oci_seccomp_arg *a = &rule->args[j];
        int op;
        if (moat_seccomp_op_from_name(a->op, &op) < 0)
            return moat_err(err, EINVAL, SC_PATH "/syscalls/%zu/args/%zu/op: unknown operator '%s'", ri, j, a->op);
        if (a->index > 5)
            return moat_err(err, EINVAL, SC_PATH "/syscalls/%zu/args/%zu/index: %u is not in [0, 5]", ri, j,
                            a->index);
        same_arg |= (seen >> a->index) & 1;
        seen |= 1u << a->index;
        cmp[j] = (struct scmp_arg_cmp){.arg = a->index, .op = (enum scmp_compare)op, .datum_a = a->value,
                                       .datum_b = a->value_two};
    }
    for (size_t k = 0; rule->names[k]; k++) {
        int nr = seccomp_syscall_resolve_name(rule->names[k]);
        if (nr == __NR_SCMP_ERROR) {
            moat_log(MOAT_LOG_DEBUG, "seccomp: " SC_PATH "/syscalls/%zu/names/%zu: unknown syscall '%s', skipped", ri,
                     k, rule->names[k]);
            continue;
        }
        int r = 0;
        if (same_arg)
            for (size_t j = 0; j < rule->n_args && r == 0; j++)
                r = seccomp_rule_add_array(ctx, act, nr, 1, &cmp[j]);
        else
            r = seccomp_rule_add_array(ctx, act, nr, (unsigned)rule->n_args, cmp);
        if (r < 0)
            return moat_err_errno(err, -r, SC_PATH "/syscalls/%zu: add rule for '%s'", ri, rule->names[k]);
    }
    return 0;
}

static int add_rules(scmp_filter_ctx ctx, const struct oci_seccomp *sc, uint32_t def, bool *notify, moat_error **err)
{
    for (size_t i = 0; i < sc->n_rules; i++) {
        const struct oci_seccomp_rule *rule = &sc->rules[i];
        _cleanup_free_ char *where = xasprintf(SC_PATH "/syscalls/%zu", i);
        uint32_t act;
        if (resolve_action(rule->action, rule->has_errno, rule->errno_ret, where, "action", "errnoRet", &act, err) <
            0)
            return -1;
        if (!rule->names || !rule->names[0])
            return moat_err(err, EINVAL, "%s/names: must not be empty", where);
        if (act == def) /* libseccomp refuses it, and it changes nothing */
            continue;
        *notify |= act == SCMP_ACT_NOTIFY;
        if (add_rule(ctx, rule, i, act, err) < 0)
            return -1;
    }
    return 0;
}

/* libseccomp 2.5 exports only to an fd: a memfd, read back into memory. */
static int export_bpf(scmp_filter_ctx ctx, struct sock_filter **ret, size_t *ret_n, moat_error **err)
{
    _cleanup_close_ int fd = memfd_create("moat-seccomp-bpf", MFD_CLOEXEC);
    if (fd < 0)
        return moat_err_sys(err, "memfd_create");
    int r = seccomp_export_bpf(ctx, fd);
    if (r < 0)
        return moat_err_errno(err, -r, "seccomp_export_bpf");
    struct stat st;
    if (fstat(fd, &st) < 0)
        return moat_err_sys(err, "fstat seccomp memfd");
    size_t sz = (size_t)st.st_size;
    if (sz == 0 || sz % sizeof(struct sock_filter) != 0 || sz > 65536 * sizeof(struct sock_filter))
        return moat_err(err, EINVAL, "seccomp_export_bpf: unexpected program size %zu", sz);
    _cleanup_free_ struct sock_filter *insns = xmalloc(sz);
    ssize_t n = pread(fd, insns, sz, 0);
    if (n < 0)
        return moat_err_sys(err, "read seccomp memfd");
    if ((size_t)n != sz)
        return moat_err(err, EIO, "read seccomp memfd: short read");
    *ret = TAKE_PTR(insns);
    *ret_n = sz / sizeof(struct sock_filter);
    return 0;
}

/* Whether unnamed syscalls would be refused, so that ENOSYS for syscalls
 * newer than the profile is the better answer. */
static bool default_denies(uint32_t def)
{
    uint32_t kind = def & SECCOMP_RET_ACTION_FULL;
    if (kind == SECCOMP_RET_ERRNO)
        return (def & SECCOMP_RET_DATA) != ENOSYS;
    return kind == SECCOMP_RET_KILL_PROCESS || kind == SECCOMP_RET_KILL_THREAD || kind == SECCOMP_RET_TRAP;
}

/* Highest syscall number the rules name for each arch, as stub input. */
static size_t stub_arches(const struct oci_seccomp *sc, const uint32_t *arches, size_t n_arches,
                          struct moat_seccomp_stub_arch *out)
{
    size_t n = 0;
    for (size_t i = 0; i < n_arches; i++) {
        bool is_x32 = arches[i] == SCMP_ARCH_X32;
        uint32_t audit = is_x32 ? AUDIT_ARCH_X86_64 : arches[i];
        struct moat_seccomp_stub_arch *e = NULL;
        for (size_t j = 0; j < n; j++)
            if (out[j].audit_arch == audit)
                e = &out[j];
        if (!e) {
            e = &out[n++];
            *e = (struct moat_seccomp_stub_arch){.audit_arch = audit, .split_x32 = audit == AUDIT_ARCH_X86_64};
        }
        struct moat_seccomp_stub_part *p = is_x32 ? &e->x32 : &e->main;
        for (size_t r = 0; r < sc->n_rules; r++)
            for (size_t k = 0; sc->rules[r].names && sc->rules[r].names[k]; k++) {
                int nr = seccomp_syscall_resolve_name_arch(arches[i], sc->rules[r].names[k]);
                if (nr < 0)
                    continue;
                if (!p->present || (uint32_t)nr > p->max_nr)
                    p->max_nr = (uint32_t)nr;
                p->present = true;
            }
    }
    return n;
}

static int prepend_stub(const struct oci_seccomp *sc, const uint32_t *arches, size_t n_arches,
                        struct moat_seccomp_prog *prog, moat_error **err)
{
    struct moat_seccomp_stub_arch sa[MOAT_SECCOMP_STUB_MAX_ARCHES];
    size_t n = stub_arches(sc, arches, n_arches, sa);
    _cleanup_free_ struct sock_filter *stub = NULL;
    size_t stub_len;
    if (moat_seccomp_build_stub(sa, n, &stub, &stub_len) < 0)
        return moat_err(err, E2BIG, "seccomp: too many architectures");
    if (stub_len == 0)
        return 0;
    struct sock_filter *all = xcalloc(stub_len + prog->n_insns, sizeof(*all));
    memcpy(all, stub, stub_len * sizeof(*all));
    memcpy(all + stub_len, prog->insns, prog->n_insns * sizeof(*all));
    free(prog->insns);
    prog->insns = all;
    prog->n_insns += stub_len;
    return 0;
}

static int build_filter(const struct oci_seccomp *sc, uint32_t def, struct moat_seccomp_prog *prog, moat_error **err)
{
    _cleanup_scmp_ scmp_filter_ctx ctx = seccomp_init(def);
    if (!ctx)
        return moat_err(err, EINVAL, SC_PATH "/defaultAction: '%s' is not supported by libseccomp or the kernel",
                        sc->default_action);
    /* A syscall from an ABI the filter does not cover kills the process
     * (libseccomp's default kills only the thread). */
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (r < 0)
        return moat_err_errno(err, -r, "seccomp_attr_set(SCMP_FLTATR_ACT_BADARCH)");
    uint32_t arches[MOAT_SECCOMP_STUB_MAX_ARCHES];
    size_t n_arches;
    if (add_arches(ctx, sc, arches, &n_arches, err) < 0 || add_rules(ctx, sc, def, &prog->notify, err) < 0 ||
        export_bpf(ctx, &prog->insns, &prog->n_insns, err) < 0)
        return -1;
    if (default_denies(def) && prepend_stub(sc, arches, n_arches, prog, err) < 0)
        return -1;
    if (prog->n_insns > BPF_MAXINSNS)
        return moat_err(err, E2BIG, "seccomp filter has %zu instructions, over the kernel's limit of %d",
                        prog->n_insns, BPF_MAXINSNS);
    return 0;
}

int moat_seccomp_compile(const struct oci_seccomp *sc, struct moat_seccomp_prog **ret, moat_error **err)
{
    uint32_t def;
    if (!sc->default_action)
        return moat_err(err, EINVAL, SC_PATH "/defaultAction: missing");
    if (resolve_action(sc->default_action, sc->has_default_errno, sc->default_errno, SC_PATH, "defaultAction",
                       "defaultErrnoRet", &def, err) < 0)
        return -1;
    struct moat_seccomp_prog *prog = xcalloc(1, sizeof(*prog));
    if (parse_flags(sc, &prog->flags, err) < 0 || build_filter(sc, def, prog, err) < 0) {
        moat_seccomp_prog_free(prog);
        return -1;
    }
    prog->notify |= def == SCMP_ACT_NOTIFY;
    *ret = prog;
    return 0;
}

int moat_seccomp_compile_cached(const struct oci_seccomp *sc, int cache_dirfd, struct moat_seccomp_prog **ret,
                                moat_error **err)
{
    _cleanup_free_ uint8_t *key = NULL;
    size_t key_len = 0;
    if (cache_dirfd < 0 || moat_seccomp_cache_key(sc, &key, &key_len) < 0)
        return moat_seccomp_compile(sc, ret, err);
    struct moat_seccomp_prog *prog = xcalloc(1, sizeof(*prog));
    if (moat_seccomp_cache_get(cache_dirfd, key, key_len, &prog->insns, &prog->n_insns, &prog->notify) == 0) {
        /* flags are probed on the running kernel every time (cheap) */
        if (parse_flags(sc, &prog->flags, err) < 0) {
            moat_seccomp_prog_free(prog);
            return -1;
        }
        *ret = prog;
        return 0;
    }
    moat_seccomp_prog_free(prog);
    if (moat_seccomp_compile(sc, &prog, err) < 0)
        return -1;
    moat_seccomp_cache_put(cache_dirfd, key, key_len, prog->insns, prog->n_insns, prog->notify);
    *ret = prog;
    return 0;
}

/* ---- load -------------------------------------------------------------------------------- */

int moat_seccomp_load(const struct moat_seccomp_prog *prog, int *ret_notify_fd, moat_error **err)
{
    if (ret_notify_fd)
        *ret_notify_fd = -1;
    struct sock_fprog fp = {.len = (unsigned short)prog->n_insns, .filter = prog->insns};
    unsigned int flags = prog->flags;
    if (prog->notify) {
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
        /* TSYNC reports a failed thread by its id, which the listener fd
         * return would shadow: ask for ESRCH instead. */
        if (flags & SECCOMP_FILTER_FLAG_TSYNC)
            flags |= SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
    } else {
        flags &= ~(unsigned int)SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV; /* only valid with a listener */
    }
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fp);
    if (r < 0) {
        if (errno == EACCES)
            return moat_err_sys(err, "seccomp(SECCOMP_SET_MODE_FILTER) (needs no_new_privs or CAP_SYS_ADMIN)");
        return moat_err_sys(err, "seccomp(SECCOMP_SET_MODE_FILTER)");
    }
    if (!prog->notify && r > 0)
        return moat_err(err, ESRCH, "seccomp(SECCOMP_FILTER_FLAG_TSYNC): thread %ld could not be synchronised", r);
    if (prog->notify) {
        if (ret_notify_fd)
            *ret_notify_fd = (int)r;
        else
            close((int)r);
    }
    return 0;
}

void moat_seccomp_prog_free(struct moat_seccomp_prog *prog)
{
    if (!prog)
        return;
    free(prog->insns);
    free(prog);
}

const struct sock_filter *moat_seccomp_prog_insns(const struct moat_seccomp_prog *prog, size_t *ret_n)
{
    *ret_n = prog->n_insns;
    return prog->insns;
}

bool moat_seccomp_prog_needs_notify(const struct moat_seccomp_prog *prog) { return prog && prog->notify; }

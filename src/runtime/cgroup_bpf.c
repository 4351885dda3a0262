/* The cgroup v2 device filter: a BPF_PROG_TYPE_CGROUP_DEVICE program
 * generated from the OCI device rules (as crun's ebpf.c and runc's
 * devicefilter do), loaded and attached with libbpf.
 *
 * Semantics, the same as the v1 devices.allow/deny sequence moat writes:
 * the last rule that matches decides, and a request no rule matches is
 * denied.  An allow rule matches when it grants every access asked for; a
 * deny rule when it names any of them (so "deny w" refuses an "rw" open even
 * if an earlier rule allowed "rwm"). */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "moat/log.h"
#include "moat/util.h"
#include "runtime/cgroup_internal.h"

#define INSN(c, d, s, o, i) ((struct bpf_insn){.code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i)})
#define LDX_W(dst, src, off) INSN(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0)
#define ALU32_IMM(op, dst, imm) INSN(BPF_ALU | (op) | BPF_K, dst, 0, 0, imm)
#define MOV32_REG(dst, src) INSN(BPF_ALU | BPF_MOV | BPF_X, dst, src, 0, 0)
#define MOV64_IMM(dst, imm) INSN(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm)
#define JMP_IMM(op, dst, imm, off) INSN(BPF_JMP | (op) | BPF_K, dst, 0, off, imm)
#define EXIT_INSN() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* Registers after the prologue. */
enum { R_TYPE = 2, R_ACCESS = 3, R_MAJOR = 4, R_MINOR = 5, R_TMP = 1 };

static int32_t access_bits(const char *a)
{
    int32_t m = 0;
    for (; *a; a++)
        m |= *a == 'r' ? BPF_DEVCG_ACC_READ : *a == 'w' ? BPF_DEVCG_ACC_WRITE : *a == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
    return m;
}

#define ACC_ALL (BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD)

/* Emit one rule's block into out (NULL: just count).  *ret_all: it matches
 * every request, so rules before it can never decide. */
static size_t emit_rule(const struct oci_device_rule *r, struct bpf_insn *out, bool *ret_all)
{
    struct bpf_insn b[8];
    size_t n = 0;
    int32_t acc = access_bits(r->access);
    bool typed = r->type == 'c' || r->type == 'b';
    /* Jump offsets are filled in below, once the block's length is known. */
    if (typed)
        b[n++] = JMP_IMM(BPF_JNE, R_TYPE, r->type == 'c' ? BPF_DEVCG_DEV_CHAR : BPF_DEVCG_DEV_BLOCK, 0);
    if (acc != ACC_ALL) {
        b[n++] = MOV32_REG(R_TMP, R_ACCESS);
        if (r->allow) { /* asked & ~granted must be empty */
            b[n++] = ALU32_IMM(BPF_AND, R_TMP, ~acc & ACC_ALL);
            b[n++] = JMP_IMM(BPF_JNE, R_TMP, 0, 0);
        } else { /* asked & denied must not be */
            b[n++] = ALU32_IMM(BPF_AND, R_TMP, acc);
            b[n++] = JMP_IMM(BPF_JEQ, R_TMP, 0, 0);
        }
    }
    if (r->major >= 0)
        b[n++] = JMP_IMM(BPF_JNE, R_MAJOR, (int32_t)r->major, 0);
    if (r->minor >= 0)
        b[n++] = JMP_IMM(BPF_JNE, R_MINOR, (int32_t)r->minor, 0);
    *ret_all = n == 0;
    b[n++] = MOV64_IMM(0, r->allow ? 1 : 0);
    b[n++] = EXIT_INSN();
    for (size_t i = 0; i < n; i++)
        if (BPF_CLASS(b[i].code) == BPF_JMP && BPF_OP(b[i].code) != BPF_EXIT)
            b[i].off = (int16_t)(n - i - 1); /* to the next rule */
    if (out)
        memcpy(out, b, n * sizeof(*b));
    return n;
}

int cg_bpf_devices_build(const struct cg_devrules *dev, struct bpf_insn **ret, size_t *ret_n, moat_error **err)
{
    if (dev->n > OCI_MAX_ENTRIES * 2 + 64)
        return moat_err(err, E2BIG, "%zu device rules is too many", dev->n);
    static const struct bpf_insn prologue[] = {
        LDX_W(R_TYPE, 1, 0),                /* access_type */
        ALU32_IMM(BPF_AND, R_TYPE, 0xffff), /* device type */
        LDX_W(R_ACCESS, 1, 0),
        ALU32_IMM(BPF_RSH, R_ACCESS, 16), /* access */
        LDX_W(R_MAJOR, 1, 4),
        LDX_W(R_MINOR, 1, 8),
    };
    size_t cap = ARRAY_SIZE(prologue) + dev->n * 8 + 2, n = 0;
    struct bpf_insn *p = xcalloc(cap, sizeof(*p));
    memcpy(p, prologue, sizeof(prologue));
    n = ARRAY_SIZE(prologue);
    bool all = false;
    /* Last rule first: the first block that matches returns. */
    for (size_t i = dev->n; i-- > 0 && !all;) {
        const struct oci_device_rule *r = &dev->r[i];
        if (!access_bits(r->access) || (r->type != 'a' && r->type != 'c' && r->type != 'b'))
            continue; /* matches nothing */
        n += emit_rule(r, p + n, &all);
    }
    if (!all) {
        p[n++] = MOV64_IMM(0, 0);
        p[n++] = EXIT_INSN();
    }
    *ret = p;
    *ret_n = n;
    return 0;
}

static int libbpf_to_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    char buf[512];
    vsnprintf(buf, sizeof(buf), fmt, ap);
    size_t len = strlen(buf);
    if (len && buf[len - 1] == '\n')
        buf[len - 1] = '\0';
    (void)level; /* failures reach the caller as errors; the rest is detail */
    moat_log(MOAT_LOG_DEBUG, "libbpf: %s", buf);
    return 0;
}

static int load_program(const struct bpf_insn *insns, size_t n, moat_error **err)
{
    /* libbpf prints to stderr by default; library code never prints. */
    libbpf_set_print(libbpf_to_log);
    int fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, CG_BPF_PROG_NAME, "GPL", insns, n, NULL);
    if (fd >= 0)
        return fd;
    int e = errno;
    /* Load again with the verifier log to say why. */
    char *log = xcalloc(1, 65536);
    LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_buf = log, .log_size = 65536, .log_level = 1);
    fd = bpf_prog_load(BPF_PROG_TYPE_CGROUP_DEVICE, CG_BPF_PROG_NAME, "GPL", insns, n, &opts);
    if (fd >= 0)
        return fd;
    size_t len = strlen(log);
    const char *tail = len > 300 ? log + len - 300 : log;
    moat_err_errno(err, e, "bpf_prog_load (device filter, %zu instructions)%s%s", n, *tail ? ": verifier: " : "",
                   tail);
    free(log);
    return -1;
}

/* Ids of the moat device programs attached to cgfd, as open fds. */
static int find_ours(int cgfd, const char *dir, int **ret, size_t *ret_n, moat_error **err)
{
    __u32 cnt = 0, flags = 0;
    *ret = NULL;
    *ret_n = 0;
    if (bpf_prog_query(cgfd, BPF_CGROUP_DEVICE, 0, &flags, NULL, &cnt) < 0)
        return moat_err_sys(err, "bpf_prog_query '%s'", dir);
    if (cnt == 0)
        return 0;
    if (cnt > 4096)
        return moat_err(err, E2BIG, "'%s': %u device programs attached", dir, cnt);
    __u32 *ids = xcalloc(cnt, sizeof(*ids));
    if (bpf_prog_query(cgfd, BPF_CGROUP_DEVICE, 0, &flags, ids, &cnt) < 0) {
        free(ids);
        return moat_err_sys(err, "bpf_prog_query '%s'", dir);
    }
    int *fds = xcalloc(cnt, sizeof(int));
    size_t n = 0;
    for (__u32 i = 0; i < cnt; i++) {
        int fd = bpf_prog_get_fd_by_id(ids[i]);
        if (fd < 0)
            continue; /* detached meanwhile */
        struct bpf_prog_info info = {0};
        __u32 len = sizeof(info);
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0 && strcmp(info.name, CG_BPF_PROG_NAME) == 0)
            fds[n++] = fd;
        else
            close(fd);
    }
    free(ids);
    *ret = fds;
    *ret_n = n;
    return 0;
}

static void close_all(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
}

int cg_bpf_devices_count(const char *dir, size_t *ret, moat_error **err)
{
    _cleanup_close_ int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgfd < 0)
        return moat_err_sys(err, "open '%s'", dir);
    int *fds;
    if (find_ours(cgfd, dir, &fds, ret, err) < 0)
        return -1;
    close_all(fds, *ret);
    return 0;
}

int cg_bpf_devices_apply(const char *dir, const struct cg_devrules *dev, moat_error **err)
{
    _cleanup_free_ struct bpf_insn *insns = NULL;
    size_t n = 0;
    if (cg_bpf_devices_build(dev, &insns, &n, err) < 0)
        return -1;
    _cleanup_close_ int cgfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (cgfd < 0)
        return moat_err_sys(err, "open '%s'", dir);
    int *old = NULL;
    size_t n_old = 0;
    if (find_ours(cgfd, dir, &old, &n_old, err) < 0)
        return -1;
    _cleanup_close_ int prog = load_program(insns, n, err);
    if (prog < 0) {
        close_all(old, n_old);
        return -1;
    }
    /* Attach the new program before detaching the old one: with several
     * programs attached all must allow, so there is no unfiltered moment. */
    if (bpf_prog_attach(prog, cgfd, BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI) < 0) {
        close_all(old, n_old);
        return moat_err_sys(err, "bpf_prog_attach (BPF_CGROUP_DEVICE) to '%s'", dir);
    }
    int ret = 0;
    for (size_t i = 0; i < n_old && ret == 0; i++)
        if (bpf_prog_detach2(old[i], cgfd, BPF_CGROUP_DEVICE) < 0 && errno != ENOENT)
            ret = moat_err_sys(err, "bpf_prog_detach2 (previous device filter) from '%s'", dir);
    close_all(old, n_old);
    return ret;
}

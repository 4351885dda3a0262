/* A cache of compiled seccomp programs.  libseccomp needs ~10 ms to compile
 * the default profile for three architectures, on every create, run and
 * exec; the same section compiles to the same program, so the program is
 * kept in a file keyed by everything the compile depends on.
 *
 * The key is the whole input, not only a hash of it: the seccomp section
 * (every field the compiler reads, length-prefixed), this executable's GNU
 * build id (moat's own code generation, e.g. the -ENOSYS stub), libseccomp's
 * version and API level, the kernel release and the native architecture.  A
 * cache file holds the key in full and is used only when it matches byte for
 * byte; the file name is a hash of the key, which only locates the file (a
 * collision is a miss).  A file is also checked before use: a regular file,
 * not a symlink, ours, mode 0600, of exactly the size its header announces,
 * with a matching checksum (truncation, corruption).  Files are written with
 * moat_write_file_atomic (temp, fsync, rename), so readers see a whole file
 * or none.  The directory is private to the runtime's user (the state root,
 * 0700); whoever can write there can already rewrite container state. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "moat/log.h"
#include "moat/util.h"
#include "moat/version.h"
#include "runtime/seccomp_internal.h"

#define CACHE_MAGIC "MOATSBPF"
#define CACHE_FORMAT 1u
#define CACHE_MAX_KEY (1u << 20)
#define CACHE_MAX_FILES 64

struct cache_header {
    char magic[8];
    uint32_t format;
    uint32_t key_len;
    uint32_t n_insns;
    uint32_t notify;
    uint64_t sum; /* FNV-1a 64 of the header (sum = 0), the key and the program */
};

/* ---- the key ------------------------------------------------------------ */

struct buf {
    uint8_t *p;
    size_t len, cap;
};

static void put(struct buf *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_u64(struct buf *b, uint64_t v) { put(b, &v, sizeof(v)); }

/* A string, or NULL (told apart from ""). */
static void put_str(struct buf *b, const char *s)
{
    put_u64(b, s ? strlen(s) + 1 : 0);
    if (s)
        put(b, s, strlen(s));
}

static void put_strv(struct buf *b, char *const *v)
{
    put_u64(b, v ? moat_strv_len(v) + 1 : 0);
    for (size_t i = 0; v && v[i]; i++)
        put_str(b, v[i]);
}

static int build_id_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    struct buf *out = data;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE)
            continue;
        const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr), *end = p + ph->p_memsz;
        while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
            const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
            size_t name_sz = (nh->n_namesz + 3u) & ~3u, desc_sz = (nh->n_descsz + 3u) & ~3u;
            if (sizeof(*nh) + name_sz + desc_sz > (size_t)(end - p))
                break;
            const uint8_t *name = p + sizeof(*nh), *desc = name + name_sz;
            if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
                nh->n_descsz > 0) {
                put(out, desc, nh->n_descsz);
                return 1;
            }
            p = desc + desc_sz;
        }
    }
    return 1; /* the first object is the executable: stop there either way */
}

int moat_seccomp_cache_key(const struct oci_seccomp *sc, uint8_t **ret, size_t *ret_len)
{
    struct buf id = {0}, b = {0};
    dl_iterate_phdr(build_id_cb, &id);
    if (id.len == 0) /* without a build id we cannot tell our builds apart */
        return -1;
    put(&b, "moat-seccomp-cache", 18);
    put_u64(&b, CACHE_FORMAT);
    put_str(&b, MOAT_VERSION);
    put_u64(&b, id.len);
    put(&b, id.p, id.len);
    free(id.p);
    const struct scmp_version *v = seccomp_version();
    put_u64(&b, v ? ((uint64_t)v->major << 32 | (uint64_t)v->minor << 16 | v->micro) : 0);
    put_u64(&b, seccomp_api_get());
    put_u64(&b, seccomp_arch_native());
    struct utsname u;
    if (uname(&u) == 0) {
        put_str(&b, u.release);
        put_str(&b, u.version);
        put_str(&b, u.machine);
    }
    /* the section: every field the compiler reads */
    put_str(&b, sc->default_action);
    put_u64(&b, sc->has_default_errno ? (uint64_t)1 << 32 | sc->default_errno : 0);
    put_strv(&b, sc->architectures);
    put_strv(&b, sc->flags);
    put_u64(&b, sc->n_rules);
    for (size_t i = 0; i < sc->n_rules; i++) {
        const struct oci_seccomp_rule *r = &sc->rules[i];
        put_strv(&b, r->names);
        put_str(&b, r->action);
        put_u64(&b, r->has_errno ? (uint64_t)1 << 32 | r->errno_ret : 0);
        put_u64(&b, r->n_args);
        for (size_t j = 0; j < r->n_args; j++) {
            put_u64(&b, r->args[j].index);
            put_u64(&b, r->args[j].value);
            put_u64(&b, r->args[j].value_two);
            put_str(&b, r->args[j].op);
        }
    }
    if (b.len > CACHE_MAX_KEY) {
        free(b.p);
        return -1;
    }
    *ret = b.p;
    *ret_len = b.len;
    return 0;
}

/* ---- files -------------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}
#define FNV_INIT 0xcbf29ce484222325ull

static uint64_t file_sum(const struct cache_header *h, const uint8_t *key, const struct sock_filter *insns)
{
    struct cache_header z = *h;
    z.sum = 0;
    uint64_t s = fnv1a(FNV_INIT, &z, sizeof(z));
    s = fnv1a(s, key, h->key_len);
    return fnv1a(s, insns, (size_t)h->n_insns * sizeof(*insns));
}

void moat_seccomp_cache_name(const uint8_t *key, size_t key_len, char name[32])
{
    snprintf(name, 32, "%016" PRIx64 ".bpf", fnv1a(FNV_INIT, key, key_len));
}

int moat_seccomp_cache_get(int dirfd, const uint8_t *key, size_t key_len, struct sock_filter **ret_insns,
                           size_t *ret_n, bool *ret_notify)
{
    char name[32];
    moat_seccomp_cache_name(key, key_len, name);
    _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    struct cache_header h;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) ||
        moat_read_all(fd, &h, sizeof(h)) != (ssize_t)sizeof(h))
        return -1;
    if (memcmp(h.magic, CACHE_MAGIC, sizeof(h.magic)) != 0 || h.format != CACHE_FORMAT || h.key_len != key_len ||
        h.n_insns == 0 || h.n_insns > BPF_MAXINSNS || h.notify > 1 ||
        (uint64_t)st.st_size != sizeof(h) + key_len + (uint64_t)h.n_insns * sizeof(struct sock_filter))
        return -1;
    _cleanup_free_ uint8_t *k = xmalloc(key_len);
    _cleanup_free_ struct sock_filter *insns = xcalloc(h.n_insns, sizeof(*insns));
    if (moat_read_all(fd, k, key_len) != (ssize_t)key_len || memcmp(k, key, key_len) != 0 ||
        moat_read_all(fd, insns, h.n_insns * sizeof(*insns)) != (ssize_t)(h.n_insns * sizeof(*insns)) ||
        file_sum(&h, k, insns) != h.sum)
        return -1;
    *ret_insns = TAKE_PTR(insns);
    *ret_n = h.n_insns;
    *ret_notify = h.notify;
    return 0;
}

/* Keep the directory bounded: past CACHE_MAX_FILES programs, drop the one
 * written longest ago. */
static void prune(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC); /* own offset, unlike dup() */
    _cleanup_closedir_ DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    struct dirent *de;
    size_t n = 0;
    char oldest[256] = "";
    struct timespec t_old = {0};
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        struct stat st;
        if (l < 5 || strcmp(de->d_name + l - 4, ".bpf") != 0 ||
            fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        n++;
        if (!oldest[0] || st.st_mtim.tv_sec < t_old.tv_sec ||
            (st.st_mtim.tv_sec == t_old.tv_sec && st.st_mtim.tv_nsec < t_old.tv_nsec)) {
            snprintf(oldest, sizeof(oldest), "%s", de->d_name);
            t_old = st.st_mtim;
        }
    }
    if (n >= CACHE_MAX_FILES && oldest[0])
        unlinkat(dirfd, oldest, 0);
}

void moat_seccomp_cache_put(int dirfd, const uint8_t *key, size_t key_len, const struct sock_filter *insns, size_t n,
                            bool notify)
{
    if (n == 0 || n > BPF_MAXINSNS || key_len > CACHE_MAX_KEY)
        return;
    struct cache_header h = {.format = CACHE_FORMAT, .key_len = (uint32_t)key_len, .n_insns = (uint32_t)n,
                             .notify = notify};
    memcpy(h.magic, CACHE_MAGIC, sizeof(h.magic));
    h.sum = file_sum(&h, key, insns);
    size_t len = sizeof(h) + key_len + n * sizeof(*insns);
    _cleanup_free_ uint8_t *data = xmalloc(len);
    memcpy(data, &h, sizeof(h));
    memcpy(data + sizeof(h), key, key_len);
    memcpy(data + sizeof(h) + key_len, insns, n * sizeof(*insns));
    char name[32];
    moat_seccomp_cache_name(key, key_len, name);
    prune(dirfd);
    _cleanup_error_ moat_error *err = NULL;
    if (moat_write_file_atomic(dirfd, name, data, len, 0600, &err) < 0)
        moat_log(MOAT_LOG_DEBUG, "seccomp cache: %s", err->msg);
}

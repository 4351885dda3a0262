/* The built-in image: Debian's busybox-static as a single-layer image named
 * busybox:latest, so that moat works offline with no registry.  Deterministic:
 * every timestamp is the binary's mtime, so the same binary always gives the
 * same image ID. */
#include <archive.h>
#include <archive_entry.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image/image_internal.h"
#include "moat/json.h"
#include "moat/util.h"

#define LIST_MAX (256 * 1024)

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
                             "bin:x:2:2:bin:/bin:/bin/false\n"
                             "sys:x:3:3:sys:/dev:/bin/false\n"
                             "sync:x:4:100:sync:/bin:/bin/sync\n"
                             "mail:x:8:8:mail:/var/spool/mail:/bin/false\n"
                             "www-data:x:33:33:www-data:/var/www:/bin/false\n"
                             "operator:x:37:37:Operator:/var:/bin/false\n"
                             "nobody:x:65534:65534:nobody:/home:/bin/false\n";
static const char group[] = "root:x:0:\ndaemon:x:1:\nbin:x:2:\nsys:x:3:\nadm:x:4:\ntty:x:5:\ndisk:x:6:\n"
                            "wheel:x:10:root\nmail:x:12:\nwww-data:x:33:\noperator:x:37:\nstaff:x:50:\n"
                            "users:x:100:\nnogroup:x:65534:\n";

/* A static executable: an ELF without a program interpreter. */
static int check_static(int fd, const char *path, moat_error **err)
{
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256)
        return moat_err(err, ENOEXEC, "'%s' is not a 64-bit ELF executable", path);
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        if (pread(fd, &ph, sizeof ph, (off_t)(eh.e_phoff + i * sizeof ph)) != (ssize_t)sizeof ph)
            return moat_err(err, ENOEXEC, "'%s': truncated ELF program headers", path);
        if (ph.p_type == PT_INTERP)
            return moat_err(err, ENOEXEC,
                            "'%s' is dynamically linked: the built-in image needs a static busybox "
                            "(apt-get install busybox-static)",
                            path);
    }
    return 0;
}

/* Run `busybox ARG` and collect its stdout (bounded). */
static int run_busybox(const char *path, const char *arg, char **ret, moat_error **err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return moat_err_sys(err, "pipe");
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return moat_err_sys(err, "fork");
    }
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
        char *argv[] = {(char *)path, (char *)arg, NULL};
        char *envp[] = {"PATH=/usr/bin:/bin", "LC_ALL=C", NULL};
        execve(path, argv, envp);
        _exit(127);
    }
    close(p[1]);
    moat_error *rerr = NULL;
    char *buf = NULL;
    int rr = moat_read_fd_bounded(p[0], LIST_MAX, &buf, NULL, &rerr);
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rr < 0) {
        *err = rerr;
        return moat_err_wrap(err, "%s %s", path, arg);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        free(buf);
        return moat_err(err, EIO, "%s %s failed (status 0x%x)", path, arg, status);
    }
    *ret = buf;
    return 0;
}

struct tarw {
    struct archive *a;
    time_t mtime;
};

static int tw_entry(struct tarw *w, const char *name, mode_t type, mode_t perm, const char *link, const void *data,
                    size_t len, moat_error **err)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_mtime(e, w->mtime, 0);
    archive_entry_set_uname(e, "root");
    archive_entry_set_gname(e, "root");
    if (type == AE_IFLNK)
        archive_entry_set_symlink(e, link);
    if (type == AE_IFREG)
        archive_entry_set_size(e, (la_int64_t)len);
    int rc = 0;
    if (archive_write_header(w->a, e) < ARCHIVE_WARN ||
        (len && archive_write_data(w->a, data, len) != (la_ssize_t)len))
        rc = moat_err(err, EIO, "write '%s' into the layer: %s", name, archive_error_string(w->a));
    archive_entry_free(e);
    return rc;
}

static int write_rootfs(struct tarw *w, const char *bb_data, size_t bb_len, char *list, moat_error **err)
{
    static const struct {
        const char *name;
        mode_t perm;
    } dirs[] = {{"bin", 0755}, {"dev", 0755}, {"etc", 0755},  {"home", 0755}, {"proc", 0555}, {"root", 0700},
                {"sys", 0555}, {"tmp", 01777}, {"usr", 0755}, {"var", 0755}, {"var/spool", 0755},
                {"var/spool/mail", 0755}, {"var/www", 0755}};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
        if (tw_entry(w, dirs[i].name, AE_IFDIR, dirs[i].perm, NULL, NULL, 0, err) < 0)
            return -1;
    if (tw_entry(w, "bin/busybox", AE_IFREG, 0755, NULL, bb_data, bb_len, err) < 0 ||
        tw_entry(w, "etc/passwd", AE_IFREG, 0644, NULL, passwd, strlen(passwd), err) < 0 ||
        tw_entry(w, "etc/group", AE_IFREG, 0644, NULL, group, strlen(group), err) < 0)
        return -1;
    /* every applet as bin/NAME -> busybox, like the official image's single bin/ */
    struct strset seen = {0};
    strset_add(&seen, "busybox", 1, NULL);
    int rc = 0;
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line && rc == 0; line = strtok_r(NULL, "\n", &save)) {
        const char *base = strrchr(line, '/') ? strrchr(line, '/') + 1 : line;
        if (!*base || !strcmp(base, "linuxrc") || strlen(base) > 64 || strset_add(&seen, base, 1, NULL) == 0)
            continue;
        _cleanup_free_ char *name = xasprintf("bin/%s", base);
        rc = tw_entry(w, name, AE_IFLNK, 0777, "busybox", NULL, 0, err);
    }
    strset_free(&seen);
    return rc;
}

/* The layer tar, into a memfd. */
static int make_layer(const char *path, int bfd, const struct stat *st, int *ret_fd, char **ret_version,
                      moat_error **err)
{
    _cleanup_free_ char *list = NULL, *help = NULL;
    if (run_busybox(path, "--list-full", &list, err) < 0)
        return -1;
    if (run_busybox(path, "--help", &help, err) < 0) {
        moat_error_free(*err);
        *err = NULL;
    }
    _cleanup_free_ char *bb = xmalloc((size_t)st->st_size + 1);
    if (pread(bfd, bb, (size_t)st->st_size, 0) != st->st_size)
        return moat_err_sys(err, "read '%s'", path);
    _cleanup_close_ int out = memfd_create("busybox-layer", MFD_CLOEXEC);
    if (out < 0)
        return moat_err_sys(err, "memfd_create");
    struct tarw w = {.a = archive_write_new(), .mtime = st->st_mtime};
    archive_write_set_format_pax_restricted(w.a);
    archive_write_set_bytes_in_last_block(w.a, 1);
    int rc = archive_write_open_fd(w.a, out) == ARCHIVE_OK ? 0 : moat_err(err, EIO, "libarchive: open");
    if (rc == 0)
        rc = write_rootfs(&w, bb, (size_t)st->st_size, list, err);
    if (rc == 0 && archive_write_close(w.a) != ARCHIVE_OK)
        rc = moat_err(err, EIO, "libarchive: close: %s", archive_error_string(w.a));
    archive_write_free(w.a);
    if (rc < 0)
        return -1;
    if (lseek(out, 0, SEEK_SET) < 0)
        return moat_err_sys(err, "lseek");
    /* "BusyBox v1.35.0 (Debian 1:1.35.0-4+b3) multi-call binary." */
    char *nl = help ? strchr(help, '\n') : NULL;
    if (nl)
        *nl = '\0';
    char *mc = help ? strstr(help, " multi-call binary") : NULL;
    if (mc)
        *mc = '\0';
    *ret_version = help && moat_str_has_prefix(help, "BusyBox") ? xstrdup(help) : xstrdup("BusyBox");
    *ret_fd = TAKE_FD(out);
    return 0;
}

int moat_image_build_busybox(struct moat_store *s, const char *busybox, char **ret_id, moat_error **err)
{
    const char *env = getenv("MOAT_BUSYBOX");
    const char *path = busybox ? busybox : env && *env ? env : "/bin/busybox";
    _cleanup_close_ int bfd = open(path, O_RDONLY | O_CLOEXEC);
    if (bfd < 0)
        return moat_err_sys(err, "built-in busybox image: open '%s' (apt-get install busybox-static)", path);
    struct stat st;
    if (fstat(bfd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > (64 << 20))
        return moat_err(err, EINVAL, "built-in busybox image: '%s' is not a plausible busybox binary", path);
    if (check_static(bfd, path, err) < 0)
        return -1;
    _cleanup_close_ int layer = -1;
    _cleanup_free_ char *version = NULL;
    if (make_layer(path, bfd, &st, &layer, &version, err) < 0)
        return moat_err_wrap(err, "built-in busybox image");
    struct tm tm;
    char created[64];
    gmtime_r(&st.st_mtime, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    _cleanup_json_ struct json_object *cfg = json_object_new_object();
    json_object_object_add(cfg, "architecture", json_object_new_string(moat_go_arch()));
    json_object_object_add(cfg, "os", json_object_new_string("linux"));
    json_object_object_add(cfg, "created", json_object_new_string(created));
    struct json_object *c = json_object_new_object();
    struct json_object *env_a = json_object_new_array();
    json_object_array_add(env_a, json_object_new_string("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"));
    json_object_object_add(c, "Env", env_a);
    struct json_object *cmd = json_object_new_array();
    json_object_array_add(cmd, json_object_new_string("sh"));
    json_object_object_add(c, "Cmd", cmd);
    json_object_object_add(cfg, "config", c);
    struct stage t;
    if (stage_begin(s, &t, err) < 0)
        return -1;
    struct new_layer nl;
    _cleanup_json_ struct json_object *descs = json_object_new_array();
    int rc = stage_blob_fd(&t, layer, NULL, -1, s->limits.layer_bytes, nl.blob, &nl.blob_size, err);
    if (rc == 0)
        rc = stage_layer(&t, nl.blob, NULL, 0, &nl.info, err);
    if (rc == 0) {
        struct json_object *rootfs = json_object_new_object();
        struct json_object *ids = json_object_new_array();
        json_object_array_add(ids, json_object_new_string(nl.info.diff_id));
        json_object_object_add(rootfs, "type", json_object_new_string("layers"));
        json_object_object_add(rootfs, "diff_ids", ids);
        json_object_object_add(cfg, "rootfs", rootfs);
        struct json_object *hist = json_object_new_array(), *h = json_object_new_object();
        _cleanup_free_ char *by = xasprintf("moat built-in image: %s from %s", version, path);
        json_object_object_add(h, "created", json_object_new_string(created));
        json_object_object_add(h, "created_by", json_object_new_string(by));
        json_object_array_add(hist, h);
        json_object_object_add(cfg, "history", hist);
        json_object_array_add(descs, moat_descriptor_json(moat_layer_media_type(nl.info.compression, false), nl.blob,
                                                          (int64_t)nl.blob_size));
        char *names[] = {MOAT_BUILTIN_BUSYBOX, NULL};
        rc = image_commit(&t, cfg, descs, names, ret_id, err);
    }
    stage_end(&t);
    return rc < 0 ? moat_err_wrap(err, "built-in busybox image") : 0;
}

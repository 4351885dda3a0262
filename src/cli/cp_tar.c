/* moat cp's two tar halves, with libarchive: a tar of a local path whose top
 * entry carries the destination's name, and the extraction of a container's
 * tar into a local directory that no entry can climb out of. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cli/ctr_cmds.h"
#include "moat/util.h"

/* "name" + what follows `prefix` in `p`, when p is prefix or under it; else NULL. */
static char *renamed(const char *p, const char *prefix, const char *name)
{
    size_t n = strlen(prefix);
    if (strncmp(p, prefix, n) != 0 || (p[n] != '\0' && p[n] != '/'))
        return NULL;
    return xasprintf("%s%s", name, p + n);
}

static int copy_file_into(struct archive *w, const char *src, moat_error **err)
{
    _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (fd < 0)
        return moat_err_sys(err, "open '%s'", src);
    char buf[64 * 1024];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return moat_err_sys(err, "read '%s'", src);
        if (n == 0)
            return 0;
        if (archive_write_data(w, buf, (size_t)n) != n)
            return moat_err(err, EIO, "write '%s' into the tar: %s", src, archive_error_string(w));
    }
}

int cli_tar_build(const char *path, const char *name, bool follow, bool keep_owner, int out_fd, moat_error **err)
{
    _cleanup_free_ char *top = xstrdup(path);
    for (size_t l = strlen(top); l > 1 && top[l - 1] == '/'; l--)
        top[l - 1] = '\0';
    struct archive *disk = archive_read_disk_new(), *w = archive_write_new();
    struct archive_entry *e = archive_entry_new();
    int rc = 0;
    if (follow) /* -L: the path given is followed, links below it are not */
        archive_read_disk_set_symlink_hybrid(disk);
    else
        archive_read_disk_set_symlink_physical(disk);
    archive_read_disk_set_standard_lookup(disk);
    archive_write_set_format_pax_restricted(w);
    archive_write_set_bytes_in_last_block(w, 1);
    if (archive_read_disk_open(disk, top) != ARCHIVE_OK)
        rc = moat_err(err, ENOENT, "%s", archive_error_string(disk));
    if (rc == 0 && archive_write_open_fd(w, out_fd) != ARCHIVE_OK)
        rc = moat_err(err, EIO, "tar: %s", archive_error_string(w));
    while (rc == 0) {
        archive_entry_clear(e);
        int r = archive_read_next_header2(disk, e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = moat_err(err, EIO, "read '%s': %s", top, archive_error_string(disk));
            break;
        }
        archive_read_disk_descend(disk);
        _cleanup_free_ char *n = renamed(archive_entry_pathname(e), top, name);
        if (!n) {
            rc = moat_err(err, EIO, "tar: unexpected entry '%s' under '%s'", archive_entry_pathname(e), top);
            break;
        }
        archive_entry_set_pathname(e, n);
        if (!keep_owner) {
            archive_entry_set_uid(e, 0);
            archive_entry_set_gid(e, 0);
            archive_entry_set_uname(e, "");
            archive_entry_set_gname(e, "");
        }
        bool data = archive_entry_filetype(e) == AE_IFREG && archive_entry_size(e) > 0;
        if (archive_write_header(w, e) < ARCHIVE_WARN)
            rc = moat_err(err, EIO, "tar '%s': %s", n, archive_error_string(w));
        else if (data)
            rc = copy_file_into(w, archive_entry_sourcepath(e), err);
    }
    if (rc == 0 && archive_write_close(w) != ARCHIVE_OK)
        rc = moat_err(err, EIO, "tar: %s", archive_error_string(w));
    archive_entry_free(e);
    archive_read_free(disk);
    archive_write_free(w);
    return rc;
}

static int extract_entries(struct archive *r, struct archive *w, const char *from, const char *to, moat_error **err)
{
    for (;;) {
        struct archive_entry *e;
        int x = archive_read_next_header(r, &e);
        if (x == ARCHIVE_EOF)
            return 0;
        if (x < ARCHIVE_WARN)
            return moat_err(err, EIO, "read the tar: %s", archive_error_string(r));
        const char *p = archive_entry_pathname(e);
        if (!p)
            return moat_err(err, EIO, "tar entry without a name");
        if (moat_str_has_prefix(p, "./") && p[2])
            p += 2;
        _cleanup_free_ char *np = from ? renamed(p, from, to) : NULL;
        _cleanup_free_ char *keep = xstrdup(p);
        archive_entry_set_pathname(e, np ? np : keep);
        const char *hl = archive_entry_hardlink(e);
        if (hl && from) {
            _cleanup_free_ char *nh = renamed(moat_str_has_prefix(hl, "./") ? hl + 2 : hl, from, to);
            if (nh)
                archive_entry_set_hardlink(e, nh);
        }
        mode_t type = archive_entry_filetype(e);
        if (type == AE_IFCHR || type == AE_IFBLK)
            return moat_err(err, EPERM, "refusing to create the device node '%s'", archive_entry_pathname(e));
        /* no setuid/setgid bits from a container's files */
        archive_entry_set_perm(e, archive_entry_perm(e) & 01777);
        if (archive_write_header(w, e) < ARCHIVE_WARN)
            return moat_err(err, EPERM, "refusing to extract '%s': %s", archive_entry_pathname(e),
                            archive_error_string(w));
        const void *buf;
        size_t len;
        la_int64_t off;
        while ((x = archive_read_data_block(r, &buf, &len, &off)) == ARCHIVE_OK)
            if (archive_write_data_block(w, buf, len, off) < ARCHIVE_WARN)
                return moat_err(err, EIO, "write '%s': %s", archive_entry_pathname(e), archive_error_string(w));
        if (x != ARCHIVE_EOF)
            return moat_err(err, EIO, "read the tar: %s", archive_error_string(r));
        if (archive_write_finish_entry(w) < ARCHIVE_WARN)
            return moat_err(err, EIO, "write '%s': %s", archive_entry_pathname(e), archive_error_string(w));
    }
}

int cli_tar_extract(int in_fd, const char *dest, const char *rename_from, const char *rename_to, bool keep_owner,
                    moat_error **err)
{
    _cleanup_close_ int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return moat_err_sys(err, "open '%s'", dest);
    _cleanup_close_ int cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cwd < 0)
        return moat_err_sys(err, "open the current directory");
    /* libarchive extracts relative to the working directory; absolute names
     * are refused below, so everything lands under dest. */
    if (fchdir(dfd) < 0)
        return moat_err_sys(err, "chdir '%s'", dest);
    struct archive *r = archive_read_new(), *w = archive_write_disk_new();
    archive_read_support_format_tar(r);
    archive_read_support_format_gnutar(r);
    int flags = ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
    if (keep_owner)
        flags |= ARCHIVE_EXTRACT_OWNER;
    archive_write_disk_set_options(w, flags);
    if (keep_owner)
        archive_write_disk_set_standard_lookup(w);
    int rc = 0;
    if (archive_read_open_fd(r, in_fd, 64 * 1024) != ARCHIVE_OK)
        rc = moat_err(err, EIO, "read the tar: %s", archive_error_string(r));
    if (rc == 0)
        rc = extract_entries(r, w, rename_from, rename_to, err);
    if (archive_write_close(w) != ARCHIVE_OK && rc == 0)
        rc = moat_err(err, EIO, "extract into '%s': %s", dest, archive_error_string(w));
    archive_read_free(r);
    archive_write_free(w);
    if (fchdir(cwd) < 0 && rc == 0)
        rc = moat_err_sys(err, "chdir back");
    if (rc < 0)
        moat_err_wrap(err, "extract into '%s'", dest);
    return rc;
}

/* libFuzzer target: `moat cp CONTAINER:PATH DEST`'s extraction of the tar the
 * daemon sends (container-controlled bytes) into a local directory.  Any
 * bytes: the extraction may fail, but nothing may appear or change outside
 * the destination (a sibling canary file and the parent's listing are
 * checked after each input).  The first byte picks whether the top entry is
 * renamed, as `docker cp` does for a new destination name.  The CLI sources
 * are compiled in (FUZZ_LIBSRC has no src/cli). */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../src/cli/cp_tar.c"
#include "moat/layer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[64], dest[96], canary[96];

static void setup_once(void)
{
    if (base[0])
        return;
    snprintf(base, sizeof base, "/tmp/moat-fuzz-cp-%d", (int)getpid());
    snprintf(dest, sizeof dest, "%s/dest", base);
    snprintf(canary, sizeof canary, "%s/canary", base);
    if (mkdir(base, 0700) < 0 && errno != EEXIST)
        abort();
    FILE *f = fopen(canary, "we");
    if (!f || fputs("canary\n", f) < 0 || fclose(f) != 0)
        abort();
}

/* The parent holds exactly "canary" (unchanged) and "dest". */
static void check_outside(void)
{
    DIR *d = opendir(base);
    if (!d)
        abort();
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "canary") &&
            strcmp(de->d_name, "dest"))
            abort(); /* an entry escaped the destination */
    closedir(d);
    char buf[16] = {0};
    int fd = open(canary, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || read(fd, buf, sizeof buf - 1) != 7 ||
        strcmp(buf, "canary\n") != 0)
        abort(); /* the canary was replaced, written or turned into something else */
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20))
        return 0;
    setup_once();
    moat_error *err = NULL;
    if (moat_rm_rf_at(AT_FDCWD, dest, &err) < 0 && err && err->errnum != ENOENT)
        abort();
    moat_error_free(err);
    err = NULL;
    if (mkdir(dest, 0700) < 0)
        abort();
    int fd = memfd_create("tar", MFD_CLOEXEC);
    if (fd < 0 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1) || lseek(fd, 0, SEEK_SET) != 0)
        abort();
    bool rename = data[0] & 1;
    cli_tar_extract(fd, dest, rename ? "a" : NULL, rename ? "b" : NULL, false, &err);
    moat_error_free(err);
    close(fd);
    check_outside();
    return 0;
}

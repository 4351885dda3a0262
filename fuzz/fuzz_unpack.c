/* libFuzzer target: the layer unpacker (src/image/unpack.c) on arbitrary
 * bytes (plain, gzip or zstd tar), unpacking into a fresh temporary
 * directory that is removed afterwards.  Whatever the input, nothing may be
 * created outside that directory: the target checks that its parent holds
 * only the layer directory and an untouched canary. */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "moat/layer.h"
#include "moat/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d));)
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char top[] = "/tmp/moat-fuzz-unpack-XXXXXX";
    if (!mkdtemp(top))
        return 0;
    char layer[64], canary[64];
    snprintf(layer, sizeof layer, "%s/layer", top);
    snprintf(canary, sizeof canary, "%s/canary", top);
    mkdir(layer, 0700);
    int cfd = open(canary, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (cfd >= 0)
        close(cfd);
    int in = memfd_create("layer", MFD_CLOEXEC);
    if (in < 0 || (size && write(in, data, size) != (ssize_t)size))
        abort();
    lseek(in, 0, SEEK_SET);
    int dfd = open(layer, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    struct moat_limits lim;
    moat_limits_default(&lim);
    lim.layer_bytes = 8 << 20;
    lim.ratio_after = 1 << 20;
    lim.layer_entries = 2000;
    struct moat_unpack_opts o = {.limits = &lim};
    struct moat_unpack_result r;
    moat_error *err = NULL;
    if (moat_layer_unpack(in, dfd, &o, &r, &err) < 0 && (!err || !err->msg))
        __builtin_trap(); /* every refusal says why */
    moat_error_free(err);
    err = NULL;

    struct stat st;
    if (count_entries(top) != 2 || stat(canary, &st) < 0 || st.st_size != 0 || !S_ISREG(st.st_mode))
        __builtin_trap(); /* something was created or changed outside the layer */
    close(in);
    close(dfd);
    int tfd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (moat_rm_rf_at(tfd, top + 5, &err) < 0)
        abort();
    close(tfd);
    return 0;
}

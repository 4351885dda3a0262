/* snaptool: the snapshot functions of the image library, for tests until the
 * engine drives them (moat has no container commands yet).
 *   snaptool STORE create ID IMAGE [copy]     print the rootfs to use
 *   snaptool STORE mount ID TARGET            overlay (or bind of the copy) onto TARGET
 *   snaptool STORE diff ID                    docker diff's output
 *   snaptool STORE export ID FILE             the changes as a layer tar; prints the diff ID
 *   snaptool STORE commit ID [REF]            a new image from the changes; prints its ID
 *   snaptool STORE rm ID */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "moat/snapshot.h"
#include "moat/store.h"
#include "moat/util.h"

static int run(struct moat_store *s, int argc, char **argv, moat_error **err)
{
    const char *cmd = argv[2], *id = argc > 3 ? argv[3] : "";
    if (!strcmp(cmd, "create") && (argc == 5 || argc == 6)) {
        struct moat_snapshot_opts o = {.owner = "snaptool", .copy = argc == 6 && !strcmp(argv[5], "copy")};
        struct moat_snapshot *sn = NULL;
        if (moat_snapshot_create(s, id, argv[4], &o, &sn, err) < 0)
            return -1;
        printf("%s %s\n", sn->driver, sn->rootfs);
        moat_snapshot_free(sn);
        return 0;
    }
    struct moat_snapshot *sn = NULL;
    if (argc < 4 || moat_snapshot_get(s, id, &sn, err) < 0)
        return argc < 4 ? moat_err(err, EINVAL, "usage: see the comment in snaptool.c") : -1;
    int rc = 0;
    if (!strcmp(cmd, "mount") && argc == 5) {
        int fd = -1;
        rc = moat_snapshot_mount(s, sn, NULL, &fd, err);
        if (rc == 0 && move_mount(fd, "", AT_FDCWD, argv[4], MOVE_MOUNT_F_EMPTY_PATH) < 0)
            rc = moat_err_sys(err, "move_mount onto '%s'", argv[4]);
        if (fd >= 0)
            close(fd);
    } else if (!strcmp(cmd, "diff") && argc == 4) {
        struct moat_change *v = NULL;
        size_t n = 0;
        rc = moat_snapshot_diff(s, sn, &v, &n, err);
        for (size_t i = 0; rc == 0 && i < n; i++)
            printf("%c %s\n", v[i].kind, v[i].path);
        moat_changes_free(v, n);
    } else if (!strcmp(cmd, "export") && argc == 5) {
        int fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        char d[MOAT_DIGEST_SIZE];
        rc = fd < 0 ? moat_err_sys(err, "open '%s'", argv[4]) : moat_snapshot_export_layer(s, sn, fd, d, NULL, err);
        if (rc == 0)
            printf("%s\n", d);
        if (fd >= 0)
            close(fd);
    } else if (!strcmp(cmd, "commit") && (argc == 4 || argc == 5)) {
        struct moat_commit_opts o = {.ref = argc == 5 ? argv[4] : NULL};
        _cleanup_free_ char *img = NULL;
        rc = moat_snapshot_commit(s, id, &o, &img, err);
        if (rc == 0)
            printf("%s\n", img);
    } else if (!strcmp(cmd, "rm") && argc == 4) {
        rc = moat_snapshot_remove(s, id, err);
    } else {
        rc = moat_err(err, EINVAL, "usage: see the comment in snaptool.c");
    }
    moat_snapshot_free(sn);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: snaptool STORE create|mount|diff|export|commit|rm ...\n");
        return 2;
    }
    struct moat_store_opts so = {.root = argv[1]};
    struct moat_store *s = NULL;
    moat_error *err = NULL;
    int rc = moat_store_open(&so, &s, &err) < 0 ? -1 : run(s, argc, argv, &err);
    if (rc < 0) {
        fprintf(stderr, "snaptool: %s\n", err ? err->msg : "failed");
        moat_error_free(err);
    }
    moat_store_close(s);
    return rc < 0 ? 1 : 0;
}

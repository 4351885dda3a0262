/* Layers: unpacking hostile tar streams into a layer directory, and writing
 * layer tars.
 *
 * The unpacker (moat_layer_unpack) reads gzip, zstd or plain tar through
 * libarchive and creates every entry relative to the layer directory's fd:
 * parents are opened with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS)
 * (include/moat/path.h), entries with *at() calls that never follow a
 * symlink.  Refused, with a message naming the entry: absolute names, ".."
 * components, a parent that is a symlink, hardlinks whose target is outside
 * the layer or not an earlier entry, device nodes (unless allowed), duplicate
 * entries, and anything over a limit.  Whiteouts become overlayfs whiteouts
 * (char 0:0) and opaque directories get user.overlay.opaque="y" (layers are
 * mounted with overlayfs' userxattr option, as root and rootless alike).
 * setuid/setgid bits and user.* / security.capability xattrs are kept as data;
 * other xattrs (trusted.*, security.selinux, *.overlay.*) are dropped.
 *
 * It runs in-process: the store calls it in a sandboxed child (sandbox.c). */
#ifndef MOAT_LAYER_H
#define MOAT_LAYER_H

#include <stdbool.h>
#include <stdint.h>

#include "moat/digest.h"
#include "moat/error.h"

/* Limits, with defaults and a JSON file to change them (limits.json in the
 * config directory: $MOAT_CONFIG_DIR, else /etc/moat as root and
 * $XDG_CONFIG_HOME/moat (~/.config/moat) as a normal user).  Keys:
 *   layerBytes, imageBytes, layerEntries, pathLength, xattrBytes,
 *   compressionRatio, compressionRatioAfter, imageLayers, allowDevices */
struct moat_limits {
    uint64_t layer_bytes;       /* uncompressed tar stream of one layer */
    uint64_t image_bytes;       /* uncompressed tar streams of all layers of one image */
    uint64_t layer_entries;     /* tar entries in one layer */
    uint64_t path_length;       /* bytes of an entry's path (and of a link target) */
    uint64_t xattr_bytes;       /* bytes of one entry's xattr values together */
    uint64_t compression_ratio; /* uncompressed:compressed, checked ... */
    uint64_t ratio_after;       /* ... once this many uncompressed bytes are out */
    uint64_t image_layers;      /* layers in one image */
    bool allow_devices;         /* device nodes in layers (as root only) */
};

#define MOAT_LIMITS_FILE "limits.json"

void moat_limits_default(struct moat_limits *l);
/* Parse limits.json over the values already in *l (unknown keys are errors). */
int moat_limits_parse(const char *buf, size_t len, const char *what, struct moat_limits *l, moat_error **err);
/* The config directory (caller frees). */
char *moat_config_dir(void);
/* Defaults, then config_dir/limits.json if it exists (NULL: moat_config_dir()). */
int moat_limits_load(const char *config_dir, struct moat_limits *l, moat_error **err);
/* "16 GiB"-style text for messages. */
void moat_limits_human(uint64_t n, char *buf, size_t len);
/* One line for moat info: "layer 16 GiB, image 64 GiB, ... devices refused" (caller frees). */
char *moat_limits_describe(const struct moat_limits *l);

enum moat_compression { MOAT_COMP_NONE = 0, MOAT_COMP_GZIP, MOAT_COMP_ZSTD, MOAT_COMP_UNSUPPORTED };
/* From the first bytes of a stream (at least 6 for a reliable answer). */
enum moat_compression moat_compression_detect(const void *head, size_t n);
const char *moat_compression_name(enum moat_compression c);
/* OCI layer media type (docker: Docker's schema2 names). */
const char *moat_layer_media_type(enum moat_compression c, bool docker);

#define MOAT_OPAQUE_XATTR "user.overlay.opaque"

struct moat_unpack_opts {
    const struct moat_limits *limits;
    uint64_t image_bytes_before; /* already unpacked for the same image */
    bool allow_devices;          /* limits->allow_devices && root */
    const char *expect_diff_id;  /* NULL: any; else a different digest is an error */
    /* The input's own sha256, when the caller computed it over exactly these
     * bytes as it wrote them (a blob staged by this operation): a plain tar is
     * then not hashed a second time, its diff ID is this digest.  A compressed
     * stream is always hashed (its diff ID is of the decompressed bytes). */
    const char *input_digest;
};

struct moat_unpack_result {
    char diff_id[MOAT_DIGEST_SIZE]; /* sha256 of the uncompressed tar stream */
    uint64_t tar_bytes;             /* uncompressed stream length */
    uint64_t compressed_bytes;      /* bytes read from the input */
    uint64_t entries;
    uint64_t size; /* content size (regular files once per inode, symlink targets): Docker's layer size */
    enum moat_compression compression;
};

/* Unpack the (possibly compressed) tar read from in_fd into dirfd, an empty
 * directory.  dirfd < 0: read, verify and measure only.  On error the
 * directory may hold a partial layer: the caller removes it. */
int moat_layer_unpack(int in_fd, int dirfd, const struct moat_unpack_opts *o, struct moat_unpack_result *r,
                      moat_error **err);

/* rm -rf of `name` under dirfd, never following a symlink (name NULL or "":
 * empty dirfd itself).  A missing name is not an error. */
int moat_rm_rf_at(int dirfd, const char *name, moat_error **err);

#endif

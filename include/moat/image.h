/* Image documents: OCI image manifests and indexes (and Docker's schema2
 * equivalents), OCI image configs with Docker's fields, and the manifest.json
 * of a docker-archive.  Parsers of untrusted bytes: bounded, every error names
 * the document and the JSON path; fuzzed by fuzz/fuzz_image_json.c.
 *
 * Also the `import --change` instructions (a Dockerfile subset) applied to an
 * image config. */
#ifndef MOAT_IMAGE_H
#define MOAT_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "moat/error.h"

struct json_object;

#define MOAT_IMAGE_DOC_MAX (4u << 20) /* bytes of a manifest, index or config */
#define MOAT_IMAGE_MAX_LAYERS 1024    /* parser bound; the store's limit (imageLayers) is lower */
#define MOAT_IMAGE_MAX_MANIFESTS 65536

#define MOAT_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MOAT_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MOAT_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MOAT_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MOAT_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MOAT_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* Annotations in index.json (Docker 25's `docker save` uses the same pair). */
#define MOAT_ANN_IMAGE_NAME "io.containerd.image.name"   /* full reference */
#define MOAT_ANN_REF_NAME "org.opencontainers.image.ref.name" /* the tag */

struct moat_platform {
    char *os, *architecture, *variant;
};

struct moat_descriptor {
    char *media_type;
    char *digest; /* "sha256:<hex>" (other algorithms are refused) */
    int64_t size;
    char **annotations; /* key, value, key, value, ..., NULL */
    bool has_platform;
    struct moat_platform platform;
};

struct moat_manifest {
    char *media_type; /* as given, or MOAT_MT_OCI_MANIFEST when absent */
    struct moat_descriptor config;
    struct moat_descriptor *layers;
    size_t n_layers;
};

struct moat_index {
    struct moat_descriptor *manifests;
    size_t n;
};

struct moat_history {
    char *created, *created_by, *author, *comment;
    bool empty_layer;
};

/* The image config.  `json` is the whole validated document (unknown fields
 * kept, so that a loaded image keeps its exact bytes and digest); the fields
 * below point into nothing: they are copies. */
struct moat_image_config {
    struct json_object *json;
    char *architecture, *os, *variant, *created, *author;
    char **diff_ids;
    size_t n_diff_ids;
    struct moat_history *history;
    size_t n_history;
    /* "config" section */
    char *user, *working_dir, *stop_signal;
    char **env, **cmd, **entrypoint;
};

/* A manifest.json entry of a docker-archive. */
struct moat_archive_entry {
    char *config;     /* member name of the config */
    char **repo_tags; /* may be empty */
    char **layers;    /* member names of the layer tars */
    size_t n_layers;
};

int moat_manifest_parse(const char *buf, size_t len, const char *what, struct moat_manifest **ret, moat_error **err);
int moat_index_parse(const char *buf, size_t len, const char *what, struct moat_index **ret, moat_error **err);
int moat_image_config_parse(const char *buf, size_t len, const char *what, struct moat_image_config **ret,
                            moat_error **err);
int moat_archive_manifest_parse(const char *buf, size_t len, const char *what, struct moat_archive_entry **ret,
                                size_t *ret_n, moat_error **err);
/* The media type a JSON document declares ("mediaType"), or NULL. */
char *moat_doc_media_type(const char *buf, size_t len);

void moat_manifest_free(struct moat_manifest *m);
void moat_index_free(struct moat_index *x);
void moat_image_config_free(struct moat_image_config *c);
void moat_archive_entries_free(struct moat_archive_entry *e, size_t n);
void moat_descriptor_clear(struct moat_descriptor *d);
/* Annotation lookup (NULL when absent). */
const char *moat_descriptor_annotation(const struct moat_descriptor *d, const char *key);

/* Serialise: deterministic key order, no escaped slashes (caller frees). */
char *moat_image_json(struct json_object *obj);
struct json_object *moat_descriptor_json(const char *media_type, const char *digest, int64_t size);

/* The Go architecture name of this machine ("amd64", "arm64", ...). */
const char *moat_go_arch(void);

/* Apply one `--change` instruction to an image config's "config" section:
 * CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME,
 * WORKDIR (Dockerfile syntax, JSON or shell form where Docker allows both). */
int moat_config_apply_change(struct json_object *config, const char *change, moat_error **err);

#endif

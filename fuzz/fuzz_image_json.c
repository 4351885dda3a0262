/* libFuzzer target: the image document parsers (src/image/document.c) and
 * the --change instructions (src/image/change.c).  The same bytes go to
 * every parser: manifest, index, image config, docker-archive manifest.json;
 * then each line is tried as a change on an empty config section. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "moat/image.h"
#include "moat/json.h"
#include "moat/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_err(int rc, moat_error *err)
{
    if (rc < 0 && (!err || !err->msg))
        __builtin_trap(); /* every refusal carries a message */
    moat_error_free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    moat_error *err = NULL;
    struct moat_manifest *m = NULL;
    int rc = moat_manifest_parse(buf, size, "manifest", &m, &err);
    if (rc == 0) {
        if (!m->config.digest || !m->media_type)
            __builtin_trap();
        for (size_t i = 0; i < m->n_layers; i++)
            if (strlen(m->layers[i].digest) != 71 || m->layers[i].size < 0)
                __builtin_trap();
        moat_manifest_free(m);
    }
    check_err(rc, err);
    err = NULL;
    struct moat_index *x = NULL;
    rc = moat_index_parse(buf, size, "index", &x, &err);
    if (rc == 0) {
        for (size_t i = 0; i < x->n; i++)
            (void)moat_descriptor_annotation(&x->manifests[i], MOAT_ANN_IMAGE_NAME);
        moat_index_free(x);
    }
    check_err(rc, err);
    err = NULL;
    struct moat_image_config *c = NULL;
    rc = moat_image_config_parse(buf, size, "config", &c, &err);
    if (rc == 0) {
        if (moat_strv_len(c->diff_ids) != c->n_diff_ids)
            __builtin_trap();
        char *s = moat_image_json(c->json);
        free(s);
        moat_image_config_free(c);
    }
    check_err(rc, err);
    err = NULL;
    struct moat_archive_entry *e = NULL;
    size_t n = 0;
    rc = moat_archive_manifest_parse(buf, size, "manifest.json", &e, &n, &err);
    if (rc == 0)
        moat_archive_entries_free(e, n);
    check_err(rc, err);
    free(moat_doc_media_type(buf, size));

    if (size > 4096)
        return 0;
    char *text = xstrndup(buf, size);
    struct json_object *cfg = json_object_new_object();
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        err = NULL;
        check_err(moat_config_apply_change(cfg, line, &err), err);
    }
    char *s = moat_image_json(cfg);
    free(s);
    json_object_put(cfg);
    free(text);
    return 0;
}

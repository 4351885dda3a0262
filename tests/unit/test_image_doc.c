/* Image documents (manifest, index, config, docker-archive manifest.json)
 * and --change instructions. */
#include <stdlib.h>

#include "moat/image.h"
#include "moat/json.h"
#include "moat/util.h"
#include "unit.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

static void test_manifest(void)
{
    const char *ok = "{\"schemaVersion\":2,\"mediaType\":\"" MOAT_MT_DOCKER_MANIFEST "\","
                     "\"config\":{\"mediaType\":\"" MOAT_MT_DOCKER_CONFIG "\",\"digest\":\"" D1 "\",\"size\":10},"
                     "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","
                     "\"digest\":\"" D2 "\",\"size\":20}]}";
    struct moat_manifest *m = NULL;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_manifest_parse(ok, strlen(ok), "manifest", &m, &err) == 0);
    CHECK(m && m->n_layers == 1 && m->config.size == 10 && !strcmp(m->layers[0].digest, D2));
    moat_manifest_free(m);
    m = NULL;
    static const struct {
        const char *doc, *msg;
    } bad[] = {
        {"{\"schemaVersion\":1}", "/schemaVersion: 1 is not supported"},
        {"[]", "expected a JSON object"},
        {"{\"schemaVersion\":2,\"layers\":[]}", "manifest: /config: required but missing"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"sha512:00\",\"size\":1},\"layers\":[]}",
         "/config/digest: unsupported digest algorithm"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":-1},\"layers\":[]}",
         "/config/size: -1 is out of range"},
        {"{\"schemaVersion\":2,\"mediaType\":\"" MOAT_MT_OCI_INDEX "\"}", "an index"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{"
         "\"mediaType\":\"x\",\"digest\":\"" D2 "\",\"size\":1,\"urls\":[\"http://x\"]}]}",
         "/layers/0/urls: foreign layers"},
        {"{\"schemaVersion\":2,", "unexpected end of input"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        moat_error *e = NULL;
        CHECK(moat_manifest_parse(bad[i].doc, strlen(bad[i].doc), "manifest", &m, &e) < 0);
        CHECK_ERR_HAS(e, bad[i].msg);
        moat_error_free(e);
    }
}

static void test_index_and_archive(void)
{
    const char *idx = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"" MOAT_MT_OCI_MANIFEST "\",\"digest\":\"" D1
                      "\",\"size\":5,\"annotations\":{\"" MOAT_ANN_IMAGE_NAME "\":\"docker.io/library/a:b\"},"
                      "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
    struct moat_index *x = NULL;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_index_parse(idx, strlen(idx), "index.json", &x, &err) == 0);
    CHECK(x && x->n == 1 && x->manifests[0].has_platform && !strcmp(x->manifests[0].platform.architecture, "amd64"));
    CHECK_STR(moat_descriptor_annotation(&x->manifests[0], MOAT_ANN_IMAGE_NAME), "docker.io/library/a:b");
    CHECK(moat_descriptor_annotation(&x->manifests[0], "nope") == NULL);
    moat_index_free(x);
    const char *badann = "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"m\",\"digest\":\"" D1
                         "\",\"size\":5,\"annotations\":{\"k\":1}}]}";
    CHECK(moat_index_parse(badann, strlen(badann), "index.json", &x, &err) < 0);
    CHECK_ERR_HAS(err, "index.json: /manifests/0/annotations/k: expected a string");
    moat_error_free(err);
    err = NULL;

    const char *mj = "[{\"Config\":\"c.json\",\"RepoTags\":[\"busybox:latest\"],\"Layers\":[\"a/layer.tar\",\"b.tar\"]},"
                     "{\"Config\":\"d.json\",\"RepoTags\":null,\"Layers\":[]}]";
    struct moat_archive_entry *e = NULL;
    size_t n = 0;
    CHECK(moat_archive_manifest_parse(mj, strlen(mj), "manifest.json", &e, &n, &err) == 0);
    CHECK(n == 2 && e[0].n_layers == 2 && !strcmp(e[0].repo_tags[0], "busybox:latest") && !e[1].repo_tags[0]);
    moat_archive_entries_free(e, n);
    const char *mjbad = "[{\"RepoTags\":[]}]";
    CHECK(moat_archive_manifest_parse(mjbad, strlen(mjbad), "manifest.json", &e, &n, &err) < 0);
    CHECK_ERR_HAS(err, "manifest.json: /0/Config: required but missing");
}

static void test_config(void)
{
    const char *cfg = "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-02T03:04:05Z\","
                      "\"config\":{\"Env\":[\"PATH=/bin\"],\"Cmd\":[\"sh\"],\"WorkingDir\":\"/w\",\"Labels\":{\"a\":\"b\"},"
                      "\"ExposedPorts\":{\"80/tcp\":{}},\"unknownField\":42},"
                      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\"]},"
                      "\"history\":[{\"created_by\":\"x\",\"empty_layer\":true},{\"created_by\":\"y\"}]}";
    struct moat_image_config *c = NULL;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_image_config_parse(cfg, strlen(cfg), "config", &c, &err) == 0);
    CHECK(c && c->n_diff_ids == 1 && c->n_history == 2 && c->history[0].empty_layer);
    CHECK_STR(c->cmd[0], "sh");
    CHECK_STR(c->working_dir, "/w");
    moat_image_config_free(c);
    static const struct {
        const char *doc, *msg;
    } bad[] = {
        {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"nope\"]}}", "/rootfs/diff_ids/0: invalid digest"},
        {"{\"os\":\"windows\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", "only linux"},
        {"{\"config\":{\"Cmd\":\"sh\"},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
         "/config/Cmd: expected an array"},
        {"{}", "/rootfs: required but missing"},
        {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"history\":[1]}", "/history/0: expected an object"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        moat_error *e = NULL;
        CHECK(moat_image_config_parse(bad[i].doc, strlen(bad[i].doc), "config", &c, &e) < 0);
        CHECK_ERR_HAS(e, bad[i].msg);
        moat_error_free(e);
    }
}

static void test_change(void)
{
    _cleanup_json_ struct json_object *c = json_object_new_object();
    _cleanup_error_ moat_error *err = NULL;
    static const char *const ok[] = {
        "CMD [\"/bin/echo\", \"hi\"]", "entrypoint /bin/sh -c 'x y'", "ENV A=1 B=\"two words\" C=3\\ 4",
        "ENV LEGACY some value here", "ENV A=replaced", "LABEL com.example=\"x y\"", "EXPOSE 80 53/udp",
        "VOLUME [\"/data\"]", "VOLUME /a /b", "USER 1000:1000", "WORKDIR /srv", "WORKDIR app/../www",
        "STOPSIGNAL SIGINT", "ONBUILD RUN true"};
    for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
        if (moat_config_apply_change(c, ok[i], &err) < 0) {
            fprintf(stderr, "    '%s': %s\n", ok[i], err->msg);
            unit_failures++;
            moat_error_free(err);
            err = NULL;
        }
    }
    _cleanup_free_ char *s = moat_image_json(c);
    CHECK_STR(s, "{\"Cmd\":[\"/bin/echo\",\"hi\"],\"Entrypoint\":[\"/bin/sh\",\"-c\",\"/bin/sh -c 'x y'\"],"
                 "\"Env\":[\"A=replaced\",\"B=two words\",\"C=3 4\",\"LEGACY=some value here\"],"
                 "\"Labels\":{\"com.example\":\"x y\"},\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},"
                 "\"Volumes\":{\"/data\":{},\"/a\":{},\"/b\":{}},\"User\":\"1000:1000\",\"WorkingDir\":\"/srv/www\","
                 "\"StopSignal\":\"SIGINT\",\"OnBuild\":[\"RUN true\"]}");
    static const struct {
        const char *change, *msg;
    } bad[] = {
        {"RUN rm -rf /", "RUN is not a valid change command"},
        {"", "an empty change is not a valid change command"},
        {"EXPOSE 99999", "invalid port"},
        {"ENV =x", "is not NAME=VALUE"},
        {"LABEL a=\"unterminated", "unterminated quote"},
        {"CMD", "CMD needs a command"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        moat_error *e = NULL;
        CHECK(moat_config_apply_change(c, bad[i].change, &e) < 0);
        CHECK_ERR_HAS(e, bad[i].msg);
        moat_error_free(e);
    }
}

static const struct unit_test image_doc_tests[] = {UNIT_TEST(test_manifest), UNIT_TEST(test_index_and_archive),
                                                   UNIT_TEST(test_config), UNIT_TEST(test_change), UNIT_END};
UNIT_SUITE(image_doc, image_doc_tests);

/* libFuzzer target: the CLI's parsers of text it did not write.  The first
 * byte picks one: the X-Docker-Container-Path-Stat header (base64 JSON from
 * the daemon), a --format Go template rendered over a fixed container
 * document, or a /containers/json entry formatted as a ps row (JSON from the
 * daemon).  The CLI sources are compiled in (FUZZ_LIBSRC has no src/cli). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/cli/ctr_fmt.c"
#include "../src/cli/format.c"
#include "../src/cli/template.c"
#include "moat/json.h"
#include "moat/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char doc[] = "{\"Id\":\"abc\",\"State\":{\"Status\":\"running\",\"Pid\":1},\"Config\":{\"Cmd\":[\"sh\"],"
                          "\"Labels\":{\"a\":\"b\"},\"Entrypoint\":null},\"Mounts\":[{\"Destination\":\"/d\"}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024)
        return 0;
    char *s = xstrndup((const char *)data + 1, size - 1);
    moat_error *err = NULL;
    switch (data[0] % 3) {
    case 0: {
        struct cli_path_stat st;
        if (cli_path_stat_decode(s, &st, &err) == 0) {
            if (!st.name)
                abort();
            cli_path_stat_clear(&st);
        }
        break;
    }
    case 1: {
        struct json_object *o = NULL;
        char *out = NULL;
        if (moat_json_parse(doc, strlen(doc), sizeof doc, "doc", &o, &err) < 0)
            abort();
        if (cli_template_render(s, o, &out, &err) == 0 && !out)
            abort();
        free(out);
        json_object_put(o);
        break;
    }
    default: {
        struct json_object *o = NULL;
        if (moat_json_parse(s, strlen(s), 64 * 1024, "container", &o, &err) == 0) {
            struct json_object *row = cli_ps_row(o, data[0] & 4, 1700000000);
            char *line = NULL;
            if (cli_template_render("{{.ID}}\t{{.Command}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}", row, &line, &err) < 0)
                abort();
            free(line);
            json_object_put(row);
            json_object_put(o);
        }
        break;
    }
    }
    moat_error_free(err);
    free(s);
    return 0;
}

/* libFuzzer target: policy documents (src/policy/parse.c) and, for every
 * document that parses, merging it over the built-in baseline (tighten or a
 * widening error) and showing the result, which must parse back.  Every
 * failure must carry a message. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "moat/json.h"
#include "moat/policy.h"
#include "moat/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    moat_error *err = NULL;
    struct moat_policy *p = NULL;
    if (moat_policy_parse((const char *)data, size, "fuzz.json", &p, &err) < 0) {
        if (!err || !err->msg || !err->msg[0])
            abort();
        moat_error_free(err);
        return 0;
    }
    struct moat_policy *eff = moat_policy_dup(moat_policy_default());
    if (moat_policy_merge(eff, p, &err) < 0) {
        if (!err || !err->msg || !err->msg[0])
            abort();
        moat_error_free(err);
        err = NULL;
    }
    struct json_object *o = moat_policy_to_json(eff, false);
    const char *s = json_object_to_json_string(o);
    struct moat_policy *back = NULL;
    if (moat_policy_parse(s, strlen(s), "shown.json", &back, &err) < 0) {
        fprintf(stderr, "shown policy does not parse back: %s\n%s\n", err->msg, s);
        abort();
    }
    free(moat_policy_digest(back));
    moat_policy_free(back);
    json_object_put(o);
    moat_policy_free(eff);
    moat_policy_free(p);
    return 0;
}

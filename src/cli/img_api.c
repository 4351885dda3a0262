/* Requests of the image commands to moatd (see img_api.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "cli/ctr_cmds.h"
#include "cli/img_api.h"
#include "moat/json.h"
#include "moat/reference.h"
#include "moat/store.h"
#include "moat/util.h"

#define MSG_LINE_MAX (1u << 20)

bool img_is_builtin(const char *ref)
{
    struct moat_ref r;
    _cleanup_error_ moat_error *e = NULL;
    if (moat_ref_parse(ref, &r, &e) < 0)
        return false;
    moat_ref_default_tag(&r);
    _cleanup_free_ char *full = moat_ref_string(&r);
    moat_ref_clear(&r);
    return !strcmp(full, MOAT_BUILTIN_BUSYBOX);
}

static void msg_line(struct img_msgs *m, const char *line, size_t len)
{
    while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
        len--;
    if (!len)
        return;
    struct json_object *o = NULL;
    _cleanup_error_ moat_error *pe = NULL;
    if (moat_json_parse(line, len, MSG_LINE_MAX, "the daemon's message", &o, &pe) < 0) {
        if (!m->error)
            moat_err(&m->error, EPROTO, "%s", pe->msg);
        return;
    }
    struct json_object *ev = NULL;
    if (json_object_object_get_ex(o, "error", &ev) && !m->error) {
        moat_err(&m->error, EIO, "%s", json_object_get_string(ev));
    } else if (!ev && m->on_msg) {
        m->on_msg(m->ctx, o);
    }
    json_object_put(o);
}

int img_msgs_feed(void *ctx, const char *buf, size_t len)
{
    struct img_msgs *m = ctx;
    while (len) {
        const char *nl = memchr(buf, '\n', len);
        size_t take = nl ? (size_t)(nl - buf) : len;
        if (m->len + take > MSG_LINE_MAX) {
            m->too_long = true;
            return -1;
        }
        m->buf = xrealloc(m->buf, m->len + take + 1);
        memcpy(m->buf + m->len, buf, take);
        m->len += take;
        if (!nl)
            break;
        msg_line(m, m->buf, m->len);
        m->len = 0;
        buf += take + 1;
        len -= take + 1;
    }
    return 0;
}

int img_msgs_finish(struct img_msgs *m, moat_error **err)
{
    if (m->len)
        msg_line(m, m->buf, m->len);
    free(m->buf);
    m->buf = NULL;
    m->len = 0;
    if (m->too_long) {
        moat_error_free(m->error);
        m->error = NULL;
        return moat_err(err, E2BIG, "a message from the daemon is longer than %u bytes", MSG_LINE_MAX);
    }
    if (m->error) {
        *err = m->error;
        m->error = NULL;
        return -1;
    }
    return 0;
}

int img_pull_builtin(struct moat_client *cl, moat_error **err)
{
    struct img_msgs m = {0};
    int status = 0;
    moat_error *e = NULL;
    int rc = moat_client_stream(cl, "POST", "/images/create?fromImage=busybox&tag=latest", NULL, img_msgs_feed, &m,
                                &status, &e);
    if (rc < 0) {
        free(m.buf);
        moat_error_free(m.error);
        *err = e;
        return -1;
    }
    return img_msgs_finish(&m, err);
}

int img_get_json(struct moat_client *cl, const char *ref, const char *suffix, int *ret_status,
                 struct json_object **ret, moat_error **err)
{
    _cleanup_free_ char *n = ctr_penc(ref);
    _cleanup_free_ char *path = xasprintf("/images/%s%s", n, suffix);
    for (int attempt = 0;; attempt++) {
        moat_error *e = NULL;
        *ret_status = 0;
        if (ctr_get_json(cl, path, ret_status, ret, &e) == 0)
            return 0;
        if (*ret_status != 404 || attempt > 0 || !img_is_builtin(ref)) {
            *err = e;
            return -1;
        }
        moat_error_free(e);
        if (img_pull_builtin(cl, err) < 0)
            return -1;
    }
}

int img_upload_msgs(struct moat_client *cl, const char *path, const char *ctype, int fd, struct img_msgs *m,
                    moat_error **err)
{
    struct moat_client_resp resp = {0};
    if (moat_client_upload(cl, "POST", path, ctype, fd, &resp, err) < 0)
        return -1;
    int rc = 0;
    if (resp.status >= 400)
        rc = moat_client_resp_error(&resp, err);
    else if (resp.len && img_msgs_feed(m, resp.body, resp.len) < 0)
        rc = img_msgs_finish(m, err);
    moat_client_resp_clear(&resp);
    if (rc < 0) {
        free(m->buf);
        m->buf = NULL;
        moat_error_free(m->error);
        m->error = NULL;
        return -1;
    }
    return img_msgs_finish(m, err);
}

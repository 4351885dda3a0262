/* The image commands' side of the Docker API (img_api.c): requests to
 * moatd's /images endpoints (src/api/routes_images.c), the JSON message
 * streams of load, import and pull, and moat's "busybox is built on first
 * use" (a missing busybox:latest is pulled, which builds the built-in image,
 * and the request is made again).  Errors keep the store's words: the
 * daemon's message, printed by main as "moat: <message>". */
#ifndef MOAT_CLI_IMG_API_H
#define MOAT_CLI_IMG_API_H

#include <stdbool.h>

#include "cli/cli.h"
#include "cli/client.h"
#include "moat/error.h"

struct json_object;

/* ref names the built-in image (busybox, busybox:latest, docker.io/library/busybox:latest). */
bool img_is_builtin(const char *ref);
/* POST /images/create?fromImage=busybox&tag=latest, the stream read to its end. */
int img_pull_builtin(struct moat_client *cl, moat_error **err);
/* GET /images/<ref><suffix> ("/json", "/history"); a 404 for the built-in
 * image pulls it and asks again.  *ret_status: the last status (404: no such image). */
int img_get_json(struct moat_client *cl, const char *ref, const char *suffix, int *ret_status,
                 struct json_object **ret, moat_error **err);

/* The JSON message stream of load, import and pull (one object per line):
 * on_msg for each object; an object with "error" ends it with that error. */
typedef void (*img_msg_fn)(void *ctx, struct json_object *msg);
struct img_msgs {
    img_msg_fn on_msg;
    void *ctx;
    char *buf; /* an incomplete line */
    size_t len;
    moat_error *error; /* the stream's first "error" */
    bool too_long;
};
/* A moat_client_data_fn for moat_client_stream. */
int img_msgs_feed(void *ctx, const char *buf, size_t len);
/* After the stream (or an upload's whole body): the last line, then the
 * stream's error as *err (-1), else 0.  Frees the buffer. */
int img_msgs_finish(struct img_msgs *m, moat_error **err);

/* POST path with the body read from fd (chunked), the answer a JSON message
 * stream; status >= 400 is the daemon's error. */
int img_upload_msgs(struct moat_client *cl, const char *path, const char *ctype, int fd, struct img_msgs *m,
                    moat_error **err);

#endif

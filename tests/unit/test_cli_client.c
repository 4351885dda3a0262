/* The CLI's API client and the run/create flag parsing: stream demux,
 * units, --mount, env files, the create body, and the client against a tiny
 * in-test server (chunked bodies, errors, 101 hijack). */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/cli/client.c"
#include "../../src/cli/demux.c"
#include "../../src/cli/runopts.c"
#include "../../src/cli/stream.c"
#include "moat/json.h"
#include "unit.h"

/* ---- demux ---- */

struct collected {
    char out[256], errb[256];
    size_t nout, nerr;
    int calls;
};

static int collect(void *ctx, int stream, const char *buf, size_t len)
{
    struct collected *c = ctx;
    c->calls++;
    if (stream == 1 && c->nout + len < sizeof c->out) {
        memcpy(c->out + c->nout, buf, len);
        c->nout += len;
    } else if (stream == 2 && c->nerr + len < sizeof c->errb) {
        memcpy(c->errb + c->nerr, buf, len);
        c->nerr += len;
    }
    return 0;
}

static size_t put_frame(char *p, int stream, const char *data)
{
    size_t n = strlen(data);
    p[0] = (char)stream;
    p[1] = p[2] = p[3] = 0;
    p[4] = (char)(n >> 24);
    p[5] = (char)(n >> 16);
    p[6] = (char)(n >> 8);
    p[7] = (char)n;
    memcpy(p + 8, data, n);
    return n + 8;
}

static void test_demux_split_reads(void)
{
    char buf[256];
    size_t n = put_frame(buf, 1, "hello ");
    n += put_frame(buf + n, 2, "oops\n");
    n += put_frame(buf + n, 1, "");
    n += put_frame(buf + n, 1, "world\n");
    /* Every split point, and byte by byte. */
    for (size_t cut = 0; cut <= n; cut++) {
        struct moat_demux d = {0};
        struct collected c = {0};
        CHECK(moat_demux_feed(&d, buf, cut, collect, &c) == 0);
        CHECK(moat_demux_feed(&d, buf + cut, n - cut, collect, &c) == 0);
        CHECK(c.nout == 12 && !memcmp(c.out, "hello world\n", 12));
        CHECK(c.nerr == 5 && !memcmp(c.errb, "oops\n", 5));
    }
    struct moat_demux d = {0};
    struct collected c = {0};
    for (size_t i = 0; i < n; i++)
        CHECK(moat_demux_feed(&d, buf + i, 1, collect, &c) == 0);
    CHECK(c.nout == 12 && !memcmp(c.out, "hello world\n", 12));
    CHECK(d.left == 0 && d.hdr_have == 0);
    /* A bad header (stream 9) is a framing error. */
    struct moat_demux bad = {0};
    char junk[8] = {9, 0, 0, 0, 0, 0, 0, 1};
    CHECK(moat_demux_feed(&bad, junk, 8, collect, &c) < 0);
}

/* ---- units and flags ---- */

static void test_parse_units(void)
{
    int64_t v;
    moat_error *err = NULL;
    CHECK(run_parse_ram("64m", &v, &err) == 0 && v == 64 * 1024 * 1024);
    CHECK(run_parse_ram("64MB", &v, &err) == 0 && v == 64 * 1024 * 1024);
    CHECK(run_parse_ram("64MiB", &v, &err) == 0 && v == 64 * 1024 * 1024);
    CHECK(run_parse_ram("1g", &v, &err) == 0 && v == 1024LL * 1024 * 1024);
    CHECK(run_parse_ram("1.5k", &v, &err) == 0 && v == 1536);
    CHECK(run_parse_ram("100", &v, &err) == 0 && v == 100);
    CHECK(run_parse_ram("100b", &v, &err) == 0 && v == 100);
    CHECK(run_parse_ram("12x", &v, &err) < 0);
    CHECK_ERR_HAS(err, "invalid size: '12x'");
    CHECK(run_parse_ram("-1m", &v, &err) < 0);
    CHECK(run_parse_ram("", &v, &err) < 0);
    CHECK(run_parse_cpus("1.5", &v, &err) == 0 && v == 1500000000);
    CHECK(run_parse_cpus("0.01", &v, &err) == 0 && v == 10000000);
    CHECK(run_parse_cpus("two", &v, &err) < 0);
    moat_error_free(err);
}

static void test_parse_mount(void)
{
    moat_error *err = NULL;
    struct json_object *m = NULL;
    CHECK(run_parse_mount("type=bind,source=/a,target=/b,readonly", &m, &err) == 0);
    CHECK_STR(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN),
              "{\"Type\":\"bind\",\"Source\":\"\\/a\",\"Target\":\"\\/b\",\"ReadOnly\":true}");
    json_object_put(m);
    CHECK(run_parse_mount("type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1777", &m, &err) == 0);
    CHECK_STR(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN),
              "{\"Type\":\"tmpfs\",\"Target\":\"\\/t\",\"TmpfsOptions\":{\"SizeBytes\":67108864,\"Mode\":1023}}");
    json_object_put(m);
    CHECK(run_parse_mount("src=v2,target=/data,volume-nocopy,ro=false", &m, &err) == 0);
    CHECK_STR(json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN),
              "{\"Type\":\"volume\",\"Source\":\"v2\",\"Target\":\"\\/data\",\"VolumeOptions\":{\"NoCopy\":true}}");
    json_object_put(m);
    CHECK(run_parse_mount("type=bind,target=/b", &m, &err) < 0);
    CHECK_ERR_HAS(err, "field Source must not be empty");
    CHECK(run_parse_mount("type=volume,source=v", &m, &err) < 0);
    CHECK_ERR_HAS(err, "target is required");
    CHECK(run_parse_mount("type=bind,source=/a,target=/b,tmpfs-size=1m", &m, &err) < 0);
    CHECK_ERR_HAS(err, "cannot mix 'tmpfs-*' options");
    CHECK(run_parse_mount("type=nfs,target=/b", &m, &err) < 0);
    CHECK(run_parse_mount("type=bind,source=/a,target=/b,bogus=1", &m, &err) < 0);
    CHECK_ERR_HAS(err, "unexpected key 'bogus'");
    moat_error_free(err);
}

static void test_env_and_file(void)
{
    char tmpl[] = "/tmp/moat-envfile-XXXXXX";
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0);
    const char *text = "# a comment\n\n  A=1\nB=two words\nFROM_ENV\nNOT_SET_ANYWHERE_X\nC=\r\n";
    CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    setenv("FROM_ENV", "yes", 1);
    unsetenv("NOT_SET_ANYWHERE_X");
    moat_error *err = NULL;
    char **env = NULL;
    CHECK(run_read_env_file(tmpl, &env, &err) == 0);
    CHECK(moat_strv_len(env) == 4);
    if (moat_strv_len(env) == 4) {
        CHECK_STR(env[0], "A=1");
        CHECK_STR(env[1], "B=two words");
        CHECK_STR(env[2], "FROM_ENV=yes");
        CHECK_STR(env[3], "C=");
    }
    moat_strv_free(env);
    env = NULL;
    fd = open(tmpl, O_WRONLY | O_TRUNC | O_CLOEXEC);
    CHECK(write(fd, "BAD NAME=1\n", 11) == 11);
    close(fd);
    CHECK(run_read_env_file(tmpl, &env, &err) < 0);
    CHECK_ERR_HAS(err, "variable 'BAD NAME' contains whitespaces");
    moat_strv_free(env);
    unlink(tmpl);
    CHECK(run_read_env_file("/nonexistent/env", &env, &err) < 0);
    char *v = run_env_value("FROM_ENV");
    CHECK_STR(v, "FROM_ENV=yes");
    free(v);
    v = run_env_value("NOT_SET_ANYWHERE_X");
    CHECK_STR(v, "NOT_SET_ANYWHERE_X");
    free(v);
    moat_error_free(err);
}

static const char *jget(struct json_object *o, const char *path)
{
    static char buf[1024];
    _cleanup_free_ char *p = xstrdup(path);
    char *save = NULL;
    struct json_object *cur = o;
    for (char *k = strtok_r(p, ".", &save); k; k = strtok_r(NULL, ".", &save))
        if (!json_object_object_get_ex(cur, k, &cur))
            return "(missing)";
    snprintf(buf, sizeof buf, "%s", json_object_to_json_string_ext(cur, JSON_C_TO_STRING_PLAIN));
    return buf;
}

static void test_create_body(void)
{
    char *argv[] = {"run", "-d", "--name", "web", "-e", "A=1", "-m", "64m", "--cpus", "1.5", "-p",
                    "127.0.0.1:8080:80/udp", "-p", "9000-9001:90-91", "-v", "/h:/c:ro", "-v", "/anon", "--mount",
                    "type=volume,source=v2,target=/data", "--restart", "on-failure:3", "--ulimit", "nofile=1024:2048",
                    "--tmpfs", "/run:size=1m", "-l", "a=b", "-l", "flag", "--network", "mynet", "--network-alias",
                    "x", "--entrypoint", "/bin/sh", "--read-only", "--pids-limit", "50", "--cap-drop", "ALL",
                    "--security-opt", "no-new-privileges", "--sysctl", "net.ipv4.ip_forward=1", "--log-opt",
                    "max-size=1m", "--init", "-u", "1000:1000", "-w", "/work", "-h", "box", "--stop-signal",
                    "SIGINT", "--stop-timeout", "5", "busybox", "echo", "hi", NULL};
    int argc = (int)ARRAY_SIZE(argv) - 1;
    struct run_opts o = {0};
    moat_error *err = NULL;
    optind = 0;
    CHECK(run_opts_parse(&o, argc, argv, "moat run", &err) == 0);
    CHECK_STR(o.image, "busybox");
    CHECK(o.ncmd == 2 && o.detach && o.sig_proxy);
    struct json_object *b = NULL;
    CHECK(run_opts_body(&o, &b, &err) == 0);
    if (b) {
        CHECK_STR(jget(b, "Image"), "\"busybox\"");
        CHECK_STR(jget(b, "Cmd"), "[\"echo\",\"hi\"]");
        CHECK_STR(jget(b, "Entrypoint"), "[\"\\/bin\\/sh\"]");
        CHECK_STR(jget(b, "Env"), "[\"A=1\"]");
        CHECK_STR(jget(b, "AttachStdout"), "false");
        CHECK_STR(jget(b, "Labels"), "{\"a\":\"b\",\"flag\":\"\"}");
        CHECK_STR(jget(b, "Volumes"), "{\"\\/anon\":{}}");
        CHECK_STR(jget(b, "User"), "\"1000:1000\"");
        CHECK_STR(jget(b, "WorkingDir"), "\"\\/work\"");
        CHECK_STR(jget(b, "Hostname"), "\"box\"");
        CHECK_STR(jget(b, "StopSignal"), "\"SIGINT\"");
        CHECK_STR(jget(b, "StopTimeout"), "5");
        CHECK_STR(jget(b, "ExposedPorts"), "{\"80\\/udp\":{},\"90\\/tcp\":{},\"91\\/tcp\":{}}");
        CHECK_STR(jget(b, "HostConfig.PortBindings"),
                  "{\"80\\/udp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"8080\"}],"
                  "\"90\\/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"9000\"}],"
                  "\"91\\/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"9001\"}]}");
        CHECK_STR(jget(b, "HostConfig.Binds"), "[\"\\/h:\\/c:ro\"]");
        CHECK_STR(jget(b, "HostConfig.Mounts"), "[{\"Type\":\"volume\",\"Source\":\"v2\",\"Target\":\"\\/data\"}]");
        CHECK_STR(jget(b, "HostConfig.Memory"), "67108864");
        CHECK_STR(jget(b, "HostConfig.NanoCpus"), "1500000000");
        CHECK_STR(jget(b, "HostConfig.RestartPolicy"), "{\"Name\":\"on-failure\",\"MaximumRetryCount\":3}");
        CHECK_STR(jget(b, "HostConfig.Ulimits"), "[{\"Name\":\"nofile\",\"Hard\":2048,\"Soft\":1024}]");
        CHECK_STR(jget(b, "HostConfig.Tmpfs"), "{\"\\/run\":\"size=1m\"}");
        CHECK_STR(jget(b, "HostConfig.NetworkMode"), "\"mynet\"");
        CHECK_STR(jget(b, "HostConfig.ReadonlyRootfs"), "true");
        CHECK_STR(jget(b, "HostConfig.PidsLimit"), "50");
        CHECK_STR(jget(b, "HostConfig.CapDrop"), "[\"ALL\"]");
        CHECK_STR(jget(b, "HostConfig.SecurityOpt"), "[\"no-new-privileges\"]");
        CHECK_STR(jget(b, "HostConfig.Sysctls"), "{\"net.ipv4.ip_forward\":\"1\"}");
        CHECK_STR(jget(b, "HostConfig.LogConfig"), "{\"Type\":\"\",\"Config\":{\"max-size\":\"1m\"}}");
        CHECK_STR(jget(b, "HostConfig.Init"), "true");
        CHECK_STR(jget(b, "HostConfig.AutoRemove"), "false");
        CHECK_STR(jget(b, "HostConfig.MemorySwappiness"), "-1");
        CHECK_STR(jget(b, "NetworkingConfig.EndpointsConfig"), "{\"mynet\":{\"Aliases\":[\"x\"]}}");
    }
    json_object_put(b);
    run_opts_free(&o);

    /* The defaults of an attached run: NetworkMode "default", AutoRemove with --rm. */
    char *argv2[] = {"run", "-it", "--rm", "busybox", NULL};
    struct run_opts o2 = {0};
    optind = 0;
    CHECK(run_opts_parse(&o2, 4, argv2, "moat run", &err) == 0);
    b = NULL;
    CHECK(run_opts_body(&o2, &b, &err) == 0);
    if (b) {
        CHECK_STR(jget(b, "HostConfig.NetworkMode"), "\"default\"");
        CHECK_STR(jget(b, "HostConfig.AutoRemove"), "true");
        CHECK_STR(jget(b, "AttachStdin"), "true");
        CHECK_STR(jget(b, "StdinOnce"), "true");
        CHECK_STR(jget(b, "Tty"), "true");
        CHECK_STR(jget(b, "Cmd"), "null");
        CHECK_STR(jget(b, "NetworkingConfig"), "{\"EndpointsConfig\":{}}");
    }
    json_object_put(b);
    run_opts_free(&o2);

    /* --privileged, --device (docker's forms), --pid/--ipc/--uts/--cgroupns */
    char *argvd[] = {"run", "--privileged", "--device", "/dev/null", "--device", "/dev/null:/dev/mydev",
                     "--device", "/dev/zero:r", "--device", "/dev/full:/dev/f:rw", "--pid", "host", "--ipc", "host",
                     "--uts", "host", "--cgroupns", "private", "busybox", NULL};
    struct run_opts od = {0};
    optind = 0;
    CHECK(run_opts_parse(&od, (int)ARRAY_SIZE(argvd) - 1, argvd, "moat run", &err) == 0);
    b = NULL;
    CHECK(run_opts_body(&od, &b, &err) == 0);
    if (b) {
        CHECK_STR(jget(b, "HostConfig.Privileged"), "true");
        CHECK_STR(jget(b, "HostConfig.Devices"),
                  "[{\"PathOnHost\":\"\\/dev\\/null\",\"PathInContainer\":\"\\/dev\\/null\",\"CgroupPermissions\":\"rwm\"},"
                  "{\"PathOnHost\":\"\\/dev\\/null\",\"PathInContainer\":\"\\/dev\\/mydev\",\"CgroupPermissions\":\"rwm\"},"
                  "{\"PathOnHost\":\"\\/dev\\/zero\",\"PathInContainer\":\"\\/dev\\/zero\",\"CgroupPermissions\":\"r\"},"
                  "{\"PathOnHost\":\"\\/dev\\/full\",\"PathInContainer\":\"\\/dev\\/f\",\"CgroupPermissions\":\"rw\"}]");
        CHECK_STR(jget(b, "HostConfig.PidMode"), "\"host\"");
        CHECK_STR(jget(b, "HostConfig.IpcMode"), "\"host\"");
        CHECK_STR(jget(b, "HostConfig.UTSMode"), "\"host\"");
        CHECK_STR(jget(b, "HostConfig.CgroupnsMode"), "\"private\"");
    }
    json_object_put(b);
    run_opts_free(&od);
    static const struct {
        const char *spec, *msg;
    } bad_dev[] = {{"/dev/null:/dev/x:rwz", "invalid device mode: rwz"},
                   {"/dev/null:dev/x", "dev/x is not an absolute path"},
                   {"/a:/b:rw:x", "invalid device specification: /a:/b:rw:x"},
                   {":/b", "invalid device specification: :/b"}};
    for (size_t i = 0; i < ARRAY_SIZE(bad_dev); i++) {
        struct json_object *d = NULL;
        CHECK(run_parse_device(bad_dev[i].spec, &d, &err) < 0);
        CHECK_ERR_HAS(err, bad_dev[i].msg);
        moat_error_free(err);
        err = NULL;
    }

    char *argv3[] = {"run", "--rm", "--restart", "always", "busybox", NULL};
    struct run_opts o3 = {0};
    optind = 0;
    CHECK(run_opts_parse(&o3, 5, argv3, "moat run", &err) < 0);
    CHECK_ERR_HAS(err, "Conflicting options: --restart and --rm");
    run_opts_free(&o3);
    char *argv4[] = {"run", "-m", "lots", "busybox", NULL};
    struct run_opts o4 = {0};
    optind = 0;
    CHECK(run_opts_parse(&o4, 4, argv4, "moat run", &err) < 0);
    CHECK_ERR_HAS(err, "invalid argument \"lots\" for \"-m, --memory\" flag");
    run_opts_free(&o4);
    char *argv5[] = {"run", "--bogus", "busybox", NULL};
    struct run_opts o5 = {0};
    optind = 0;
    opterr = 0;
    CHECK(run_opts_parse(&o5, 3, argv5, "moat run", &err) < 0);
    CHECK_ERR_HAS(err, "unknown flag: --bogus");
    run_opts_free(&o5);
    moat_error_free(err);
}

static void test_helpers(void)
{
    unsigned char k[8];
    size_t n;
    CHECK(cli_parse_detach_keys("ctrl-p,ctrl-q", k, sizeof k, &n) == 0 && n == 2 && k[0] == 16 && k[1] == 17);
    CHECK(cli_parse_detach_keys("a,ctrl-@", k, sizeof k, &n) == 0 && n == 2 && k[0] == 'a' && k[1] == 0);
    CHECK(cli_parse_detach_keys("ctrl-pp", k, sizeof k, &n) < 0);
    char *e = cli_query_escape("{\"a\":1} /x");
    CHECK_STR(e, "%7B%22a%22%3A1%7D%20%2Fx");
    free(e);
    moat_error *err = NULL;
    char *t = NULL;
    CHECK(cli_parse_timestamp("1700000000.5", &t, &err) == 0);
    CHECK_STR(t, "1700000000.5");
    free(t);
    CHECK(cli_parse_timestamp("2023-11-14T22:13:20Z", &t, &err) == 0);
    CHECK_STR(t, "1700000000.000000000");
    free(t);
    CHECK(cli_parse_timestamp("2023-11-14T23:13:20.25+01:00", &t, &err) == 0);
    CHECK_STR(t, "1700000000.250000000");
    free(t);
    CHECK(cli_parse_timestamp("10m", &t, &err) == 0);
    CHECK(t && llabs(atoll(t) - ((int64_t)time(NULL) - 600)) <= 2);
    free(t);
    CHECK(cli_parse_timestamp("yesterday", &t, &err) < 0);
    CHECK_ERR_HAS(err, "failed to parse value as time or duration");
    char *h = NULL;
    CHECK(moat_client_parse_host("unix:///tmp/x.sock", &h, &err) == 0);
    CHECK_STR(h, "/tmp/x.sock");
    free(h);
    CHECK(moat_client_parse_host("tcp://1.2.3.4:2375", &h, &err) < 0);
    char *req = moat_client_format_request("POST", "/containers/x/attach?stream=1", "text/plain", 0, BODY_UPGRADE);
    CHECK_STR(req, "POST /v1.41/containers/x/attach?stream=1 HTTP/1.1\r\nHost: docker\r\nUser-Agent: moat/" MOAT_VERSION
                   "\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: text/plain\r\n\r\n");
    free(req);
    moat_error_free(err);
}

/* ---- the client against a tiny server ---- */

/* Serve `n` connections: read one request head (and its Content-Length body),
 * answer by path. */
static void wr(int fd, const char *buf, size_t len)
{
    if (moat_write_all(fd, buf, len) < 0)
        _exit(4);
}

static void serve(int lfd, int n)
{
    for (int i = 0; i < n; i++) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            _exit(2);
        char req[8192];
        size_t have = 0;
        while (!memmem(req, have, "\r\n\r\n", 4) && have < sizeof req - 1) {
            ssize_t k = read(c, req + have, sizeof req - 1 - have);
            if (k <= 0)
                _exit(3);
            have += (size_t)k;
        }
        req[have] = 0;
        const char *r;
        if (strstr(req, "GET /v1.41/chunked ")) {
            /* Chunked, headers and chunks in separate writes, a chunk split mid-way. */
            r = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            wr(c, r, strlen(r));
            usleep(20000);
            wr(c, "5\r\n{\"a\":", 8);
            usleep(20000);
            wr(c, "\r\n3\r\n42}\r\n0\r\n\r\n", 15);
        } else if (strstr(req, "GET /v1.41/missing ")) {
            r = "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nContent-Length: 39\r\n\r\n"
                "{\"message\":\"No such container: nosuch\"}";
            wr(c, r, strlen(r));
        } else if (strstr(req, "POST /v1.41/hijack ") && strstr(req, "Upgrade: tcp")) {
            /* The 101 and the first stream bytes in one write: nothing may be lost. */
            r = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\nEARLY";
            wr(c, r, strlen(r));
            char in[64];
            ssize_t k = read(c, in, sizeof in); /* echo what the client sends, then EOF */
            if (k > 0)
                wr(c, in, (size_t)k);
        } else if (strstr(req, "POST /v1.41/hijackfail ")) {
            r = "HTTP/1.1 409 Conflict\r\nContent-Type: application/json\r\n\r\n"
                "{\"message\":\"Container x is not running\"}\n";
            wr(c, r, strlen(r));
        } else {
            r = "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n";
            wr(c, r, strlen(r));
        }
        close(c);
    }
    _exit(0);
}

struct pieces {
    int calls;
    char buf[64];
    size_t len;
};

static int on_piece(void *ctx, const char *b, size_t len)
{
    struct pieces *p = ctx;
    p->calls++;
    if (p->len + len < sizeof p->buf) {
        memcpy(p->buf + p->len, b, len);
        p->len += len;
    }
    return 0;
}

static void test_client_server(void)
{
    char dir[] = "/tmp/moat-cli-client-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char sock[128];
    snprintf(sock, sizeof sock, "%s/s.sock", dir);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(lfd, 8) == 0);
    pid_t pid = fork();
    if (pid == 0)
        serve(lfd, 6);
    close(lfd);
    moat_error *err = NULL;
    struct moat_client *c = NULL;
    char host[160];
    snprintf(host, sizeof host, "unix://%s", sock);
    CHECK(moat_client_open(host, &c, &err) == 0);
    if (c) {
        /* 1: chunked, whole. */
        struct moat_client_resp r = {0};
        CHECK(moat_client_call(c, "GET", "/chunked", NULL, NULL, 0, &r, &err) == 0);
        CHECK(r.status == 200 && r.len == 8 && r.body && !strcmp(r.body, "{\"a\":42}"));
        CHECK_STR(r.content_type, "application/json");
        moat_client_resp_clear(&r);
        /* 2: chunked, streamed in pieces. */
        struct pieces p = {0};
        int status = 0;
        CHECK(moat_client_stream(c, "GET", "/chunked", NULL, on_piece, &p, &status, &err) == 0);
        CHECK(status == 200 && p.len == 8 && !memcmp(p.buf, "{\"a\":42}", 8) && p.calls >= 2);
        /* 3: a daemon error. */
        struct json_object *o = NULL;
        CHECK(moat_client_json(c, "GET", "/missing", NULL, &status, &o, &err) < 0);
        CHECK(status == 404 && moat_client_last_status(c) == 404);
        CHECK_STR(err ? err->msg : NULL, "No such container: nosuch");
        moat_client_wrap_error(c, &err);
        CHECK_STR(err ? err->msg : NULL, "Error response from daemon: No such container: nosuch");
        /* 4: hijack keeps the bytes that came with the 101. */
        int fd = -1;
        CHECK(moat_client_hijack(c, "/hijack", NULL, &fd, &err) == 0);
        if (fd >= 0) {
            char got[64] = {0};
            size_t have = 0;
            CHECK(write(fd, "ping", 4) == 4);
            shutdown(fd, SHUT_WR);
            ssize_t k;
            while ((k = read(fd, got + have, sizeof got - 1 - have)) > 0)
                have += (size_t)k;
            CHECK_STR(got, "EARLYping");
            close(fd);
        }
        /* 5: a refused hijack reads the error to EOF. */
        fd = -1;
        CHECK(moat_client_hijack(c, "/hijackfail", NULL, &fd, &err) < 0 && fd == -1);
        CHECK_STR(err ? err->msg : NULL, "Container x is not running");
        /* 6: a 500 with no body. */
        CHECK(moat_client_json(c, "GET", "/other", NULL, &status, NULL, &err) < 0 && status == 500);
        CHECK_ERR_HAS(err, "status 500");
        moat_client_close(c);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(sock);
    rmdir(dir);
    /* Nothing listening on an explicit host: a clear error, no auto-start. */
    CHECK(moat_client_open(host, &c, &err) == 0);
    struct moat_client_resp r = {0};
    CHECK(moat_client_call(c, "GET", "/_ping", NULL, NULL, 0, &r, &err) < 0);
    CHECK_ERR_HAS(err, "Cannot connect to the moat daemon at unix:///tmp/moat-cli-client-");
    moat_client_close(c);
    moat_error_free(err);
}

/* ---- the response parser alone (what fuzz_client_resp drives) ---- */
static int parse_canned(const char *method, const char *text, struct moat_client_resp *resp, moat_error **err)
{
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    CHECK(write(sv[1], text, strlen(text)) == (ssize_t)strlen(text));
    shutdown(sv[1], SHUT_WR);
    int rc = moat_client_read_response(sv[0], method, resp, err);
    close(sv[0]);
    close(sv[1]);
    return rc;
}

static void test_read_response(void)
{
    struct moat_client_resp r = {0};
    moat_error *err = NULL;
    /* a HEAD error has no body: the message comes from X-Moat-Error */
    CHECK(parse_canned("HEAD", "HTTP/1.1 403 Forbidden\r\nX-Moat-Error: denied by policy: cp is not allowed (p.json: /cp)"
                               "\r\nContent-Length: 60\r\n\r\n", &r, &err) == 0);
    CHECK(r.status == 403);
    CHECK(moat_client_resp_error(&r, &err) == -1);
    CHECK_STR(err->msg, "denied by policy: cp is not allowed (p.json: /cp)");
    CHECK(err->errnum == EPERM);
    moat_error_free(err);
    err = NULL;
    moat_client_resp_clear(&r);
    /* a chunked JSON error body wins over the header */
    CHECK(parse_canned("GET", "HTTP/1.1 404 Not Found\r\nX-Moat-Error: other\r\nTransfer-Encoding: chunked\r\n\r\n"
                              "10\r\n{\"message\":\"No s\r\nb\r\nuch image\"}\r\n0\r\n\r\n", &r, &err) == 0);
    CHECK(moat_client_resp_error(&r, &err) == -1);
    CHECK_STR(err->msg, "No such image");
    moat_error_free(err);
    err = NULL;
    moat_client_resp_clear(&r);
    /* garbage and a cut-off body are errors with a message, never a crash */
    CHECK(parse_canned("GET", "HTTP/1.1 2OO OK\r\n\r\n", &r, &err) == -1);
    CHECK_ERR_HAS(err, "bad response from the daemon");
    moat_error_free(err);
    err = NULL;
    CHECK(parse_canned("GET", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", &r, &err) == -1);
    CHECK_ERR_HAS(err, "stream ended at an unexpected time");
    moat_error_free(err);
}

/* ---- the engine of a store of its own ---- */

static void test_root_run_dir(void)
{
    CHECK(moat_client_root_run_dir(NULL) == NULL);
    CHECK(moat_client_root_run_dir("") == NULL);
    _cleanup_free_ char *def = moat_store_default_root();
    CHECK(moat_client_root_run_dir(def) == NULL); /* the default store: the default engine */
    char tmpl[] = "/tmp/moat-unit-rootrun-XXXXXX";
    CHECK(mkdtemp(tmpl) != NULL);
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir(tmpl) == 0);
    _cleanup_free_ char *abs = xasprintf("%s/store", tmpl);
    _cleanup_free_ char *dotted = xasprintf("%s/./store", tmpl);
    _cleanup_free_ char *a = moat_client_root_run_dir(abs);
    _cleanup_free_ char *b = moat_client_root_run_dir("store");  /* relative: to the cwd */
    _cleanup_free_ char *d = moat_client_root_run_dir(dotted);   /* any spelling, before it exists */
    CHECK(mkdir(abs, 0700) == 0);
    _cleanup_free_ char *e = moat_client_root_run_dir(abs);      /* and once it exists */
    _cleanup_free_ char *other = moat_client_root_run_dir("store2");
    CHECK(chdir(cwd) == 0);
    rmdir(abs);
    rmdir(tmpl);
    CHECK(a && b && d && e && other);
    CHECK_STR(a, b);
    CHECK_STR(a, d);
    CHECK_STR(a, e);
    CHECK(strcmp(a, other) != 0);
    _cleanup_free_ char *run = moat_client_default_run_dir();
    _cleanup_free_ char *prefix = xasprintf("%s/root-", run);
    CHECK(moat_str_has_prefix(a, prefix));
    const char *hex = a + strlen(prefix);
    CHECK(strlen(hex) == 16 && strspn(hex, "0123456789abcdef") == 16);
    /* the same hash the suites compute: sha256 of the real path */
    char dig[MOAT_DIGEST_SIZE];
    moat_sha256_buf(abs, strlen(abs), dig);
    CHECK(!strncmp(hex, dig + 7, 16));
}

static const struct unit_test cli_client_tests[] = {
    UNIT_TEST(test_demux_split_reads),
    UNIT_TEST(test_parse_units),
    UNIT_TEST(test_parse_mount),
    UNIT_TEST(test_env_and_file),
    UNIT_TEST(test_create_body),
    UNIT_TEST(test_helpers),
    UNIT_TEST(test_client_server),
    UNIT_TEST(test_read_response),
    UNIT_TEST(test_root_run_dir),
    UNIT_END,
};
UNIT_SUITE(cli_client, cli_client_tests);

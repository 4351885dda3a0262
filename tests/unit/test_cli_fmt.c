/* The CLI's container formatting: the Go-template evaluator, ps rows, the
 * archive path-stat header, and cp's tar build/extract against hostile tars.
 * The unit binary does not link src/cli (its objects carry main()), so the
 * pure CLI sources under test are compiled into this file. */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../src/cli/cp_tar.c"
#include "../../src/cli/ctr_fmt.c"
#include "../../src/cli/format.c"
#include "../../src/cli/template.c"
#include "moat/json.h"
#include "unit.h"

static const char sample[] =
    "{\"Id\":\"c32a33fcc439951f\",\"Name\":\"/web\",\"State\":{\"Status\":\"running\",\"Running\":true,\"Pid\":1234,"
    "\"ExitCode\":0,\"Health\":null},\"Config\":{\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],\"Entrypoint\":null,"
    "\"Labels\":{\"b\":\"2\",\"a\":\"1\"},\"Env\":[],\"Url\":\"http://x/<y>\"},\"Mounts\":[{\"Destination\":\"/data\"},"
    "{\"Destination\":\"/x\"}],\"HostConfig\":{\"Memory\":1073741824,\"NanoCpus\":1.5e9}}";

static struct json_object *parse(const char *s)
{
    struct json_object *o = NULL;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(moat_json_parse(s, strlen(s), 1 << 20, "test", &o, &err) == 0);
    return o;
}

/* Render fmt on the sample; NULL on error. */
static char *render(struct json_object *o, const char *fmt)
{
    char *out = NULL;
    _cleanup_error_ moat_error *err = NULL;
    if (cli_template_render(fmt, o, &out, &err) < 0)
        return NULL;
    return out;
}

#define CHECK_TPL(o, fmt, want)                                                                                     \
    do {                                                                                                            \
        _cleanup_free_ char *_got = render(o, fmt);                                                                 \
        CHECK_STR(_got, want);                                                                                      \
    } while (0)

static void test_template_fields(void)
{
    _cleanup_json_ struct json_object *o = parse(sample);
    CHECK_TPL(o, "{{.State.Status}}", "running");
    CHECK_TPL(o, "{{ .Id }}", "c32a33fcc439951f");
    CHECK_TPL(o, "{{.Config.Cmd}}", "[sh -c echo hi]");
    CHECK_TPL(o, "{{.Config.Labels}}", "map[a:1 b:2]"); /* Go sorts map keys */
    CHECK_TPL(o, "{{index .Config.Labels \"a\"}}", "1");
    CHECK_TPL(o, "{{index .Config.Labels \"zz\"}}", "");
    CHECK_TPL(o, "{{index .Config.Cmd 2}}", "echo hi");
    CHECK_TPL(o, "{{.Config.Entrypoint}}", "[]"); /* a nil slice */
    CHECK_TPL(o, "{{.State.Health}}", "<nil>");
    CHECK_TPL(o, "{{.Config.Env}}", "[]");
    CHECK_TPL(o, "{{.Nope}}", "<no value>");
    CHECK_TPL(o, "{{.State.Pid}} {{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", "1234 1073741824 1500000000");
    CHECK_TPL(o, "{{.State.Running}}", "true");
    CHECK_TPL(o, "id={{.Id}}\\n", "id=c32a33fcc439951f\n");
    CHECK_TPL(o, "{{.Mounts}}", "[map[Destination:/data] map[Destination:/x]]");
}

static void test_template_functions(void)
{
    _cleanup_json_ struct json_object *o = parse(sample);
    CHECK_TPL(o, "{{json .Config.Cmd}}", "[\"sh\",\"-c\",\"echo hi\"]");
    CHECK_TPL(o, "{{json .Config.Labels}}", "{\"b\":\"2\",\"a\":\"1\"}");
    CHECK_TPL(o, "{{.Config.Labels | json}}", "{\"b\":\"2\",\"a\":\"1\"}");
    CHECK_TPL(o, "{{json .Config.Entrypoint}}", "null");
    CHECK_TPL(o, "{{json .State.Status}}", "\"running\"");
    _cleanup_free_ char *cfg = render(o, "{{json .Config}}");
    CHECK(cfg && moat_str_has_prefix(cfg, "{\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],\"Entrypoint\":null,"));
    CHECK(cfg && strstr(cfg, "\"Url\":\"http://x/<y>\"")); /* no "\/" escapes */
    CHECK_TPL(o, "{{join .Config.Cmd \",\"}}", "sh,-c,echo hi");
    CHECK_TPL(o, "{{upper .State.Status}}", "RUNNING");
    CHECK_TPL(o, "{{len .Mounts}}", "2");
    CHECK_TPL(o, "{{range .Mounts}}{{.Destination}} {{end}}", "/data /x ");
    CHECK_TPL(o, "{{range .Config.Labels}}<{{.}}>{{end}}", "<1><2>");
    CHECK_TPL(o, "{{range .Config.Entrypoint}}x{{end}}", "");
    CHECK_TPL(o, "{{if .State.Running}}up{{else}}down{{end}}", "up");
    CHECK_TPL(o, "{{if .Config.Env}}env{{else}}none{{end}}", "none");
    CHECK_TPL(o, "{{with .State}}{{.Status}}/{{.Pid}}{{end}}", "running/1234");
    CHECK_TPL(o, "{{range .Mounts}}{{if .Destination}}[{{.Destination}}]{{end}}{{end}}", "[/data][/x]");
    /* a method-like field with a key: {{.Label "k"}} over a map field */
    _cleanup_json_ struct json_object *row = parse("{\"Label\":{\"com.x\":\"y\"}}");
    CHECK_TPL(row, "{{.Label \"com.x\"}}", "y");
    /* errors name the problem */
    char *out = NULL;
    moat_error *err = NULL;
    CHECK(cli_template_render("{{.State", o, &out, &err) < 0);
    CHECK_ERR_HAS(err, "unclosed action");
    moat_error_free(err);
    err = NULL;
    CHECK(cli_template_render("{{range .Mounts}}x", o, &out, &err) < 0);
    CHECK_ERR_HAS(err, "missing {{end}}");
    moat_error_free(err);
    err = NULL;
    CHECK(cli_template_render("{{nosuch .Id}}", o, &out, &err) < 0);
    CHECK_ERR_HAS(err, "\"nosuch\" not defined");
    moat_error_free(err);
}

static void test_json_indent(void)
{
    _cleanup_json_ struct json_object *o = parse("[{\"Id\":\"x\",\"A\":[1,\"/b\"],\"E\":{},\"N\":null,\"L\":[]}]");
    _cleanup_free_ char *s = cli_json_indent(o);
    CHECK_STR(s, "[\n"
                 "    {\n"
                 "        \"Id\": \"x\",\n"
                 "        \"A\": [\n"
                 "            1,\n"
                 "            \"/b\"\n"
                 "        ],\n"
                 "        \"E\": {},\n"
                 "        \"N\": null,\n"
                 "        \"L\": []\n"
                 "    }\n"
                 "]");
    _cleanup_json_ struct json_object *empty = json_object_new_array();
    _cleanup_free_ char *e = cli_json_indent(empty);
    CHECK_STR(e, "[]");
}

static void test_ps_fields(void)
{
    _cleanup_free_ char *c1 = cli_ps_command("sh -c 'while true; do sleep 1; done'", true);
    CHECK_STR(c1, "\"sh -c 'while true; …\"");
    _cleanup_free_ char *c2 = cli_ps_command("sh -c 'while true; do sleep 1; done'", false);
    CHECK_STR(c2, "\"sh -c 'while true; do sleep 1; done'\"");
    _cleanup_free_ char *c3 = cli_ps_command("echo \"hi\"", true);
    CHECK_STR(c3, "\"echo \\\"hi\\\"\"");
    _cleanup_free_ char *c4 = cli_ps_command("", true);
    CHECK_STR(c4, "\"\"");

    _cleanup_json_ struct json_object *ports =
        parse("[{\"PrivatePort\":443,\"Type\":\"tcp\"},{\"IP\":\"0.0.0.0\",\"PrivatePort\":80,\"PublicPort\":8080,"
              "\"Type\":\"tcp\"},{\"IP\":\"::\",\"PrivatePort\":80,\"PublicPort\":8080,\"Type\":\"tcp\"},"
              "{\"PrivatePort\":53,\"Type\":\"udp\"}]");
    _cleanup_free_ char *p = cli_ps_ports(ports);
    CHECK_STR(p, "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp, 443/tcp, 53/udp");
    _cleanup_json_ struct json_object *range =
        parse("[{\"IP\":\"0.0.0.0\",\"PrivatePort\":8001,\"PublicPort\":9001,\"Type\":\"tcp\"},"
              "{\"IP\":\"0.0.0.0\",\"PrivatePort\":8000,\"PublicPort\":9000,\"Type\":\"tcp\"},"
              "{\"PrivatePort\":7000,\"Type\":\"tcp\"},{\"PrivatePort\":7001,\"Type\":\"tcp\"}]");
    _cleanup_free_ char *r = cli_ps_ports(range);
    CHECK_STR(r, "7000-7001/tcp, 0.0.0.0:9000-9001->8000-8001/tcp");
    _cleanup_free_ char *none = cli_ps_ports(NULL);
    CHECK_STR(none, "");

    _cleanup_json_ struct json_object *names = parse("[\"/web\",\"/other/alias\"]");
    _cleanup_free_ char *n1 = cli_ps_names(names, true);
    CHECK_STR(n1, "web");
    _cleanup_free_ char *n2 = cli_ps_names(names, false);
    CHECK_STR(n2, "web,other/alias");
}

static void test_ps_row_and_table(void)
{
    int64_t now = 1700000000;
    _cleanup_free_ char *js = xasprintf(
        "{\"Id\":\"0123456789abcdef0123\",\"Image\":\"busybox\",\"Command\":\"sh -c 'while true; do sleep 1; done'\","
        "\"Created\":%" PRId64 ",\"Status\":\"Up 2 minutes (Paused)\",\"State\":\"paused\","
        "\"Ports\":[{\"IP\":\"0.0.0.0\",\"PrivatePort\":80,\"PublicPort\":8080,\"Type\":\"tcp\"}],"
        "\"Names\":[\"/web\"],\"Labels\":{\"z\":\"1\",\"a\":\"b\"},\"SizeRw\":12,\"SizeRootFs\":1240000,"
        "\"Mounts\":[{\"Name\":\"data\",\"Driver\":\"local\"},{\"Source\":\"/home/user/a-long-source-dir\"}],"
        "\"NetworkSettings\":{\"Networks\":{\"bridge\":{},\"app\":{}}}}",
        now - 120);
    _cleanup_json_ struct json_object *ctr = parse(js);
    _cleanup_json_ struct json_object *row = cli_ps_row(ctr, true, now);
    CHECK_TPL(row, "{{.ID}}|{{.Image}}|{{.Status}}|{{.State}}|{{.Names}}", "0123456789ab|busybox|Up 2 minutes "
                                                                           "(Paused)|paused|web");
    CHECK_TPL(row, "{{.RunningFor}}|{{.Ports}}|{{.Labels}}|{{.Label \"z\"}}", "2 minutes ago|0.0.0.0:8080->80/tcp|"
                                                                              "a=b,z=1|1");
    CHECK_TPL(row, "{{.Size}}|{{.Mounts}}|{{.Networks}}|{{.LocalVolumes}}",
              "12B (virtual 1.24MB)|data,/home/user/a-l…|app,bridge|1");
    _cleanup_json_ struct json_object *full = cli_ps_row(ctr, false, now);
    CHECK_TPL(full, "{{.ID}}", "0123456789abcdef0123");
    _cleanup_json_ struct json_object *img = parse("{\"Image\":\"sha256:aaaabbbbccccddddeeee\"}");
    _cleanup_json_ struct json_object *irow = cli_ps_row(img, true, now);
    CHECK_TPL(irow, "{{.Image}}", "aaaabbbbcccc");

    /* the default table through the tabwriter */
    const char *fmt = "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}";
    _cleanup_json_ struct json_object *h = cli_ps_header();
    char *lines[2] = {render(h, fmt), render(row, fmt)};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ctr_print_tabbed(lines, 2, 10, f);
    fclose(f);
    /* "…" is 3 bytes for 1 rune: the tabwriter pads by runes, so that cell is
     * padded to 25 runes = 27 bytes */
    _cleanup_free_ char *want = xasprintf("%-15s%-10s%-25s%-16s%-24s%-23s%s\n%-15s%-10s%-27s%-16s%-24s%-23s%s\n",
                                          "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES",
                                          "0123456789ab", "busybox", "\"sh -c 'while true; …\"", "2 minutes ago",
                                          "Up 2 minutes (Paused)", "0.0.0.0:8080->80/tcp", "web");
    CHECK_STR(buf, want);
    free(buf);
    free(lines[0]);
    free(lines[1]);
}

static void test_path_stat(void)
{
    struct cli_path_stat st;
    _cleanup_error_ moat_error *err = NULL;
    CHECK(cli_path_stat_decode("eyJuYW1lIjogImV0YyIsICJzaXplIjogNDA5NiwgIm1vZGUiOiAyMTQ3NDg0MTQxLCAibXRpbWUiOiAiMjAyN"
                               "i0wMS0wMVQwMDowMDowMFoiLCAibGlua1RhcmdldCI6ICIifQ==",
                               &st, &err) == 0);
    CHECK_STR(st.name, "etc");
    CHECK(st.size == 4096 && st.is_dir && !st.is_link && (st.mode & 0777) == 0755);
    cli_path_stat_clear(&st);
    CHECK(cli_path_stat_decode("eyJuYW1lIjogInNoIiwgInNpemUiOiA3LCAibW9kZSI6IDEzNDIxODIzOSwgIm10aW1lIjogIjIwMjYtMDEtMD"
                               "FUMDA6MDA6MDBaIiwgImxpbmtUYXJnZXQiOiAiL2Jpbi9idXN5Ym94In0=",
                               &st, &err) == 0);
    CHECK_STR(st.name, "sh");
    CHECK_STR(st.link_target, "/bin/busybox");
    CHECK(st.is_link && !st.is_dir);
    cli_path_stat_clear(&st);
    CHECK(cli_path_stat_decode("not base64!", &st, &err) < 0);
    CHECK_ERR_HAS(err, "base64");
    moat_error_free(err);
    err = NULL;
    CHECK(cli_path_stat_decode("e30=", &st, &err) < 0); /* "{}": no name */
    CHECK_ERR_HAS(err, "name");
    moat_error_free(err);
    err = NULL;
    CHECK(cli_path_stat_decode(NULL, &st, &err) < 0);
    CHECK_ERR_HAS(err, "no container path stat header");
}

/* ---- cp tar ---- */

static char *mkd(const char *what)
{
    char *t = xasprintf("/tmp/moat-unit-cp-%s-XXXXXX", what);
    CHECK(mkdtemp(t) != NULL);
    return t;
}

static void rmrf(const char *d)
{
    _cleanup_free_ char *cmd = xasprintf("rm -rf '%s'", d);
    CHECK(system(cmd) == 0);
}

static char *slurp(const char *path)
{
    char *buf = NULL;
    size_t len;
    _cleanup_error_ moat_error *err = NULL;
    if (moat_read_file_at(AT_FDCWD, path, 1 << 20, &buf, &len, &err) < 0)
        return NULL;
    return buf;
}

static void put_file(const char *path, const char *data)
{
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK(fd >= 0 && moat_write_all(fd, data, strlen(data)) == (ssize_t)strlen(data));
}

static void test_cp_roundtrip(void)
{
    _cleanup_free_ char *src = mkd("src"), *dst = mkd("dst");
    _cleanup_free_ char *a = xasprintf("%s/a", src), *x = xasprintf("%s/a/x.txt", src), *sub = xasprintf("%s/a/s", src);
    CHECK(mkdir(a, 0755) == 0 && mkdir(sub, 0700) == 0);
    put_file(x, "hello\n");
    _cleanup_free_ char *ln = xasprintf("%s/a/s/link", src);
    CHECK(symlink("../x.txt", ln) == 0);
    int fd = open(src, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    _cleanup_error_ moat_error *err = NULL;
    /* the top entry carries the destination's name */
    CHECK(cli_tar_build(a, "b", false, false, fd, &err) == 0);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(cli_tar_extract(fd, dst, NULL, NULL, false, &err) == 0);
    _cleanup_free_ char *got = xasprintf("%s/b/x.txt", dst), *gl = xasprintf("%s/b/s/link", dst);
    _cleanup_free_ char *data = slurp(got);
    CHECK_STR(data, "hello\n");
    char target[64] = {0};
    CHECK(readlink(gl, target, sizeof target - 1) > 0);
    CHECK_STR(target, "../x.txt");
    struct stat st;
    _cleanup_free_ char *gs = xasprintf("%s/b/s", dst);
    CHECK(stat(gs, &st) == 0 && (st.st_mode & 0777) == 0700);
    /* extracting over existing files replaces them */
    put_file(got, "changed\n");
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(cli_tar_extract(fd, dst, NULL, NULL, false, &err) == 0);
    _cleanup_free_ char *again = slurp(got);
    CHECK_STR(again, "hello\n");
    /* extract again, renaming the top entry "b" to "c" (docker cp to a new name) */
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(cli_tar_extract(fd, dst, "b", "c", false, &err) == 0);
    _cleanup_free_ char *gc = xasprintf("%s/c/x.txt", dst);
    _cleanup_free_ char *data2 = slurp(gc);
    CHECK_STR(data2, "hello\n");
    close(fd);
    rmrf(src);
    rmrf(dst);
}

struct ent {
    const char *name;
    mode_t type;
    const char *data_or_link;
};

static int evil_tar(const struct ent *e, size_t n)
{
    int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    struct archive *w = archive_write_new();
    archive_write_set_format_pax_restricted(w);
    archive_write_open_fd(w, fd);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].name);
        archive_entry_set_filetype(ae, e[i].type);
        archive_entry_set_perm(ae, e[i].type == AE_IFREG ? 06755 : 0777);
        if (e[i].type == AE_IFLNK)
            archive_entry_set_symlink(ae, e[i].data_or_link);
        size_t len = e[i].type == AE_IFREG ? strlen(e[i].data_or_link) : 0;
        archive_entry_set_size(ae, (la_int64_t)len);
        archive_write_header(w, ae);
        if (len)
            archive_write_data(w, e[i].data_or_link, len);
        archive_entry_free(ae);
    }
    archive_write_close(w);
    archive_write_free(w);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static void test_cp_hostile(void)
{
    _cleanup_free_ char *top = mkd("evil");
    _cleanup_free_ char *dst = xasprintf("%s/dst", top), *outside = xasprintf("%s/outside", top);
    CHECK(mkdir(dst, 0755) == 0 && mkdir(outside, 0755) == 0);
    _cleanup_free_ char *abs_target = xasprintf("%s/abs-written", outside);
    struct ent dotdot[] = {{"../outside/dotdot", AE_IFREG, "pwned"}};
    struct ent absolute[] = {{abs_target, AE_IFREG, "pwned"}};
    struct ent through_abs[] = {{"evil", AE_IFLNK, outside}, {"evil/through-abs", AE_IFREG, "pwned"}};
    struct ent through_rel[] = {{"rel", AE_IFLNK, "../outside"}, {"rel/through-rel", AE_IFREG, "pwned"}};
    struct ent renamed_dotdot[] = {{"top", AE_IFDIR, NULL}, {"top/../../outside/renamed", AE_IFREG, "pwned"}};
    struct {
        struct ent *e;
        size_t n;
        const char *from, *to, *escaped;
    } cases[] = {
        {dotdot, 1, NULL, NULL, "dotdot"},
        {absolute, 1, NULL, NULL, "abs-written"},
        {through_abs, 2, NULL, NULL, "through-abs"},
        {through_rel, 2, NULL, NULL, "through-rel"},
        {renamed_dotdot, 2, "top", "new", "renamed"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int fd = evil_tar(cases[i].e, cases[i].n);
        CHECK(fd >= 0);
        moat_error *err = NULL;
        int rc = cli_tar_extract(fd, dst, cases[i].from, cases[i].to, false, &err);
        close(fd);
        if (rc == 0)
            fprintf(stderr, "    case %zu (%s) was not refused\n", i, cases[i].escaped);
        CHECK(rc < 0);
        CHECK_ERR_HAS(err, "refusing to extract");
        moat_error_free(err);
        _cleanup_free_ char *esc = xasprintf("%s/%s", outside, cases[i].escaped);
        CHECK(access(esc, F_OK) < 0 && errno == ENOENT);
    }
    /* an ordinary file keeps its data but loses setuid/setgid */
    struct ent plain[] = {{"ok", AE_IFREG, "data"}};
    int fd = evil_tar(plain, 1);
    _cleanup_error_ moat_error *err = NULL;
    CHECK(cli_tar_extract(fd, dst, NULL, NULL, false, &err) == 0);
    close(fd);
    _cleanup_free_ char *ok = xasprintf("%s/ok", dst);
    struct stat st;
    CHECK(stat(ok, &st) == 0 && (st.st_mode & 07777) == 0755);
    /* the working directory is restored */
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) && strcmp(cwd, dst) != 0);
    rmrf(top);
}

static const struct unit_test cli_fmt_tests[] = {
    UNIT_TEST(test_template_fields), UNIT_TEST(test_template_functions), UNIT_TEST(test_json_indent),
    UNIT_TEST(test_ps_fields),       UNIT_TEST(test_ps_row_and_table),   UNIT_TEST(test_path_stat),
    UNIT_TEST(test_cp_roundtrip),    UNIT_TEST(test_cp_hostile),         UNIT_END};
UNIT_SUITE(cli_fmt, cli_fmt_tests);

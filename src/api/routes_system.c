/* System endpoints: _ping, version, info, events, system/df.
 *
 * GET /events is served by the engine's events_serve (events.c); POST /auth
 * is left out on purpose (login arrives with the registry issue; the router
 * answers 404). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api/api.h"
#include "api/routes_images.h"
#include "engine/container.h"
#include "engine/engine.h"
#include "moat/cgroup.h"
#include "moat/image.h"
#include "moat/json.h"
#include "moat/layer.h"
#include "moat/store.h"
#include "moat/policy.h"
#include "moat/util.h"
#include "moat/version.h"
#include "moat/volume.h"

#define ENGINE_ID_FILE "engine-id"

/* ---- _ping ---------------------------------------------------------------------- */

static void h_ping(struct api_call *c)
{
    moat_http_add_header(c->req, "Builder-Version", "1"); /* T3: the classic builder */
    moat_http_add_header(c->req, "Cache-Control", "no-cache, no-store, must-revalidate");
    moat_http_add_header(c->req, "Pragma", "no-cache");
    moat_http_reply(c->req, 200, "text/plain; charset=utf-8", "OK", 2);
}

/* ---- version ---------------------------------------------------------------------- */

static void exe_build_time(char *buf, size_t len)
{
    struct stat st;
    buf[0] = '\0';
    if (stat("/proc/self/exe", &st) < 0)
        return;
    struct tm tm;
    if (gmtime_r(&st.st_mtime, &tm))
        strftime(buf, len, "%Y-%m-%dT%H:%M:%S.000000000+00:00", &tm);
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

static void h_version(struct api_call *c)
{
    struct utsname u;
    if (uname(&u) < 0)
        memset(&u, 0, sizeof u);
    char built[64];
    exe_build_time(built, sizeof built);
    const char *toolchain = "gcc " __VERSION__;
    _cleanup_json_ struct json_object *o = json_object_new_object();
    struct json_object *plat = json_object_new_object();
    add_str(plat, "Name", "moat Engine");
    json_object_object_add(o, "Platform", plat);

    struct json_object *det = json_object_new_object();
    add_str(det, "ApiVersion", MOAT_API_VERSION);
    add_str(det, "Arch", moat_go_arch());
    add_str(det, "BuildTime", built);
    add_str(det, "Experimental", "false");
    add_str(det, "GitCommit", "moat-" MOAT_VERSION);
    add_str(det, "GoVersion", toolchain);
    add_str(det, "KernelVersion", u.release);
    add_str(det, "MinAPIVersion", MOAT_API_MIN_VERSION);
    add_str(det, "Os", "linux");
    struct json_object *eng = json_object_new_object();
    add_str(eng, "Name", "Engine");
    add_str(eng, "Version", MOAT_VERSION);
    json_object_object_add(eng, "Details", det);
    struct json_object *comps = json_object_new_array();
    json_object_array_add(comps, eng);
    json_object_object_add(o, "Components", comps);

    add_str(o, "Version", MOAT_VERSION);
    add_str(o, "ApiVersion", MOAT_API_VERSION);
    add_str(o, "MinAPIVersion", MOAT_API_MIN_VERSION);
    add_str(o, "GitCommit", "moat-" MOAT_VERSION);
    add_str(o, "GoVersion", toolchain);
    add_str(o, "Os", "linux");
    add_str(o, "Arch", moat_go_arch());
    add_str(o, "KernelVersion", u.release);
    json_object_object_add(o, "Experimental", json_object_new_boolean(0));
    add_str(o, "BuildTime", built);
    moat_http_reply_json(c->req, 200, o);
}

/* ---- info ------------------------------------------------------------------------- */

static bool engine_id_valid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    return true;
}

static int read_engine_id(int dfd, char **ret, moat_error **err)
{
    _cleanup_free_ char *buf = NULL;
    size_t len = 0;
    if (moat_read_file_at(dfd, ENGINE_ID_FILE, 128, &buf, &len, err) < 0)
        return -1;
    buf[strcspn(buf, "\n")] = '\0';
    if (!engine_id_valid(buf))
        return moat_err(err, EIO, "%s: not an engine ID", ENGINE_ID_FILE);
    *ret = TAKE_PTR(buf);
    return 0;
}

/* The engine's ID: random once, then stable for the store.  Created under a
 * temporary name and link()ed into place, so two engines starting at once on
 * the same store agree on one ID (link never replaces). */
static int engine_id(const char *root, char **ret, moat_error **err)
{
    _cleanup_close_ int dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return moat_err_sys(err, "open '%s'", root);
    moat_error *e = NULL;
    if (read_engine_id(dfd, ret, &e) == 0)
        return 0;
    if (e->errnum != ENOENT) {
        *err = e;
        return -1;
    }
    moat_error_free(e);
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        return moat_err_sys(err, "getrandom");
    r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
    r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
    char id[40];
    snprintf(id, sizeof id, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2],
             r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12], r[13], r[14], r[15]);
    char tmp[64];
    snprintf(tmp, sizeof tmp, ".%s.%02x%02x%02x%02x", ENGINE_ID_FILE, r[12], r[13], r[14], r[15]);
    _cleanup_close_ int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return moat_err_sys(err, "create '%s/%s'", root, tmp);
    char line[48];
    int n = snprintf(line, sizeof line, "%s\n", id);
    if (moat_write_all(fd, line, (size_t)n) < 0 || fsync(fd) < 0) {
        int saved = errno;
        unlinkat(dfd, tmp, 0);
        return moat_err_errno(err, saved, "write '%s/%s'", root, tmp);
    }
    int lrc = linkat(dfd, tmp, dfd, ENGINE_ID_FILE, 0);
    int saved = errno;
    unlinkat(dfd, tmp, 0);
    if (lrc < 0 && saved != EEXIST)
        return moat_err_errno(err, saved, "link '%s/%s'", root, ENGINE_ID_FILE);
    fsync(dfd);
    if (lrc < 0) /* someone else won: theirs */
        return read_engine_id(dfd, ret, err);
    *ret = xstrdup(id);
    return 0;
}

static void os_release(char *pretty, size_t plen, char *version, size_t vlen)
{
    snprintf(pretty, plen, "Linux");
    version[0] = '\0';
    _cleanup_fclose_ FILE *f = fopen("/etc/os-release", "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *dst;
        size_t dlen;
        char *v;
        if (!strncmp(line, "PRETTY_NAME=", 12)) {
            dst = pretty, dlen = plen, v = line + 12;
        } else if (!strncmp(line, "VERSION_ID=", 11)) {
            dst = version, dlen = vlen, v = line + 11;
        } else {
            continue;
        }
        v[strcspn(v, "\n")] = '\0';
        if (*v == '"') {
            v++;
            v[strcspn(v, "\"")] = '\0';
        }
        size_t l = strlen(v);
        if (l >= dlen)
            l = dlen - 1;
        memcpy(dst, v, l);
        dst[l] = '\0';
    }
}

static bool file_is_one(const char *path)
{
    char buf[16] = "";
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    return n > 0 && buf[0] == '1';
}

/* What the cgroup hierarchy offers (docker info prints a warning for each missing piece). */
struct cg_caps {
    bool v2, memory, swap, cpu, cpuset, pids;
};

static void cgroup_caps(struct cg_caps *k)
{
    memset(k, 0, sizeof *k);
    k->v2 = !strcmp(moat_cgroup_layout_name(), "v2");
    if (k->v2) {
        char buf[512] = "";
        _cleanup_close_ int fd = open("/sys/fs/cgroup/cgroup.controllers", O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        buf[n > 0 ? n : 0] = '\0';
        char *save = NULL;
        for (char *t = strtok_r(buf, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) {
            k->memory |= !strcmp(t, "memory");
            k->cpu |= !strcmp(t, "cpu");
            k->cpuset |= !strcmp(t, "cpuset");
            k->pids |= !strcmp(t, "pids");
        }
        k->swap = k->memory && access("/sys/fs/cgroup/init.scope/memory.swap.max", F_OK) == 0;
        if (k->memory && !k->swap)
            k->swap = access("/sys/fs/cgroup/system.slice/memory.swap.max", F_OK) == 0;
    } else {
        k->memory = access("/sys/fs/cgroup/memory/memory.limit_in_bytes", F_OK) == 0;
        k->swap = access("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes", F_OK) == 0;
        k->cpu = access("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", F_OK) == 0 ||
                 access("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", F_OK) == 0;
        k->cpuset = access("/sys/fs/cgroup/cpuset/cpuset.cpus", F_OK) == 0;
        k->pids = access("/sys/fs/cgroup/pids", F_OK) == 0;
    }
}

static struct json_object *str_array(const char *const *v)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; v && v[i]; i++)
        json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

static struct json_object *pair(const char *k, const char *v)
{
    const char *p[] = {k, v, NULL};
    return str_array(p);
}

static void info_system(struct json_object *o, struct moat_engine *e)
{
    struct utsname u;
    if (uname(&u) < 0)
        memset(&u, 0, sizeof u);
    char pretty[256], osver[64], host[256] = "";
    os_release(pretty, sizeof pretty, osver, sizeof osver);
    gethostname(host, sizeof host - 1);
    struct sysinfo si;
    if (sysinfo(&si) < 0)
        memset(&si, 0, sizeof si);
    struct cg_caps k;
    cgroup_caps(&k);
    json_object_object_add(o, "MemoryLimit", json_object_new_boolean(k.memory));
    json_object_object_add(o, "SwapLimit", json_object_new_boolean(k.swap));
    json_object_object_add(o, "KernelMemory", json_object_new_boolean(0));
    json_object_object_add(o, "KernelMemoryTCP", json_object_new_boolean(!k.v2 && k.memory));
    json_object_object_add(o, "CpuCfsPeriod", json_object_new_boolean(k.cpu));
    json_object_object_add(o, "CpuCfsQuota", json_object_new_boolean(k.cpu));
    json_object_object_add(o, "CPUShares", json_object_new_boolean(k.cpu));
    json_object_object_add(o, "CPUSet", json_object_new_boolean(k.cpuset));
    json_object_object_add(o, "PidsLimit", json_object_new_boolean(k.pids));
    json_object_object_add(o, "OomKillDisable", json_object_new_boolean(!k.v2 && k.memory));
    json_object_object_add(o, "IPv4Forwarding", json_object_new_boolean(file_is_one("/proc/sys/net/ipv4/ip_forward")));
    json_object_object_add(o, "BridgeNfIptables",
                           json_object_new_boolean(file_is_one("/proc/sys/net/bridge/bridge-nf-call-iptables")));
    json_object_object_add(o, "BridgeNfIp6tables",
                           json_object_new_boolean(file_is_one("/proc/sys/net/bridge/bridge-nf-call-ip6tables")));
    json_object_object_add(o, "Debug", json_object_new_boolean(0));
    json_object_object_add(o, "NFd", json_object_new_int(-1));
    json_object_object_add(o, "NGoroutines", json_object_new_int(-1));
    char now[64];
    moat_rfc3339_now(now, sizeof now);
    add_str(o, "SystemTime", now);
    add_str(o, "LoggingDriver", "json-file");
    add_str(o, "CgroupDriver", "cgroupfs");
    add_str(o, "CgroupVersion", k.v2 ? "2" : "1");
    json_object_object_add(o, "NEventsListener", json_object_new_int(0));
    add_str(o, "KernelVersion", u.release);
    add_str(o, "OperatingSystem", pretty);
    add_str(o, "OSVersion", osver);
    add_str(o, "OSType", "linux");
    add_str(o, "Architecture", u.machine);
    add_str(o, "IndexServerAddress", "https://index.docker.io/v1/");
    json_object_object_add(o, "NCPU", json_object_new_int64(sysconf(_SC_NPROCESSORS_ONLN)));
    json_object_object_add(o, "MemTotal", json_object_new_int64((int64_t)si.totalram * (int64_t)si.mem_unit));
    add_str(o, "Name", host);
    add_str(o, "DockerRootDir", e->store_root);
    add_str(o, "HttpProxy", getenv("HTTP_PROXY") ? getenv("HTTP_PROXY") : getenv("http_proxy"));
    add_str(o, "HttpsProxy", getenv("HTTPS_PROXY") ? getenv("HTTPS_PROXY") : getenv("https_proxy"));
    add_str(o, "NoProxy", getenv("NO_PROXY") ? getenv("NO_PROXY") : getenv("no_proxy"));
}

static void info_engine(struct json_object *o, struct moat_engine *e)
{
    add_str(o, "ServerVersion", MOAT_VERSION);
    struct json_object *rt = json_object_new_object(), *mr = json_object_new_object();
    add_str(mr, "path", e->runtime_path);
    json_object_object_add(rt, "moat-runtime", mr);
    json_object_object_add(o, "Runtimes", rt);
    add_str(o, "DefaultRuntime", "moat-runtime");
    struct json_object *sw = json_object_new_object();
    add_str(sw, "NodeID", "");
    add_str(sw, "NodeAddr", "");
    add_str(sw, "LocalNodeState", "inactive");
    json_object_object_add(sw, "ControlAvailable", json_object_new_boolean(0));
    add_str(sw, "Error", "");
    json_object_object_add(sw, "RemoteManagers", NULL);
    json_object_object_add(o, "Swarm", sw);
    json_object_object_add(o, "LiveRestoreEnabled", json_object_new_boolean(0));
    add_str(o, "Isolation", "");
    add_str(o, "InitBinary", "");
    const char *commits[] = {"ContainerdCommit", "RuncCommit", "InitCommit"};
    for (size_t i = 0; i < ARRAY_SIZE(commits); i++) {
        struct json_object *cm = json_object_new_object();
        add_str(cm, "ID", "");
        add_str(cm, "Expected", "");
        json_object_object_add(o, commits[i], cm);
    }
    const char *sec[] = {"name=seccomp,profile=default", "name=userns", "name=no-new-privileges",
                         e->rootless ? "name=rootless" : NULL, NULL};
    struct json_object *so = str_array(sec);
    json_object_array_add(so, json_object_new_string("name=landlock"));
    json_object_object_add(o, "SecurityOptions", so);
    /* moat: the host policy in force, and a refused reload (the last good policy stays) */
    struct json_object *mp = json_object_new_object();
    add_str(mp, "Dir", e->policy_dir ? e->policy_dir : "");
    _cleanup_free_ char *pd = e->policy ? moat_policy_digest(e->policy->host) : NULL;
    add_str(mp, "Digest", pd ? pd : "");
    add_str(mp, "LoadedAt", e->policy_loaded_at ? e->policy_loaded_at : "");
    json_object_object_add(mp, "ReloadError", e->policy_error ? json_object_new_string(e->policy_error) : NULL);
    json_object_object_add(o, "MoatPolicy", mp);
    struct json_object *reg = json_object_new_object();
    json_object_object_add(reg, "AllowNondistributableArtifactsCIDRs", json_object_new_array());
    json_object_object_add(reg, "AllowNondistributableArtifactsHostnames", json_object_new_array());
    json_object_object_add(reg, "InsecureRegistryCIDRs", json_object_new_array());
    json_object_object_add(reg, "IndexConfigs", json_object_new_object());
    json_object_object_add(reg, "Mirrors", json_object_new_array());
    json_object_object_add(o, "RegistryConfig", reg);
    struct json_object *pl = json_object_new_object();
    const char *vol[] = {"local", NULL}, *logd[] = {"json-file", NULL};
    json_object_object_add(pl, "Volume", str_array(vol));
    json_object_object_add(pl, "Network", json_object_new_array());
    json_object_object_add(pl, "Authorization", NULL);
    json_object_object_add(pl, "Log", str_array(logd));
    json_object_object_add(o, "Plugins", pl);
    json_object_object_add(o, "Labels", json_object_new_array());
    json_object_object_add(o, "ExperimentalBuild", json_object_new_boolean(0));
    json_object_object_add(o, "GenericResources", NULL);
    json_object_object_add(o, "Warnings", json_object_new_array());
}

static void h_info(struct api_call *c)
{
    struct moat_engine *e = c->engine;
    _cleanup_error_ moat_error *err = NULL;
    _cleanup_free_ char *id = NULL;
    struct moat_store_info in;
    struct moat_df d;
    if (engine_id(e->store_root, &id, &err) < 0 || moat_store_df(e->store, &d, &err) < 0) {
        api_error_reply(c->req, err);
        return;
    }
    /* the driver containers get (rootless: always copy), not only what the store's probe found */
    _cleanup_free_ char *driver = NULL, *why = NULL;
    if (moat_store_info(e->store, &in, &err) < 0) {
        api_error_reply(c->req, err);
        return;
    }
    if (moat_engine_rootfs_driver(e, &driver, &why, &err) < 0) {
        moat_store_info_clear(&in);
        api_error_reply(c->req, err);
        return;
    }
    _cleanup_json_ struct json_object *o = json_object_new_object();
    add_str(o, "ID", id);
    size_t all = moat_engine_count(e, NULL), running = moat_engine_count(e, "running");
    size_t paused = moat_engine_count(e, "paused");
    json_object_object_add(o, "Containers", json_object_new_int64((int64_t)all));
    json_object_object_add(o, "ContainersRunning", json_object_new_int64((int64_t)running));
    json_object_object_add(o, "ContainersPaused", json_object_new_int64((int64_t)paused));
    json_object_object_add(o, "ContainersStopped", json_object_new_int64((int64_t)(all - running - paused)));
    json_object_object_add(o, "Images", json_object_new_int64((int64_t)d.images));
    add_str(o, "Driver", driver);
    struct json_object *ds = json_object_new_array();
    if (why) /* said once, first: why containers get copies */
        json_object_array_add(ds, pair("Copy fallback", why));
    json_object_array_add(ds, pair("Backing Filesystem", in.backing_fs));
    json_object_array_add(ds, pair("Supports d_type", in.d_type ? "true" : "false"));
    if (!strcmp(driver, "overlay"))
        json_object_array_add(ds, pair("Native Overlay Diff", "true"));
    json_object_array_add(ds, pair("userxattr", in.userxattr ? "true" : "false"));
    if (in.rootless && in.uidmap)
        json_object_array_add(ds, pair("UID map", in.uidmap));
    if (in.rootless && in.gidmap)
        json_object_array_add(ds, pair("GID map", in.gidmap));
    json_object_object_add(o, "DriverStatus", ds);
    moat_store_info_clear(&in);
    /* moat: the unpack limits the next import gets (limits.json is read again for each) */
    struct moat_limits lim;
    _cleanup_error_ moat_error *le = NULL;
    _cleanup_free_ char *lt = moat_limits_load(NULL, &lim, &le) == 0 ? moat_limits_describe(&lim)
                                                                     : xasprintf("refused: %s", le->msg);
    add_str(o, "MoatUnpackLimits", lt);
    info_system(o, e);
    info_engine(o, e);
    moat_http_reply_json(c->req, 200, o);
}

/* ---- events ------------------------------------------------------------------------ */

static int time_param(struct api_call *c, const char *key, int64_t *ret)
{
    const char *v = moat_http_query(c->req, key);
    *ret = 0;
    if (!v || !*v)
        return 0;
    if (api_parse_time(v, ret) < 0) {
        moat_http_reply_error(c->req, 400, "invalid value for %s: %s", key, v);
        return -1;
    }
    return 0;
}

static void h_events(struct api_call *c)
{
    int64_t since, until;
    if (time_param(c, "since", &since) < 0 || time_param(c, "until", &until) < 0)
        return;
    _cleanup_json_ struct json_object *filters = api_filters(c);
    if (!filters)
        return;
    events_serve(c->engine, c->req, since, until, json_object_object_length(filters) ? filters : NULL);
}

/* ---- system/df ---------------------------------------------------------------------- */

static struct json_object *df_volumes(struct moat_engine *e, moat_error **err)
{
    struct moat_volume *v = NULL;
    size_t n = 0;
    if (moat_volume_list(e->volumes, &v, &n, err) < 0)
        return NULL;
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct json_object *o = moat_volume_json(&v[i]);
        _cleanup_free_ char *who = NULL;
        _cleanup_error_ moat_error *ue = NULL;
        int used = moat_engine_volume_in_use(e, v[i].name, &who, &ue);
        uint64_t size = 0;
        _cleanup_error_ moat_error *se = NULL;
        bool sized = api_dir_size(v[i].mountpoint, &size, &se) == 0;
        struct json_object *ud = json_object_new_object();
        json_object_object_add(ud, "Size", json_object_new_int64(sized ? (int64_t)size : -1));
        json_object_object_add(ud, "RefCount", json_object_new_int64(used > 0 ? 1 : 0));
        json_object_object_add(o, "UsageData", ud);
        json_object_array_add(a, o);
    }
    moat_volumes_free(v, n);
    return a;
}

static void h_system_df(struct api_call *c)
{
    struct moat_engine *e = c->engine;
    _cleanup_error_ moat_error *err = NULL;
    struct moat_image *imgs = NULL;
    size_t n = 0;
    if (moat_images_list(e->store, &imgs, &n, &err) < 0) {
        api_error_reply(c->req, err);
        return;
    }
    _cleanup_json_ struct json_object *o = json_object_new_object();
    uint64_t layers = 0;
    struct json_object *ia = api_images_df(e, imgs, n, &layers);
    moat_images_free(imgs, n);
    json_object_object_add(o, "LayersSize", json_object_new_int64((int64_t)layers));
    json_object_object_add(o, "Images", ia);
    /* Containers: ps's summaries with their sizes (as GET /containers/json?size=1) */
    struct json_object *ca = json_object_new_array();
    for (size_t i = 0; i < e->n_ctrs; i++)
        json_object_array_add(ca, ctr_summary_json(e->ctrs[i], true));
    json_object_object_add(o, "Containers", ca);
    struct json_object *va = df_volumes(e, &err);
    if (!va) {
        api_error_reply(c->req, err);
        return;
    }
    json_object_object_add(o, "Volumes", va);
    json_object_object_add(o, "BuildCache", json_object_new_array());
    moat_http_reply_json(c->req, 200, o);
}

const struct api_route api_routes_system[] = {
    {"GET", "/_ping", h_ping, MOAT_HTTP_BODY_MEMORY, 0},
    {"GET", "/version", h_version, MOAT_HTTP_BODY_MEMORY, 0},
    {"GET", "/info", h_info, MOAT_HTTP_BODY_MEMORY, 0},
    {"GET", "/events", h_events, MOAT_HTTP_BODY_MEMORY, 0},
    {"GET", "/system/df", h_system_df, MOAT_HTTP_BODY_MEMORY, 0},
    {NULL, NULL, NULL, MOAT_HTTP_BODY_MEMORY, 0},
};

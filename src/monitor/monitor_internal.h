/* moat-monitor internals: one process, one epoll loop (see include/moat/monitor.h). */
#ifndef MOAT_MONITOR_INTERNAL_H
#define MOAT_MONITOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "moat/error.h"
#include "moat/monitor.h"

/* A byte queue: data[off..len) is pending. */
struct mon_buf {
    uint8_t *data;
    size_t len, off, cap;
};
size_t mon_buf_pending(const struct mon_buf *b);
void mon_buf_append(struct mon_buf *b, const void *p, size_t n);
void mon_buf_consume(struct mon_buf *b, size_t n);
void mon_buf_free(struct mon_buf *b);

/* The json-file log writer: per-stream line buffers, size-based rotation. */
#define MON_LOG_LINE_MAX (16u << 10)
struct mon_log {
    char *path;
    int fd;
    uint64_t size, max_size; /* max_size 0: never rotate */
    unsigned max_files;
    struct {
        char buf[MON_LOG_LINE_MAX];
        size_t len;
    } line[2]; /* 0 stdout, 1 stderr */
    bool failed; /* a write failed: stop logging, keep the container running */
};
int mon_log_open(struct mon_log *l, const char *path, uint64_t max_size, unsigned max_files, moat_error **err);
/* stream: 1 stdout, 2 stderr (MOAT_MON_STDOUT/STDERR). */
void mon_log_write(struct mon_log *l, int stream, const char *data, size_t len);
void mon_log_flush(struct mon_log *l, int stream); /* EOF: the partial line as an entry */
void mon_log_close(struct mon_log *l);
/* Exposed for the unit-less self check: one json-file line for `data` (caller frees). */
char *mon_log_entry(const char *data, size_t len, int stream, size_t *ret_len);

struct mon_client {
    struct mon_client *next;
    int fd;
    uint8_t hdr[MOAT_MON_HDR];
    size_t hdr_got;
    uint8_t *payload;
    uint32_t plen, pgot;
    struct mon_buf out;
    bool holds_stdin;
    bool epollout;
};

struct mon_opts {
    const char *id, *runtime, *runtime_root, *run_dir, *log_file, *exit_file;
    const char *bundle, *exec_process;
    uint64_t log_max_size;
    unsigned log_max_files;
    bool tty, stdin_open, stdin_once;
    bool no_delete; /* container mode: leave `runtime delete` to the engine */
    int sync_fd;
    int runtime_fd; /* --runtime-fd: the runtime as an executable fd (the engine's sealed copy), else -1 */
};

enum mon_phase {
    MON_CREATING, /* container mode: `runtime create` runs */
    MON_WAIT_START, /* exec mode: waiting for MOAT_MON_START */
    MON_RUNNING,
    MON_DRAINING, /* the process was reaped: reading the rest of its output */
};

#define MON_REAPED_MAX 16
struct mon {
    struct mon_opts o;
    enum mon_phase phase;
    int epfd, sigfd, listen_fd, console_fd;
    int out_fd[2]; /* read ends: stdout, stderr (tty: out_fd[0] is the pty master) */
    int in_fd;     /* stdin pipe write end or a dup of the pty master; -1 when closed */
    int err_fd;    /* tty mode: the runtime's own stderr */
    struct mon_buf inq;
    bool in_close_pending, in_epollout, clients_paused;
    struct mon_client *clients;
    struct mon_log log;
    pid_t runtime_pid; /* `runtime create` or `runtime exec` */
    pid_t pid;         /* the container's init (container mode) */
    int status;        /* raw wait status (container) or exit code (exec) */
    bool have_status;
    char started_at[48], finished_at[48];
    uint64_t drain_deadline;
    uint16_t ws_rows, ws_cols; /* the last RESIZE, applied again when the pty arrives */
    char last_err[512]; /* the runtime's last stderr line */
    char errline[512];
    size_t errline_len;
    struct {
        pid_t pid;
        int status;
    } reaped[MON_REAPED_MAX];
    unsigned nreaped;
};

/* loop.c */
int mon_loop_setup(struct mon *m, moat_error **err);
int mon_loop_run(struct mon *m); /* returns the monitor's exit code */
void mon_broadcast(struct mon *m, uint8_t type, const void *data, size_t len);
void mon_clients_finish(struct mon *m, const char *exit_json);
int mon_loop_add_tty(struct mon *m, moat_error **err);

/* main.c: the process side, called from the loop */
int mon_spawn_main(struct mon *m, moat_error **err);   /* create or exec */
void mon_on_child(struct mon *m, pid_t pid, int status); /* one reaped child */
void mon_sync_error(struct mon *m, const char *msg);
void mon_note_stderr(struct mon *m, const char *data, size_t len);
int mon_console_receive(struct mon *m, moat_error **err);

#endif

/* The per-container monitor (src/monitor, binary moat-monitor) and the wire
 * between it and the engine.  One monitor per container (and one per exec):
 * it owns the process's stdio (pipes, or the pty master it receives on a
 * console socket), writes the logs (Docker's json-file format, size-rotated),
 * reaps the process (it is a child subreaper), records the exit status
 * atomically, and serves attach clients on a unix socket.  It detaches from
 * the engine at birth (setsid, double fork), so moatd can be killed and
 * restarted without touching a container.
 *
 * Command line (every path absolute):
 *   moat-monitor --id ID --runtime PATH --runtime-root DIR --run-dir DIR
 *                --log-file FILE [--log-max-size BYTES] [--log-max-files N]
 *                --exit-file FILE [--tty] [--stdin] [--stdin-once]
 *                (--bundle DIR | --exec PROCESS_JSON) [--sync-fd N]
 *
 *   --bundle: container mode.  `RUNTIME --root ROOT create --bundle B
 *     --pid-file RUN_DIR/pid [--console-socket RUN_DIR/console.sock] ID`
 *     with the stdio as fds 0/1/2.  The engine then runs `RUNTIME start ID`
 *     itself once its attach clients are connected.
 *   --exec: exec mode.  Waits for MOAT_MON_START (or the first attach client
 *     that sends it), then runs `RUNTIME --root ROOT exec --process FILE
 *     [--tty --console-socket ...] --pid-file RUN_DIR/pid ID` and records its
 *     exit status.
 *
 * The monitor writes one JSON line to --sync-fd and closes it:
 *   {"pid": <container or exec process pid>, "monitor": <monitor pid>}
 *   {"error": "<one line: what failed>", "monitor": <pid>}
 * (in exec mode, right after the attach socket listens, with "pid": 0).
 *
 * RUN_DIR holds attach.sock (0600), console.sock while receiving the pty,
 * pid (the process), monitor.pid.  Exit file (written temp+fsync+rename):
 *   {"ExitCode": N, "Signal": S|0, "FinishedAt": "RFC3339 nanoseconds",
 *    "StartedAt": "...", "OOMKilled": false, "Error": ""}
 * Then: exit frames to the attach clients, `RUNTIME delete --force ID`
 * (container mode), the monitor exits.
 *
 * Attach socket: stream; both directions carry frames with Docker's 8-byte
 * header (byte 0 the type, bytes 4..7 the payload length, big-endian).  A
 * client gets the output from the moment it connects (no backlog: logs are
 * for that); several clients may be attached at once; a client that doesn't
 * keep up (more than MOAT_MON_CLIENT_MAX queued) is disconnected, never the
 * container blocked.
 *
 * Details as implemented (src/monitor):
 * - Exit status 2 and a usage line on stderr for bad arguments (before
 *   daemonising; --sync-fd must be >= 3).  Daemonising: setsid, one fork (the
 *   engine reaps its direct child, which exits at once), chdir /, stdio to
 *   /dev/null, every fd but --sync-fd closed; SIGPIPE, SIGHUP, SIGINT and
 *   SIGTERM ignored (stop containers through the runtime); the runtime is
 *   started with default signals.  RUN_DIR is created (0700) if missing.
 * - Container mode: the sync line is sent once `create` succeeded (and, with
 *   --tty, the pty master arrived); if create fails, the "error" is the
 *   runtime's last stderr line, no exit file is written and the monitor exits
 *   1 (it does not run delete: the ID may belong to another container).
 *   Until the process runs, the runtime's stderr is the container's stderr
 *   pipe, so such messages also appear in the log.
 * - Exit file: container mode ExitCode = status, or 128+N with Signal N; exec
 *   mode takes `runtime exec`'s code (128+N means Signal N).  StartedAt is when
 *   `create` returned (container; the engine knows when it ran start) or when
 *   the exec was launched.  Error: "" when the process ran; in exec mode, when
 *   it never ran, the runtime's last stderr line.  OOMKilled is always false
 *   (the monitor doesn't read cgroups; the engine may fill it in).
 * - After the process is reaped, output is read until EOF for at most 2 s;
 *   exit frames are flushed to clients for at most 2 s in all.
 * - Logs: lines are cut at '\n' and at 16 KiB; a partial line is written at
 *   EOF; invalid UTF-8 becomes U+FFFD.  The file is rotated before a write
 *   once it reached --log-max-size (so it may exceed it by one entry);
 *   --log-max-size 0 never rotates; --log-max-files 1 truncates instead of
 *   renaming.  A log write error stops logging, never the container.
 * - Stdin: STDIN frames are used only with --stdin, through a 1 MiB queue;
 *   while it is full the monitor stops reading clients (back-pressure).  A
 *   client "holds stdin" once it sent STDIN; CLOSE_STDIN closes the process's
 *   stdin (after the queue drained) with --stdin-once or when no other
 *   connected client holds it; with --stdin-once a holder's disconnect closes
 *   it too.  With --tty, closing stdin writes the terminal's VEOF (^D).
 * - RESIZE before the pty exists (exec mode before START) is kept and
 *   applied when the terminal arrives.  Unknown frame types are ignored; a
 *   frame over MOAT_MON_MAX_FRAME gets a SYSERR and the client is dropped. */
#ifndef MOAT_MONITOR_H
#define MOAT_MONITOR_H

#include <stdint.h>

enum moat_mon_frame {
    MOAT_MON_STDIN = 0,  /* client -> monitor: bytes for the process's stdin */
    MOAT_MON_STDOUT = 1, /* monitor -> client (with a tty: all output) */
    MOAT_MON_STDERR = 2,
    MOAT_MON_SYSERR = 3, /* monitor -> client: an error text */
    MOAT_MON_RESIZE = 4, /* client -> monitor: 4 bytes, rows and columns, uint16 big-endian each */
    MOAT_MON_CLOSE_STDIN = 5, /* client -> monitor: stdin EOF (closes the process's stdin with --stdin-once,
                                 or when no other client holds stdin) */
    MOAT_MON_START = 6,  /* client -> monitor: exec mode, run the process now */
    MOAT_MON_EXIT = 7,   /* monitor -> client: JSON {"ExitCode":N}, the last frame before close */
};

#define MOAT_MON_HDR 8
#define MOAT_MON_MAX_FRAME (1u << 20)
#define MOAT_MON_CLIENT_MAX (8u << 20)
#define MOAT_MON_DEFAULT_LOG_SIZE (10u << 20) /* bytes per log file before rotation */
#define MOAT_MON_DEFAULT_LOG_FILES 3

static inline void moat_mon_hdr(uint8_t h[MOAT_MON_HDR], uint8_t type, uint32_t len)
{
    h[0] = type;
    h[1] = h[2] = h[3] = 0;
    h[4] = (uint8_t)(len >> 24);
    h[5] = (uint8_t)(len >> 16);
    h[6] = (uint8_t)(len >> 8);
    h[7] = (uint8_t)len;
}
static inline uint32_t moat_mon_hdr_len(const uint8_t h[MOAT_MON_HDR])
{
    return (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
}

#endif

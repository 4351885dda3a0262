#!/bin/sh
# Runs inside the test VM as root, on a pure cgroup v2 host (see tests/vm/init):
# the cgroup, seccomp, landlock and lsm unit suites, then real containers with
# moat-runtime.  Prints TAP; run-v2.sh prefixes every line with "vm-v2".
# Single-quoted commands below are meant to expand inside the container.
# shellcheck disable=SC2016
PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
export PATH
CG=/sys/fs/cgroup
P=$CG/moat-vm # parent of the containers' cgroups (cgroupsPath /moat-vm/NAME)
B=/run/bundles
ROOTFS=/moat/rootfs
# A command that hangs fails its test instead of stopping the whole run.
rt() { timeout 30 moat-runtime --root /run/moat-vm "$@"; }

# t DESC CMD...: one TAP line; on failure (or with moat_verbose=1 on the
# kernel command line) the command's output as comments.
t() {
    desc=$1
    shift
    if out=$("$@" 2>&1); then
        echo "ok - $desc"
        [ -n "${moat_verbose:-}" ] && [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/#   /'
    else
        echo "not ok - $desc"
        printf '%s\n' "$out" | sed 's/^/#   /'
    fi
    return 0
}

# eq FILE WANT: the file's content (one line) is WANT.
eq() {
    v=$(cat "$1" 2>&1)
    [ "$v" = "$2" ] || { echo "$1: '$v', want '$2'"; return 1; }
}
# has FILE LINE: FILE has the exact line LINE.
has() { grep -qx "$2" "$1" || { echo "$1 lacks '$2':"; cat "$1"; return 1; }; }
gone() { [ ! -e "$1" ] || { echo "$1 still exists"; return 1; }; }
# words WANT CMD...: CMD's output (stdout and stderr), words joined by one space, is WANT.
words() {
    want=$1
    shift
    got=$("$@" 2>&1 < /dev/null | tr -s ' \n' '  ')
    got=${got% }
    [ "$got" = "$want" ] || { echo "got '$got', want '$want'"; return 1; }
}

# bundle NAME JQ-FILTER: a bundle from the `spec` template, cgroup /moat-vm/NAME.
bundle() {
    mkdir -p "$B/$1" && ln -sfn "$ROOTFS" "$B/$1/rootfs" &&
        rt spec --bundle "$B/$1" > /dev/null &&
        jq --arg p "/moat-vm/$1" ".process.terminal = false | .linux.cgroupsPath = \$p | $2" \
            "$B/$1/config.json" > "$B/$1/config.new" &&
        mv "$B/$1/config.new" "$B/$1/config.json"
}
start() { rt run --detach --bundle "$B/$1" "$1" < /dev/null > "$B/$1.out" 2>&1 || { cat "$B/$1.out"; return 1; }; }
run_fg() { rt run --bundle "$B/$1" "$1"; }
status() { rt state "$1" | jq -r .status; }
is_status() { s=$(status "$1"); [ "$s" = "$2" ] || { echo "status '$s', want '$2'"; return 1; }; }
# wait_status ID STATUS: within 10 s.
wait_status() {
    i=0
    while [ $i -lt 100 ]; do
        [ "$(status "$1" 2> /dev/null)" = "$2" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    is_status "$1" "$2"
}
delete_gone() { rt delete "$1" && gone "$P/$1"; }
in_ctr() {
    id=$1
    shift
    rt exec "$id" sh -c "$*" < /dev/null
}
uptime_s() { cut -d' ' -f1 /proc/uptime; }

echo "# kernel $(uname -r), LSMs $(cat /sys/kernel/security/lsm 2> /dev/null)"
echo "# cgroup2 controllers: $(cat $CG/cgroup.controllers); AppArmor enabled:" \
    "$(cat /sys/module/apparmor/parameters/enabled 2> /dev/null || echo no)"
pure_v2() {
    grep -q '^cgroup2 /sys/fs/cgroup cgroup2 ' /proc/mounts || { cat /proc/mounts; return 1; }
    ! grep -q ' cgroup ' /proc/mounts || { grep ' cgroup ' /proc/mounts; return 1; }
    for c in cpu cpuset memory io pids; do
        grep -qw $c $CG/cgroup.controllers || { echo "no $c controller"; return 1; }
    done
}
t "pure cgroup v2 host: one cgroup2 mount holding cpu cpuset memory io pids, no v1" pure_v2

# ---- unit suites -------------------------------------------------------------
for suite in cgroup seccomp landlock lsm; do
    echo "# $(uptime_s) s: unit suite $suite"
    /moat/unit-tests "$suite"
done
echo "# $(uptime_s) s: containers"

# ---- limits, the cgroup2 mount inside, pause/resume ---------------------------
mkdir -p "$B"
bundle limits '.process.args = ["sleep", "600"]
    | .linux.resources.memory = {"limit": 67108864}
    | .linux.resources.pids.limit = 32
    | .linux.resources.cpu = {"shares": 512, "quota": 50000, "period": 100000, "cpus": "1", "mems": "0"}
    | .linux.resources.blockIO.weight = 500'
t "limits: run --detach" start limits
t "limits: memory.max is 64 MiB" eq $P/limits/memory.max 67108864
t "limits: pids.max is 32" eq $P/limits/pids.max 32
t "limits: cpu.max is 50000 100000" eq $P/limits/cpu.max "50000 100000"
t "limits: cpu.weight converted from shares 512" eq $P/limits/cpu.weight 59
t "limits: cpuset.cpus is 1" eq $P/limits/cpuset.cpus 1
t "limits: io.weight converted from blkio weight 500" has $P/limits/io.weight "default 4950"
delegated() {
    n=$(tr ' ' '\n' < $P/cgroup.subtree_control | grep -c -x -e cpu -e cpuset -e io -e memory -e pids)
    [ "$n" -eq 5 ] || cat $P/cgroup.subtree_control
}
t "limits: the parent enables cpu, cpuset, io, memory and pids for it" delegated
init_placed() { has /proc/"$(rt state limits | jq -r .pid)"/cgroup 0::/moat-vm/limits; }
t "limits: the container's init is in /moat-vm/limits" init_placed
mkdir -p $P/peer
t "limits: exec lands in the container's cgroup, seen as / (cgroup namespace)" \
    words 0::/ in_ctr limits 'cat /proc/self/cgroup'
# root, mount options, type: a fresh cgroup2 mount in the cgroup namespace
# (fsopen) has the container's cgroup as its root "/"; a bind would not.
cg_mount() { in_ctr limits 'awk '"'"'$5 == "/sys/fs/cgroup" { print $4, $6, $(NF - 2) }'"'"' /proc/self/mountinfo'; }
cg_mount_ro() { words "/ ro,nosuid,nodev,noexec,relatime cgroup2" cg_mount; }
t "limits: /sys/fs/cgroup inside is one fresh read-only cgroup2 mount" cg_mount_ro
t "limits: memory.max and pids.max visible inside" \
    words "67108864 32" in_ctr limits 'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max'
t "limits: inside shows only its own cgroup (init is pid 1 there, no peer, no parent)" \
    in_ctr limits 'grep -qx 1 /sys/fs/cgroup/cgroup.procs && test ! -e /sys/fs/cgroup/peer &&
        test ! -e /sys/fs/cgroup/moat-vm && test ! -e /sys/fs/cgroup/init.scope'
t "limits: the cgroup2 mount refuses writes" \
    in_ctr limits '! { echo 1 > /sys/fs/cgroup/pids.max; } 2> /dev/null && ! mkdir /sys/fs/cgroup/x 2> /dev/null'
rmdir $P/peer
t "limits: the container runs on one CPU (cpuset)" words 1 in_ctr limits nproc

t "pause: moat-runtime pause" rt pause limits
t "pause: cgroup.freeze is 1" eq $P/limits/cgroup.freeze 1
t "pause: cgroup.events says frozen" has $P/limits/cgroup.events "frozen 1"
t "pause: state is paused" is_status limits paused
t "resume: moat-runtime resume" rt resume limits
t "resume: cgroup.freeze is 0" eq $P/limits/cgroup.freeze 0
t "resume: cgroup.events says thawed" has $P/limits/cgroup.events "frozen 0"
t "resume: state is running" is_status limits running
t "delete --force: a running container goes" rt delete --force limits
t "delete --force: its cgroup is removed" gone $P/limits

# ---- kill --all ------------------------------------------------------------------
# KILL goes through cgroup.kill; here on a paused container of four processes.
bundle killall '.process.args = ["sh", "-c", "sleep 600 & sleep 600 & sleep 600 & wait"]'
t "kill --all KILL: run --detach" start killall
sleep 0.3
nprocs() { wc -l < "$P/$1/cgroup.procs"; }
t "kill --all KILL: four processes in the cgroup" words 4 nprocs killall
t "kill --all KILL: pause first" rt pause killall
t "kill --all KILL: moat-runtime kill --all" rt kill --all killall KILL
t "kill --all KILL: the container stops" wait_status killall stopped
t "kill --all KILL: the cgroup is empty" words "" cat $P/killall/cgroup.procs
t "kill --all KILL: delete removes the cgroup" delete_gone killall

# Other signals: freeze, signal each process, thaw.  The shell (init of its pid
# namespace) ignores TERM from outside; its children do not, then it exits.
bundle killterm '.process.args = ["sh", "-c", "sleep 600 & sleep 600 & wait"]'
t "kill --all TERM: run --detach" start killterm
sleep 0.3
t "kill --all TERM: moat-runtime kill --all" rt kill --all killterm TERM
t "kill --all TERM: the container stops" wait_status killterm stopped
t "kill --all TERM: the cgroup is thawed afterwards" eq $P/killterm/cgroup.freeze 0
t "kill --all TERM: delete removes the cgroup" delete_gone killterm

# ---- pids, memory, io -------------------------------------------------------------
bundle forkbomb '.process.args = ["probe", "forkbomb", "200"] | .linux.resources.pids.limit = 16'
t "fork bomb: run --detach" start forkbomb
t "fork bomb: the container stops" wait_status forkbomb stopped
t "fork bomb: 15 forks succeed under pids.max 16" has $B/forkbomb.out "forked 15"
fork_refused() {
    n=$(awk '$1 == "max" { print $2 }' $P/forkbomb/pids.events)
    [ "${n:-0}" -ge 1 ] || { cat $P/forkbomb/pids.events; return 1; }
}
t "fork bomb: pids.events counts the refusals" fork_refused
t "fork bomb: delete removes the cgroup" delete_gone forkbomb

# A tmpfs filled past memory.max cannot grow the cgroup beyond it.
bundle oom '.process.args = ["dd", "if=/dev/zero", "of=/dev/shm/fill", "bs=1M", "count=48"]
    | .linux.resources.memory = {"limit": 16777216}'
t "memory: run --detach a writer of 48 MiB into tmpfs" start oom
t "memory: the container stops" wait_status oom stopped
mem_capped() {
    n=$(awk '$1 == "max" { print $2 }' $P/oom/memory.events)
    peak=$(cat $P/oom/memory.peak)
    cat $P/oom/memory.events
    echo "peak $peak"
    [ "${n:-0}" -ge 1 ] && [ "$peak" -le 16777216 ]
}
t "memory: memory.events counts hits of memory.max, memory.peak stays below it" mem_capped
t "memory: delete removes the cgroup" delete_gone oom

# io.max throttles reads from a ram disk (brd, 1:0) to 1 MiB/s.
if [ -e /moat/brd.ko ] && insmod /moat/brd.ko rd_nr=1 rd_size=8192 && [ -b /dev/ram0 ]; then
    mknod -m 666 /run/ram0 b 1 0
    bundle io '.process.args = ["dd", "if=/dev/ram0", "of=/dev/null", "bs=64k", "count=32", "iflag=direct"]
        | .linux.resources.blockIO.throttleReadBpsDevice = [{"major": 1, "minor": 0, "rate": 1048576}]
        | .linux.resources.devices += [{"allow": true, "type": "b", "major": 1, "minor": 0, "access": "r"}]
        | .mounts += [{"destination": "/dev/ram0", "type": "bind", "source": "/run/ram0", "options": ["bind", "dev"]}]'
    t0=$(uptime_s)
    t "io: run --detach a reader of 2 MiB" start io
    t "io: io.max holds the rate" has $P/io/io.max "1:0 rbps=1048576 wbps=max riops=max wiops=max"
    t "io: the reader finishes" wait_status io stopped
    t1=$(uptime_s)
    slow() {
        cat $B/io.out
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "took %.2f s\n", b - a; exit !(b - a >= 1.5) }'
    }
    t "io: 2 MiB at 1 MiB/s take more than 1.5 s" slow
    t "io: delete removes the cgroup" delete_gone io
else
    echo "ok - io: throttling # skip no brd module (ram disk) in the initramfs"
fi

# ---- devices -------------------------------------------------------------------
# The BPF program is the only device control on cgroup v2.  /dev/kmsg (1:11,
# bound in with "dev", mode 666) is not one of the devices every container gets.
mknod -m 666 /run/kmsg c 1 11
devs='.process.args = ["sh", "-c", "probe write /dev/kmsg; probe write /dev/null; probe open /dev/zero"]
    | .mounts += [{"destination": "/dev/kmsg", "type": "bind", "source": "/run/kmsg", "options": ["bind", "dev"]}]'
bundle devdeny "$devs"
bundle devallow "$devs"' | .linux.resources.devices += [{"allow": true, "type": "c", "major": 1, "minor": 11, "access": "w"}]'
t "devices: kmsg refused (EPERM) by the default deny, null and zero open" words "errno EPERM ok ok" run_fg devdeny
t "devices: a rule allowing kmsg for writing opens it" words "ok ok ok" run_fg devallow
t "devices: a foreground run leaves no cgroup" sh -c "[ ! -e $P/devdeny ] && [ ! -e $P/devallow ]"

# ---- AppArmor (active in Debian's kernel) ------------------------------------------
if [ "$(cat /sys/module/apparmor/parameters/enabled 2> /dev/null)" != Y ]; then
    echo "ok - apparmor: profile applied # skip AppArmor is not enabled in this kernel"
elif ! command -v apparmor_parser > /dev/null; then
    echo "ok - apparmor: profile applied # skip no apparmor_parser in the initramfs (download failed)"
else
    cat > /run/moat-vm-test.aa << 'EOF'
profile moat-vm-test flags=(attach_disconnected,mediate_deleted) {
  file,
  capability,
  network,
  signal,
  unix,
  ptrace,
  mount,
  umount,
  pivot_root,
  deny /etc/hostname r,
}
EOF
    t "apparmor: apparmor_parser loads a test profile" apparmor_parser -r -K /run/moat-vm-test.aa
    show='.process.args = ["sh", "-c", "cat /proc/self/attr/current; cat /etc/hostname"]'
    bundle aa "$show"' | .process.apparmorProfile = "moat-vm-test"'
    bundle noaa "$show"
    t "apparmor: the container runs under its profile, which denies /etc/hostname" \
        words "moat-vm-test (enforce) cat: can't open '/etc/hostname': Permission denied" run_fg aa
    t "apparmor: without apparmorProfile the container is unconfined" words "unconfined moat" run_fg noaa
fi

t "no container left" words "" rt list -q

# ---- rootless, in a delegated subtree (as systemd's user@.service has) -------
# uid 1000 owns user@1000.service (the directory, cgroup.procs,
# cgroup.subtree_control, cgroup.threads) and creates init.scope below it,
# where its shell runs.
U=$CG/user.slice/user-1000.slice/user@1000.service
delegate() {
    for d in "" /user.slice /user.slice/user-1000.slice; do
        echo "+cpu +cpuset +io +memory +pids" > $CG$d/cgroup.subtree_control || return 1
        [ -n "$d" ] || mkdir -p $U
    done
    chown 1000:1000 $U $U/cgroup.procs $U/cgroup.subtree_control $U/cgroup.threads &&
        su -s /bin/sh tester -c "mkdir $U/init.scope"
}
# tu 'CMD': run CMD as uid 1000, from $U/init.scope.
tu() {
    sh -c 'echo $$ > "$0/cgroup.procs" && exec su -s /bin/sh tester -c "$1"' "$U/init.scope" \
        "cd /home/tester && PATH=$PATH && $1" < /dev/null
}
RL="timeout 30 moat-runtime --root /home/tester/state"
R=$U/moat/rl
rl_bundle() {
    mkdir -p /home/tester/rl && ln -sfn $ROOTFS /home/tester/rl/rootfs && chown -R tester: /home/tester &&
        tu "$RL spec --bundle rl" &&
        tu "jq '.process.terminal = false | .process.args = [\"sleep\", \"600\"]
                | .linux.resources.memory = {\"limit\": 33554432} | .linux.resources.pids.limit = 24' rl/config.json \
                > rl/c && mv rl/c rl/config.json"
}
rl_placed() { has /proc/"$(tu "$RL state rl" | jq -r .pid)"/cgroup 0::/user.slice/user-1000.slice/user@1000.service/moat/rl; }
rl_stopped() {
    tu "i=0; while [ \$i -lt 50 ] && [ \"\$($RL state rl | jq -r .status)\" != stopped ]; do sleep 0.1; i=\$((i + 1)); done"
    words stopped tu "$RL state rl | jq -r .status"
}
rl_delete() { tu "$RL delete rl" && gone $R; }
t "rootless: delegate user@1000.service to uid 1000" delegate
t "rootless: spec template as uid 1000, with memory and pids limits" rl_bundle
t "rootless: run --detach" tu "$RL run --detach --bundle rl rl > rl.out 2>&1 || { cat rl.out; exit 1; }"
t "rootless: the container's cgroup is inside the delegated subtree" rl_placed
t "rootless: memory.max applied" eq $R/memory.max 33554432
t "rootless: pids.max applied" eq $R/pids.max 24
t "rootless: inside, the cgroup2 mount shows the container's own limits" \
    words "0::/ 33554432 24" tu "$RL exec rl cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max"
t "rootless: pause" tu "$RL pause rl"
t "rootless: frozen" has $R/cgroup.events "frozen 1"
t "rootless: resume" tu "$RL resume rl"
t "rootless: thawed" has $R/cgroup.events "frozen 0"
t "rootless: kill --all KILL" tu "$RL kill --all rl KILL"
t "rootless: the container stops" rl_stopped
t "rootless: delete removes the cgroup" rl_delete

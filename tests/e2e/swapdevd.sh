# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# swapdevd.sh - start and stop the real daemon for end-to-end tests
# (sourced after lib.sh). Readiness is the pidfile swapdevd writes once
# swap is active; every wait is bounded.
#
# Environment (meson sets them): SWAPDEVD, SWAPDEVCTL - the built binaries.
#
# The daemon runs as `swapdevd --foreground`, so under its supervising
# parent: SD_PID is the process started (the supervisor), SD_DAEMON_PID the
# serving daemon (its pidfile). A test that SIGKILLs the daemon and expects
# it to stay dead sets SD_SUPERVISE=0 (--no-supervise: SD_PID is then the
# daemon too). A restart that a test did not ask for (SD_RESTARTS_EXPECTED
# unset) fails swapdevd_stop: the supervisor must not hide a crash.

SWAPDEVD=${SWAPDEVD:-$E2E_SRCDIR/build/daemon/swapdevd}
SWAPDEVCTL=${SWAPDEVCTL:-$E2E_SRCDIR/build/tools/swapdevctl}

# swapdevd_setup : per-test paths under $E2E_TMPDIR, and teardown that
# leaves no swap area, loop device or mount behind whatever happens.
swapdevd_setup()
{
	[ -x "$SWAPDEVD" ] || e2e_fail "swapdevd not built at $SWAPDEVD"
	e2e_exclusive
	SD_MNT=$E2E_TMPDIR/mnt
	SD_BACKING=$E2E_TMPDIR/backing
	SD_SOCKET=$E2E_TMPDIR/control
	SD_PIDFILE=$E2E_TMPDIR/swapdevd.pid
	SD_LOG=$E2E_TMPDIR/swapdevd.log
	SD_PID=
	SD_DAEMON_PID=
	cleanup_fn _swapdevd_final_teardown
	cleanup_fn swapdevd_kill
}

_swapdevd_final_teardown()
{
	# A daemon that hung would hang swapoff and umount: cut it loose first.
	if { [ -n "$SD_PID" ] && kill -0 "$SD_PID" 2>/dev/null; } ||
		_swapdevd_daemon_alive; then
		fuse_abort "$SD_MNT"
	fi
	teardown_swap_of "$SD_MNT"
	if [ -s "$SD_LOG" ] && [ "${E2E_SHOW_LOG:-1}" = 1 ]; then
		e2e_log "daemon log:"
		sed 's/^/    /' "$SD_LOG" >&2
	fi
}

# swapdevd_start [SWAPDEVD ARGS...] : start the daemon with test paths and a
# 512 MiB device, wait until swap is active (with --no-activate as the
# first argument: until the file is exported).
swapdevd_start()
{
	local i supervise=()

	[ "${SD_SUPERVISE:-1}" = 1 ] || supervise=(--no-supervise)
	rm -f "$SD_PIDFILE"
	"$SWAPDEVD" --foreground "${supervise[@]}" --pidfile "$SD_PIDFILE" \
		--set device.size="${SD_SIZE:-512M}" \
		--set device.mountpoint="$SD_MNT" \
		--set writeback.backing_file="$SD_BACKING" \
		--set control.socket="$SD_SOCKET" \
		"$@" >>"$SD_LOG" 2>&1 &
	SD_PID=$!
	for ((i = 0; i < 600; i++)); do
		[ -s "$SD_PIDFILE" ] && break
		kill -0 "$SD_PID" 2>/dev/null || {
			wait "$SD_PID" || true
			e2e_fail "swapdevd exited during start-up (see its log below)"
		}
		sleep 0.1
	done
	[ -s "$SD_PIDFILE" ] || e2e_fail "swapdevd not ready after 60 s"
	SD_DAEMON_PID=$(cat "$SD_PIDFILE")
	if [ "${SD_SUPERVISE:-1}" = 1 ]; then
		[ "$(awk '{ print $4 }' "/proc/$SD_DAEMON_PID/stat" 2>/dev/null)" = "$SD_PID" ] ||
			e2e_fail "pidfile names $SD_DAEMON_PID, not a child of supervisor $SD_PID"
		[ "$(cat "$SD_PIDFILE.supervisor" 2>/dev/null)" = "$SD_PID" ] ||
			e2e_fail "$SD_PIDFILE.supervisor does not name the supervisor $SD_PID"
	else
		[ "$SD_DAEMON_PID" = "$SD_PID" ] || e2e_fail "pidfile does not name our daemon"
	fi
	[ "${1:-}" = --no-activate ] && return 0
	SD_LOOP=$(_e2e_loops_of "$SD_MNT/swap")
	[ -n "$SD_LOOP" ] || e2e_fail "no loop device backed by $SD_MNT/swap"
	grep -q "^$SD_LOOP " /proc/swaps || e2e_fail "$SD_LOOP is not an active swap area"
}

# swapdevd_wait_exit WHEN : the swapdevd sent SIGTERM must exit 0 within
# 300 s; WHEN ends the message when it does not ("after SIGTERM").
swapdevd_wait_exit()
{
	local status=0 i

	for ((i = 0; i < 3000; i++)); do
		kill -0 "$SD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$SD_PID" 2>/dev/null && e2e_fail "swapdevd still running 300 s after SIGTERM"
	wait "$SD_PID" || status=$?
	SD_PID=
	_swapdevd_daemon_alive && e2e_fail "the supervisor exited, its daemon $SD_DAEMON_PID did not"
	SD_DAEMON_PID=
	[ "$status" -eq 0 ] || e2e_fail "swapdevd exited with status $status $1"
}

# _swapdevd_daemon_alive : the serving daemon (a child of the supervisor we
# started) still runs. Checked by name too: its PID may have been reused.
_swapdevd_daemon_alive()
{
	[ -n "${SD_DAEMON_PID:-}" ] && [ "$SD_DAEMON_PID" != "${SD_PID:-}" ] &&
		[ "$(cat "/proc/$SD_DAEMON_PID/comm" 2>/dev/null)" = swapdevd ]
}

# swapdevd_restarts : how many times the supervisor restarted the daemon.
swapdevd_restarts()
{
	grep -c 'supervisor: started daemon PID' "$SD_LOG" || true
}

# swapdevd_stop : SIGTERM, expect exit 0 within 300 s and nothing left.
swapdevd_stop()
{
	[ -n "$SD_PID" ] || return 0
	kill -TERM "$SD_PID"
	swapdevd_wait_exit "after SIGTERM"
	if [ -z "${SD_RESTARTS_EXPECTED:-}" ] && [ "$(swapdevd_restarts)" -gt 0 ]; then
		grep 'supervisor:' "$SD_LOG" >&2
		e2e_fail "the daemon died and its supervisor restarted it"
	fi
	check_swap_gone "$SD_MNT" || e2e_fail "swapdevd left something behind"
	[ ! -e "$SD_SOCKET" ] || e2e_fail "control socket $SD_SOCKET left behind"
}

# swapdevd_kill : teardown path; TERM (the daemon swaps off), KILL late;
# then the daemon itself if a KILLed supervisor left it.
swapdevd_kill()
{
	local i

	[ -n "$SD_PID" ] || return 0
	stop_pid "$SD_PID" 300
	SD_PID=
	if _swapdevd_daemon_alive; then
		e2e_log "teardown: the supervisor is gone, its daemon $SD_DAEMON_PID is not"
		kill -TERM "$SD_DAEMON_PID" 2>/dev/null
		for ((i = 0; i < 600; i++)); do
			_swapdevd_daemon_alive || break
			sleep 0.1
		done
		_swapdevd_daemon_alive && kill -KILL "$SD_DAEMON_PID" 2>/dev/null
	fi
	SD_DAEMON_PID=
}

# stat_value NAME : one number from `swapdevctl stats --json`.
stat_value()
{
	"$SWAPDEVCTL" --socket "$SD_SOCKET" stats --json |
		sed -n "s/.*\"$1\" *: *\([0-9][0-9]*\).*/\1/p" | head -n 1
}

# swapdevd_check_idle : an idle daemon must not burn CPU (a spinning thread
# steals a core from the workloads it serves). Samples 2 seconds, up to
# three times: right after a workload exits, the kernel's discards of its
# swap slots and the pool's unmapping of emptied chunks may still be
# running for a moment, while a spinning thread fails every sample.
swapdevd_check_idle()
{
	local before after ticks sample

	for sample in 1 2 3; do
		before=$(awk '{ print $14 + $15 }' "/proc/$SD_DAEMON_PID/stat")
		sleep 2
		after=$(awk '{ print $14 + $15 }' "/proc/$SD_DAEMON_PID/stat")
		ticks=$((after - before))
		e2e_log "idle CPU: $ticks ticks in 2 s (sample $sample)"
		# 2 s at 100 Hz is 200 ticks; idle housekeeping needs well under 10.
		[ "$ticks" -lt 10 ] && return 0
	done
	e2e_fail "idle daemon used $ticks clock ticks of CPU in 2 s, three times in a row"
}

# fuse_uring_switch 0|1 : set the kernel's switch for FUSE over io_uring,
# saved on first use and restored at teardown. Fails without the switch.
FUSE_URING_PARAM=/sys/module/fuse/parameters/enable_uring
_fuse_uring_saved=
fuse_uring_switch()
{
	[ -w "$FUSE_URING_PARAM" ] || return 1
	if [ -z "$_fuse_uring_saved" ]; then
		_fuse_uring_saved=$(cat "$FUSE_URING_PARAM")
		cleanup_fn _fuse_uring_restore
	fi
	echo "$1" >"$FUSE_URING_PARAM"
}

_fuse_uring_restore()
{
	echo "$_fuse_uring_saved" >"$FUSE_URING_PARAM" ||
		e2e_log "cannot restore $FUSE_URING_PARAM to $_fuse_uring_saved"
}

# start_workload CG SEED [WORKLOAD ARGS...] : run the workload ($workload,
# with a timeout of $timeout_s) in CG in the background; WL_PID is its
# runner, WL_OUT its output file. Unlike cgroup_run, only the workload
# enters the cgroup: its timeout stays outside, where a failed swap-in
# cannot kill it, so the exit status is the workload's own (128 + N when
# signal N killed it).
start_workload()
{
	local cg=$1 s=$2 dir

	shift 2
	dir=$(cgroup_path "$cg")
	WL_OUT=$E2E_TMPDIR/workload-$s.out
	# shellcheck disable=SC2016 # expanded by the inner sh
	timeout --kill-after="${E2E_KILL_AFTER:-10}" "${timeout_s:?the caller sets timeout_s}" \
		sh -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"' start_workload \
		"$dir" "${workload:?the caller builds workload}" --seed "$s" --report "$@" >"$WL_OUT" 2>&1 &
	WL_PID=$!
}

# wait_workload : wait for the workload started last; print its output;
# return its exit status.
wait_workload()
{
	local status=0

	wait "$WL_PID" || status=$?
	sed 's/^/    /' "$WL_OUT" >&2
	e2e_log "workload exit status $status"
	return "$status"
}

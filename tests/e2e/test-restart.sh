#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-restart.sh VARIANT - the swap area outlives the daemon (issue 14).
#
# swapdevd runs under its supervisor (--foreground) with real FUSE, a loop
# device and swapon; the integrity workload (every page checksummed) runs in
# a memory cgroup at a quarter of its working set, so three quarters of it
# live in swapdev. Meanwhile the test ends the serving daemon again and
# again; each time the supervisor starts a new one that adopts the FUSE
# connection and the store. The workload must finish with every page right
# and must not die of SIGBUS (its exit status would be 135). Variants:
#
#   kill            at least 20 SIGKILLs of the serving daemon at random
#                   moments (0.2 to 0.8 s apart), spread over the fill, the
#                   sequential passes, the random phase and `swapdevctl
#                   flush` (one is started every few seconds and some kills
#                   land while one runs); each phase must have had a kill
#   kill-exclusive  the same with pool.exclusive_loads=yes
#   kill-small-pool the same with a 16 MiB pool: writeback and disk reads
#                   run at every kill
#   upgrade         `swapdevctl restart` (exit status 75, the planned path)
#                   five times under load, then an upgrade: the daemon runs
#                   from a copy of the binary, a new copy replaces it by
#                   rename, `swapdevctl restart`, and the new daemon must
#                   run the new file
#
# Printed: kills per phase, pages verified, and the gap from each daemon's
# end to its successor's READY=1 (the supervisor's log) and, where the
# daemon logs it, to the first request served: min/median/max. The figures
# are in docs/RELIABILITY.md.
#
# Environment: E2E_SEED (1), E2E_WORKLOAD_TIMEOUT (seconds, 300),
# E2E_RESTART_KILLS (minimum kills, 20).

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

variant=${1:?usage: test-restart.sh VARIANT}
daemon_args=()
case "$variant" in
kill | upgrade) ;;
kill-exclusive) daemon_args=(--set pool.limit=48M --set pool.exclusive_loads=yes) ;;
kill-small-pool) daemon_args=(--set pool.limit=16M) ;;
*) e2e_fail "unknown variant $variant" ;;
esac
requires_root
requires_fuse
requires_loop
requires_swap
requires_cgroup
requires_cmd losetup swapoff timeout

e2e_make_tmpdir
workload=''
e2e_program workload workload tests/e2e/workload.c
swapdevd_setup
SD_RESTARTS_EXPECTED=1

others=$(awk 'NR > 1 { print $1 }' /proc/swaps)
[ -z "$others" ] || e2e_skip "other swap areas are active ($others); they would share the load"

limit=$((64 << 20))
working_set=256M
timeout_s=${E2E_WORKLOAD_TIMEOUT:-300}
seed=${E2E_SEED:-1}
min_kills=${E2E_RESTART_KILLS:-20}
cg=swapdev-e2e-restart-$variant-$$
cleanup_fn cgroup_destroy "$cg"
cgroup_create "$cg" "$limit"

ctl()
{
	with_timeout 60 "$SWAPDEVCTL" --socket "$SD_SOCKET" "$@"
}

# serving_pid : the daemon that serves now: the pidfile, once its process
# runs (a restarted daemon rewrites it when ready).
serving_pid()
{
	local pid

	pid=$(cat "$SD_PIDFILE" 2>/dev/null) || return 1
	[ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = swapdevd ] && echo "$pid"
}

# wait_new_daemon OLD : wait (30 s) until a daemon other than OLD serves;
# sets SD_DAEMON_PID. The supervisor must survive throughout.
wait_new_daemon()
{
	local old=$1 pid i

	for ((i = 0; i < 300; i++)); do
		kill -0 "$SD_PID" 2>/dev/null || {
			grep 'supervisor:' "$SD_LOG" >&2 || true
			e2e_fail "the supervisor exited after the end of daemon $old"
		}
		pid=$(serving_pid) || pid=
		if [ -n "$pid" ] && [ "$pid" != "$old" ]; then
			SD_DAEMON_PID=$pid
			return 0
		fi
		sleep 0.1
	done
	e2e_fail "no new daemon ready 30 s after the end of daemon $old"
}

# probe_store : SKIP unless a killed daemon is restarted, i.e. the daemon
# stores its descriptors with the supervisor (done before any load, so a
# daemon without the store loses nothing).
probe_store()
{
	local old=$SD_DAEMON_PID pid i

	kill -KILL "$old"
	for ((i = 0; i < 100; i++)); do
		kill -0 "$SD_PID" 2>/dev/null || break
		pid=$(serving_pid) || pid=
		[ -n "$pid" ] && [ "$pid" != "$old" ] && break
		sleep 0.1
	done
	if ! kill -0 "$SD_PID" 2>/dev/null; then
		wait "$SD_PID" 2>/dev/null || true
		SD_PID=
		e2e_skip "the daemon does not hand its descriptors to the supervisor" \
			"(FDSTORE; issue 14, takeover): a SIGKILL ends it for good"
	fi
	wait_new_daemon "$old"
}

gaps=()
first_request_ms=()

# percentiles NAME VALUES... : "NAME min/median/max ms (n=N)".
percentiles()
{
	local name=$1

	shift
	[ "$#" -gt 0 ] || { echo "$name: none measured"; return 0; }
	printf '%s\n' "$@" | sort -g | awk -v name="$name" '
		{ v[NR] = $1 }
		END {
			med = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
			printf "%s: min %.1f / median %.1f / max %.1f ms (n=%d)\n", name, v[1], med, v[NR], NR
		}'
}

# collect_gaps : from the log, the supervisor's "ready, N ms after" lines;
# and kill -> first request, the sum of the supervisor's "started ..., N ms
# after PID's end" and the adopting daemon's "first request served N ms
# after start" (one of each per restart, in order).
collect_gaps()
{
	local started=() answered=() i

	mapfile -t gaps < <(sed -n 's/.*supervisor: daemon PID [0-9]* ready, \([0-9.]*\) ms after.*/\1/p' "$SD_LOG")
	mapfile -t started < <(sed -n 's/.*supervisor: started daemon PID .*, \([0-9.]*\) ms after PID.*/\1/p' "$SD_LOG")
	mapfile -t answered < <(sed -n 's/.*first request served \([0-9.]*\) ms after start.*/\1/p' "$SD_LOG")
	first_request_ms=()
	if [ "${#started[@]}" -ne "${#answered[@]}" ]; then
		e2e_log "${#started[@]} restarts but ${#answered[@]} 'first request served' lines"
	fi
	for ((i = 0; i < ${#started[@]} && i < ${#answered[@]}; i++)); do
		first_request_ms+=("$(awk -v a="${started[i]}" -v b="${answered[i]}" 'BEGIN { printf "%.1f", a + b }')")
	done
}

# check_workload STATUS : the workload's verdict, SIGBUS named.
check_workload()
{
	local status=$1

	[ "$status" -ne $((128 + 7)) ] || e2e_fail "the workload died of SIGBUS: a page was lost"
	[ "$status" -eq 0 ] || e2e_fail "the workload failed with status $status (see its output)"
	grep -q '^workload: ok ' "$WL_OUT" || e2e_fail "the workload did not report ok"
	grep -q MISMATCH "$WL_OUT" && e2e_fail "the workload saw a mismatch"
	return 0
}

# report_value NAME : one value of the workload's report line.
report_value()
{
	sed -n "s/.* $1=\([0-9.]*\).*/\1/p" "$WL_OUT"
}

# ---------------------------------------------------------------- kill runs

kill_run()
{
	local t0 now pid flush_pid='' next_flush kills=0 flush_kills=0 in_flush
	local kill_ms=() kill_flush=() fill passes random k ms f
	local n_fill=0 n_passes=0 n_random=0 n_verify=0 status=0

	start_workload "$cg" "$seed" --size "$working_set" --passes 2
	t0=$(date +%s%N)
	next_flush=$((SECONDS + 3))
	while kill -0 "$WL_PID" 2>/dev/null; do
		sleep "0.$((2 + RANDOM % 7))"
		kill -0 "$WL_PID" 2>/dev/null || break
		if [ -z "$flush_pid" ] && [ "$SECONDS" -ge "$next_flush" ]; then
			"$SWAPDEVCTL" --socket "$SD_SOCKET" flush --wait >/dev/null 2>&1 &
			flush_pid=$!
			next_flush=$((SECONDS + 3))
			sleep "0.$((RANDOM % 3))"
		fi
		in_flush=0
		if [ -n "$flush_pid" ]; then
			if kill -0 "$flush_pid" 2>/dev/null; then
				in_flush=1
			else
				wait "$flush_pid" 2>/dev/null || true
				flush_pid=
			fi
		fi
		pid=$(serving_pid) || continue
		now=$(date +%s%N)
		kill -KILL "$pid" 2>/dev/null || continue
		kills=$((kills + 1))
		flush_kills=$((flush_kills + in_flush))
		kill_ms+=($(((now - t0) / 1000000)))
		kill_flush+=("$in_flush")
		wait_new_daemon "$pid"
	done
	[ -z "$flush_pid" ] || wait "$flush_pid" 2>/dev/null || true
	wait_workload || status=$?
	check_workload "$status"

	fill=$(report_value fill_s)
	passes=$(report_value passes_s)
	random=$(report_value random_s)
	for k in "${!kill_ms[@]}"; do
		ms=${kill_ms[k]}
		f=$(awk -v ms="$ms" -v a="$fill" -v b="$passes" -v c="$random" 'BEGIN {
			s = ms / 1000
			if (s < a) print "fill"; else if (s < a + b) print "passes";
			else if (s < a + b + c) print "random"; else print "verify" }')
		case "$f" in
		fill) n_fill=$((n_fill + 1)) ;;
		passes) n_passes=$((n_passes + 1)) ;;
		random) n_random=$((n_random + 1)) ;;
		verify) n_verify=$((n_verify + 1)) ;;
		esac
	done
	e2e_log "$kills SIGKILLs: fill $n_fill, passes $n_passes, random $n_random," \
		"final verify $n_verify; $flush_kills during a flush"
	e2e_log "pages verified: $(report_value touched) page checks over $(report_value pages)" \
		"pages, 0 mismatches, no SIGBUS"
	[ "$kills" -ge "$min_kills" ] || e2e_fail "only $kills kills (want $min_kills)"
	[ "$n_fill" -gt 0 ] || e2e_fail "no kill during the fill"
	[ "$n_passes" -gt 0 ] || e2e_fail "no kill during the sequential passes"
	[ "$n_random" -gt 0 ] || e2e_fail "no kill during the random phase"
	[ "$flush_kills" -gt 0 ] || e2e_fail "no kill during a flush"
}

# ---------------------------------------------------------------- restart and upgrade

# exe_inode PID : the inode of the file PID runs.
exe_inode()
{
	stat -L -c %i "/proc/$1/exe"
}

restart_run()
{
	local old new i status=0 restarts=0 new_inode old_inode

	start_workload "$cg" "$seed" --size "$working_set" --passes 2
	sleep 2
	for ((i = 0; i < 5; i++)); do
		kill -0 "$WL_PID" 2>/dev/null || break
		old=$SD_DAEMON_PID
		ctl restart || e2e_fail "swapdevctl restart failed"
		wait_new_daemon "$old"
		restarts=$((restarts + 1))
		sleep "0.$((3 + RANDOM % 7))"
	done
	# The upgrade: a new file replaces the one the daemon was started from.
	old=$SD_DAEMON_PID
	old_inode=$(exe_inode "$old")
	cp "$real_swapdevd" "$SWAPDEVD.new"
	touch "$SWAPDEVD.new"
	mv -f "$SWAPDEVD.new" "$SWAPDEVD"
	new_inode=$(stat -c %i "$SWAPDEVD")
	[ "$new_inode" != "$old_inode" ] || e2e_fail "the new binary has the old inode"
	ctl restart || e2e_fail "swapdevctl restart onto the new binary failed"
	wait_new_daemon "$old"
	restarts=$((restarts + 1))
	[ "$(exe_inode "$SD_DAEMON_PID")" = "$new_inode" ] ||
		e2e_fail "daemon $SD_DAEMON_PID does not run the new binary (inode $new_inode)"
	grep -q "daemon PID $old exited with status 75" "$SD_LOG" ||
		e2e_fail "the supervisor did not see status 75 from daemon $old"
	ctl status | sed 's/^/    status: /' >&2
	e2e_log "upgraded: daemon $old (inode $old_inode) -> $SD_DAEMON_PID (inode $new_inode)"
	wait_workload || status=$?
	check_workload "$status"
	e2e_log "$restarts restarts under load ($((restarts - 1)) plain, 1 onto a new binary);" \
		"pages verified: $(report_value touched) page checks, 0 mismatches, no SIGBUS"
}

# ---------------------------------------------------------------- main

if [ "$variant" = upgrade ]; then
	"$SWAPDEVCTL" restart --help >/dev/null 2>&1 ||
		e2e_skip "swapdevctl has no restart command yet (issue 14, takeover)"
	real_swapdevd=$SWAPDEVD
	mkdir "$E2E_TMPDIR/bin"
	SWAPDEVD=$E2E_TMPDIR/bin/swapdevd
	cp "$real_swapdevd" "$SWAPDEVD"
fi
swapdevd_start "${daemon_args[@]}"
probe_store
start_ms=$(date +%s%N)
if [ "$variant" = upgrade ]; then
	restart_run
else
	kill_run
fi
collect_gaps
e2e_log "$(percentiles "end of a daemon -> successor READY" "${gaps[@]}")"
e2e_log "$(percentiles "kill -> first request served" "${first_request_ms[@]}")"
e2e_log "run took $((($(date +%s%N) - start_ms) / 1000000000)) s"
swapdevd_stop

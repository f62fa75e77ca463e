#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-restart-gap.sh - how long swap waits when the daemon is killed with
# a lot stored (issue 14's goal: under 1 s from the kill to the first
# request served, with 1 GiB stored). Root only; holds the e2e lock.
#
# hold fills GAP_STORED of pages through a 128 MiB memory cgroup onto a
# supervised swapdevd (2 GiB device, pool.limit 2G); a small workload in
# another cgroup keeps requests coming; the serving daemon is then killed
# GAP_KILLS times, 3 s apart. Prints the daemon's own lines: the adoption's
# scan time, the supervisor's "ready, N ms after" and the new process's
# "first request served N ms after start" (its start comes 1-2 ms after
# the death).
#
# Environment: GAP_STORED (1200M), GAP_KILLS (3); SWAPDEVD, SWAPDEVCTL,
# E2E_BUILDDIR (workload), HOLD as for bench-e2e.sh.

set -euo pipefail
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$bench_dir/../e2e/lib.sh"
source "$bench_dir/../e2e/swapdevd.sh"

requires_root
requires_fuse
requires_loop
requires_cgroup
e2e_make_tmpdir
e2e_program workload workload tests/e2e/workload.c
if [ -n "${HOLD:-}" ] && [ -x "$HOLD" ]; then
	hold=$HOLD
else
	e2e_program hold hold tests/bench/hold.c
fi

swapdevd_setup
SD_SIZE=2G swapdevd_start --set pool.limit=2G

cg=restart-gap-$$
cleanup_fn cgroup_destroy "$cg"
cgroup_create "$cg" $((128 << 20))
# shellcheck disable=SC2016 # expanded by the inner sh
sh -c 'echo $$ >"$1/cgroup.procs" || exit 125; exec "$2" "$3"' hold "$(cgroup_path "$cg")" \
	"$hold" "${GAP_STORED:-1200M}" >"$E2E_TMPDIR/hold.out" 2>&1 &
hold_pid=$!
cleanup_fn stop_pid "$hold_pid"
for ((i = 0; i < 1200; i++)); do
	grep -q "hold: ready" "$E2E_TMPDIR/hold.out" && break
	kill -0 "$hold_pid" 2>/dev/null || e2e_fail "hold exited: $(cat "$E2E_TMPDIR/hold.out")"
	sleep 0.5
done
grep -q "hold: ready" "$E2E_TMPDIR/hold.out" || e2e_fail "hold not ready after 10 minutes"
"$SWAPDEVCTL" --socket "$SD_SOCKET" stats | grep -E "^(Device|Pool) "

cg2=restart-gap-load-$$
cleanup_fn cgroup_destroy "$cg2"
cgroup_create "$cg2" $((16 << 20))
timeout_s=600
start_workload "$cg2" 3 --size 64M --passes 1000
sleep 3
for ((k = 0; k < ${GAP_KILLS:-3}; k++)); do
	kill -KILL "$(cat "$SD_PIDFILE")"
	sleep 3
done
stop_pid "$WL_PID" 5
grep -E "store adopted|ready, .* ms after|first request served" "$SD_LOG" | sed 's/^/  /'

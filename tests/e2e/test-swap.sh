#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-swap.sh VARIANT - the real daemon under a workload that must swap.
#
# swapdevd runs with real FUSE, a real loop device and real swapon; the
# integrity workload runs in a memory cgroup limited to a third of its
# working set, so two thirds of it live in swapdev, and checks every page
# it reads back. Variants:
#
#   default         lz4, the default pool (no writeback needed)
#   zstd            pool.compressor=zstd:3
#   tiny-pool       a 1 MiB pool: writeback and write-through to disk
#   capped-pool     a 24 MiB pool, far below the data: incompressible pages
#                   kept in it (the default) are written back first, then
#                   the coldest; the pool must write back and serve disk
#   incompressible-disk
#                   pool.incompressible=disk: incompressible pages go
#                   straight to the backing file
#   recompress      idle recompression to zstd:3 after 1 s, all the CPU it
#                   wants: it races the workload's reads and writes
#   recompress-small-pool
#                   the same with a 24 MiB pool: it races writeback too
#   exclusive-on    exclusive loads on, a pool smaller than the data
#   exclusive-off   the same with exclusive loads off
#   two-workloads   two workloads in two cgroups at once
#   discard-heavy   workloads exit and restart: swap slots are discarded
#                   (swapon --discard) and reused
#   restart         stop and start the daemon between two workloads
#   io-uring        FUSE over io_uring (the kernel's switch turned on for
#                   the test and restored after): the switch is turned off
#                   under the first workload (the running connection must
#                   not care), then on again for a restart and a second
#                   workload; in both runs most requests must take the ring
#
# Environment: E2E_SEED (default 1), E2E_WORKLOAD_TIMEOUT (seconds, 600).

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

variant=${1:?usage: test-swap.sh VARIANT}
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

# Other swap areas would take part of the workload's pages: refuse to
# guess, say why instead.
others=$(awk 'NR > 1 { print $1 }' /proc/swaps)
[ -z "$others" ] || e2e_skip "other swap areas are active ($others); they would share the load"
cgroups=()
destroy_cgroups()
{
	local cg
	for cg in "${cgroups[@]}"; do
		cgroup_destroy "$cg"
	done
}
cleanup_fn destroy_cgroups

limit=$((64 << 20))
working_set=192M
timeout_s=${E2E_WORKLOAD_TIMEOUT:-600}
seed=${E2E_SEED:-1}

# new_cgroup : create a limited cgroup, named in $cg (no subshell: the
# list of cgroups to destroy must survive).
new_cgroup()
{
	cg=swapdev-e2e-$variant-$$-${#cgroups[@]}
	cgroups+=("$cg")
	cgroup_create "$cg" "$limit"
}

run_workload()
{
	local cg=$1 s=$2

	shift 2
	cgroup_run --timeout "$timeout_s" "$cg" "$workload" --size "$working_set" --passes 2 \
		--seed "$s" --report "$@"
}

check_counter_positive()
{
	local v

	v=$(stat_value "$1")
	[ -n "$v" ] || e2e_fail "stats have no field $1"
	[ "$v" -gt 0 ] || e2e_fail "$1 is $v, expected > 0 for variant $variant"
	e2e_log "$1 = $v"
}

# uring_counts : "RING DEV" request counts of each daemon run, from its log.
uring_counts()
{
	sed -n 's/.*FUSE requests served: \([0-9]*\) through io_uring, \([0-9]*\) through \/dev\/fuse.*/\1 \2/p' \
		"$SD_LOG"
}

daemon_args=()
case "$variant" in
default | two-workloads | discard-heavy | restart) ;;
io-uring)
	fuse_uring_switch 1 ||
		e2e_skip "this kernel has no FUSE over io_uring ($FUSE_URING_PARAM is missing)"
	daemon_args=(--set device.io_uring=yes)
	;;
zstd) daemon_args=(--set pool.compressor=zstd:3) ;;
tiny-pool) daemon_args=(--set pool.limit=1M) ;;
capped-pool) daemon_args=(--set pool.limit=24M) ;;
incompressible-disk) daemon_args=(--set pool.incompressible=disk) ;;
recompress | recompress-small-pool)
	daemon_args=(--set pool.recompress=zstd:3 --set pool.recompress_idle_seconds=1
		--set pool.recompress_cpu_percent=100)
	[ "$variant" = recompress ] || daemon_args+=(--set pool.limit=24M)
	;;
exclusive-on) daemon_args=(--set pool.limit=48M --set pool.exclusive_loads=yes) ;;
exclusive-off) daemon_args=(--set pool.limit=48M --set pool.exclusive_loads=no) ;;
*) e2e_fail "unknown variant $variant" ;;
esac

swapdevd_start "${daemon_args[@]}"
swapdevd_check_idle
new_cgroup
case "$variant" in
two-workloads)
	cg1=$cg
	new_cgroup
	cg2=$cg
	cg=$cg1
	run_workload "$cg" "$seed" &
	pid1=$!
	run_workload "$cg2" $((seed + 1)) &
	pid2=$!
	status1=0 status2=0
	wait "$pid1" || status1=$?
	wait "$pid2" || status2=$?
	[ "$status1" -eq 0 ] || e2e_fail "first workload failed with status $status1"
	[ "$status2" -eq 0 ] || e2e_fail "second workload failed with status $status2"
	;;
discard-heavy)
	for round in 1 2 3 4; do
		run_workload "$cg" $((seed + round)) --passes 1 ||
			e2e_fail "workload round $round failed"
	done
	check_counter_positive discards
	;;
restart)
	run_workload "$cg" "$seed" || e2e_fail "workload before the restart failed"
	swapdevd_stop
	swapdevd_start
	run_workload "$cg" $((seed + 1)) || e2e_fail "workload after the restart failed"
	;;
io-uring)
	run_workload "$cg" "$seed" &
	pid1=$!
	sleep 2
	fuse_uring_switch 0
	status1=0
	wait "$pid1" || status1=$?
	[ "$status1" -eq 0 ] ||
		e2e_fail "workload failed (status $status1) with the kernel's switch turned off under it"
	swapdevd_stop
	fuse_uring_switch 1
	swapdevd_start "${daemon_args[@]}"
	run_workload "$cg" $((seed + 1)) || e2e_fail "workload after the restart failed"
	;;
*)
	run_workload "$cg" "$seed" || e2e_fail "workload failed"
	;;
esac

check_counter_positive writes
check_counter_positive reads
case "$variant" in
tiny-pool)
	check_counter_positive writeback_pages
	check_counter_positive writethrough_pages
	check_counter_positive reads_disk
	;;
capped-pool)
	check_counter_positive writeback_pages
	check_counter_positive reads_disk
	check_counter_positive incompressible
	;;
incompressible-disk)
	check_counter_positive incompressible
	check_counter_positive writes_disk
	;;
recompress | recompress-small-pool)
	check_counter_positive recompressed
	check_counter_positive recompress_cpu_us
	[ "$variant" = recompress ] || check_counter_positive writeback_pages
	;;
exclusive-on)
	check_counter_positive exclusive_releases
	;;
exclusive-off)
	v=$(stat_value exclusive_releases)
	[ "$v" = 0 ] || e2e_fail "exclusive_releases is $v with exclusive loads off"
	;;
esac
swapdevd_check_idle
swapdevd_stop
if [ "$variant" = io-uring ]; then
	runs=0
	while read -r ring dev; do
		runs=$((runs + 1))
		e2e_log "run $runs: $ring requests through io_uring, $dev through /dev/fuse"
		[ "$ring" -gt "$dev" ] ||
			e2e_fail "run $runs served $ring requests through io_uring and $dev through /dev/fuse"
	done < <(uring_counts)
	[ "$runs" -eq 2 ] || e2e_fail "expected request counts from 2 daemon runs, found $runs"
fi
echo "PASS: test-swap.sh $variant"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-hygiene.sh VARIANT - start-up and stop next to what the daemon did
# not do itself (docs/RELIABILITY.md, "After a crash"). Variants:
#
#   dead-area           swapdevd is killed with SIGKILL: its FUSE mount
#                       stays (connection dead) with its swap area on a loop
#                       device. A new swapdevd with the same configuration
#                       swaps the dead area off, detaches it, unmounts the
#                       dead mount, logs that, comes up with the one swap
#                       area of its own, serves a workload that verifies
#                       every page, and stops cleanly
#   dead-area-in-use    the same with a frozen workload's pages on the dead
#                       area: the new daemon's swapoff of it succeeds (the
#                       kernel marks the lost pages poisoned), and the
#                       workload, thawed, dies of SIGBUS on its first lost
#                       page and never reads a wrong one
#   dead-area-private-ns
#                       as dead-area, but the first daemon runs in a private
#                       mount namespace, as under the systemd unit: when it
#                       dies, its mount goes with the namespace and the loop
#                       device's file is named "/swap", the area "/loopN".
#                       The new daemon finds the area by the name it was
#                       attached with and removes it all the same
#   concurrent-swapoff  `swapoff` of the daemon's loop device runs (on an
#                       area full of a frozen workload's pages) when SIGTERM
#                       comes, as systemd's dev-loopN.swap unit does at
#                       shutdown: the daemon waits for that swapoff, exits
#                       0, leaves nothing behind, and the workload verifies
#
# Environment: E2E_WORKLOAD_TIMEOUT (seconds, 600).

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

variant=${1:?usage: test-hygiene.sh VARIANT}
# The dead-area cases need a daemon that stays dead after SIGKILL: no
# supervisor to restart it.
case "$variant" in
dead-area*) SD_SUPERVISE=0 ;;
esac
case "$variant" in
dead-area | dead-area-in-use | dead-area-private-ns | concurrent-swapoff) ;;
*) e2e_fail "unknown variant $variant" ;;
esac
requires_root
requires_fuse
requires_loop
requires_swap
requires_cgroup
requires_cmd losetup swapoff timeout
[ "$variant" != dead-area-private-ns ] || requires_cmd unshare

e2e_make_tmpdir
workload=''
e2e_program workload workload tests/e2e/workload.c
swapdevd_setup

others=$(awk 'NR > 1 { print $1 }' /proc/swaps)
[ -z "$others" ] || e2e_skip "other swap areas are active ($others); they would share the load"

cg=swapdev-hygiene-$variant-$$
cleanup_fn cgroup_destroy "$cg"
cgroup_create "$cg" $((64 << 20))
timeout_s=${E2E_WORKLOAD_TIMEOUT:-600}

# wait_slots MIN SECONDS : until swapdev holds MIN slots of the workload.
wait_slots()
{
	local v i

	for ((i = 0; i < $2 * 10; i++)); do
		v=$(stat_value slots_used)
		[ -n "$v" ] && [ "$v" -ge "$1" ] && return 0
		kill -0 "$WL_PID" 2>/dev/null || e2e_fail "the workload ended at ${v:-?} slots"
		sleep 0.1
	done
	e2e_fail "slots_used did not reach $1 within $2 s (at ${v:-?})"
}

# freeze_workload / thaw_workload : SIGSTOP/SIGCONT the workload's process
# (by PID, from the cgroup), so that its pages stay where they are. The
# limit is lifted too: swapoff charges every page it brings back to it.
frozen=
freeze_workload()
{
	frozen=$(cat "$(cgroup_path "$cg")/cgroup.procs")
	[ -n "$frozen" ] || e2e_fail "no workload process to freeze"
	# shellcheck disable=SC2086 # one PID a word
	kill -STOP $frozen
	cleanup_fn thaw_workload
	if [ "$_e2e_cgroup_version" = 1 ]; then
		echo -1 >"$(cgroup_path "$cg")/memory.limit_in_bytes"
	else
		echo max >"$(cgroup_path "$cg")/memory.max"
	fi
}
thaw_workload()
{
	# shellcheck disable=SC2086
	[ -z "$frozen" ] || kill -CONT $frozen 2>/dev/null || true
	frozen=
}

# swap_used LOOP : KiB in use on swap area LOOP ("" when not active).
swap_used()
{
	awk -v d="$1" '$1 == d { print $4 }' /proc/swaps
}

# kill_daemon : SIGKILL the daemon and check what it leaves: the mount with
# a dead connection, and its swap area. Sets OLD_LOOP.
kill_daemon()
{
	local out

	OLD_LOOP=$SD_LOOP
	kill -KILL "$SD_PID"
	wait "$SD_PID" 2>/dev/null || true
	SD_PID=
	is_mountpoint "$SD_MNT" || e2e_fail "no mount left on $SD_MNT after SIGKILL"
	out=$(stat "$SD_MNT/swap" 2>&1) && e2e_fail "the dead mount still answers: $out"
	[[ "$out" == *"not connected"* ]] || e2e_fail "stat of the dead mount: $out, not ENOTCONN"
	[ -n "$(swap_used "$OLD_LOOP")" ] || e2e_fail "$OLD_LOOP is not in /proc/swaps after SIGKILL"
	e2e_log "SIGKILL left $OLD_LOOP active ($(swap_used "$OLD_LOOP") KiB used) on a dead mount"
}

# kill_daemon_private_ns : as kill_daemon for a daemon in its own mount
# namespace: the mount dies with it; the area stays, named "/loopN".
kill_daemon_private_ns()
{
	OLD_LOOP=$SD_LOOP
	cleanup_fn teardown_private_ns_area
	kill -KILL "$SD_PID"
	wait "$SD_PID" 2>/dev/null || true
	SD_PID=
	! is_mountpoint "$SD_MNT" || e2e_fail "the private namespace's mount is visible here"
	[ -n "$(swap_used "/${OLD_LOOP#/dev/}")" ] ||
		e2e_fail "/${OLD_LOOP#/dev/} is not in /proc/swaps after SIGKILL: $(cat /proc/swaps)"
	e2e_log "SIGKILL left /${OLD_LOOP#/dev/} active, backed by" \
		"$(cat "/sys/block/${OLD_LOOP#/dev/}/loop/backing_file")"
}

# teardown_private_ns_area : swapoff and detach the old area if still there
# (swapoff(2) finds it by its device, whatever /proc/swaps calls it).
teardown_private_ns_area()
{
	local dev=${OLD_LOOP#/dev/}

	[ "$(cat "/sys/block/$dev/loop/backing_file" 2>/dev/null)" = /swap ] || return 0
	e2e_log "teardown: swapoff $OLD_LOOP (the dead area)"
	with_timeout 300 swapoff "$OLD_LOOP" 2>/dev/null
	with_timeout 60 losetup -d "$OLD_LOOP" 2>/dev/null
	return 0
}

# restart_after_kill : a new daemon with the same configuration must come
# up, say what it removed, and own the one swap area backed by its file.
restart_after_kill()
{
	local swaps mounts

	swapdevd_start
	grep -q "belongs to a swapdevd that died" "$SD_LOG" ||
		e2e_fail "the new daemon does not say the old one died"
	grep -q "swapped off the stale area $OLD_LOOP" "$SD_LOG" ||
		e2e_fail "the new daemon did not log the swapoff of $OLD_LOOP"
	if [ "$variant" != dead-area-private-ns ]; then
		grep -q "unmounted the dead FUSE mount" "$SD_LOG" ||
			e2e_fail "the new daemon did not log the unmount"
	fi
	swaps=$(_e2e_swaps_of "$SD_MNT")
	[ "$swaps" = "$SD_LOOP" ] || e2e_fail "swap areas on $SD_MNT: '$swaps', expected $SD_LOOP"
	[ "$(awk 'NR > 1' /proc/swaps | wc -l)" -eq 1 ] ||
		e2e_fail "more than one active swap area: $(cat /proc/swaps)"
	mounts=$(awk -v m="$SD_MNT" '$5 == m' /proc/self/mountinfo | wc -l)
	[ "$mounts" -eq 1 ] || e2e_fail "$mounts mounts on $SD_MNT, expected 1"
}

case "$variant" in
dead-area)
	swapdevd_start
	kill_daemon
	restart_after_kill
	start_workload "$cg" 1 --size 192M --passes 2
	status=0
	wait_workload || status=$?
	[ "$status" -eq 0 ] || e2e_fail "the workload failed with status $status on the new daemon"
	[ "$(stat_value writes)" -gt 0 ] || e2e_fail "the new daemon served no writes"
	swapdevd_stop
	;;

dead-area-private-ns)
	real_swapdevd=$SWAPDEVD
	# exec keeps the PID: SD_PID is the daemon's.
	SWAPDEVD=$E2E_TMPDIR/swapdevd-private-ns
	printf '#!/bin/sh\nexec unshare -m --propagation private -- %q "$@"\n' \
		"$real_swapdevd" >"$SWAPDEVD"
	chmod +x "$SWAPDEVD"
	swapdevd_start
	SWAPDEVD=$real_swapdevd
	kill_daemon_private_ns
	restart_after_kill
	! grep -q "^/${OLD_LOOP#/dev/} " /proc/swaps || e2e_fail "the dead area is still active"
	start_workload "$cg" 1 --size 192M --passes 2
	status=0
	wait_workload || status=$?
	[ "$status" -eq 0 ] || e2e_fail "the workload failed with status $status on the new daemon"
	swapdevd_stop
	;;

dead-area-in-use)
	swapdevd_start
	start_workload "$cg" 1 --size 192M --passes 50
	wait_slots 12000 120
	freeze_workload
	kill_daemon
	restart_after_kill
	thaw_workload
	status=0
	wait_workload || status=$?
	grep -q MISMATCH "$WL_OUT" && e2e_fail "the workload read a wrong page after the crash"
	[ "$status" -eq 135 ] ||
		e2e_fail "the workload ended with status $status, expected SIGBUS (135) for a lost page"
	e2e_log "the workload died of SIGBUS on a page lost with the old daemon, as expected"
	swapdevd_stop
	;;

concurrent-swapoff)
	SD_SIZE=1G
	swapdevd_start
	start_workload "$cg" 1 --size 512M --passes 50
	wait_slots 60000 300
	freeze_workload
	e2e_log "swapoff $SD_LOOP with $(swap_used "$SD_LOOP") KiB on it, then SIGTERM"
	with_timeout 300 swapoff "$SD_LOOP" &
	swapoff_pid=$!
	cleanup_fn stop_pid "$swapoff_pid"
	# The swapoff has begun once the area no longer takes pages, which
	# /proc/swaps does not show; its first pages take a moment.
	sleep 0.5
	kill -0 "$swapoff_pid" 2>/dev/null || e2e_fail "swapoff ended before SIGTERM; make it longer"
	kill -TERM "$SD_PID"
	swapdevd_wait_exit "during another swapoff"
	status=0
	wait "$swapoff_pid" || status=$?
	[ "$status" -eq 0 ] || e2e_fail "the concurrent swapoff failed with status $status"
	grep -q "another swapoff of it is in progress" "$SD_LOG" ||
		e2e_fail "the daemon did not wait for the other swapoff"
	grep -Eq "swapoff .* failed" "$SD_LOG" && e2e_fail "the daemon reported a failed swapoff"
	check_swap_gone "$SD_MNT" || e2e_fail "swapdevd left something behind"
	[ ! -e "$SD_SOCKET" ] || e2e_fail "control socket $SD_SOCKET left behind"
	thaw_workload
	status=0
	wait_workload || status=$?
	grep -q MISMATCH "$WL_OUT" && e2e_fail "the workload read a wrong page"
	[ "$status" -eq 0 ] || e2e_fail "the workload failed with status $status"
	;;
esac
echo "PASS: test-hygiene.sh $variant"

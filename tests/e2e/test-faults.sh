#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-faults.sh VARIANT - the real daemon under a swapping workload while
# something goes wrong. The integrity workload checks every page it reads
# back, so a fault that corrupts memory fails the test; docs/RELIABILITY.md
# says what each variant proves. Variants:
#
#   swapoff-under-load  a second swap area (a file under $E2E_TMPDIR) is
#                       switched on, then swapoff of swapdev's loop device
#                       while the workload runs: the kernel moves every page
#                       to RAM or the other area; then SIGTERM stops the
#                       daemon (its swap area is already gone)
#   storms              `swapdevctl flush` and `config set` of pool.limit,
#                       pool.compressor and pool.exclusive_loads in a loop
#                       during the workload
#   disk-eio            the backing file lives on fault-fs, a FUSE file
#                       system that fails I/O with EIO on command. First
#                       every third write fails for 8 s (the workload must
#                       go on), then every read and write for 5 s or more,
#                       then the disk heals. The workload may be killed by
#                       the dead disk (SIGBUS for pages whose only copy was
#                       on it, or the cgroup OOM killer because failed swap
#                       writes leave pages in RAM), but it must never read a
#                       wrong page; the daemon counts io_errors, logs them,
#                       keeps serving, and a second workload verifies after
#                       the disk heals
#   sigterm             SIGTERM while the workload runs with most of its
#                       pages in swapdev: the daemon swaps off first (the
#                       cgroup limit is lifted just before, so the pages fit
#                       in RAM), exits 0, and the workload verifies
#   flush-kill          `swapdevctl flush --wait` killed (SIGKILL) while the
#                       flush runs (on a slowed fault-fs disk): the flush
#                       completes in the daemon, the next flush works, no
#                       descriptor leaks, the workload verifies
#   disk-short-read     the backing file on fault-fs returns short reads (as
#                       a file someone shrank does) for 5 s or more: each is
#                       an I/O error returned to the kernel, counted and
#                       logged, never a page of zeros; the workload verifies
#                       every page it gets back (or dies of SIGBUS)
#   second-daemon       with the workload's pages flushed to disk, a second
#                       swapdevd is started on the same backing file with a
#                       1 MiB device, then on the same control socket: each
#                       is refused, the backing file keeps its size, and the
#                       workload reads its pages back from disk intact
#   stacked-mount       a second swapdevd on the same mount point, and one
#                       whose mount point is a regular file, are refused
#                       before they mount anything
#   write-live-file     while swap is active, opening the exported file for
#                       writing (dd), with O_TRUNC, or punching a hole in it
#                       fails, reads still work, and the workload verifies;
#                       then with --no-activate and swap put on the file by
#                       hand, an open for writing fails too
#   flush-sigterm       SIGTERM while `swapdevctl flush --wait` runs on a
#                       slowed fault-fs disk: the daemon cancels the flush
#                       at its next batch and exits long before the flush
#                       would have ended, and the workload verifies
#   self-pressure       swapdevd and the workload in ONE memory cgroup whose
#                       limit forces swapping: the daemon's own allocations
#                       meet the reclaim it serves. It must make progress;
#                       after E2E_PRESSURE_TIMEOUT seconds without the
#                       workload finishing, the test prints the daemon's
#                       kernel stacks, lifts the limit, aborts the FUSE
#                       connection if that does not free it (so that a
#                       deadlock cannot wedge the machine), and fails
#
# Environment: E2E_SEED (1), E2E_WORKLOAD_TIMEOUT (seconds, 600),
# E2E_PRESSURE_TIMEOUT (seconds, 300).

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

variant=${1:?usage: test-faults.sh VARIANT}
# These faults are the daemon's own: a supervisor would restart a daemon
# that the test kills (daemon_exit_within) or moves into a cgroup.
SD_SUPERVISE=0
case "$variant" in
swapoff-under-load | storms | disk-eio | disk-short-read | sigterm | flush-kill | \
	flush-sigterm | second-daemon | stacked-mount | write-live-file | self-pressure) ;;
*) e2e_fail "unknown variant $variant" ;;
esac
requires_root
requires_fuse
requires_loop
requires_swap
requires_cgroup
requires_cmd losetup swapon swapoff mkswap timeout

e2e_make_tmpdir
workload=''
e2e_program workload workload tests/e2e/workload.c

# fault-fs links with libfuse: meson builds it, or we do with pkg-config.
fault_fs=''
build_fault_fs()
{
	if [ -n "${E2E_BUILDDIR:-}" ] && [ -x "$E2E_BUILDDIR/fault-fs" ]; then
		fault_fs=$E2E_BUILDDIR/fault-fs
		return 0
	fi
	requires_cmd cc pkg-config
	pkg-config --exists fuse3 || e2e_skip "fault-fs needs libfuse3-dev (pkg-config fuse3)"
	# shellcheck disable=SC2046 # pkg-config prints several words
	cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -O2 -g \
		$(pkg-config --cflags fuse3) "$E2E_SRCDIR/tests/e2e/fault-fs.c" \
		$(pkg-config --libs fuse3) -o "$E2E_TMPDIR/fault-fs" || e2e_fail "cannot build fault-fs"
	fault_fs=$E2E_TMPDIR/fault-fs
}

# Registered before swapdevd_setup, so that it runs after the daemon's
# teardown: the daemon's backing file lives on it.
FAULT_MNT=$E2E_TMPDIR/faultfs
FAULT_PID=
fault_fs_stop()
{
	[ -n "$FAULT_PID" ] || return 0
	if is_mountpoint "$FAULT_MNT"; then
		umount "$FAULT_MNT" 2>/dev/null || {
			fuse_abort "$FAULT_MNT"
			umount -l "$FAULT_MNT"
		}
	fi
	stop_pid "$FAULT_PID"
	FAULT_PID=
	e2e_log "$(tail -n 1 "$E2E_TMPDIR/fault-fs.log")"
}
cleanup_fn fault_fs_stop

# fault_fs_start [--delay-us N] : mount fault-fs on $FAULT_MNT.
fault_fs_start()
{
	local i

	build_fault_fs
	mkdir -p "$E2E_TMPDIR/faultsrc" "$FAULT_MNT"
	"$fault_fs" "$@" "$E2E_TMPDIR/faultsrc" "$FAULT_MNT" >>"$E2E_TMPDIR/fault-fs.log" 2>&1 &
	FAULT_PID=$!
	for ((i = 0; i < 100; i++)); do
		is_mountpoint "$FAULT_MNT" && return 0
		kill -0 "$FAULT_PID" 2>/dev/null || e2e_fail "fault-fs exited: $(cat "$E2E_TMPDIR/fault-fs.log")"
		sleep 0.1
	done
	e2e_fail "fault-fs not mounted on $FAULT_MNT after 10 s"
}

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

timeout_s=${E2E_WORKLOAD_TIMEOUT:-600}
seed=${E2E_SEED:-1}

# new_cgroup VAR LIMIT : create a memory cgroup, its name in VAR.
new_cgroup()
{
	local name=swapdev-faults-$variant-$$-${#cgroups[@]}

	cgroups+=("$name")
	cgroup_create "$name" "$2"
	printf -v "$1" '%s' "$name"
}

# cgroup_file NAME V1_FILE V2_FILE : path of a memory controller file.
cgroup_file()
{
	if [ "$_e2e_cgroup_version" = 1 ]; then
		echo "$(cgroup_path "$1")/$2"
	else
		echo "$(cgroup_path "$1")/$3"
	fi
}

# cgroup_unlimit NAME : lift the memory limit of cgroup NAME.
cgroup_unlimit()
{
	if [ "$_e2e_cgroup_version" = 1 ]; then
		echo -1 >"$(cgroup_file "$1" memory.limit_in_bytes -)"
	else
		echo max >"$(cgroup_file "$1" - memory.max)"
	fi
}

# cgroup_oom_kills NAME : processes the OOM killer took from cgroup NAME.
cgroup_oom_kills()
{
	local n

	n=$(awk '$1 == "oom_kill" { print $2 }' \
		"$(cgroup_file "$1" memory.oom_control memory.events)" 2>/dev/null)
	echo "${n:-0}"
}

cgroup_usage_mib()
{
	echo $(($(cat "$(cgroup_file "$1" memory.usage_in_bytes memory.current)") >> 20))
}

expect_workload_ok()
{
	local status=0

	wait_workload || status=$?
	grep -q MISMATCH "$WL_OUT" && e2e_fail "the workload read a wrong page: $1"
	[ "$status" -eq 0 ] || e2e_fail "the workload failed with status $status: $1"
	grep -q '^workload: ok' "$WL_OUT" || e2e_fail "the workload did not report ok: $1"
}

workload_running()
{
	kill -0 "$WL_PID" 2>/dev/null
}

# wait_stat NAME MIN SECONDS : wait until stat NAME reaches MIN while the
# workload runs; fail otherwise.
wait_stat()
{
	local name=$1 min=$2 seconds=$3 v i

	for ((i = 0; i < seconds * 10; i++)); do
		v=$(stat_value "$name")
		[ -n "$v" ] && [ "$v" -ge "$min" ] && return 0
		workload_running || e2e_fail "the workload ended before $name reached $min (at ${v:-?})"
		sleep 0.1
	done
	e2e_fail "$name did not reach $min within ${seconds}s (at ${v:-?})"
}

check_counter_positive()
{
	local v

	v=$(stat_value "$1")
	[ -n "$v" ] || e2e_fail "stats have no field $1"
	[ "$v" -gt 0 ] || e2e_fail "$1 is $v, expected > 0 for variant $variant"
	e2e_log "$1 = $v"
}

# expect_io_errors_logged COUNT : the daemon reports new I/O errors from
# its main loop once a second: give it 3 s to log them.
expect_io_errors_logged()
{
	local i

	for ((i = 0; i < 30; i++)); do
		grep -Eiq 'error.*(I/O|Input/output)' "$SD_LOG" && return 0
		sleep 0.1
	done
	e2e_fail "swapdevd counted $1 I/O errors but did not log them"
}

fd_count()
{
	find "/proc/$SD_PID/fd" -mindepth 1 -maxdepth 1 | wc -l
}

# ctl ARGS... : swapdevctl on our socket, bounded in time.
ctl()
{
	with_timeout 60 "$SWAPDEVCTL" --socket "$SD_SOCKET" "$@"
}

# daemon_exit_within SECONDS : after a SIGTERM, expect exit 0 within
# SECONDS, nothing left behind.
daemon_exit_within()
{
	local seconds=$1 status=0 i

	for ((i = 0; i < seconds * 10; i++)); do
		kill -0 "$SD_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$SD_PID" 2>/dev/null; then
		# Without a swap area on it, KILL loses nothing: spare the
		# teardown its long wait.
		if ! grep -q "^$SD_LOOP " /proc/swaps; then
			kill -KILL "$SD_PID"
			wait "$SD_PID" 2>/dev/null || true
			SD_PID=
		fi
		e2e_fail "swapdevd still running ${seconds}s after SIGTERM (see its log below)"
	fi
	wait "$SD_PID" || status=$?
	SD_PID=
	[ "$status" -eq 0 ] || e2e_fail "swapdevd exited with status $status after SIGTERM"
	check_swap_gone "$SD_MNT" || e2e_fail "swapdevd left something behind"
	[ ! -e "$SD_SOCKET" ] || e2e_fail "control socket $SD_SOCKET left behind"
}

limit=$((64 << 20))
working_set=192M

# second_swapdevd NAME [SWAPDEVD ARGS...] : start another daemon with its
# own paths (overridden by ARGS), bounded in time; expect it to refuse to
# start. Its log is $E2E_TMPDIR/NAME.log.
second_swapdevd()
{
	local name=$1 log=$E2E_TMPDIR/$1.log status=0

	shift
	mkdir -p "$E2E_TMPDIR/$name"
	cleanup_fn teardown_swap_of "$E2E_TMPDIR/$name/mnt"
	with_timeout 60 "$SWAPDEVD" --foreground --set device.size=1M \
		--set device.mountpoint="$E2E_TMPDIR/$name/mnt" \
		--set writeback.backing_file="$E2E_TMPDIR/$name/backing" \
		--set control.socket="$E2E_TMPDIR/$name/control" \
		"$@" >"$log" 2>&1 || status=$?
	sed "s/^/    $name: /" "$log" >&2
	[ "$status" -ne 0 ] && [ "$status" -ne 124 ] ||
		e2e_fail "a second swapdevd ($name) was not refused (status $status)"
	check_swap_gone "$E2E_TMPDIR/$name/mnt" || e2e_fail "$name left something behind"
}

file_size()
{
	stat -c %s "$1"
}

case "$variant" in
swapoff-under-load)
	swapfile=$E2E_TMPDIR/swapfile
	cleanup_fn teardown_swap_of "$swapfile"
	dd if=/dev/zero of="$swapfile" bs=1M count=384 status=none
	chmod 600 "$swapfile"
	mkswap "$swapfile" >/dev/null
	swapon --priority 10 "$swapfile" || e2e_skip "cannot swapon a file under $E2E_TMPDIR"
	swapdevd_start
	new_cgroup cg "$limit"
	start_workload "$cg" "$seed" --size "$working_set" --passes 6
	wait_stat slots_used 12000 120
	e2e_log "swapdev holds $(stat_value slots_used) slots; swapoff $SD_LOOP under load"
	start=$SECONDS
	with_timeout 300 swapoff "$SD_LOOP" || e2e_fail "swapoff $SD_LOOP failed under load"
	e2e_log "swapoff took $((SECONDS - start)) s"
	! grep -q "^$SD_LOOP " /proc/swaps || e2e_fail "$SD_LOOP is still an active swap area"
	used=$(awk -v f="$swapfile" '$1 == f { print $4 }' /proc/swaps)
	e2e_log "after swapoff: the second area holds ${used:-?} KiB; swapdev slots_used" \
		"$(stat_value slots_used) (freed as the kernel discards them)"
	expect_workload_ok "after swapoff of swapdev under load"
	ctl status >/dev/null || e2e_fail "swapdevctl status failed after swapoff"
	kill -TERM "$SD_PID"
	daemon_exit_within 60
	;;

storms)
	swapdevd_start --set pool.limit=32M
	new_cgroup cg "$limit"
	start_workload "$cg" "$seed" --size "$working_set" --passes 4
	storm_log=$E2E_TMPDIR/storm.log
	(
		sets=0 set_failures=0 flushes=0 flush_refusals=0 round=0
		limits=(8M 48M) compressors=(lz4 zstd:3) exclusive=(no yes)
		while kill -0 "$WL_PID" 2>/dev/null; do
			round=$((round + 1))
			if ctl flush >/dev/null 2>>"$storm_log"; then
				flushes=$((flushes + 1))
			else
				flush_refusals=$((flush_refusals + 1))
			fi
			for kv in "pool.limit ${limits[round % 2]}" \
				"pool.compressor ${compressors[(round / 2) % 2]}" \
				"pool.exclusive_loads ${exclusive[(round / 3) % 2]}"; do
				# shellcheck disable=SC2086 # key and value
				if ctl config set $kv >/dev/null 2>>"$storm_log"; then
					sets=$((sets + 1))
				else
					set_failures=$((set_failures + 1))
				fi
			done
		done
		echo "rounds=$round sets=$sets set_failures=$set_failures flushes=$flushes" \
			"flush_refusals=$flush_refusals"
	) >"$E2E_TMPDIR/storm.out" &
	storm_pid=$!
	expect_workload_ok "during flush and config-set storms"
	wait "$storm_pid" || e2e_fail "the storm loop failed"
	e2e_log "storm: $(cat "$E2E_TMPDIR/storm.out")"
	grep -q ' set_failures=0 ' "$E2E_TMPDIR/storm.out" ||
		e2e_fail "config set failed during the storm: $(sort -u "$storm_log")"
	grep -Eq ' flushes=[1-9]' "$E2E_TMPDIR/storm.out" || e2e_fail "no flush was accepted"
	# A refused flush may only be one that found another still running.
	if grep -v 'already running' "$storm_log" | grep -q .; then
		e2e_fail "unexpected errors during the storm: $(sort -u "$storm_log")"
	fi
	check_counter_positive writeback_pages
	check_counter_positive writes
	ctl status >/dev/null || e2e_fail "swapdevctl status failed after the storm"
	swapdevd_stop
	;;

disk-eio)
	fault_fs_start
	swapdevd_start --set pool.limit=4M --set writeback.backing_file="$FAULT_MNT/backing"
	new_cgroup cg "$limit"
	start_workload "$cg" "$seed" --size "$working_set" --passes 8
	wait_stat reads_disk 2000 120
	oom_before=$(cgroup_oom_kills "$cg")

	# A flaky disk: every third write fails. Writes the daemon cannot place
	# return EIO and the kernel keeps those pages; reads all succeed, so
	# the workload must go on undisturbed.
	errors_before=$(stat_value io_errors)
	e2e_log "disk tier holds $(stat_value disk_slots) slots; every third write fails now"
	kill -s RTMIN "$FAULT_PID"
	sleep 8
	kill -USR2 "$FAULT_PID"
	errors=$(stat_value io_errors)
	e2e_log "flaky writes for 8 s: io_errors $errors_before -> $errors"
	[ "$errors" -gt "$errors_before" ] || e2e_fail "io_errors stayed at $errors with failing writes"
	if ! workload_running; then
		expect_workload_ok "while a third of the disk writes failed"
		e2e_fail "the workload ended during the flaky phase; make it longer"
	fi

	# A dead disk: reads fail too. Pages whose only copy is on the disk
	# are lost to their process (SIGBUS), never returned wrong.
	errors_before=$errors
	e2e_log "the disk dies now"
	kill -USR1 "$FAULT_PID"
	# Dead for at least 5 s and until the daemon has met an error.
	for ((i = 0; i < 300; i++)); do
		v=$(stat_value io_errors)
		[ "$i" -ge 50 ] && [ "${v:-0}" -gt "$errors_before" ] && break
		sleep 0.1
	done
	ctl status >/dev/null || e2e_fail "swapdevctl status failed while the disk is dead"
	kill -USR2 "$FAULT_PID"
	errors=$(stat_value io_errors)
	e2e_log "the disk heals after $((i / 10)) s; io_errors = $errors"
	[ "$errors" -gt "$errors_before" ] ||
		e2e_fail "io_errors stayed at $errors while the disk was dead"
	status=0
	wait_workload || status=$?
	grep -q MISMATCH "$WL_OUT" && e2e_fail "SILENT CORRUPTION: the workload read a wrong page"
	oom=$(($(cgroup_oom_kills "$cg") - oom_before))
	case "$status" in
	0) e2e_log "the workload survived the dead disk and verified every page" ;;
	135) e2e_log "the workload was killed by SIGBUS (a page whose only copy was on the dead disk)" ;;
	137)
		[ "$oom" -gt 0 ] || e2e_fail "the workload was killed (timeout?) without an OOM kill"
		e2e_log "the workload was OOM-killed (failed swap writes kept its pages in RAM)"
		;;
	*) e2e_fail "the workload ended with status $status" ;;
	esac
	kill -0 "$SD_PID" 2>/dev/null || e2e_fail "swapdevd died after the disk failed"

	# The healed disk serves again: a fresh workload verifies through it.
	reads_before=$(stat_value reads_disk)
	start_workload "$cg" $((seed + 1)) --size "$working_set" --passes 2
	expect_workload_ok "after the disk healed"
	[ "$(stat_value reads_disk)" -gt "$reads_before" ] ||
		e2e_fail "no disk reads after the disk healed"
	expect_io_errors_logged "$errors"
	swapdevd_stop
	;;

disk-short-read)
	fault_fs_start
	swapdevd_start --set pool.limit=4M --set writeback.backing_file="$FAULT_MNT/backing"
	new_cgroup cg "$limit"
	start_workload "$cg" "$seed" --size "$working_set" --passes 8
	wait_stat reads_disk 2000 120
	errors_before=$(stat_value io_errors)
	e2e_log "disk tier holds $(stat_value disk_slots) slots; every read is short now"
	kill -s RTMIN+1 "$FAULT_PID"
	for ((i = 0; i < 300; i++)); do
		v=$(stat_value io_errors)
		[ "$i" -ge 50 ] && [ "${v:-0}" -gt "$errors_before" ] && break
		workload_running || break
		sleep 0.1
	done
	kill -USR2 "$FAULT_PID"
	errors=$(stat_value io_errors)
	e2e_log "short reads for $((i / 10)) s: io_errors $errors_before -> $errors"
	[ "$errors" -gt "$errors_before" ] || e2e_fail "io_errors stayed at $errors with short reads"
	status=0
	wait_workload || status=$?
	grep -q MISMATCH "$WL_OUT" && e2e_fail "SILENT CORRUPTION: a short read was served as data"
	case "$status" in
	0) e2e_log "the workload verified every page (none of its reads was short)" ;;
	135) e2e_log "the workload was killed by SIGBUS (a page read short)" ;;
	*) e2e_fail "the workload ended with status $status" ;;
	esac
	expect_io_errors_logged "$errors"
	swapdevd_stop
	;;

second-daemon)
	swapdevd_start --set pool.limit=16M
	new_cgroup cg "$limit"
	start_workload "$cg" "$seed" --size "$working_set" --passes 8
	wait_stat slots_used 20000 120
	ctl flush --wait >/dev/null || e2e_fail "flush --wait failed"
	disk_slots=$(stat_value disk_slots)
	size=$(file_size "$SD_BACKING")
	e2e_log "$disk_slots slots on disk; backing file $size bytes"
	[ "$disk_slots" -gt 10000 ] || e2e_fail "only $disk_slots slots reached the disk"
	second_swapdevd same-backing --set writeback.backing_file="$SD_BACKING"
	grep -q "in use by another process" "$E2E_TMPDIR/same-backing.log" ||
		e2e_fail "the refusal does not say that the backing file is in use"
	second_swapdevd same-socket --set control.socket="$SD_SOCKET"
	grep -q "already running" "$E2E_TMPDIR/same-socket.log" ||
		e2e_fail "the refusal does not say that swapdevd is already running"
	[ "$(file_size "$SD_BACKING")" -eq "$size" ] ||
		e2e_fail "the backing file changed size: $size -> $(file_size "$SD_BACKING")"
	reads_before=$(stat_value reads_disk)
	expect_workload_ok "after a second swapdevd tried to take its disk tier"
	reads=$(stat_value reads_disk)
	e2e_log "disk reads after the attempts: $((reads - reads_before))"
	[ "$reads" -gt "$reads_before" ] || e2e_fail "the workload read nothing back from disk"
	swapdevd_stop
	;;

stacked-mount)
	swapdevd_start
	second_swapdevd same-mount --set device.mountpoint="$SD_MNT"
	grep -q "mounted there already" "$E2E_TMPDIR/same-mount.log" ||
		e2e_fail "the refusal does not say that the mount point is in use"
	mounts=$(awk -v m="$SD_MNT" '$5 == m' /proc/self/mountinfo | wc -l)
	[ "$mounts" -eq 1 ] || e2e_fail "$mounts mounts on $SD_MNT, expected 1"
	touch "$E2E_TMPDIR/plain-file"
	second_swapdevd file-mount --set device.mountpoint="$E2E_TMPDIR/plain-file"
	grep -q "not a directory" "$E2E_TMPDIR/file-mount.log" ||
		e2e_fail "the refusal does not say that the mount point is not a directory"
	ctl status | grep -q "$SD_MNT/swap" || e2e_fail "status no longer names $SD_MNT/swap"
	swapdevd_stop
	;;

write-live-file)
	swapdevd_start
	new_cgroup cg "$limit"
	start_workload "$cg" "$seed" --size "$working_set" --passes 6
	wait_stat slots_used 12000 120
	writes_before=$(stat_value writes)
	! dd if=/dev/zero of="$SD_MNT/swap" bs=4096 seek=16 count=4096 conv=notrunc \
		2>"$E2E_TMPDIR/dd.err" || e2e_fail "dd wrote into the live swap area"
	grep -q "Text file busy" "$E2E_TMPDIR/dd.err" ||
		e2e_fail "dd failed, but not with ETXTBSY: $(cat "$E2E_TMPDIR/dd.err")"
	! sh -c ": >\"\$1\"" sh "$SD_MNT/swap" 2>/dev/null || e2e_fail "an O_TRUNC open succeeded"
	! fallocate -p -o 65536 -l 1M "$SD_MNT/swap" 2>/dev/null ||
		e2e_fail "a hole was punched into the live swap area"
	dd if="$SD_MNT/swap" of=/dev/null bs=4096 count=16 status=none ||
		e2e_fail "reading the live swap file failed"
	grep -q "refused to open $SD_MNT/swap for writing" "$SD_LOG" ||
		e2e_fail "the daemon did not log the refused open"
	expect_workload_ok "after writes into the live swap file were refused"
	[ "$(stat_value writes)" -gt "$writes_before" ] || e2e_fail "the kernel's writes stopped"
	swapdevd_stop

	# The daemon cannot tell the loop device's open from others here: it
	# refuses opens for writing while the file is an active swap area.
	swapdevd_start --no-activate
	loop=$(losetup --direct-io=on --sector-size 4096 -f --show "$SD_MNT/swap")
	mkswap "$loop" >/dev/null
	swapon "$loop"
	! dd if=/dev/zero of="$SD_MNT/swap" bs=4096 seek=16 count=16 conv=notrunc 2>/dev/null ||
		e2e_fail "dd wrote into a swap area put on the file by hand"
	swapoff "$loop"
	dd if=/dev/zero of="$SD_MNT/swap" bs=4096 seek=16 count=16 conv=notrunc status=none ||
		e2e_fail "writing the file failed once swap was off"
	losetup -d "$loop"
	swapdevd_stop
	;;

sigterm)
	swapdevd_start
	new_cgroup cg "$limit"
	start_workload "$cg" "$seed" --size "$working_set" --passes 6
	# Deep in swap and reading it back: in the verify passes, not the fill.
	wait_stat slots_used 20000 120
	wait_stat reads 2000 120
	used=$(stat_value slots_used)
	# swapoff charges every page it brings back to the workload's cgroup:
	# under the limit, the cgroup's OOM killer would take the workload.
	cgroup_unlimit "$cg"
	e2e_log "SIGTERM with $used slots in use, the workload running"
	start=$SECONDS
	kill -TERM "$SD_PID"
	daemon_exit_within 300
	e2e_log "swapdevd swapped off and exited in $((SECONDS - start)) s"
	grep -q 'swapoff' "$SD_LOG" || e2e_fail "the daemon log does not mention swapoff"
	expect_workload_ok "after SIGTERM under load"
	;;

flush-kill)
	# A disk that takes 5 ms per write keeps the flush busy for seconds.
	fault_fs_start --delay-us 5000
	swapdevd_start --set writeback.backing_file="$FAULT_MNT/backing"
	new_cgroup cg "$limit"
	start_workload "$cg" "$seed" --size "$working_set" --passes 6
	wait_stat pool_slots 15000 120
	fds_before=$(fd_count)
	wb_before=$(stat_value writeback_pages)
	"$SWAPDEVCTL" --socket "$SD_SOCKET" flush --wait >"$E2E_TMPDIR/flush.out" 2>&1 &
	ctl_pid=$!
	sleep 1
	kill -0 "$ctl_pid" 2>/dev/null || e2e_fail "flush --wait ended within 1 s; cannot kill it" \
		"mid-flush ($(cat "$E2E_TMPDIR/flush.out"))"
	wb_at_kill=$(stat_value writeback_pages)
	kill -KILL "$ctl_pid"
	wait "$ctl_pid" 2>/dev/null || true
	e2e_log "swapdevctl killed mid-flush ($((wb_at_kill - wb_before)) pages written back so far)"
	# The flush belongs to the daemon: it runs to its end.
	for ((i = 0; i < 1200; i++)); do
		grep -q 'flush wrote' "$SD_LOG" && break
		sleep 0.1
	done
	grep -q 'flush wrote' "$SD_LOG" || e2e_fail "the flush did not finish within 120 s"
	wb_after=$(stat_value writeback_pages)
	[ "$wb_after" -gt "$wb_at_kill" ] || e2e_fail "the flush stopped with its client"
	e2e_log "$(grep 'flush wrote' "$SD_LOG" | tail -n 1)"
	ctl status >/dev/null || e2e_fail "swapdevctl status failed after the kill"
	ctl flush --wait >"$E2E_TMPDIR/flush2.out" 2>&1 ||
		e2e_fail "a second flush --wait failed: $(cat "$E2E_TMPDIR/flush2.out")"
	for ((i = 0; i < 50; i++)); do
		[ "$(fd_count)" -le "$fds_before" ] && break
		sleep 0.1
	done
	fds_after=$(fd_count)
	[ "$fds_after" -le "$fds_before" ] ||
		e2e_fail "descriptor leak: $fds_before before, $fds_after after"
	e2e_log "daemon descriptors: $fds_before before, $fds_after after"
	expect_workload_ok "with a flush client killed mid-flush"
	swapdevd_stop
	;;

flush-sigterm)
	# 500 ms per write: the pool's pages take minutes to flush, even when a
	# batch of incompressible pages goes out in two large writes.
	fault_fs_start --delay-us 500000
	swapdevd_start --set writeback.backing_file="$FAULT_MNT/backing"
	new_cgroup cg "$limit"
	start_workload "$cg" "$seed" --size "$working_set" --passes 6
	wait_stat pool_slots 15000 120
	# Frozen, the workload leaves swapoff only its pages to read back.
	frozen=$(cat "$(cgroup_path "$cg")/cgroup.procs")
	# shellcheck disable=SC2086 # one PID a word
	kill -STOP $frozen
	# shellcheck disable=SC2086
	cleanup_fn kill -CONT $frozen
	pool=$(stat_value pool_slots)
	"$SWAPDEVCTL" --socket "$SD_SOCKET" flush --wait >"$E2E_TMPDIR/flush.out" 2>&1 &
	ctl_pid=$!
	cleanup_fn stop_pid "$ctl_pid"
	# Two samples 2 s apart, once writeback has begun, give the flush's pace.
	wait_stat writeback_pages 1 60
	wb1=$(stat_value writeback_pages)
	sleep 2
	wb2=$(stat_value writeback_pages)
	kill -0 "$ctl_pid" 2>/dev/null ||
		e2e_fail "the flush ended before SIGTERM: $(cat "$E2E_TMPDIR/flush.out")"
	rate=$(((wb2 - wb1) / 2))
	left=$((pool - wb2))
	projected=$((left / (rate > 0 ? rate : 1)))
	# swapoff charges the pages it brings back to the workload's cgroup.
	cgroup_unlimit "$cg"
	e2e_log "SIGTERM mid-flush: $wb2 of about $pool pages written at $rate pages/s;" \
		"the rest would take about $projected s"
	[ "$projected" -ge 60 ] || e2e_fail "the flush is too fast to tell ($projected s to go)"
	start=$SECONDS
	kill -TERM "$SD_PID"
	daemon_exit_within 30
	e2e_log "swapdevd exited $((SECONDS - start)) s after SIGTERM"
	grep -q 'flush wrote' "$SD_LOG" && e2e_fail "the flush ran to its end before the exit"
	wait "$ctl_pid" 2>/dev/null || true
	# shellcheck disable=SC2086
	kill -CONT $frozen
	expect_workload_ok "after SIGTERM mid-flush"
	;;

self-pressure)
	pressure_timeout=${E2E_PRESSURE_TIMEOUT:-300}
	# Daemon (about 20 MiB locked) + pool (24 MiB, locked) + the workload's
	# resident part must share 128 MiB: a 256 MiB working set has to swap.
	new_cgroup cg $((128 << 20))
	wrapper=$E2E_TMPDIR/swapdevd-in-cgroup
	cat >"$wrapper" <<-EOF
		#!/bin/sh
		# Start swapdevd inside the cgroup, as exposed as the OOM killer
		# leaves it under systemd (OOMScoreAdjust=-1000).
		echo \$\$ >"$(cgroup_path "$cg")/cgroup.procs" || exit 125
		echo -1000 2>/dev/null >/proc/self/oom_score_adj ||
			echo "swapdevd-in-cgroup: cannot set oom_score_adj -1000 (needs CAP_SYS_RESOURCE)" >&2
		exec "$SWAPDEVD" "\$@"
	EOF
	chmod 755 "$wrapper"
	# Runs before the cgroup is destroyed, which would KILL whatever is in
	# it: take the daemon out, with room, so that it can swap off.
	release_daemon()
	{
		if [ -n "$SD_PID" ] && kill -0 "$SD_PID" 2>/dev/null; then
			cgroup_unlimit "$cg"
			echo "$SD_PID" >"$_e2e_cgroup_root/cgroup.procs"
		fi
	}
	cleanup_fn release_daemon
	real_swapdevd=$SWAPDEVD
	SWAPDEVD=$wrapper
	swapdevd_start --set pool.limit=24M
	SWAPDEVD=$real_swapdevd
	grep -qx "$SD_PID" "$(cgroup_path "$cg")/cgroup.procs" ||
		e2e_fail "swapdevd is not in cgroup $cg"
	e2e_log "swapdevd runs in $cg, which uses $(cgroup_usage_mib "$cg") MiB before the workload"
	start_workload "$cg" "$seed" --size 256M --passes 2
	start=$SECONDS
	while workload_running && [ $((SECONDS - start)) -lt "$pressure_timeout" ]; do
		sleep 1
	done
	if workload_running; then
		e2e_log "no progress after ${pressure_timeout}s; kernel stacks of swapdevd:"
		for t in /proc/"$SD_PID"/task/*; do
			e2e_log "  thread ${t##*/}: $(tr '\n' ' ' <"$t/stack" 2>/dev/null)"
		done
		# Does memory alone hold it? Lift the limit before cutting FUSE.
		cgroup_unlimit "$cg"
		for ((i = 0; i < 30; i++)); do
			workload_running || break
			sleep 1
		done
		if workload_running; then
			e2e_log "still stuck with the limit lifted: aborting the FUSE connection"
			fuse_abort "$SD_MNT"
		else
			e2e_log "the workload finished once the limit was lifted: swapdevd was" \
				"waiting for memory its own cgroup could only free through it"
		fi
		wait_workload || true
		grep -q MISMATCH "$WL_OUT" && e2e_fail "the workload read a wrong page"
		e2e_fail "swapdevd made no progress for ${pressure_timeout}s in the workload's memory cgroup"
	fi
	oom=$(cgroup_oom_kills "$cg")
	[ "$oom" -eq 0 ] || e2e_log "the OOM killer took $oom processes from $cg"
	expect_workload_ok "with swapdevd in the workload's memory cgroup"
	e2e_log "completed in $((SECONDS - start)) s; the cgroup uses $(cgroup_usage_mib "$cg") MiB"
	check_counter_positive writes
	check_counter_positive reads
	swapdevd_stop
	;;
esac
echo "PASS: test-faults.sh $variant"

# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# lib.sh - shared helpers for the root end-to-end tests (bash, sourced).
#
# Modelled on nbdkit's tests/functions.sh.in. A test script does
#
#	set -euo pipefail
#	source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#	requires_root
#	requires_loop
#	e2e_make_tmpdir
#	cleanup_fn teardown_swap_of "$file"	# register teardown before setup
#	...
#
# Exit status 77 means SKIP (the meson and automake convention); every skip
# prints "SKIP: <reason>", so a missing prerequisite is never a silent pass.
#
# Teardown runs on every exit path (success, failure under set -e, INT,
# TERM), in reverse order of registration, and tolerates things that were
# never set up, so that a test stopped at any point leaves no swap area,
# loop device, mount or cgroup behind. Processes are only ever stopped by
# the PID we started them with; never pkill/killall.
#
# Environment:
#	E2E_BUILDDIR	directory with the built helper programs (meson sets it);
#			unset: e2e_program compiles them with cc into the tmpdir
#	E2E_TMPROOT	where e2e_make_tmpdir creates its directory (/var/tmp:
#			a real disk file system, unlike a tmpfs /tmp)
#	E2E_KILL_AFTER	seconds from TERM to KILL in with_timeout (10)
#	E2E_LOCK	the lock file of e2e_exclusive (/var/tmp/swapdev-e2e.lock)

E2E_SRCDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

# ---------------------------------------------------------------- messages

e2e_log()
{
	echo "${0##*/}: $*" >&2
}

e2e_fail()
{
	echo "FAIL: ${0##*/}: $*" >&2
	exit 1
}

e2e_skip()
{
	echo "SKIP: ${0##*/}: $*"
	exit 77
}

# ---------------------------------------------------------------- cleanup

_e2e_cleanup_hooks=()
_e2e_children=()

# cleanup_fn CMD [ARGS...]
#
# Run CMD ARGS when the script exits for any reason. Hooks run in reverse
# order of registration, with errexit off; arguments are kept exactly
# (quoted with printf %q), so paths with spaces are safe.
cleanup_fn()
{
	_e2e_cleanup_hooks+=("$(printf '%q ' "$@")")
}

_e2e_run_cleanup_hooks()
{
	local status=$? i

	trap '' INT TERM
	trap - EXIT
	set +e
	# A command interrupted by a signal is still running: stop it first.
	for i in "${!_e2e_children[@]}"; do
		stop_pid "${_e2e_children[i]}"
	done
	for ((i = ${#_e2e_cleanup_hooks[@]} - 1; i >= 0; i--)); do
		eval "${_e2e_cleanup_hooks[i]}"
	done
	exit "$status"
}

trap _e2e_run_cleanup_hooks EXIT
# exit runs the EXIT trap, so a signal tears down like any failure.
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------- requirements

requires_root()
{
	[ "$(id -u)" -eq 0 ] || e2e_skip "needs root (swapon, loop devices, cgroups)"
}

# requires_cmd CMD... : each CMD must be on $PATH.
requires_cmd()
{
	local cmd

	for cmd in "$@"; do
		command -v "$cmd" >/dev/null 2>&1 || e2e_skip "needs $cmd (not on PATH)"
	done
}

requires_fuse()
{
	[ -c /dev/fuse ] ||
		e2e_skip "no /dev/fuse (modprobe fuse; containers need --device /dev/fuse)"
	grep -qw fuse /proc/filesystems || e2e_skip "kernel without FUSE (modprobe fuse)"
	(: <>/dev/fuse) 2>/dev/null || e2e_skip "cannot open /dev/fuse"
}

requires_loop()
{
	[ -c /dev/loop-control ] || e2e_skip "no /dev/loop-control (modprobe loop)"
	(: <>/dev/loop-control) 2>/dev/null || e2e_skip "cannot open /dev/loop-control"
}

requires_swap()
{
	[ -r /proc/swaps ] || e2e_skip "kernel without swap support (no /proc/swaps)"
}

# Sets _e2e_cgroup_version (1 or 2) and _e2e_cgroup_root, or returns 1.
# Pure or hybrid v2 with the memory controller wins; else v1's memory
# hierarchy.
_e2e_cgroup_detect()
{
	local version mnt v1_root=

	[ -n "${_e2e_cgroup_root:-}" ] && return 0
	while read -r version mnt; do
		mnt=$(printf '%b' "$mnt")
		if [ "$version" = 2 ] && grep -qw memory "$mnt/cgroup.controllers" 2>/dev/null; then
			_e2e_cgroup_version=2
			_e2e_cgroup_root=$mnt
			return 0
		fi
		if [ "$version" = 1 ] && [ -z "$v1_root" ] &&
			[ -f "$mnt/memory.limit_in_bytes" ]; then
			v1_root=$mnt
		fi
	done < <(awk '{
		for (i = 7; i <= NF && $i != "-"; i++)
			;
		if ($(i + 1) == "cgroup2")
			print 2, $5
		else if ($(i + 1) == "cgroup" && ("," $(i + 3) ",") ~ /,memory,/)
			print 1, $5
	}' /proc/self/mountinfo)
	[ -n "$v1_root" ] || return 1
	_e2e_cgroup_version=1
	_e2e_cgroup_root=$v1_root
}

requires_cgroup()
{
	_e2e_cgroup_detect ||
		e2e_skip "no memory cgroup (v1 memory hierarchy or v2 memory controller)"
	[ -w "$_e2e_cgroup_root" ] || e2e_skip "cannot create cgroups in $_e2e_cgroup_root"
}

# ---------------------------------------------------------------- files and programs

# e2e_make_tmpdir : create $E2E_TMPDIR, removed at exit.
e2e_make_tmpdir()
{
	E2E_TMPDIR=$(mktemp -d "${E2E_TMPROOT:-/var/tmp}/swapdev-e2e.XXXXXX")
	cleanup_fn rm -rf "$E2E_TMPDIR"
}

# e2e_program VAR NAME SOURCE... : set VAR to the path of helper program NAME.
#
# Taken from $E2E_BUILDDIR when meson built it; otherwise compiled from
# SOURCE... (relative to the source tree) into $E2E_TMPDIR.
e2e_program()
{
	local var=$1 name=$2 src

	shift 2
	if [ -n "${E2E_BUILDDIR:-}" ] && [ -x "$E2E_BUILDDIR/$name" ]; then
		printf -v "$var" '%s' "$E2E_BUILDDIR/$name"
		return 0
	fi
	requires_cmd cc
	local sources=()
	for src in "$@"; do
		sources+=("$E2E_SRCDIR/$src")
	done
	cc -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -O2 -g \
		-I"$E2E_SRCDIR/libswapdev" -I"$E2E_SRCDIR/daemon" \
		"${sources[@]}" -o "$E2E_TMPDIR/$name" || e2e_fail "cannot build $name"
	printf -v "$var" '%s' "$E2E_TMPDIR/$name"
}

# e2e_exclusive : wait (up to an hour) for the machine-wide lock that every
# test or benchmark touching swap areas holds, so that runs started in
# parallel (meson, a second terminal) never share the kernel's swap: the
# kernel fills the highest-priority area first, whoever's it is. Held on
# fd 9 until the script exits.
e2e_exclusive()
{
	exec 9>"${E2E_LOCK:-/var/tmp/swapdev-e2e.lock}"
	flock -w 3600 9 || e2e_fail "another swapdev test holds the lock for an hour"
}

# ---------------------------------------------------------------- processes

# _e2e_run CMD... : run an external CMD and return its status. Bash runs a
# trap only after a foreground command ends, so a long CMD would keep an
# INT or TERM (meson's timeout) from tearing down until it finished by
# itself. Waiting for it in the background lets the trap run at once; the
# cleanup then stops CMD by its PID.
_e2e_run()
{
	local pid status=0 slot=${#_e2e_children[@]}

	"$@" &
	pid=$!
	_e2e_children[slot]=$pid
	wait "$pid" || status=$?
	unset '_e2e_children[slot]'
	return "$status"
}

# with_timeout SECONDS CMD... : run an external CMD, TERM after SECONDS,
# KILL E2E_KILL_AFTER seconds later. Returns CMD's status, 124 on timeout.
with_timeout()
{
	local seconds=$1 status=0

	shift
	_e2e_run timeout --kill-after="${E2E_KILL_AFTER:-10}" "$seconds" "$@" || status=$?
	if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
		e2e_log "timed out after ${seconds}s: $*"
	fi
	return "$status"
}

# stop_pid PID [SECONDS] : TERM our child PID, KILL it after SECONDS (10),
# reap it. A PID that is gone already is fine.
stop_pid()
{
	local pid=$1 seconds=${2:-10} i

	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < seconds * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 0
}

# ---------------------------------------------------------------- memory cgroups

# cgroup_path NAME : print the directory of cgroup NAME.
cgroup_path()
{
	_e2e_cgroup_detect || e2e_fail "no memory cgroup"
	echo "$_e2e_cgroup_root/$1"
}

# cgroup_create NAME LIMIT_BYTES : a memory cgroup whose processes swap
# beyond LIMIT_BYTES (v1: memory.limit_in_bytes and swappiness 100, with
# memory+swap unlimited; v2: memory.max, swap unlimited).
cgroup_create()
{
	local name=$1 limit=$2 dir

	dir=$(cgroup_path "$name")
	mkdir "$dir" || e2e_fail "cannot create cgroup $dir"
	if [ "$_e2e_cgroup_version" = 1 ]; then
		echo "$limit" >"$dir/memory.limit_in_bytes" ||
			e2e_fail "cannot set $dir/memory.limit_in_bytes"
		if [ -w "$dir/memory.swappiness" ]; then
			echo 100 >"$dir/memory.swappiness" ||
				e2e_fail "cannot set $dir/memory.swappiness"
		fi
	else
		grep -qw memory "$_e2e_cgroup_root/cgroup.subtree_control" ||
			echo +memory >"$_e2e_cgroup_root/cgroup.subtree_control" ||
			e2e_fail "cannot enable the memory controller in $_e2e_cgroup_root"
		echo "$limit" >"$dir/memory.max" || e2e_fail "cannot set $dir/memory.max"
	fi
}

# cgroup_run [--timeout SECONDS] NAME CMD... : run only CMD inside cgroup NAME
# (the shell itself stays outside) and return its status; with --timeout,
# bounded as by with_timeout.
cgroup_run()
{
	local timeout=()

	if [ "$1" = --timeout ]; then
		timeout=(timeout --kill-after="${E2E_KILL_AFTER:-10}" "$2")
		shift 2
	fi
	local dir status=0
	dir=$(cgroup_path "$1")
	shift
	# shellcheck disable=SC2016 # expanded by the inner sh
	_e2e_run sh -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"' \
		cgroup_run "$dir" "${timeout[@]}" "$@" || status=$?
	if [ "${#timeout[@]}" -gt 0 ] && { [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; }; then
		e2e_log "timed out after ${timeout[2]}s: $*"
	fi
	return "$status"
}

# cgroup_destroy NAME : wait (up to 10 s) for the tasks of cgroup NAME to
# exit, KILL those left by PID, and remove it. Absent cgroup: nothing to do.
cgroup_destroy()
{
	local dir pid i

	_e2e_cgroup_detect || return 0
	dir=$_e2e_cgroup_root/$1
	[ -d "$dir" ] || return 0
	# cgroupfs files report size 0: read them to see whether they are empty.
	for ((i = 0; i < 100; i++)); do
		[ -z "$(cat "$dir/cgroup.procs" 2>/dev/null)" ] && break
		sleep 0.1
	done
	if [ -n "$(cat "$dir/cgroup.procs" 2>/dev/null)" ]; then
		e2e_log "killing tasks left in $dir"
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null
		done <"$dir/cgroup.procs"
		for ((i = 0; i < 100; i++)); do
			[ -z "$(cat "$dir/cgroup.procs" 2>/dev/null)" ] && break
			sleep 0.1
		done
	fi
	for ((i = 0; i < 50; i++)); do
		rmdir "$dir" 2>/dev/null && return 0
		sleep 0.1
	done
	e2e_log "cannot remove cgroup $dir"
	return 1
}

# ---------------------------------------------------------------- FUSE

# _e2e_mountinfo_field MOUNTPOINT : print "MAJOR:MINOR FSTYPE" of the
# topmost mount on MOUNTPOINT. Reads /proc/self/mountinfo only: stat() on a
# hung FUSE mount would hang too.
_e2e_mountinfo_field()
{
	local mnt=${1%/} dev path fstype found=

	while read -r dev path fstype; do
		[ "$(printf '%b' "$path")" = "$mnt" ] && found="$dev $fstype"
	done < <(awk '{
		for (i = 7; i <= NF && $i != "-"; i++)
			;
		print $3, $5, $(i + 1)
	}' /proc/self/mountinfo)
	[ -n "$found" ] && echo "$found"
}

is_mountpoint()
{
	_e2e_mountinfo_field "$1" >/dev/null
}

# fuse_abort MOUNTPOINT : abort the FUSE connection of MOUNTPOINT, so that
# every pending and future request fails (ENOTCONN) instead of hanging.
# Mounts fusectl on /sys/fs/fuse/connections if needed. No FUSE mount
# there: nothing to do.
fuse_abort()
{
	local info dev fstype conn=/sys/fs/fuse/connections

	info=$(_e2e_mountinfo_field "$1") || return 0
	read -r dev fstype <<<"$info"
	case "$fstype" in
	fuse | fuse.* | fuseblk) ;;
	*) return 0 ;;
	esac
	if ! grep -q ' - fusectl ' /proc/self/mountinfo; then
		mount -t fusectl fusectl "$conn" || {
			e2e_log "cannot mount fusectl on $conn"
			return 1
		}
	fi
	# The connection is named after the anonymous device (major 0): its minor.
	echo 1 >"$conn/${dev#*:}/abort" || {
		e2e_log "cannot abort FUSE connection ${dev#*:} of $1"
		return 1
	}
}

# ---------------------------------------------------------------- swap and loop devices

# _e2e_loops_of TARGET : print the loop devices backed by TARGET (a file, or
# any file under TARGET when it is a directory or mount point), or TARGET
# itself when it is a loop device. Uses sysfs, so it works when the backing
# file is deleted or its FUSE server is gone.
_e2e_loops_of()
{
	local target=${1%/} dev backing

	case "$target" in
	/dev/loop[0-9]*)
		[ -e "/sys/block/${target#/dev/}/loop/backing_file" ] && echo "$target"
		return 0
		;;
	esac
	for dev in /sys/block/loop*; do
		backing=$(cat "$dev/loop/backing_file" 2>/dev/null) || continue
		backing=${backing% (deleted)}
		if [ "$backing" = "$target" ] || [[ "$backing" == "$target"/* ]]; then
			echo "/dev/${dev##*/}"
		fi
	done
}

# _e2e_swaps_of TARGET : print the active swap areas that are TARGET, lie
# under it, or are loop devices backed by it.
_e2e_swaps_of()
{
	local target=${1%/} name rest loops loop

	loops=$(_e2e_loops_of "$target")
	while read -r name rest; do
		[ "$name" = Filename ] && continue
		name=$(printf '%b' "$name")
		if [ "$name" = "$target" ] || [[ "$name" == "$target"/* ]]; then
			echo "$name"
			continue
		fi
		for loop in $loops; do
			[ "$name" = "$loop" ] && echo "$name"
		done
	done </proc/swaps
}

# teardown_swap_of TARGET : make sure nothing of ours is left on TARGET (a
# swap file, a loop device, or a FUSE mount point): swapoff every swap area
# on it or on a loop device it backs, detach those loop devices, and lazily
# unmount TARGET if it is a mount point. Each step is bounded in time. For a
# FUSE mount whose server hangs, fuse_abort it first. Returns 1 if something
# could not be removed.
teardown_swap_of()
{
	local target=$1 name status=0

	for name in $(_e2e_swaps_of "$target"); do
		e2e_log "teardown: swapoff $name"
		with_timeout 300 swapoff "$name" || status=1
	done
	for name in $(_e2e_loops_of "$target"); do
		e2e_log "teardown: losetup -d $name"
		with_timeout 60 losetup -d "$name" 2>/dev/null
	done
	if is_mountpoint "$target"; then
		e2e_log "teardown: umount -l $target"
		umount -l "$target" || status=1
	fi
	check_swap_gone "$target" || status=1
	return "$status"
}

# check_swap_gone TARGET : succeed if no swap area, loop device or mount of
# TARGET remains; otherwise say what is left and return 1. Loop devices
# with autoclear detach on their last close, which the kernel may finish a
# moment after the closing process exited: allow it 5 seconds.
check_swap_gone()
{
	local target=$1 swaps loops i

	for ((i = 0; i < 50; i++)); do
		swaps=$(_e2e_swaps_of "$target")
		loops=$(_e2e_loops_of "$target")
		[ -z "$swaps$loops" ] && ! is_mountpoint "$target" && return 0
		sleep 0.1
	done
	[ -n "$swaps" ] && e2e_log "left behind: swap area(s) $swaps on $target"
	[ -n "$loops" ] && e2e_log "left behind: loop device(s) $loops on $target"
	is_mountpoint "$target" && e2e_log "left behind: mount on $target"
	return 1
}

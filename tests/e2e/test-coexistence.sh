#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-coexistence.sh - swapdevd checks the machine around it at start and
# in --check-config: zswap enabled, another swap area at the same or a
# higher priority, a backing file on tmpfs. Each is a warning by default
# and a refusal (exit 1, nothing set up) with device.refuse_conflicts =
# yes. The kernel's zswap switch is restored at exit.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

requires_root
requires_fuse
requires_loop
requires_swap
requires_cmd mkswap swapon swapoff
e2e_make_tmpdir
swapdevd_setup

ZSWAP=/sys/module/zswap/parameters/enabled

# check_config ARGS... : run --check-config on test paths; sets OUT, STATUS.
check_config()
{
	STATUS=0
	OUT=$(with_timeout 30 "$SWAPDEVD" --check-config --set device.mountpoint="$SD_MNT" \
		--set writeback.backing_file="$SD_BACKING" --set control.socket="$SD_SOCKET" \
		"$@" 2>&1) || STATUS=$?
}

# expect_finding PATTERN ARGS... : a warning saying PATTERN, exit 0; then
# with refuse_conflicts an error, exit 1.
expect_finding()
{
	local pattern=$1

	shift
	check_config "$@"
	[ "$STATUS" -eq 0 ] || e2e_fail "--check-config failed ($STATUS) on a warning: $OUT"
	grep -q "warning: .*$pattern" <<<"$OUT" || e2e_fail "no warning '$pattern' in: $OUT"
	check_config --set device.refuse_conflicts=yes "$@"
	[ "$STATUS" -eq 1 ] || e2e_fail "expected exit 1 with refuse_conflicts, got $STATUS: $OUT"
	grep -q "error: .*$pattern.*refusing to start" <<<"$OUT" ||
		e2e_fail "no refusal '$pattern' in: $OUT"
	e2e_log "found: $(grep -m1 "$pattern" <<<"$OUT")"
}

# A machine with none of them says nothing.
others=$(awk 'NR > 1 { print $1 }' /proc/swaps)
zswap_on=$(cat "$ZSWAP" 2>/dev/null || echo N)
fstype=$(findmnt -n -o FSTYPE -T "$E2E_TMPDIR" 2>/dev/null || echo unknown)
if [ -z "$others" ] && [ "$zswap_on" = N ] && [ "$fstype" != btrfs ] && [ "$fstype" != tmpfs ]; then
	check_config --set device.refuse_conflicts=yes
	[ "$STATUS" -eq 0 ] || e2e_fail "a clean machine was refused: $OUT"
	! grep -q "warning:" <<<"$OUT" || e2e_fail "warnings on a clean machine: $OUT"
else
	e2e_log "SKIP part: the machine is not clean (swaps: ${others:-none}, zswap $zswap_on," \
		"$E2E_TMPDIR on $fstype): no check that a clean machine passes"
fi

if [ -w "$ZSWAP" ]; then
	cleanup_fn sh -c 'echo "$1" >"$2"' restore "$zswap_on" "$ZSWAP"
	echo Y >"$ZSWAP"
	expect_finding "zswap is enabled"
	echo N >"$ZSWAP"
else
	e2e_log "SKIP part: no writable $ZSWAP (kernel without zswap)"
fi

swapfile=$E2E_TMPDIR/swapfile
cleanup_fn teardown_swap_of "$swapfile"
dd if=/dev/zero of="$swapfile" bs=1M count=16 status=none
chmod 600 "$swapfile"
mkswap "$swapfile" >/dev/null
if swapon --priority 200 "$swapfile" 2>/dev/null; then
	expect_finding "has priority 200, above device.priority (100)"
	expect_finding "the same as device.priority" --set device.priority=200
	check_config --set device.priority=201 --set device.refuse_conflicts=yes
	[ "$STATUS" -eq 0 ] || e2e_fail "a higher device.priority was refused: $OUT"
	swapoff "$swapfile"
else
	e2e_log "SKIP part: cannot swapon a file under $E2E_TMPDIR"
fi

shm=$E2E_TMPDIR/shm
mkdir "$shm"
if mount -t tmpfs -o size=1M tmpfs "$shm" 2>/dev/null; then
	cleanup_fn umount -l "$shm"
	expect_finding "is on tmpfs" --set writeback.backing_file="$shm/backing"
	# At start, the refusal comes before anything is set up.
	status=0
	out=$(with_timeout 30 "$SWAPDEVD" --foreground --set device.mountpoint="$SD_MNT" \
		--set writeback.backing_file="$shm/backing" --set control.socket="$SD_SOCKET" \
		--set device.refuse_conflicts=yes 2>&1) || status=$?
	[ "$status" -eq 1 ] || e2e_fail "swapdevd started on tmpfs with refuse_conflicts: $out"
	check_swap_gone "$SD_MNT" || e2e_fail "something was set up before the refusal"
	[ ! -e "$SD_SOCKET" ] || e2e_fail "socket left behind by the refusal"
	[ ! -e "$shm/backing" ] || e2e_fail "the backing file was created before the refusal"
else
	e2e_log "SKIP part: cannot mount a tmpfs for the backing file case"
fi
echo "PASS: test-coexistence.sh"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-bad-config.sh - invalid configuration and unusable backing files are
# refused at start with a message naming what is wrong, and nothing is set
# up: no mount, no loop device, no swap area, no socket.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

requires_root
requires_fuse
requires_loop
e2e_make_tmpdir
swapdevd_setup

# expect_refusal PATTERN ARGS... : swapdevd exits 1 and says PATTERN.
expect_refusal()
{
	local pattern=$1 status=0 out

	shift
	out=$(with_timeout 30 "$SWAPDEVD" --foreground --pidfile "$SD_PIDFILE" \
		--set device.size=64M --set device.mountpoint="$SD_MNT" \
		--set control.socket="$SD_SOCKET" "$@" 2>&1) || status=$?
	[ "$status" -eq 1 ] || e2e_fail "expected exit 1, got $status for: $* ($out)"
	grep -q -- "$pattern" <<<"$out" || e2e_fail "message lacks '$pattern': $out"
	check_swap_gone "$SD_MNT" || e2e_fail "something was set up for: $*"
	[ ! -e "$SD_SOCKET" ] || e2e_fail "socket left behind for: $*"
	[ ! -e "$SD_PIDFILE" ] || e2e_fail "pidfile written for: $*"
	e2e_log "refused as expected: $(grep -m1 -- "$pattern" <<<"$out")"
}

conf=$E2E_TMPDIR/swapdevd.conf
printf '[pool]\n# comment\nlimit = lots\n' >"$conf"
expect_refusal "$conf:3: pool.limit: invalid size 'lots'" --config "$conf" \
	--set writeback.backing_file="$SD_BACKING"

printf '[device]\nsize = 1G\n[nonsense]\nkey = 1\n' >"$conf"
expect_refusal "$conf:3" --config "$conf" --set writeback.backing_file="$SD_BACKING"

expect_refusal "pool.compressor" --set pool.compressor=lzma \
	--set writeback.backing_file="$SD_BACKING"
expect_refusal "low_watermark" --set writeback.low_watermark=95 \
	--set writeback.backing_file="$SD_BACKING"
expect_refusal "No such file" --config "$E2E_TMPDIR/missing.conf"

ln -s "$E2E_TMPDIR/elsewhere" "$E2E_TMPDIR/link"
expect_refusal "symbolic link" --set writeback.backing_file="$E2E_TMPDIR/link"
[ ! -e "$E2E_TMPDIR/elsewhere" ] || e2e_fail "the symlink's target was created"
mkdir "$E2E_TMPDIR/dir"
expect_refusal "it is a directory" --set writeback.backing_file="$E2E_TMPDIR/dir"
expect_refusal "/dev/null: it is not a regular file" --set writeback.backing_file=/dev/null
touch "$E2E_TMPDIR/foreign"
chown 65534:65534 "$E2E_TMPDIR/foreign"
expect_refusal "must be owned by root" --set writeback.backing_file="$E2E_TMPDIR/foreign"

# A file system too small for the preallocation.
small=$E2E_TMPDIR/small
mkdir "$small"
if mount -t tmpfs -o size=16M tmpfs "$small" 2>/dev/null; then
	cleanup_fn umount -l "$small"
	expect_refusal "needs 80 MiB (device.size + 16 MiB)" \
		--set writeback.backing_file="$small/backing"
	[ ! -e "$small/backing" ] || e2e_fail "a half-allocated backing file was left behind"
else
	e2e_log "SKIP part: cannot mount a small tmpfs for the too-small case"
fi
echo "PASS: test-bad-config.sh"

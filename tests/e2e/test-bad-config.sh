#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-bad-config.sh - invalid configuration and unusable backing files are
# refused at start with a message naming what is wrong, and nothing is set
# up: no mount, no loop device, no swap area, no socket. A configuration
# that is not a regular file (/dev/zero, a FIFO) or holds a NUL or an
# endless line is refused at once, by --check-config too; --print-config
# prints what loads back.

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

# check_refusal PATTERN ARGS... : swapdevd --check-config exits 1 within
# 10 s (it used to read /dev/zero forever and block on a FIFO) and says PATTERN.
check_refusal()
{
	local pattern=$1 status=0 out

	shift
	out=$(with_timeout 10 "$SWAPDEVD" --check-config "$@" 2>&1) || status=$?
	[ "$status" -eq 1 ] || e2e_fail "--check-config $*: expected exit 1, got $status ($out)"
	grep -q -- "$pattern" <<<"$out" ||
		e2e_fail "--check-config $*: message lacks '$pattern': $out"
	e2e_log "--check-config refused as expected: $(grep -m1 -- "$pattern" <<<"$out")"
}

check_refusal "/dev/zero: is a character device, not a regular file" --config /dev/zero
fifo=$E2E_TMPDIR/fifo.conf
mkfifo "$fifo"
check_refusal "$fifo: is a FIFO, not a regular file" --config "$fifo"
# A sparse gigabyte of zeros: refused at its first byte.
zeros=$E2E_TMPDIR/zeros.conf
truncate -s 1G "$zeros"
check_refusal "$zeros:1: line contains a NUL byte" --config "$zeros"
long=$E2E_TMPDIR/long.conf
{ printf '[device]\n'; head -c 100000 /dev/zero | tr '\0' '#'; printf '\n'; } >"$long"
check_refusal "$long:2: line longer than 8192 bytes" --config "$long"
check_refusal "device.mountpoint: the root directory '/'" --set device.mountpoint=/
check_refusal "device.mountpoint: the root directory" --set device.mountpoint=//.
# "<mountpoint>/swap" must fit PATH_MAX (4096 with its NUL): 4090 bytes, not 4091.
mnt_4090=/$(head -c 4089 /dev/zero | tr '\0' m)
"$SWAPDEVD" --check-config --set device.mountpoint="$mnt_4090" >/dev/null 2>&1 ||
	e2e_fail "a mountpoint of 4090 bytes was refused"
check_refusal "device.mountpoint: path too long" --set device.mountpoint="${mnt_4090}m"

# --check-config names the overrides; --print-config prints what loads back.
conf=$E2E_TMPDIR/swapdevd.conf
printf '[pool]\nlimit = 64M\n' >"$conf"
out=$("$SWAPDEVD" --check-config --config "$conf" --set pool.compressor=zstd:3 2>&1) ||
	e2e_fail "--check-config with --set failed: $out"
grep -qF "configuration $conf with the --set override is valid" <<<"$out" ||
	e2e_fail "--check-config does not mention the --set override: $out"
printed=$E2E_TMPDIR/printed.conf
with_timeout 10 "$SWAPDEVD" --print-config --config "$conf" --set pool.compressor=zstd:3 \
	--set device.mountpoint="$E2E_TMPDIR/a#b" >"$printed" ||
	e2e_fail "--print-config failed"
for line in 'limit = 64M' 'compressor = zstd:3' "mountpoint = $E2E_TMPDIR/a#b"; do
	grep -qxF "$line" "$printed" || e2e_fail "--print-config lacks '$line': $(cat "$printed")"
done
# Every key, as many as the sample configuration lists.
keys=$(grep -cE '^#[a-z_]+ = ' "$E2E_SRCDIR/etc/swapdevd.conf")
[ "$(grep -c ' = ' "$printed")" -eq "$keys" ] || e2e_fail "--print-config does not print $keys keys"
out=$("$SWAPDEVD" --check-config --config "$printed" 2>&1) ||
	e2e_fail "the output of --print-config does not load back: $out"
reprinted=$("$SWAPDEVD" --print-config --config "$printed" 2>/dev/null)
[ "$reprinted" = "$(cat "$printed")" ] ||
	e2e_fail "--print-config of its own output differs: $(diff "$printed" - <<<"$reprinted")"
e2e_log "--print-config: 18 keys with the --set overrides, loads back unchanged"

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
expect_refusal "is a FIFO, not a regular file" --config "$fifo"
expect_refusal "the root directory" --set device.mountpoint=/ \
	--set writeback.backing_file="$SD_BACKING"

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

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-list.sh - `swapdevctl list` (and swapdevctl without a command): the
# running daemon is found through its process and socket, in zramctl's
# columns, with --bytes, --raw, --noheadings, --output and --json; the
# global --socket is taken after the command too.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

requires_root
requires_fuse
requires_loop
requires_swap
requires_cmd python3
e2e_make_tmpdir
swapdevd_setup
swapdevd_start --set pool.compressor=zstd:3

ctl()
{
	with_timeout 60 "$SWAPDEVCTL" "$@"
}

# Our row, found without naming the socket.
out=$(ctl list)
e2e_log "list:"$'\n'"$out"
head -n 1 <<<"$out" | grep -Eq '^NAME +ALGORITHM +DISKSIZE +DATA +COMPR +TOTAL +DISK +STREAMS +MOUNTPOINT$' ||
	e2e_fail "unexpected header: $(head -n 1 <<<"$out")"
grep -Eq "^$SD_LOOP +zstd:3 +512(\.0)? MiB .* $SD_MNT/swap$" <<<"$out" ||
	e2e_fail "no row for $SD_LOOP with zstd:3, 512 MiB and $SD_MNT/swap"
[ "$(ctl)" = "$out" ] || e2e_fail "swapdevctl without a command differs from list"

# Machine-readable forms.
row=$(ctl list --bytes --raw --noheadings --output name,disksize,pid,socket | grep "^$SD_LOOP ")
[ "$row" = "$SD_LOOP $((512 << 20)) $SD_DAEMON_PID $SD_SOCKET" ] || e2e_fail "raw row: '$row'"
ctl list --json --bytes | python3 -c '
import json, sys
loop, mnt = sys.argv[1], sys.argv[2]
rows = [r for r in json.load(sys.stdin)["swapdevd"] if r["name"] == loop]
assert len(rows) == 1, rows
r = rows[0]
assert r["disksize"] == 512 << 20, r
assert isinstance(r["data"], int) and isinstance(r["total"], int), r
assert r["algorithm"] == "zstd:3" and r["mountpoint"] == mnt + "/swap", r
' "$SD_LOOP" "$SD_MNT" || e2e_fail "list --json does not describe $SD_LOOP"

status=0
ctl list --output NAME,BOGUS >/dev/null 2>&1 || status=$?
[ "$status" -eq 2 ] || e2e_fail "an unknown column gave status $status, expected 2"

# --socket before or after the command.
for args in "--socket $SD_SOCKET list" "list --socket $SD_SOCKET" "list -s $SD_SOCKET" \
	"list --socket=$SD_SOCKET"; do
	# shellcheck disable=SC2086 # words on purpose
	ctl $args --noheadings -o name | grep -qx "$SD_LOOP" || e2e_fail "swapdevctl $args"
done
ctl stats -s "$SD_SOCKET" --json | python3 -c 'import json, sys; json.load(sys.stdin)["orig_bytes"]' ||
	e2e_fail "stats -s PATH --json"
status=0
ctl stats -s 2>/dev/null || status=$?
[ "$status" -eq 2 ] || e2e_fail "'stats -s' without a value gave status $status, expected 2"

swapdevd_stop
echo "PASS: test-list.sh"

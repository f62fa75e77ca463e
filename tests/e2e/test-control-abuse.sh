#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-control-abuse.sh - the control socket under abuse, while the
# integrity workload swaps through the daemon. fault-client (a raw socket
# client) sends what swapdevctl never would:
#
#   - a non-root member of control.group (nobody, in nogroup): reads work,
#     SetConfig, Flush and Recompress get io.swapdev.PermissionDenied and change
#     nothing; a user outside the group cannot connect (socket 0660), and
#     if the socket were opened to everyone the daemon still refuses it
#     everything but GetInfo (SO_PEERCRED)
#   - garbage: random bytes, a JSON array, invalid UTF-8, nesting far past
#     the depth limit, a call cut off by a hang-up: the daemon hangs up;
#     an unknown method: an error reply, the connection stays; a Flush
#     limit_bytes past int64 or a float: InvalidParameter
#   - oversized: a message of exactly the limit is served; one byte more,
#     and a megabyte without a NUL, get "message too large" and a hang-up;
#     a client that sends calls and never reads its replies is dropped once
#     they pile up
#   - a slow writer (one byte a second) is dropped after the 30 s idle
#     timeout, while everyone else is served
#   - 1000 connections at once from a user other than root: the daemon
#     holds 124, closes the rest and says so in its log, and root's
#     `swapdevctl status` gets an answer at once (4 slots are root's)
#
# Throughout, `swapdevctl status` must answer, and at the end the daemon
# has exactly the file descriptors it had before, and the workload verifies.

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

requires_root
requires_fuse
requires_loop
requires_swap
requires_cgroup
requires_cmd losetup swapoff timeout setpriv head
id nobody >/dev/null 2>&1 || e2e_skip "needs the user nobody"
reader_group=$(id -gn nobody)
outsider=daemon
id "$outsider" >/dev/null 2>&1 || e2e_skip "needs the user $outsider"
id -Gn "$outsider" | grep -qw "$reader_group" && e2e_skip "$outsider is in $reader_group"

e2e_make_tmpdir
# nobody must reach the socket in $E2E_TMPDIR (the mount and the backing
# file keep their own root-only modes).
chmod 0711 "$E2E_TMPDIR"
workload=''
e2e_program workload workload tests/e2e/workload.c
fault_client=''
e2e_program fault_client fault-client tests/e2e/fault-client.c
swapdevd_setup

others=$(awk 'NR > 1 { print $1 }' /proc/swaps)
[ -z "$others" ] || e2e_skip "other swap areas are active ($others); they would share the load"
cg=swapdev-abuse-$$
cleanup_fn cgroup_destroy "$cg"
cgroup_create "$cg" $((64 << 20))

swapdevd_start --set control.group="$reader_group"
fds_before=$(find "/proc/$SD_DAEMON_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)

cgroup_run --timeout "${E2E_WORKLOAD_TIMEOUT:-600}" "$cg" "$workload" --size 192M --passes 16 \
	--seed "${E2E_SEED:-1}" --report >"$E2E_TMPDIR/workload.out" 2>&1 &
wl_pid=$!

# Not with_timeout: a command it puts in the background reads /dev/null,
# and `fault-client send` reads what to send from its standard input.
fc()
{
	timeout --kill-after=5 60 "$fault_client" "$@"
}

as_user()
{
	local user=$1

	shift
	with_timeout 60 setpriv --reuid="$user" --regid="$(id -g "$user")" --init-groups "$@"
}

serving()
{
	with_timeout 30 "$SWAPDEVCTL" --socket "$SD_SOCKET" status >/dev/null ||
		e2e_fail "swapdevctl status failed $*"
}

# expect_reply OUTPUT PATTERN WHAT : OUTPUT has a reply matching PATTERN.
expect_reply()
{
	grep -q "^reply=.*$2" <<<"$1" || e2e_fail "$3: expected a reply with $2, got: $1"
}

# expect_hangup OUTPUT WHAT : the daemon closed the connection.
expect_hangup()
{
	grep -q 'closed=yes' <<<"$1" || e2e_fail "$2: the daemon kept the connection: $1"
}

# The slow writer runs in the background while the rest goes on.
fc slow "$SD_SOCKET" 1000 >"$E2E_TMPDIR/slow.out" 2>&1 &
slow_pid=$!

# ------------------------------------------------------------ permissions
get_limit()
{
	"$SWAPDEVCTL" --socket "$SD_SOCKET" config get pool.limit
}
limit_before=$(get_limit)
out=$(as_user nobody "$fault_client" call "$SD_SOCKET" '{"method":"io.swapdev.GetStats"}') ||
	e2e_fail "GetStats as nobody (group $reader_group): $out"
expect_reply "$out" '"slots_total"' "GetStats as a member of control.group"
for call in '{"method":"io.swapdev.SetConfig","parameters":{"key":"pool.limit","value":"1M"}}' \
	'{"method":"io.swapdev.Flush","more":true}' '{"method":"io.swapdev.Flush"}' \
	'{"method":"io.swapdev.Recompress","more":true}'; do
	out=$(as_user nobody "$fault_client" call "$SD_SOCKET" "$call") || true
	expect_reply "$out" '"error":"io.swapdev.PermissionDenied"' "$call as nobody"
done
status=0
out=$(as_user nobody "$SWAPDEVCTL" --socket "$SD_SOCKET" config set pool.limit 1M 2>&1) ||
	status=$?
[ "$status" -eq 1 ] && grep -qi 'permission denied' <<<"$out" ||
	e2e_fail "swapdevctl config set as nobody: status $status: $out"
status=0
out=$(as_user nobody "$SWAPDEVCTL" --socket "$SD_SOCKET" flush --wait 2>&1) || status=$?
[ "$status" -eq 1 ] && grep -qi 'permission denied' <<<"$out" ||
	e2e_fail "swapdevctl flush as nobody: status $status: $out"
status=0
out=$(as_user nobody "$SWAPDEVCTL" --socket "$SD_SOCKET" recompress --idle 0 --wait 2>&1) ||
	status=$?
[ "$status" -eq 1 ] && grep -qi 'permission denied' <<<"$out" ||
	e2e_fail "swapdevctl recompress as nobody: status $status: $out"
[ "$(get_limit)" = "$limit_before" ] || e2e_fail "pool.limit changed: $limit_before -> $(get_limit)"
e2e_log "nobody (group $reader_group) reads; SetConfig, Flush and Recompress are refused"

status=0
out=$(as_user "$outsider" "$fault_client" call "$SD_SOCKET" '{"method":"io.swapdev.GetStats"}') ||
	status=$?
[ "$status" -eq 3 ] && grep -q 'Permission denied' <<<"$out" ||
	e2e_fail "$outsider (not in $reader_group) could connect: $out"
# Defence in depth: with the socket's mode opened up, SO_PEERCRED still rules.
chmod 0666 "$SD_SOCKET"
for call in '{"method":"io.swapdev.GetStats"}' '{"method":"io.swapdev.GetConfig"}' \
	'{"method":"io.swapdev.SetConfig","parameters":{"key":"pool.limit","value":"1M"}}' \
	'{"method":"io.swapdev.Flush"}' '{"method":"io.swapdev.Recompress"}'; do
	out=$(as_user "$outsider" "$fault_client" call "$SD_SOCKET" "$call") || true
	expect_reply "$out" '"error":"io.swapdev.PermissionDenied"' "$call as $outsider"
done
out=$(as_user "$outsider" "$fault_client" call "$SD_SOCKET" \
	'{"method":"org.varlink.service.GetInfo"}') || true
expect_reply "$out" '"vendor"\|"version"' "GetInfo as $outsider"
chmod 0660 "$SD_SOCKET"
e2e_log "user $outsider (not in $reader_group) cannot connect; with the socket opened," \
	"it gets only GetInfo"
serving "after the permission checks"

# ------------------------------------------------------------ garbage
out=$(head -c 4096 /dev/urandom | fc send "$SD_SOCKET")
expect_hangup "$out" "random bytes"
out=$(printf '[1,2,3]\0' | fc send "$SD_SOCKET")
expect_hangup "$out" "a JSON array"
out=$(printf '{"method":"io.swapdev.Get\xff\xfeStats"}\0' | fc send "$SD_SOCKET")
expect_hangup "$out" "invalid UTF-8"
out=$({ head -c 20000 /dev/zero | tr '\0' '['; printf '\0'; } | fc send "$SD_SOCKET")
expect_hangup "$out" "nesting 20000 deep"
out=$(printf '{"method":"io.swapdev.GetStats","para' | fc send "$SD_SOCKET")
grep -q 'replies=0' <<<"$out" || e2e_fail "a truncated call got a reply: $out"
out=$(printf '{"method":"io.swapdev.Explode"}\0' | fc send "$SD_SOCKET")
expect_reply "$out" '"error":"org.varlink.service.MethodNotFound"' "an unknown method"
grep -q 'closed=no' <<<"$out" || e2e_fail "an unknown method closed the connection: $out"
# Flush's limit_bytes is a Varlink int (int64): past it, as for 1e30, the
# call is refused by name, not clamped and run.
for limit in 9223372036854775808 18446744073709551615 1e30; do
	out=$(fc call "$SD_SOCKET" \
		"{\"method\":\"io.swapdev.Flush\",\"parameters\":{\"limit_bytes\":$limit}}") || true
	expect_reply "$out" '"error":"org.varlink.service.InvalidParameter".*"limit_bytes"' \
		"Flush with limit_bytes $limit"
done
status=0
out=$("$SWAPDEVCTL" --socket "$SD_SOCKET" flush --limit 8388608T 2>&1) || status=$?
[ "$status" -eq 2 ] && grep -q 'below 8 EiB' <<<"$out" ||
	e2e_fail "swapdevctl flush --limit 8388608T (2^63 bytes): status $status: $out"
out=$(for ((i = 0; i < 100; i++)); do printf '{"method":"io.swapdev.GetStatus"}\0'; done |
	fc send "$SD_SOCKET")
grep -q 'replies=100 ' <<<"$out" || e2e_fail "100 pipelined calls: $(tail -n 1 <<<"$out")"
e2e_log "garbage: hang-ups; unknown method: error reply; 100 pipelined calls: 100 replies"
serving "after garbage"

# ------------------------------------------------------------ oversized
# PROTO_MAX_MESSAGE is 65536 bytes with the NUL: pad a call to exactly that.
pad()
{
	local total=$1 call='{"method":"io.swapdev.GetStatus"}'

	printf '%s%*s\0' "$call" $((total - ${#call} - 1)) ''
}
out=$(pad 65536 | fc send "$SD_SOCKET")
expect_reply "$out" '"state"' "a call of exactly the size limit"
out=$(pad 65537 | fc send "$SD_SOCKET")
expect_reply "$out" 'message too large' "a call one byte over the limit"
expect_hangup "$out" "a call one byte over the limit"
out=$(head -c $((1 << 20)) /dev/zero | tr '\0' ' ' | fc send "$SD_SOCKET")
expect_reply "$out" 'message too large' "a megabyte without a NUL"
expect_hangup "$out" "a megabyte without a NUL"
out=$(fc flood "$SD_SOCKET" 100000) || e2e_fail "a client that never reads was not dropped: $out"
e2e_log "oversized: the limit holds, larger messages get an error and a hang-up;" \
	"a client that never reads is dropped ($out)"
serving "after oversized messages"

# ------------------------------------------------------------ slow writer
status=0
wait "$slow_pid" || status=$?
out=$(cat "$E2E_TMPDIR/slow.out")
[ "$status" -eq 0 ] || e2e_fail "the slow writer was not dropped: $out"
secs=$(sed -n 's/^closed_after=\([0-9]*\).*/\1/p' <<<"$out")
[ "${secs:-0}" -ge 25 ] && [ "${secs:-0}" -le 60 ] ||
	e2e_fail "the slow writer was dropped after ${secs:-?}s, expected about 30 s: $out"
e2e_log "slow writer: dropped after ${secs}s ($out)"

# ------------------------------------------------------------ 1000 connections
# As nobody (in control.group): the slots that are not root's fill up.
setpriv --reuid=nobody --regid="$(id -g nobody)" --init-groups \
	"$fault_client" hold "$SD_SOCKET" 1000 60 >"$E2E_TMPDIR/hold.out" 2>&1 &
hold_pid=$!
cleanup_fn stop_pid "$hold_pid"
for ((i = 0; i < 300; i++)); do
	grep -q '^connected=' "$E2E_TMPDIR/hold.out" && break
	sleep 0.1
done
grep -q '^connected=' "$E2E_TMPDIR/hold.out" || e2e_fail "the holder did not connect in 30 s"
sleep 2
fds=$(find "/proc/$SD_DAEMON_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
e2e_log "holding: $(head -n 1 "$E2E_TMPDIR/hold.out"); the daemon has $fds descriptors"
[ "$fds" -le $((fds_before + 124)) ] ||
	e2e_fail "the daemon holds $fds descriptors, more than the 124 slots for users other than root"
# An administrator gets in at once: the last slots are root's.
start=$SECONDS
with_timeout 10 "$SWAPDEVCTL" --socket "$SD_SOCKET" status >/dev/null ||
	e2e_fail "swapdevctl status as root got no answer while 1000 connections were held"
e2e_log "swapdevctl status as root answered in $((SECONDS - start)) s with 1000 connections held"
for ((i = 0; i < 50; i++)); do
	grep -Eq 'connections? refused' "$SD_LOG" && break
	sleep 0.1
done
grep -Eq 'connections? refused' "$SD_LOG" || e2e_fail "the daemon did not log the refused connections"
kill -TERM "$hold_pid"
wait "$hold_pid" || true
e2e_log "holder: $(tr '\n' ' ' <"$E2E_TMPDIR/hold.out")"
grep -Eq '^answered=[1-9]' "$E2E_TMPDIR/hold.out" || e2e_fail "no held connection was answered"
serving "after 1000 connections"

# ------------------------------------------------------------ no leak
# Dropped and closed clients free their descriptors within the idle timeout.
for ((i = 0; i < 450; i++)); do
	fds=$(find "/proc/$SD_DAEMON_PID/fd" -mindepth 1 -maxdepth 1 | wc -l)
	[ "$fds" -le "$fds_before" ] && break
	sleep 0.1
done
[ "$fds" -eq "$fds_before" ] || e2e_fail "descriptor leak: $fds_before before, $fds after"
e2e_log "daemon descriptors: $fds_before before, $fds after"

status=0
wait "$wl_pid" || status=$?
sed 's/^/    /' "$E2E_TMPDIR/workload.out" >&2
[ "$status" -eq 0 ] || e2e_fail "the workload failed with status $status during the abuse"
swapdevd_stop
echo "PASS: test-control-abuse.sh"

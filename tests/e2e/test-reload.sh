#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-reload.sh - SIGHUP reads the configuration file again.
#
# swapdevd starts from a configuration file with a --set override; then,
# one SIGHUP after each edit of the file:
#
#   runtime     pool.limit, both watermarks (lowered below the old low
#               watermark, so they only go in one order) change, in
#               config get and in the statistics
#   restart     device.priority is logged as needing a restart, old and
#               new value, and keeps its value
#   overrides   a key given with --set keeps the override's value, and a
#               key the override covers (device.size) is not reported
#   file wins   a value set with swapdevctl config set (which says that it
#               is not saved) goes back to the file's
#   broken      a file with an invalid value changes nothing, is reported
#               as FILE:LINE: key, and the daemon keeps serving

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

requires_root
requires_fuse
requires_loop
requires_swap
e2e_make_tmpdir
swapdevd_setup

conf=$E2E_TMPDIR/swapdevd.conf

# write_conf LIMIT HIGH LOW PRIORITY IDLE : the test's configuration file.
write_conf()
{
	cat >"$conf.tmp" <<-CONF
		[device]
		size = 1G
		priority = $4
		[pool]
		limit = $1
		exclusive_loads = no
		[writeback]
		high_watermark = $2
		low_watermark = $3
		idle_seconds = $5
	CONF
	mv "$conf.tmp" "$conf"
}

# get KEY : the running value of KEY.
get()
{
	with_timeout 30 "$SWAPDEVCTL" --socket "$SD_SOCKET" config get "$1"
}

# expect KEY VALUE : the running value of KEY is VALUE.
expect()
{
	local value

	value=$(get "$1") || e2e_fail "config get $1 failed"
	[ "$value" = "$2" ] || e2e_fail "$1 is '$value', expected '$2'"
}

# reload PATTERN : SIGHUP, then wait (10 s at most) for one more log line
# matching PATTERN than before.
reload()
{
	local before i

	before=$(grep -cF -- "$1" "$SD_LOG" || true)
	kill -HUP "$SD_PID"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -cF -- "$1" "$SD_LOG" || true)" -gt "$before" ] && break
		sleep 0.1
	done
	[ "$(grep -cF -- "$1" "$SD_LOG" || true)" -gt "$before" ] ||
		e2e_fail "no '$1' in the log 10 s after SIGHUP"
	kill -0 "$SD_DAEMON_PID" 2>/dev/null || e2e_fail "swapdevd died on SIGHUP"
}

write_conf 64M 90% 80% 5 100
swapdevd_start --config "$conf" --set writeback.idle_seconds=200
expect pool.limit 64M
expect device.size 512M
expect device.priority 5
expect writeback.idle_seconds 200

# A change at run time says it is not saved, and the file wins at reload.
out=$(with_timeout 30 "$SWAPDEVCTL" --socket "$SD_SOCKET" config set pool.exclusive_loads yes) ||
	e2e_fail "config set pool.exclusive_loads yes failed"
grep -q 'not saved' <<<"$out" || e2e_fail "config set does not say the change is not saved: $out"
expect pool.exclusive_loads yes

# 70% is below the running low watermark (80%): the low one goes in first.
write_conf 128M 70% 60% 7 300
reload "reloaded $conf:"
expect pool.limit 128M
[ "$(stat_value pool_limit_bytes)" -eq $((128 << 20)) ] ||
	e2e_fail "pool_limit_bytes is $(stat_value pool_limit_bytes) after the reload to 128M"
expect writeback.high_watermark 70%
expect writeback.low_watermark 60%
expect pool.exclusive_loads no
expect device.priority 5
expect device.size 512M
expect writeback.idle_seconds 200
summary="reloaded $conf: applied pool.limit, pool.exclusive_loads, writeback.low_watermark,"
summary+=" writeback.high_watermark; needs a restart: device.priority"
grep -qF "$summary" "$SD_LOG" ||
	e2e_fail "the reload summary does not list what was applied and what needs a restart"
grep -qF "reload: device.priority changed from 5 to 7: needs a restart" "$SD_LOG" ||
	e2e_fail "the log does not name device.priority with its old and new value"
grep -qF "reload: pool.exclusive_loads=no (was yes)" "$SD_LOG" ||
	e2e_fail "the log does not show the run-time value replaced by the file's"
if grep -q "device.size changed\|writeback.idle_seconds=" "$SD_LOG"; then
	e2e_fail "a key the --set override covers was changed or reported by the reload"
fi
e2e_log "reload: runtime keys applied, device.priority reported, overrides kept"

# Below the old low watermark: the high one goes in only after the low one.
write_conf 128M 30% 20% 7 300
reload "reloaded $conf:"
expect writeback.high_watermark 30%
expect writeback.low_watermark 20%
e2e_log "reload: watermarks lowered past each other"

# A broken file changes nothing and is reported as at start.
write_conf banana 50% 40% 9 300
reload "reload of $conf failed: nothing changed"
grep -qF "$conf:5: pool.limit" "$SD_LOG" ||
	e2e_fail "the reload error does not name $conf:5: pool.limit"
expect pool.limit 128M
expect writeback.high_watermark 30%
[ "$(stat_value pool_limit_bytes)" -eq $((128 << 20)) ] ||
	e2e_fail "a broken file changed pool.limit"
grep -q "^$SD_LOOP " /proc/swaps || e2e_fail "$SD_LOOP is no longer an active swap area"
e2e_log "reload: a broken file changes nothing, the daemon keeps serving"

swapdevd_stop

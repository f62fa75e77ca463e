#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-control.sh - swapdevctl and the control socket against the real
# daemon while a workload swaps.
#
# swapdevd runs as in test-swap.sh (real FUSE, loop device, swapon); the
# integrity workload runs round after round in a memory cgroup, in the
# background, while this script checks:
#
#   stats       --json has every SPEC section 4 field, slots_used > 0,
#               orig_bytes = slots_used x 4096, and no counter goes down
#               between samples (counters: the SPEC's, and every field
#               proto_stat_fields[] declares a counter); the table and
#               --prometheus (# HELP, # TYPE, swapdev_ names) work
#   config      runtime keys change and show in stats (the compressor too,
#               under load), and config set says the change is not saved;
#               a start-only key, an invalid value, an unknown
#               key are refused by name and change nothing
#   recompress  refused while pool.recompress is none (naming the key) and
#               for bad --idle values; with zstd, --idle 0 --wait over a
#               paused workload recompresses entries (zstd_slots > 0, counts
#               match the statistics); on the wire, progress replies, the
#               result, then a call pipelined behind it
#   flush       --wait moves the pool to disk (workload paused with SIGSTOP
#               so the tiers hold still); a swapdevctl SIGKILLed during
#               flush --wait leaves the daemon serving, and the next
#               flush --wait works
#   permissions a throwaway user outside control.group cannot connect (the
#               socket is 0660 root:GROUP), gets PermissionDenied when the
#               socket is opened up, and once in the group may read but
#               neither change the configuration nor flush
#   clients     many calls on one connection (stats --watch, 2000 calls
#               back to back), 100 concurrent clients (and 200, above the
#               daemon's client limit), 100 swapdevctl at once: all served;
#               stats --watch connects again when its connection was
#               dropped as idle (against a stand-in that drops every one)
#   bad input   random bytes, invalid JSON, an array, calls the daemon does
#               not know, truncated and oversized messages get an error or
#               a closed connection; the daemon keeps serving
#   pipelining  calls behind a Flush are answered right after it, even past
#               the daemon's receive buffer; a oneway Flush gets no reply
#
# Every workload round must verify every page (exit 0); pool.exclusive_loads
# is off so that writeback_pages moves only when a flush writes.
# Helper: control-client (raw socket client and JSON flattener, no python or
# jq needed). Environment: E2E_SEED (default 1), E2E_WORKLOAD_TIMEOUT (600).

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

requires_root
requires_fuse
requires_loop
requires_swap
requires_cgroup
requires_cmd losetup swapoff timeout setpriv useradd userdel groupadd groupdel usermod stat

e2e_make_tmpdir
workload=''
client=''
e2e_program workload workload tests/e2e/workload.c
e2e_program client control-client tests/e2e/control-client.c
swapdevd_setup

others=$(awk 'NR > 1 { print $1 }' /proc/swaps)
[ -z "$others" ] || e2e_skip "other swap areas are active ($others); they would share the load"

T=$E2E_TMPDIR
seed=${E2E_SEED:-1}
timeout_s=${E2E_WORKLOAD_TIMEOUT:-600}
cg=swapdev-e2e-control-$$
ctl_user=swapdev-e2e-$$
ctl_group=swapdev-e2e-ctl-$$
slots_total=$((512 << 20 >> 12))

# The SPEC section 4 fields; latencies and config are checked apart.
spec_fields=(slots_total slots_used same_slots pool_slots disk_slots orig_bytes compr_bytes
	pool_footprint_bytes pool_limit_bytes disk_bytes reads writes discards reads_pool
	reads_disk reads_same incompressible writeback_pages exclusive_releases
	writethrough_pages alloc_failures io_errors uptime_seconds)
spec_counters=(reads writes discards reads_pool reads_disk reads_same incompressible
	writeback_pages exclusive_releases writethrough_pages alloc_failures io_errors
	uptime_seconds)
spec_keys=(device.size device.mountpoint device.activate device.priority device.discard
	pool.limit pool.compressor pool.same_filled pool.reject_threshold pool.incompressible
	pool.exclusive_loads writeback.backing_file writeback.high_watermark
	writeback.low_watermark writeback.idle_seconds control.socket control.group)

# ---------------------------------------------------------------- helpers

# ctl NAME ARGS... : run swapdevctl ARGS as root; output in $T/NAME.out and
# $T/NAME.err, exit status in $ctl_status.
ctl()
{
	local name=$1

	shift
	ctl_status=0
	with_timeout 60 "$SWAPDEVCTL" --socket "$SD_SOCKET" "$@" >"$T/$name.out" 2>"$T/$name.err" ||
		ctl_status=$?
}

# ctl_as MODE NAME ARGS... : the same as the test user; MODE is outsider
# (no supplementary groups) or member (groups from /etc/group).
ctl_as()
{
	local mode=$1 name=$2 groups

	shift 2
	case "$mode" in
	outsider) groups=--clear-groups ;;
	member) groups=--init-groups ;;
	*) e2e_fail "ctl_as: unknown mode $mode" ;;
	esac
	ctl_status=0
	with_timeout 60 setpriv --reuid="$ctl_user" --regid="$ctl_user" "$groups" -- \
		"$T/bin/swapdevctl" --socket "$SD_SOCKET" "$@" >"$T/$name.out" 2>"$T/$name.err" ||
		ctl_status=$?
}

# expect_ok NAME : the last ctl/ctl_as call succeeded.
expect_ok()
{
	[ "$ctl_status" -eq 0 ] ||
		e2e_fail "$1: exit status $ctl_status, expected 0: $(cat "$T/$1.err")"
}

# expect_refused NAME STATUS PATTERN... : the last call exited STATUS and
# its stderr matches every (extended, case-insensitive) PATTERN.
expect_refused()
{
	local name=$1 status=$2 pattern

	shift 2
	[ "$ctl_status" -eq "$status" ] ||
		e2e_fail "$name: exit status $ctl_status, expected $status" \
			"(stdout: $(cat "$T/$name.out"); stderr: $(cat "$T/$name.err"))"
	for pattern in "$@"; do
		grep -qiE -- "$pattern" "$T/$name.err" ||
			e2e_fail "$name: stderr does not match '$pattern': $(cat "$T/$name.err")"
	done
	e2e_log "$name refused as expected: $(head -n 1 "$T/$name.err")"
}

# sample FILE : `swapdevctl stats --json`, checked to be one JSON object and
# flattened into FILE ("path<TAB>value" lines).
sample()
{
	local name=${1##*/}

	ctl "$name" stats --json
	expect_ok "$name"
	[ "$(head -c 1 "$T/$name.out")" = '{' ] || e2e_fail "stats --json is not an object"
	"$client" flatten <"$T/$name.out" >"$1" || e2e_fail "stats --json is not valid JSON"
}

# field FILE PATH : the value of PATH in a flattened sample; fails if absent.
field()
{
	awk -F '\t' -v k="$2" '$1 == k { print $2; found = 1; exit } END { exit !found }' "$1" ||
		e2e_fail "stats have no field $2 ($1)"
}

# number FILE PATH : like field, and the value must be an unsigned integer.
number()
{
	local v

	v=$(field "$1" "$2")
	[[ "$v" =~ ^[0-9]+$ ]] || e2e_fail "stats field $2 is '$v', not an unsigned integer"
	echo "$v"
}

# check_counters OLD NEW : no counter of OLD is larger in NEW.
check_counters()
{
	local name old new

	for name in "${counters[@]}"; do
		old=$(number "$1" "$name")
		new=$(number "$2" "$name")
		[ "$new" -ge "$old" ] ||
			e2e_fail "counter $name went backwards: $old -> $new (${1##*/} -> ${2##*/})"
	done
}

# bytes SIZE : SIZE with a K/M/G/T suffix in bytes.
bytes()
{
	local n=${1%[KMGT]} shift=0

	case "$1" in
	*K) shift=10 ;;
	*M) shift=20 ;;
	*G) shift=30 ;;
	*T) shift=40 ;;
	esac
	[[ "$n" =~ ^[0-9]+$ ]] || e2e_fail "'$1' is not a size"
	echo $((n << shift))
}

daemon_alive()
{
	kill -0 "$SD_DAEMON_PID" 2>/dev/null || e2e_fail "swapdevd (PID $SD_DAEMON_PID) died $1"
}

# flushes_logged : how many flushes the daemon has logged as finished.
flushes_logged()
{
	grep -c 'flush wrote' "$SD_LOG" || true
}

# stat_num NAME : one number from the daemon's statistics; fails loudly.
stat_num()
{
	local v

	v=$(stat_value "$1") || e2e_fail "swapdevctl stats --json failed (daemon gone?)"
	[[ "$v" =~ ^[0-9]+$ ]] || e2e_fail "stats have no number $1"
	echo "$v"
}

# wait_stat NAME MIN SECONDS : wait until stats field NAME >= MIN.
wait_stat()
{
	local v i

	for ((i = 0; i < $3 * 5; i++)); do
		v=$(stat_num "$1")
		[ -n "$v" ] && [ "$v" -ge "$2" ] && return 0
		workload_running
		sleep 0.2
	done
	e2e_fail "$1 is ${v:-missing} after $3 s, expected >= $2 (is the workload swapping?)"
}

# ---------------------------------------------------------------- workload

workload_loop()
{
	local round=0

	while [ ! -e "$T/stop-workload" ]; do
		cgroup_run --timeout "$timeout_s" "$cg" "$workload" --size 192M --passes 2 \
			--seed $((seed + round)) --report || {
			echo "FAIL: workload round $round (seed $((seed + round))) failed" >&2
			exit 1
		}
		round=$((round + 1))
	done
	echo "$round" >"$T/workload-rounds"
}

workload_running()
{
	kill -0 "$loop_pid" 2>/dev/null && return 0
	wait "$loop_pid" || e2e_fail "the workload failed while control checks ran (see above)"
	e2e_fail "the workload loop ended before it was told to"
}

# freeze_workload : SIGSTOP every task of the workload's cgroup while a
# round runs (then the loop cannot start another), and wait until swap I/O
# has stopped: the tiers hold still.
frozen=()
freeze_workload()
{
	local attempt pid state found before after i

	for ((attempt = 0; attempt < 50; attempt++)); do
		workload_running
		frozen=()
		found=
		while read -r pid; do
			kill -STOP "$pid" 2>/dev/null && frozen+=("$pid")
		done <"$(cgroup_path "$cg")/cgroup.procs"
		for pid in "${frozen[@]}"; do
			for ((i = 0; i < 50; i++)); do
				state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || break
				[ "$state" = T ] && break
				sleep 0.02
			done
			[ "$state" = T ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = workload ] &&
				found=1
		done
		[ -n "$found" ] && break
		# Between two rounds: let the next one start.
		thaw_workload
		sleep 0.2
	done
	[ -n "$found" ] || e2e_fail "could not stop a running workload"
	for ((i = 0; i < 50; i++)); do
		before="$(stat_num reads) $(stat_num writes) $(stat_num discards)"
		sleep 0.3
		after="$(stat_num reads) $(stat_num writes) $(stat_num discards)"
		[ "$before" = "$after" ] && return 0
	done
	e2e_fail "swap I/O goes on with the workload stopped"
}

thaw_workload()
{
	local pid

	for pid in "${frozen[@]}"; do
		kill -CONT "$pid" 2>/dev/null || true
	done
	frozen=()
}

# ---------------------------------------------------------------- accounts

remove_accounts()
{
	if getent passwd "$ctl_user" >/dev/null; then
		userdel "$ctl_user" || e2e_log "cannot remove user $ctl_user"
	fi
	if getent group "$ctl_user" >/dev/null; then
		groupdel "$ctl_user" || e2e_log "cannot remove group $ctl_user"
	fi
	if getent group "$ctl_group" >/dev/null; then
		groupdel "$ctl_group" || e2e_log "cannot remove group $ctl_group"
	fi
}
cleanup_fn remove_accounts
groupadd --system "$ctl_group" || e2e_fail "cannot create group $ctl_group"
useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
	--user-group "$ctl_user" || e2e_fail "cannot create user $ctl_user"

# The user must reach the socket and run swapdevctl: a traversable tmpdir
# and a copy of the binary (the build tree may be private). The socket's
# own mode is what keeps the user out.
chmod 0711 "$T"
mkdir -m 0755 "$T/bin"
install -m 0755 "$SWAPDEVCTL" "$T/bin/swapdevctl"

# ---------------------------------------------------------------- start

cleanup_fn cgroup_destroy "$cg"
cgroup_create "$cg" $((64 << 20))
swapdevd_start --set control.group="$ctl_group" --set pool.exclusive_loads=no
e2e_log "swapdevd running as PID $SD_DAEMON_PID (supervisor $SD_PID)"

cleanup_fn thaw_workload
workload_loop &
loop_pid=$!
cleanup_fn stop_pid "$loop_pid"
wait_stat slots_used 8192 120

# ---------------------------------------------------------------- stats

ctl prom stats --prometheus
expect_ok prom
grep -q '^# HELP swapdev_' "$T/prom.out" || e2e_fail "--prometheus has no # HELP lines"
grep -q '^# TYPE swapdev_' "$T/prom.out" || e2e_fail "--prometheus has no # TYPE lines"
bad=$(grep -v '^# \(HELP\|TYPE\) swapdev_' "$T/prom.out" |
	grep -vE '^swapdev_[a-z0-9_]+(\{[^}]*\})? [0-9][0-9.e+-]*$' | head -n 3) || true
[ -z "$bad" ] || e2e_fail "--prometheus has lines that are not swapdev_ samples: $bad"
# A histogram's _bucket, _sum and _count series belong to its family.
while read -r metric; do
	family=$metric
	if ! grep -q "^# TYPE $metric " "$T/prom.out"; then
		family=$(sed -E 's/_(bucket|sum|count)$//' <<<"$metric")
		grep -q "^# TYPE $family histogram$" "$T/prom.out" ||
			e2e_fail "--prometheus: $metric has no # TYPE"
	fi
	grep -q "^# HELP $family " "$T/prom.out" || e2e_fail "--prometheus: $metric has no # HELP"
done < <(grep -v '^#' "$T/prom.out" | sed 's/[{ ].*//' | sort -u)
grep -q '^# TYPE swapdev_[a-z_]*_total counter$' "$T/prom.out" ||
	e2e_fail "--prometheus declares no counters"
e2e_log "--prometheus: $(grep -vc '^#' "$T/prom.out") samples (test-prometheus.sh parses them)"
# Every field the protocol's table declares a counter must never go down.
mapfile -t table_counters < <(sed -n 's/^\tCOUNTER(\([a-z_]*\),.*/\1/p' \
	"$E2E_SRCDIR/libswapdev/protocol.c")
[ "${#table_counters[@]}" -gt 20 ] || e2e_fail "no COUNTER() entries in libswapdev/protocol.c"
counters=("${spec_counters[@]}" "${table_counters[@]}")

ctl table stats
expect_ok table
[ -s "$T/table.out" ] || e2e_fail "stats (table) printed nothing"
grep -qi pool "$T/table.out" || e2e_fail "stats (table) does not mention the pool"

sample "$T/s0"
for f in "${spec_fields[@]}" "${counters[@]}"; do
	number "$T/s0" "$f" >/dev/null
done
for f in read_latency_us write_latency_us; do
	p50=$(number "$T/s0" "$f.p50")
	p99=$(number "$T/s0" "$f.p99")
	p999=$(number "$T/s0" "$f.p999")
	if [ "$p50" -gt "$p99" ] || [ "$p99" -gt "$p999" ]; then
		e2e_fail "$f percentiles out of order: p50 $p50, p99 $p99, p999 $p999"
	fi
done
for k in "${spec_keys[@]}"; do
	field "$T/s0" "config.$k" >/dev/null
done
[ "$(field "$T/s0" config.control.group)" = "$ctl_group" ] ||
	e2e_fail "config.control.group is not $ctl_group"
[ "$(number "$T/s0" slots_total)" -eq "$slots_total" ] ||
	e2e_fail "slots_total is $(number "$T/s0" slots_total), expected $slots_total"
used=$(number "$T/s0" slots_used)
[ "$used" -gt 0 ] || e2e_fail "slots_used is 0 while the workload swaps"
[ "$(number "$T/s0" orig_bytes)" -eq $((used * 4096)) ] ||
	e2e_fail "orig_bytes $(number "$T/s0" orig_bytes) != slots_used $used x 4096"
tiers=$(($(number "$T/s0" same_slots) + $(number "$T/s0" pool_slots) +
	$(number "$T/s0" disk_slots)))
[ "$tiers" -eq "$used" ] || e2e_fail "same + pool + disk slots = $tiers, slots_used = $used"
e2e_log "stats: slots_used $used, ${#counters[@]} counters checked"

for ((i = 1; i <= 10; i++)); do
	sleep 0.3
	sample "$T/s$i"
	check_counters "$T/s$((i - 1))" "$T/s$i"
	used=$(number "$T/s$i" slots_used)
	[ "$(number "$T/s$i" orig_bytes)" -eq $((used * 4096)) ] ||
		e2e_fail "sample $i: orig_bytes != slots_used x 4096"
done
[ "$(number "$T/s10" writes)" -gt "$(number "$T/s0" writes)" ] ||
	e2e_fail "writes did not move in 3 s of load: the samples did not watch a swapping daemon"
e2e_log "10 samples under load: no counter went backwards"

# ---------------------------------------------------------------- config

ctl cfg-get0 config get pool.limit
expect_ok cfg-get0
limit0=$(cat "$T/cfg-get0.out")
[ "$(bytes "$limit0")" -eq "$(number "$T/s10" pool_limit_bytes)" ] ||
	e2e_fail "config get pool.limit ($limit0) does not match pool_limit_bytes"

ctl cfg-set config set pool.limit 64M
expect_ok cfg-set
# On stdout, as no error: the change is not saved.
grep -q 'pool.limit changed, not saved' "$T/cfg-set.out" ||
	e2e_fail "config set does not say that the change is not saved: $(cat "$T/cfg-set.out")"
[ ! -s "$T/cfg-set.err" ] || e2e_fail "config set wrote to stderr: $(cat "$T/cfg-set.err")"
ctl cfg-get config get pool.limit
expect_ok cfg-get
[ "$(cat "$T/cfg-get.out")" = 64M ] ||
	e2e_fail "config get pool.limit says '$(cat "$T/cfg-get.out")' after setting 64M"
[ "$(stat_num pool_limit_bytes)" -eq $((64 << 20)) ] ||
	e2e_fail "pool_limit_bytes is $(stat_num pool_limit_bytes) after config set pool.limit 64M"
ctl cfg-all config get
expect_ok cfg-all
grep -qx 'pool.limit = 64M' "$T/cfg-all.out" || e2e_fail "config get does not list pool.limit = 64M"

ctl cfg-static config set device.size 1G
expect_refused cfg-static 1 'device\.size' 'cannot change while swapdevd runs'
ctl cfg-bad config set pool.limit banana
expect_refused cfg-bad 1 'pool\.limit' banana
ctl cfg-codec config set pool.compressor lzma
expect_refused cfg-codec 1 'pool\.compressor' lzma
ctl cfg-wm config set writeback.low_watermark 95%
expect_refused cfg-wm 1 'writeback\.(low|high)_watermark'
ctl cfg-unknown config set pool.nonsense 1
expect_refused cfg-unknown 1 'pool\.nonsense'
ctl cfg-unknown-get config get pool.nonsense
expect_refused cfg-unknown-get 1 'pool\.nonsense'
ctl cfg-usage config set pool.limit
expect_refused cfg-usage 2 'KEY VALUE'
for kv in device.size=512M pool.limit=64M pool.compressor=lz4 writeback.low_watermark=80%; do
	ctl cfg-check config get "${kv%%=*}"
	expect_ok cfg-check
	[ "$(cat "$T/cfg-check.out")" = "${kv#*=}" ] ||
		e2e_fail "a refused change altered ${kv%%=*}: now '$(cat "$T/cfg-check.out")'"
done

# A codec switch under load: the pool then holds objects of both codecs.
ctl cfg-zstd config set pool.compressor zstd:3
expect_ok cfg-zstd
ctl cfg-zstd-get config get pool.compressor
[ "$(cat "$T/cfg-zstd-get.out")" = zstd:3 ] || e2e_fail "pool.compressor did not become zstd:3"
w=$(stat_num writes)
wait_stat writes $((w + 1000)) 60
ctl cfg-lz4 config set pool.compressor lz4
expect_ok cfg-lz4
ctl cfg-restore config set pool.limit "$limit0"
expect_ok cfg-restore
[ "$(stat_num pool_limit_bytes)" -eq "$(number "$T/s10" pool_limit_bytes)" ] ||
	e2e_fail "pool_limit_bytes not restored to $limit0"
grep -q 'configuration changed: pool.limit=64M' "$SD_LOG" ||
	e2e_fail "the daemon did not log the change of pool.limit"
e2e_log "config: runtime keys change, refusals name the key and change nothing"

# ---------------------------------------------------------------- recompress

# pool.recompress = none: refused with the key to set.
ctl rc-off config set pool.recompress none
expect_ok rc-off
ctl rc-none recompress --wait
expect_refused rc-none 1 'pool\.recompress' "config set pool\.recompress zstd"
grep -q 'recompression pass: ' "$SD_LOG" && e2e_fail "a refused recompression pass ran"
# Bad --idle values are usage errors, refused before any call.
for bad in -1 abc 1.5 4294967296 ''; do
	ctl rc-bad recompress --idle "$bad"
	expect_refused rc-bad 2 "--idle takes whole seconds"
done
ctl rc-arg recompress now
expect_refused rc-arg 2 "unexpected argument 'now'"

# Paused workload: a pass over every entry (--idle 0; the configured idle
# time, 60 s, would leave them all) recompresses the pool with zstd, and
# its counts agree with the statistics.
ctl rc-on config set pool.recompress zstd
expect_ok rc-on
wait_stat pool_slots 4096 120
freeze_workload
sample "$T/r0"
ctl rc recompress --idle 0 --wait
expect_ok rc
sample "$T/r1"
thaw_workload
line=$(cat "$T/rc.out")
re='^Examined ([0-9]+) pool entries: recompressed ([0-9]+), kept ([0-9]+) \(saving too little\), dropped ([0-9]+) \(rewritten meanwhile\); [0-9.]+ (us|ms|s) of CPU\.$'
[[ "$line" =~ $re ]] || e2e_fail "recompress --wait did not say what it did: $line"
examined=${BASH_REMATCH[1]} recompressed=${BASH_REMATCH[2]} kept=${BASH_REMATCH[3]}
e2e_log "recompress: $line; zstd_slots $(number "$T/r0" zstd_slots) -> $(number "$T/r1" zstd_slots)"
[ "$examined" -ge "$(number "$T/r0" pool_slots)" ] ||
	e2e_fail "the pass examined $examined of $(number "$T/r0" pool_slots) pool entries"
[ "$recompressed" -gt 0 ] || e2e_fail "the pass recompressed nothing of $examined entries"
[ "$(number "$T/r1" zstd_slots)" -ge "$recompressed" ] ||
	e2e_fail "zstd_slots is $(number "$T/r1" zstd_slots) after $recompressed recompressed"
[ $(($(number "$T/r1" recompressed) - $(number "$T/r0" recompressed))) -ge "$recompressed" ] ||
	e2e_fail "the recompressed counter did not rise by $recompressed"
[ $(($(number "$T/r1" recompress_not_worth) - $(number "$T/r0" recompress_not_worth))) -ge \
	"$kept" ] || e2e_fail "recompress_not_worth did not rise by $kept"
check_counters "$T/r0" "$T/r1"
grep -q "recompression pass: $examined pool entries examined, $recompressed recompressed" \
	"$SD_LOG" || e2e_fail "the daemon did not log the pass"

# Progress on the wire: replies with done_entries while the pass goes on,
# then the result, then the call pipelined behind it.
wait_stat pool_slots 1024 120
out=$(with_timeout 60 "$client" probe "$SD_SOCKET" recompress-more) ||
	e2e_fail "probe recompress-more: control-client failed: $out"
progress=$(grep -c '^reply done_entries$' <<<"$out") || true
[ "$progress" -ge 1 ] && [ "$(tail -n 3 <<<"$out" | tr '\n' ' ')" = \
	'reply recompressed reply vendor open ' ] ||
	e2e_fail "probe recompress-more: $(tr '\n' ' ' <<<"$out")"
e2e_log "probe recompress-more: $progress progress replies, the result, then GetInfo's"
ctl rc-restore config set pool.recompress none
expect_ok rc-restore

# ---------------------------------------------------------------- flush

# Paused workload: the tiers move only by the flush.
wait_stat pool_slots 4096 120
freeze_workload
sample "$T/f0"
ctl flush flush --wait
expect_ok flush
sample "$T/f1"
thaw_workload
written=$(sed -n 's/^Wrote \([0-9][0-9]*\) pages .*/\1/p' "$T/flush.out")
[ -n "$written" ] || e2e_fail "flush --wait did not say what it wrote: $(cat "$T/flush.out")"
pool0=$(number "$T/f0" pool_slots) pool1=$(number "$T/f1" pool_slots)
disk0=$(number "$T/f0" disk_slots) disk1=$(number "$T/f1" disk_slots)
wb0=$(number "$T/f0" writeback_pages) wb1=$(number "$T/f1" writeback_pages)
e2e_log "flush: wrote $written; pool_slots $pool0 -> $pool1, disk_slots $disk0 -> $disk1," \
	"writeback_pages $wb0 -> $wb1"
[ "$written" -gt 0 ] || e2e_fail "flush --wait wrote nothing with $pool0 slots in the pool"
[ "$pool1" -le $((pool0 - written)) ] || e2e_fail "pool_slots did not drop by the $written written"
[ "$disk1" -ge $((disk0 + written)) ] || e2e_fail "disk_slots did not rise by the $written written"
[ "$wb1" -ge $((wb0 + written)) ] || e2e_fail "writeback_pages did not rise by $written"
[ "$pool1" -lt $((pool0 / 10 + 1)) ] ||
	e2e_fail "flush left $pool1 of $pool0 slots in the pool of an idle workload"
check_counters "$T/f0" "$T/f1"

# A client SIGKILLed during flush --wait. The flush is caught when
# writeback_pages starts to move (only flushes write back here) and the
# client is still waiting; a flush too quick to catch is tried again.
caught=
for ((attempt = 1; attempt <= 5 && !caught; attempt++)); do
	wait_stat pool_slots 8192 120
	wb0=$(stat_num writeback_pages)
	logged0=$(flushes_logged)
	"$SWAPDEVCTL" --socket "$SD_SOCKET" flush --wait >"$T/killed.out" 2>"$T/killed.err" &
	ctl_pid=$!
	cleanup_fn stop_pid "$ctl_pid"
	wb_seen=$wb0
	for ((i = 0; i < 3000; i++)); do
		kill -0 "$ctl_pid" 2>/dev/null || break
		wb_seen=$(stat_num writeback_pages)
		if [ "$wb_seen" -gt "$wb0" ]; then
			kill -KILL "$ctl_pid"
			break
		fi
	done
	status=0
	# (Silences bash's "Killed" notice.)
	wait "$ctl_pid" 2>/dev/null || status=$?
	if [ "$status" -ne 137 ]; then
		[ "$status" -eq 0 ] ||
			e2e_fail "flush --wait failed ($status): $(cat "$T/killed.err")"
		e2e_log "attempt $attempt: the flush ended before the client could be killed; again"
		continue
	fi
	caught=1
	daemon_alive "after its flush client was killed"
	ctl after-kill status
	expect_ok after-kill
	# The flush goes on without its client and is logged when done.
	for ((i = 0; i < 600; i++)); do
		[ "$(flushes_logged)" -gt "$logged0" ] && break
		sleep 0.1
	done
	[ "$(flushes_logged)" -gt "$logged0" ] || e2e_fail "the orphaned flush never finished"
	orphan=$(grep 'flush wrote' "$SD_LOG" | tail -n 1 | sed 's/.*flush wrote \([0-9]*\) .*/\1/')
	[ "$orphan" -gt $((wb_seen - wb0)) ] ||
		e2e_fail "the client was not killed during its flush" \
			"($((wb_seen - wb0)) of $orphan pages were written at the kill)"
	e2e_log "attempt $attempt: client killed after $((wb_seen - wb0)) of $orphan pages"
done
[ -n "$caught" ] || e2e_fail "no flush lasted long enough to kill its client in 5 attempts"

# The next flush --wait works (after any refusal while one still runs).
for ((i = 0; i < 600; i++)); do
	ctl flush2 flush --wait
	if [ "$ctl_status" -eq 0 ] || ! grep -q 'already running' "$T/flush2.err"; then
		break
	fi
	sleep 0.1
done
expect_ok flush2
grep -q '^Wrote [0-9][0-9]* pages' "$T/flush2.out" ||
	e2e_fail "flush --wait after the kill: $(cat "$T/flush2.out")"
e2e_log "flush after the killed client: $(cat "$T/flush2.out")"

# ---------------------------------------------------------------- permissions

mode=$(stat -c '%a %U %G' "$SD_SOCKET")
[ "$mode" = "660 root $ctl_group" ] ||
	e2e_fail "control socket is '$mode', expected 660 root $ctl_group"
limit_before=$(stat_num pool_limit_bytes)
flushes_before=$(flushes_logged)

# Outside the group: the socket itself keeps the user out.
for args in "stats" "stats --json" "status" "config get" "config set pool.limit 1G" \
	"flush --wait"; do
	read -ra argv <<<"$args"
	ctl_as outsider "outsider-${args// /-}" "${argv[@]}"
	expect_refused "outsider-${args// /-}" 1 'permission denied' 'run as root'
done

# The same user on an opened-up socket: the daemon checks SO_PEERCRED itself.
chmod 0666 "$SD_SOCKET"
for args in "stats --json" "status" "config get" "config set pool.limit 1G" "flush --wait"; do
	read -ra argv <<<"$args"
	ctl_as outsider "denied-${args// /-}" "${argv[@]}"
	expect_refused "denied-${args// /-}" 1 'permission denied' 'run as root'
done
chmod 0660 "$SD_SOCKET"

# In the group: reads, but no changes.
usermod -a -G "$ctl_group" "$ctl_user" || e2e_fail "cannot add $ctl_user to $ctl_group"
ctl_as member member-json stats --json
expect_ok member-json
"$client" flatten <"$T/member-json.out" >"$T/member.flat" || e2e_fail "member: invalid JSON"
[ "$(number "$T/member.flat" slots_total)" -eq "$slots_total" ] || e2e_fail "member: bad stats"
for args in "stats" "stats --prometheus" "status" "config get pool.limit"; do
	read -ra argv <<<"$args"
	ctl_as member "member-${args// /-}" "${argv[@]}"
	expect_ok "member-${args// /-}"
done
ctl_as member member-set config set pool.limit 1G
expect_refused member-set 1 'permission denied' 'run as root'
ctl_as member member-flush flush --wait
expect_refused member-flush 1 'permission denied' 'run as root'

[ "$(stat_num pool_limit_bytes)" = "$limit_before" ] || e2e_fail "a refused user changed pool.limit"
[ "$(flushes_logged)" = "$flushes_before" ] || e2e_fail "a refused user started a flush"
e2e_log "permissions: outsider refused, group member reads only"

# ---------------------------------------------------------------- clients

# --watch makes its calls on one connection, a second apart.
status=0
timeout 3.5 "$SWAPDEVCTL" --socket "$SD_SOCKET" stats --json --watch 1 >"$T/watch.out" \
	2>"$T/watch.err" || status=$?
[ "$status" -eq 124 ] ||
	e2e_fail "stats --watch 1 ended by itself (status $status): $(cat "$T/watch.err")"
[ "$(grep -c . "$T/watch.out")" -ge 3 ] ||
	e2e_fail "stats --json --watch 1 printed $(grep -c . "$T/watch.out") samples in 3.5 s"
while read -r line; do
	"$client" flatten <<<"$line" >"$T/watch.flat" || e2e_fail "--watch printed invalid JSON"
	number "$T/watch.flat" slots_total >/dev/null
done <"$T/watch.out"
e2e_log "stats --json --watch 1: $(grep -c . "$T/watch.out") samples"

# The daemon drops a connection idle for 30 s, so --watch 31 or more finds
# it closed at its next sample and must connect again. A stand-in daemon
# that closes every connection right after its reply shows that in 3 s.
"$client" serve "$T/dropper.sock" 3 >"$T/dropper.out" 2>&1 &
dropper_pid=$!
cleanup_fn stop_pid "$dropper_pid"
for ((i = 0; i < 50; i++)); do
	grep -q '^listening' "$T/dropper.out" && break
	sleep 0.1
done
status=0
timeout 10 "$SWAPDEVCTL" --socket "$T/dropper.sock" stats --json --watch 1 >"$T/redial.out" \
	2>"$T/redial.err" || status=$?
wait "$dropper_pid" || e2e_fail "the stand-in daemon: $(cat "$T/dropper.out")"
[ "$(grep -c . "$T/redial.out")" -eq 3 ] ||
	e2e_fail "stats --watch 1 took $(grep -c . "$T/redial.out") of 3 samples from a daemon" \
		"that drops each connection: $(cat "$T/redial.err")"
# It ends when the stand-in is gone, after trying to connect once more.
[ "$status" -eq 1 ] && grep -q 'cannot connect' "$T/redial.err" ||
	e2e_fail "stats --watch after the stand-in left: status $status: $(cat "$T/redial.err")"
e2e_log "stats --watch 1 against a daemon that drops each connection: 3 samples, 3 connections"

# Many calls on one connection, as any Varlink client may make them.
out=$(with_timeout 120 "$client" sequential "$SD_SOCKET" 2000) ||
	e2e_fail "2000 calls on one connection: $out"
e2e_log "sequential: $out"
for n in 100 200; do
	out=$(with_timeout 120 "$client" concurrent "$SD_SOCKET" "$n" 60) ||
		e2e_fail "$n concurrent clients: $out"
	e2e_log "concurrent: $out"
done
pids=()
for ((i = 0; i < 100; i++)); do
	timeout 60 "$SWAPDEVCTL" --socket "$SD_SOCKET" stats --json >"$T/par.$i" 2>&1 &
	pids+=($!)
done
failed=0
for i in "${!pids[@]}"; do
	if ! wait "${pids[i]}"; then
		failed=$((failed + 1))
		e2e_log "swapdevctl $i: $(cat "$T/par.$i")"
	fi
done
[ "$failed" -eq 0 ] || e2e_fail "$failed of 100 parallel swapdevctl stats failed"
for ((i = 0; i < 100; i++)); do
	"$client" flatten <"$T/par.$i" >"$T/par.flat" || e2e_fail "parallel stats $i: invalid JSON"
	number "$T/par.flat" slots_total >/dev/null
done
e2e_log "100 parallel swapdevctl stats --json: all served"
daemon_alive "after the client storm"

# ---------------------------------------------------------------- bad input

# probe CASE EXPECT : EXPECT is "refused" (error replies, then the
# connection closes or stays open; never silence, never success) or the
# exact output of control-client.
probe()
{
	local out status=0

	out=$(with_timeout 60 "$client" probe "$SD_SOCKET" "$1") || status=$?
	[ "$status" -eq 0 ] || e2e_fail "probe $1: control-client failed ($status): $out"
	daemon_alive "after probe $1"
	if [ "$2" = refused ]; then
		grep -qvE '^(error .*|closed|open)$' <<<"$out" &&
			e2e_fail "probe $1: unexpected answer: $(tr '\n' ' ' <<<"$out")"
		grep -qE '^(error .*|closed)$' <<<"$out" ||
			e2e_fail "probe $1: neither an error nor a close: $(tr '\n' ' ' <<<"$out")"
	else
		[ "$out" = "$2" ] || e2e_fail "probe $1: got '$(tr '\n' ' ' <<<"$out")'," \
			"expected '$(tr '\n' ' ' <<<"$2")'"
	fi
	e2e_log "probe $1: $(tr '\n' ' ' <<<"$out")"
}

probe random refused
probe invalid-json refused
probe array refused
probe not-varlink refused
probe unknown-method $'error org.varlink.service.MethodNotFound\nopen'
probe oversized refused
probe oversized-json refused
probe unterminated sent
probe stalled $'reply vendor\nopen'
probe pipelined $'reply vendor\nreply state\nopen'

# Calls pipelined behind a Flush wait for its reply and are answered right
# after it, not when more bytes come; more of them than the daemon buffers
# (64 KiB) are read once the Flush ends, not taken for a hang-up. A oneway
# Flush gets no reply at all: the first reply is the next call's.
wait_stat pool_slots 4096 120
probe behind-flush $'reply written_pages\nreply vendor\nopen'
wait_stat pool_slots 4096 120
out=$(with_timeout 60 "$client" probe "$SD_SOCKET" behind-flush-full) ||
	e2e_fail "probe behind-flush-full: control-client failed: $out"
# Sent: the Flush call (30 bytes with its NUL), then GetInfo calls of 41.
sent=$(sed -n 's/^sent \([0-9]*\) bytes$/\1/p' <<<"$out")
calls=$(((${sent:-0} - 30) / 41))
[ "$calls" -gt 1600 ] && [ "$(sed -n 2p <<<"$out")" = 'reply written_pages' ] &&
	[ "$(grep -c '^reply vendor$' <<<"$out")" -eq "$calls" ] &&
	[ "$(tail -n 1 <<<"$out")" = open ] && [ "$(wc -l <<<"$out")" -eq $((calls + 3)) ] ||
	e2e_fail "probe behind-flush-full: $(sort <<<"$out" | uniq -c | tr '\n' ' ')"
e2e_log "probe behind-flush-full: $sent bytes; the Flush reply, then $calls GetInfo replies, open"
logged0=$(flushes_logged)
probe oneway-flush $'reply vendor\nopen'
# The oneway Flush runs all the same and is logged when done.
for ((i = 0; i < 600; i++)); do
	[ "$(flushes_logged)" -gt "$logged0" ] && break
	sleep 0.1
done
[ "$(flushes_logged)" -gt "$logged0" ] || e2e_fail "the oneway Flush did not run"
ctl after-probes status
expect_ok after-probes
grep -q '^State: *running' "$T/after-probes.out" ||
	e2e_fail "status after bad input: $(cat "$T/after-probes.out")"
daemon_alive "after bad input"

# ---------------------------------------------------------------- end

touch "$T/stop-workload"
status=0
wait "$loop_pid" || status=$?
[ "$status" -eq 0 ] || e2e_fail "the workload failed (status $status): swapped data did not verify"
e2e_log "workload: $(cat "$T/workload-rounds") rounds verified every page"

sample "$T/s-end"
check_counters "$T/s0" "$T/s-end"
for f in io_errors decompress_errors; do
	[ "$(number "$T/s-end" "$f")" -eq 0 ] || e2e_fail "$f is $(number "$T/s-end" "$f")"
done
daemon_alive "at the end"
swapdevd_stop
echo "PASS: test-control.sh"

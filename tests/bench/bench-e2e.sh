#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-e2e.sh - the whole swap path, swapdev against zram, zswap and a
# plain disk swap file, in one run (meson benchmark 'e2e', needs root).
#
# Configurations, each with the same swap size and cgroup limit, and only
# one swap area active at a time:
#
#   swapdev-lz4    swapdevd on its defaults (lz4; incompressible pages to the
#                  backing file under $E2E_TMPROOT, /var/tmp)
#   swapdev-zstd   the same with pool.compressor=$BENCH_ZSTD (zstd:1)
#   swapdev-lz4-devfuse
#                  swapdev-lz4 with device.io_uring=no: requests read from
#                  /dev/fuse, to measure FUSE over io_uring in the same run
#                  (not in the default set)
#   zram-lz4       a zram device (hot_add) with comp_algorithm lz4, swapon
#                  --discard as zram-generator does
#   zswap-lzo-rle  zswap (compressor lzo-rle, read back; max_pool_percent
#                  untouched) in front of a swap file on /var/tmp
#   disk           a plain swap file on /var/tmp, zswap off
#
# Per configuration and repetition:
#   1. the integrity workload (tests/e2e/workload.c: fill, sequential passes,
#      random access, final verify; every page checked) in a memory cgroup
#      limited to about a quarter of its working set; its --report gives
#      the seconds per phase;
#   2. on a fresh swap area, hold (tests/bench/hold.c) fills the same
#      amount with the workload's page mix and sleeps: with its data in
#      swap, the RAM each tier spends on it is read (swapdev: the pool's
#      pool_footprint_bytes and the daemon's RSS growth; zram: mm_stat
#      mem_used_total; zswap: Zswap in /proc/meminfo; disk: none), then the
#      cgroup limit is lifted and swapoff is timed. For swapdevd, swapoff is
#      what its SIGTERM runs, as `systemctl stop` does (a swapoff from
#      outside would make the daemon's own one fail at stop): the time from
#      SIGTERM until the loop device leaves /proc/swaps.
# Other swap areas would share the load: with any active, the benchmark
# reports SKIP (exit 77), as without root, FUSE, loop devices or cgroups.
# Repetition r uses seed BENCH_SEED + r for every configuration, and the
# order of the configurations rotates from one repetition to the next, so
# that drift of the machine spreads over all of them.
#
# Output: per phase (fill, passes, random, verify, total, swapoff) and
# configuration min / median / max seconds and the ratio of the median to
# zram-lz4's; memory held for the same data, with ratios; the issue 7
# targets as MET or MISSED (informational: the exit status only reports
# errors, such as a page that came back wrong). A PNG plot of the medians
# (gnuplot; skipped with a message when gnuplot is missing).
#
# Environment (sizes take K, M or G):
#   BENCH_WS       working set of the workload and of hold (1G)
#   BENCH_LIMIT    memory cgroup limit (256M)
#   BENCH_SWAP     size of every swap area (2G)
#   BENCH_REPS     repetitions (3)
#   BENCH_PASSES   sequential passes of the workload (2)
#   BENCH_SEED     first seed (1)
#   BENCH_ZSTD     compressor of swapdev-zstd (zstd:1)
#   BENCH_SWAPDEV_SET  extra SECTION.KEY=VALUE settings, space-separated,
#                  for both swapdev configurations (none): to try a tuning
#                  against the same baselines in one run
#   BENCH_CONFIGS  configurations to run, in this order (all five above
#                  but swapdev-lz4-devfuse)
#   BENCH_IO_URING on (default): FUSE over io_uring is turned on in the
#                  kernel for the run (fuse.enable_uring, restored at the
#                  end) where the kernel has it, so that the swapdev
#                  configurations serve through it; off: turned off
#   BENCH_TIMEOUT  seconds allowed for one workload run or one fill (1800)
#   BENCH_PLOT     PNG to write (docs/bench-e2e.png in the source tree);
#                  empty: no plot
#   BENCH_RAW      file that keeps the raw results (default: none kept)
#   SWAPDEVD, SWAPDEVCTL, E2E_BUILDDIR (workload), HOLD: built programs;
#   E2E_TMPROOT: where swap files, the backing file and the mount go.
# Quick run: BENCH_WS=256M BENCH_LIMIT=64M BENCH_SWAP=512M BENCH_REPS=1

set -euo pipefail
bench_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source "$bench_dir/../e2e/lib.sh"
source "$bench_dir/../e2e/swapdevd.sh"

# ---------------------------------------------------------------- settings

to_bytes()
{
	local v=$1

	case "$v" in
	*[0-9]) ;;
	*[kK]) v=$((${v%?} << 10)) ;;
	*[mM]) v=$((${v%?} << 20)) ;;
	*[gG]) v=$((${v%?} << 30)) ;;
	*) e2e_fail "bad size '$1' (a number with K, M or G)" ;;
	esac
	[[ "$v" =~ ^[0-9]+$ ]] || e2e_fail "bad size '$1' (a number with K, M or G)"
	echo "$v"
}

ws=$(to_bytes "${BENCH_WS:-1G}")
limit=$(to_bytes "${BENCH_LIMIT:-256M}")
swap_size=$(to_bytes "${BENCH_SWAP:-2G}")
reps=${BENCH_REPS:-3}
passes=${BENCH_PASSES:-2}
seed0=${BENCH_SEED:-1}
zstd=${BENCH_ZSTD:-zstd:1}
timeout_s=${BENCH_TIMEOUT:-1800}
plot=${BENCH_PLOT-$E2E_SRCDIR/docs/bench-e2e.png}
read -r -a swapdev_set <<<"${BENCH_SWAPDEV_SET:-}"
swapdev_args=()
for kv in "${swapdev_set[@]}"; do
	swapdev_args+=(--set "$kv")
done
read -r -a configs <<<"${BENCH_CONFIGS:-swapdev-lz4 swapdev-zstd zram-lz4 zswap-lzo-rle disk}"
for n in "$reps" "$passes" "$seed0" "$timeout_s"; do
	[[ "$n" =~ ^[0-9]+$ ]] ||
		e2e_fail "BENCH_REPS, BENCH_PASSES, BENCH_SEED and BENCH_TIMEOUT take numbers"
done
[ "$reps" -ge 1 ] || e2e_fail "BENCH_REPS must be at least 1"
[ "$ws" -gt "$limit" ] || e2e_fail "BENCH_WS must exceed BENCH_LIMIT, or nothing swaps"
[ "$swap_size" -gt $((ws - limit)) ] ||
	e2e_fail "BENCH_SWAP is too small for BENCH_WS - BENCH_LIMIT"
for c in "${configs[@]}"; do
	case "$c" in
	swapdev-lz4 | swapdev-zstd | swapdev-lz4-devfuse | zram-lz4 | zswap-lzo-rle | disk) ;;
	*) e2e_fail "unknown configuration '$c' in BENCH_CONFIGS" ;;
	esac
done

requires_root
requires_fuse
requires_loop
requires_swap
requires_cgroup
requires_cmd losetup mkswap swapon swapoff fallocate timeout flock awk

e2e_make_tmpdir
workload='' hold=''
e2e_program workload workload tests/e2e/workload.c
if [ -n "${HOLD:-}" ] && [ -x "$HOLD" ]; then
	hold=$HOLD
else
	e2e_program hold hold tests/bench/hold.c
fi
# Also takes the machine-wide lock, held to the end of the run.
swapdevd_setup
SD_SIZE=$swap_size
others=$(awk 'NR > 1 { print $1 }' /proc/swaps)
[ -z "$others" ] || e2e_skip "other swap areas are active ($others); they would share the load"

case "${BENCH_IO_URING:-on}" in
on) fuse_uring_switch 1 || true ;;
off) fuse_uring_switch 0 || true ;;
*) e2e_fail "BENCH_IO_URING takes on or off" ;;
esac
transport="FUSE over io_uring $(cat "$FUSE_URING_PARAM" 2>/dev/null || echo absent) in the kernel"

raw=$E2E_TMPDIR/raw
: >"$raw"
if [ -n "${BENCH_RAW:-}" ]; then
	: >"$BENCH_RAW" || e2e_fail "cannot write BENCH_RAW=$BENCH_RAW"
fi

# record KIND CONFIG REP KEY VALUE : one raw result (KIND time or mem).
record()
{
	echo "$*" >>"$raw"
	if [ -n "${BENCH_RAW:-}" ]; then
		echo "$*" >>"$BENCH_RAW"
	fi
}

# ---------------------------------------------------------------- zswap

zswap_params=/sys/module/zswap/parameters
zswap_saved_enabled='' zswap_saved_compressor=''

zswap_restore()
{
	[ -n "$zswap_saved_enabled" ] || return 0
	echo "$zswap_saved_compressor" >"$zswap_params/compressor" ||
		e2e_log "cannot restore zswap compressor $zswap_saved_compressor"
	echo "$zswap_saved_enabled" >"$zswap_params/enabled" ||
		e2e_log "cannot restore zswap enabled=$zswap_saved_enabled"
}

# zswap_set ENABLED [COMPRESSOR] : set and read back (a refused compressor
# falls back silently).
zswap_set()
{
	if [ -n "${2:-}" ]; then
		echo "$2" >"$zswap_params/compressor" || e2e_fail "zswap refuses compressor $2"
		[ "$(cat "$zswap_params/compressor")" = "$2" ] ||
			e2e_fail "zswap compressor is $(cat "$zswap_params/compressor"), not $2"
	fi
	echo "$1" >"$zswap_params/enabled" || e2e_fail "cannot set zswap enabled=$1"
	[ "$(cat "$zswap_params/enabled")" = "$1" ] || e2e_fail "zswap enabled is not $1"
}

if [ -w "$zswap_params/enabled" ]; then
	zswap_saved_enabled=$(cat "$zswap_params/enabled")
	zswap_saved_compressor=$(cat "$zswap_params/compressor")
	cleanup_fn zswap_restore
	# zswap would sit in front of every other swap area.
	zswap_set N
fi

# ---------------------------------------------------------------- cgroups and hold

cgroups=()
destroy_cgroups()
{
	local cg

	for cg in "${cgroups[@]}"; do
		cgroup_destroy "$cg"
	done
	cgroups=()
}
cleanup_fn destroy_cgroups

# new_cgroup : a fresh cgroup with the limit, named in $cg (not a
# subshell: the list of cgroups to destroy lives in this shell).
new_cgroup()
{
	cg=swapdev-bench-$$-${#cgroups[@]}
	cgroups+=("$cg")
	cgroup_create "$cg" "$limit"
}

cgroup_unlimit()
{
	local dir

	dir=$(cgroup_path "$1")
	if [ "$_e2e_cgroup_version" = 1 ]; then
		echo -1 >"$dir/memory.limit_in_bytes"
	else
		echo max >"$dir/memory.max"
	fi
}

hold_pid=''
stop_hold()
{
	[ -n "$hold_pid" ] || return 0
	# stop_pid is written for teardown, where errexit is off.
	stop_pid "$hold_pid" || true
	hold_pid=''
}
cleanup_fn stop_hold

# ---------------------------------------------------------------- swap areas

area=''          # what /proc/swaps names
zram_id=''
swap_file=$E2E_TMPDIR/swapfile
sd_idle_rss=0

zram_remove()
{
	[ -n "$zram_id" ] || return 0
	teardown_swap_of "/dev/zram$zram_id"
	echo 1 >"/sys/block/zram$zram_id/reset" || e2e_log "cannot reset zram$zram_id"
	echo "$zram_id" >/sys/class/zram-control/hot_remove ||
		e2e_log "cannot hot_remove zram$zram_id"
	zram_id=''
}
cleanup_fn zram_remove

swap_file_remove()
{
	teardown_swap_of "$swap_file"
	rm -f "$swap_file"
}
cleanup_fn swap_file_remove

# Runs before the swapdevd teardown (hooks run in reverse): the backing
# file is big.
cleanup_fn rm -f "$SD_BACKING"

vmrss_bytes()
{
	awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"
}

# area_up CONFIG : set up the swap area of CONFIG, set $area.
area_up()
{
	local sys i

	case "$1" in
	swapdev-lz4 | swapdev-zstd | swapdev-lz4-devfuse)
		case "$1" in
		swapdev-lz4) swapdevd_start "${swapdev_args[@]}" ;;
		swapdev-zstd) swapdevd_start --set pool.compressor="$zstd" "${swapdev_args[@]}" ;;
		*) swapdevd_start "${swapdev_args[@]}" --set device.io_uring=no ;;
		esac
		area=$SD_LOOP
		sd_idle_rss=$(vmrss_bytes "$SD_PID")
		;;
	zram-lz4)
		[ -w /sys/class/zram-control/hot_add ] || modprobe zram 2>/dev/null || true
		[ -r /sys/class/zram-control/hot_add ] || e2e_fail "no zram (modprobe zram)"
		zram_id=$(cat /sys/class/zram-control/hot_add)
		sys=/sys/block/zram$zram_id
		echo lz4 >"$sys/comp_algorithm" || e2e_fail "zram refuses lz4"
		grep -q '\[lz4\]' "$sys/comp_algorithm" ||
			e2e_fail "zram comp_algorithm is '$(cat "$sys/comp_algorithm")', not lz4"
		echo "$swap_size" >"$sys/disksize"
		area=/dev/zram$zram_id
		for ((i = 0; i < 50; i++)); do
			[ -b "$area" ] && break
			sleep 0.1
		done
		mkswap -q "$area" >/dev/null
		swapon --discard "$area"
		;;
	zswap-lzo-rle | disk)
		fallocate -l "$swap_size" "$swap_file"
		chmod 600 "$swap_file"
		mkswap -q "$swap_file" >/dev/null
		if [ "$1" = zswap-lzo-rle ]; then
			[ -n "$zswap_saved_enabled" ] || e2e_fail "no zswap in this kernel"
			zswap_set Y lzo-rle
		fi
		swapon "$swap_file"
		area=$swap_file
		;;
	esac
	grep -q "^$area " /proc/swaps || e2e_fail "$area is not an active swap area"
}

# Wait for a stopping swapdevd to exit 0 and leave nothing behind.
swapdevd_wait_exit()
{
	local status=0 i

	for ((i = 0; i < 3000; i++)); do
		kill -0 "$SD_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$SD_PID" 2>/dev/null && e2e_fail "swapdevd still running 300 s after SIGTERM"
	wait "$SD_PID" || status=$?
	SD_PID=
	[ "$status" -eq 0 ] || e2e_fail "swapdevd exited with status $status after SIGTERM"
	check_swap_gone "$SD_MNT" || e2e_fail "swapdevd left something behind"
}

# area_swapoff CONFIG : swapoff the area of CONFIG, seconds in $swapoff_s.
area_swapoff()
{
	local t0 t1 i

	t0=$EPOCHREALTIME
	case "$1" in
	swapdev-*)
		kill -TERM "$SD_PID"
		for ((i = 0; i < 90000; i++)); do
			grep -q "^$area " /proc/swaps || break
			kill -0 "$SD_PID" 2>/dev/null || break
			sleep 0.01
		done
		grep -q "^$area " /proc/swaps && e2e_fail "swapoff of $area not done after 900 s"
		;;
	*)
		with_timeout 900 swapoff "$area" || e2e_fail "swapoff $area failed"
		;;
	esac
	t1=$EPOCHREALTIME
	swapoff_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }')
}

# area_down CONFIG : remove the area of CONFIG (swapoff first unless done).
area_down()
{
	case "$1" in
	swapdev-*)
		if [ -n "$SD_PID" ] && grep -q "^$area " /proc/swaps; then
			swapdevd_stop
		elif [ -n "$SD_PID" ]; then
			swapdevd_wait_exit
		fi
		rm -f "$SD_BACKING"
		;;
	zram-lz4)
		zram_remove
		;;
	zswap-lzo-rle | disk)
		swap_file_remove
		[ "$1" = disk ] || zswap_set N "$zswap_saved_compressor"
		;;
	esac
	area=''
}

# area_used_bytes : bytes in use on $area per /proc/swaps.
area_used_bytes()
{
	awk -v a="$area" '$1 == a { print $4 * 1024 }' /proc/swaps
}

# Wait until the area's use stops changing (swap writes in flight land).
area_settle()
{
	local prev=-1 cur stable=0 i

	for ((i = 0; i < 150 && stable < 3; i++)); do
		sleep 0.2
		cur=$(area_used_bytes)
		if [ "$cur" = "$prev" ]; then
			stable=$((stable + 1))
		else
			stable=0
		fi
		prev=$cur
	done
}

# record_memory CONFIG REP : what the tier spends in RAM on the data in swap.
record_memory()
{
	local c=$1 r=$2 mm kb

	record mem "$c" "$r" swap_used "$(area_used_bytes)"
	case "$c" in
	swapdev-*)
		local key v

		for key in pool_footprint_bytes compr_bytes pool_slots same_slots disk_slots \
			orig_bytes; do
			v=$(stat_value "$key")
			[ -n "$v" ] || e2e_fail "stats have no $key"
			record mem "$c" "$r" "$key" "$v"
			[ "$key" != pool_footprint_bytes ] || record mem "$c" "$r" held "$v"
		done
		record mem "$c" "$r" rss_growth $(($(vmrss_bytes "$SD_PID") - sd_idle_rss))
		;;
	zram-lz4)
		read -r -a mm <"/sys/block/zram$zram_id/mm_stat"
		record mem "$c" "$r" held "${mm[2]}"
		record mem "$c" "$r" orig_bytes "${mm[0]}"
		record mem "$c" "$r" compr_bytes "${mm[1]}"
		record mem "$c" "$r" same_pages "${mm[5]}"
		record mem "$c" "$r" huge_pages "${mm[7]:-0}"
		;;
	zswap-lzo-rle)
		kb=$(awk '/^Zswap:/ { print $2 }' /proc/meminfo)
		record mem "$c" "$r" held $((kb * 1024))
		record mem "$c" "$r" compr_bytes $((kb * 1024))
		kb=$(awk '/^Zswapped:/ { print $2 }' /proc/meminfo)
		record mem "$c" "$r" orig_bytes $((kb * 1024))
		;;
	disk)
		record mem "$c" "$r" held 0
		;;
	esac
}

# json_int JSON KEY : the first integer named KEY; json_p50_p99 JSON KEY :
# "p50/p99" of the latency object KEY (swapdevctl's one-line output).
json_int()
{
	sed -n "s/.*\"$2\" *: *\([0-9][0-9]*\).*/\1/p" <<<"$1" | head -n 1
}

json_p50_p99()
{
	sed -n "s/.*\"$2\" *: *{ *\"p50\" *: *\([0-9]*\) *, *\"p99\" *: *\([0-9]*\).*/\1\/\2/p" \
		<<<"$1"
}

# json_ints JSON KEY... : the integers named KEY..., joined by "/".
json_ints()
{
	local j=$1 key out=''

	shift
	for key in "$@"; do
		out+=${out:+/}$(json_int "$j" "$key")
	done
	echo "$out"
}

# swapdev_summary : one line on what the daemon served, from its stats.
swapdev_summary()
{
	local j

	j=$("$SWAPDEVCTL" --socket "$SD_SOCKET" stats --json | tr -d '\n')
	echo "bench-e2e:   swapdevd served $(json_int "$j" reads) reads (slots" \
		"same/pool/disk/empty" \
		"$(json_ints "$j" reads_same reads_pool reads_disk reads_empty))," \
		"$(json_int "$j" writes) writes (same/pool/disk" \
		"$(json_ints "$j" writes_same writes_pool writes_disk))," \
		"$(json_int "$j" discards) discards; latency p50/p99 us:" \
		"read $(json_p50_p99 "$j" read_latency_us)," \
		"write $(json_p50_p99 "$j" write_latency_us)"
}

# ---------------------------------------------------------------- one run

# run_workload CONFIG REP SEED : the timed workload on a fresh area.
run_workload()
{
	local c=$1 r=$2 seed=$3 out status=0 phase v

	area_up "$c"
	new_cgroup
	out=$E2E_TMPDIR/workload.out
	# Other work on the machine shows up in the timings: keep a trace.
	record load "$c" "$r" before "$(cut -d' ' -f1 /proc/loadavg)"
	cgroup_run --timeout "$timeout_s" "$cg" "$workload" --size "$ws" --passes "$passes" \
		--seed "$seed" --report >"$out" || status=$?
	record load "$c" "$r" after "$(cut -d' ' -f1 /proc/loadavg)"
	cat "$out"
	[ "$status" -eq 0 ] || e2e_fail "workload failed on $c (status $status)"
	for phase in fill passes random verify total; do
		v=$(sed -n "s/.* ${phase}_s=\([0-9.]*\).*/\1/p" "$out")
		[ -n "$v" ] || e2e_fail "no ${phase}_s in the workload's report"
		record time "$c" "$r" "$phase" "$v"
	done
	destroy_cgroups
	if [ -n "$SD_PID" ]; then
		# Freed slots reach the daemon as discards, a moment after the exit.
		sleep 1
		record mem "$c" "$r" residual_footprint "$(stat_value pool_footprint_bytes)"
		swapdev_summary
	fi
	area_down "$c"
}

# run_hold CONFIG REP SEED : memory held and swapoff time, on a fresh area.
run_hold()
{
	local c=$1 r=$2 seed=$3 dir out i

	area_up "$c"
	new_cgroup
	dir=$(cgroup_path "$cg")
	out=$E2E_TMPDIR/hold.out
	: >"$out"
	# shellcheck disable=SC2016 # expanded by the inner sh
	sh -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"' hold "$dir" \
		"$hold" "$ws" "$seed" >"$out" &
	hold_pid=$!
	for ((i = 0; i < timeout_s * 10; i++)); do
		grep -q '^hold: ready' "$out" && break
		kill -0 "$hold_pid" 2>/dev/null || e2e_fail "hold exited during its fill on $c"
		sleep 0.1
	done
	grep -q '^hold: ready' "$out" || e2e_fail "hold not filled after ${timeout_s}s on $c"
	area_settle
	record_memory "$c" "$r"
	# swapoff brings every page back: let the cgroup take them.
	cgroup_unlimit "$cg"
	area_swapoff "$c"
	record time "$c" "$r" swapoff "$swapoff_s"
	stop_hold
	destroy_cgroups
	area_down "$c"
	echo "bench-e2e:   swapoff $swapoff_s s; RAM held $(mib "$(value_of mem "$c" "$r" held)")" \
		"MiB for $(mib "$(value_of mem "$c" "$r" swap_used)") MiB in swap"
}

# ---------------------------------------------------------------- report

# value_of KIND CONFIG REP KEY : one recorded value.
value_of()
{
	awk -v k="$1" -v c="$2" -v r="$3" -v key="$4" \
		'$1 == k && $2 == c && $3 == r && $4 == key { print $5 }' "$raw"
}

# stats_of KIND CONFIG KEY : "min median max" of the recorded values, or
# "- - -" when there are none.
stats_of()
{
	awk -v k="$1" -v c="$2" -v key="$3" '$1 == k && $2 == c && $4 == key { print $5 }' "$raw" |
		sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) { print "- - -"; exit }
			if (NR % 2)
				med = v[(NR + 1) / 2]
			else
				med = sprintf("%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2)
			print v[1], med, v[NR]
		}'
}

# med KIND CONFIG KEY : the median, "-" when nothing was recorded.
med()
{
	local mn md mx

	read -r mn md mx <<<"$(stats_of "$@")"
	echo "$md"
}

# ratio A B : A / B with two decimals, "-" when either is missing or B is 0.
ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-"
		else printf "%.2f\n", a / b
	}'
}

# mib BYTES : in MiB with one decimal, "-" when missing.
mib()
{
	awk -v b="$1" 'BEGIN {
		if (b == "-" || b == "") print "-"; else printf "%.1f\n", b / 1048576
	}'
}

has_config()
{
	local c

	for c in "${configs[@]}"; do
		[ "$c" = "$1" ] && return 0
	done
	return 1
}

phases=(fill passes random verify total swapoff)

print_times()
{
	local p c base mn md mx

	printf '\nSeconds per phase: min / median / max over %d repetitions;' "$reps"
	printf ' ratio = median / zram-lz4 median\n\n'
	printf '%-8s %-14s %9s %9s %9s %7s\n' phase config min median max ratio
	for p in "${phases[@]}"; do
		base=$(med time zram-lz4 "$p")
		for c in "${configs[@]}"; do
			read -r mn md mx <<<"$(stats_of time "$c" "$p")"
			printf '%-8s %-14s %9s %9s %9s %7s\n' "$p" "$c" "$mn" "$md" "$mx" \
				"$(ratio "$md" "$base")"
		done
	done
}

print_load()
{
	local when out=()

	for when in before after; do
		out+=("$(awk -v w="$when" '$1 == "load" && $4 == w { print $5 }' "$raw" | sort -g |
			awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')")
	done
	printf '\nLoad average (1 min) at the start / end of the workload runs:'
	printf ' medians %s / %s, max %s\n' "${out[0]}" "${out[1]}" \
		"$(awk '$1 == "load" { print $5 }' "$raw" | sort -g | tail -n 1)"
}

# memory_detail CONFIG : where the figure comes from, and what else was seen.
memory_detail()
{
	local c=$1 pool_bytes

	case "$c" in
	swapdev-*)
		pool_bytes=$(awk -v s="$(med mem "$c" pool_slots)" 'BEGIN { print s * 4096 }')
		echo "pool_footprint_bytes; daemon RSS growth" \
			"$(mib "$(med mem "$c" rss_growth)") MiB;" \
			"pool ratio $(ratio "$pool_bytes" "$(med mem "$c" compr_bytes)");" \
			"slots pool/disk/same $(med mem "$c" pool_slots)/$(
				med mem "$c" disk_slots)/$(med mem "$c" same_slots);" \
			"pool after the workload exited" \
			"$(mib "$(med mem "$c" residual_footprint)") MiB"
		;;
	zram-lz4)
		echo "mm_stat mem_used_total; ratio $(ratio "$(med mem "$c" orig_bytes)" \
			"$(med mem "$c" compr_bytes)"); huge pages $(med mem "$c" huge_pages)," \
			"same pages $(med mem "$c" same_pages)"
		;;
	zswap-lzo-rle)
		echo "Zswap in /proc/meminfo; ratio $(ratio "$(med mem "$c" orig_bytes)" \
			"$(med mem "$c" compr_bytes)")"
		;;
	disk)
		echo "none"
		;;
	esac
}

print_memory()
{
	local c held used base

	printf '\nRAM held for the data in swap: hold, %d MiB in a %d MiB cgroup (medians;' \
		$((ws >> 20)) $((limit >> 20))
	printf ' ratio = RAM held / zram-lz4 mem_used_total)\n\n'
	printf '%-14s %10s %10s %7s %9s  %s\n' config 'swap MiB' 'RAM MiB' ratio 'RAM/swap' source
	base=$(med mem zram-lz4 held)
	for c in "${configs[@]}"; do
		held=$(med mem "$c" held)
		used=$(med mem "$c" swap_used)
		printf '%-14s %10s %10s %7s %9s  %s\n' "$c" "$(mib "$used")" "$(mib "$held")" \
			"$(ratio "$held" "$base")" "$(ratio "$held" "$used")" \
			"$(memory_detail "$c")"
	done
}

# target TEXT VALUE LIMIT : MET when VALUE <= LIMIT.
target()
{
	local verdict

	verdict=$(awk -v v="$2" -v l="$3" 'BEGIN {
		if (v == "-") print "n/a"; else print (v + 0 <= l + 0) ? "MET" : "MISSED"
	}')
	printf '  %-60s %7s  %s\n' "$1" "$2" "$verdict"
}

# lz4_vs CONFIG KIND KEY : median of swapdev-lz4 / median of CONFIG.
lz4_vs()
{
	ratio "$(med "$2" swapdev-lz4 "$3")" "$(med "$2" "$1" "$3")"
}

print_targets()
{
	local zs=swapdev-zstd per_slot_zstd per_slot_lz4

	has_config swapdev-lz4 && has_config zram-lz4 || return 0
	printf '\nIssue 7 targets (ratios of medians)\n\n'
	target "swapdev-lz4 total / zram-lz4 total <= 1.35" "$(lz4_vs zram-lz4 time total)" 1.35
	if has_config disk; then
		target "swapdev-lz4 total / disk total < 1" "$(lz4_vs disk time total)" 0.999
	fi
	target "swapdev-lz4 random / zram-lz4 random <= 3" "$(lz4_vs zram-lz4 time random)" 3
	target "swapdev-lz4 swapoff / zram-lz4 swapoff <= 4" "$(lz4_vs zram-lz4 time swapoff)" 4
	target "swapdev-lz4 RAM held / zram-lz4 mem_used_total <= 0.7" \
		"$(lz4_vs zram-lz4 mem held)" 0.7
	has_config $zs || return 0
	target "$zs total / swapdev-lz4 total <= 1.2" \
		"$(ratio "$(med time $zs total)" "$(med time swapdev-lz4 total)")" 1.2
	# A better ratio: fewer compressed bytes per pool slot.
	per_slot_zstd=$(ratio "$(med mem $zs compr_bytes)" "$(med mem $zs pool_slots)")
	per_slot_lz4=$(ratio "$(med mem swapdev-lz4 compr_bytes)" \
		"$(med mem swapdev-lz4 pool_slots)")
	target "$zs / swapdev-lz4 compressed bytes per pool slot < 1" \
		"$(ratio "$per_slot_zstd" "$per_slot_lz4")" 0.999
}

make_plot()
{
	local times=$E2E_TMPDIR/plot-times.dat ratios=$E2E_TMPDIR/plot-ratios.dat
	local mem=$E2E_TMPDIR/plot-mem.dat p c base line rline mn md mx

	[ -n "$plot" ] || return 0
	if ! command -v gnuplot >/dev/null 2>&1; then
		echo "bench-e2e: gnuplot not found, no plot (apt-get install gnuplot-nox)"
		return 0
	fi
	line=phase rline=phase
	for c in "${configs[@]}"; do
		line+=" $c min max"
		rline+=" $c"
	done
	echo "$line" >"$times"
	echo "$rline" >"$ratios"
	for p in "${phases[@]}"; do
		base=$(med time zram-lz4 "$p")
		line=$p rline=$p
		for c in "${configs[@]}"; do
			read -r mn md mx <<<"$(stats_of time "$c" "$p")"
			line+=" $md $mn $mx"
			rline+=" $(ratio "$md" "$base")"
		done
		echo "$line" >>"$times"
		echo "$rline" >>"$ratios"
	done
	for c in "${configs[@]}"; do
		echo "$c $(mib "$(med mem "$c" held)") $(mib "$(med mem "$c" swap_used)")"
	done >"$mem"
	gnuplot -e "times='$times'; ratios='$ratios'; mem='$mem'; out='$plot'" \
		-e "n=${#configs[@]}; subtitle='$subtitle'" "$bench_dir/bench-e2e.gnuplot" ||
		e2e_fail "gnuplot failed"
	echo "bench-e2e: plot written to $plot"
}

# ---------------------------------------------------------------- main

subtitle="working set $((ws >> 20)) MiB, cgroup limit $((limit >> 20)) MiB,"
subtitle+=" swap $((swap_size >> 20)) MiB, $reps repetitions, $(nproc) CPUs,"
subtitle+=" kernel $(uname -r)"
echo "bench-e2e: $subtitle"
echo "bench-e2e: configurations: ${configs[*]} (swapdev-zstd: $zstd;" \
	"swapdev settings: ${swapdev_set[*]:-defaults}; $transport)"
echo "bench-e2e: vm.page-cluster=$(cat /proc/sys/vm/page-cluster)," \
	"vm.swappiness=$(cat /proc/sys/vm/swappiness), cgroup v$_e2e_cgroup_version," \
	"swap files and backing file in $E2E_TMPDIR"

for ((r = 0; r < reps; r++)); do
	seed=$((seed0 + r))
	for ((k = 0; k < ${#configs[@]}; k++)); do
		c=${configs[(k + r) % ${#configs[@]}]}
		echo "bench-e2e: repetition $((r + 1))/$reps, $c: workload (seed $seed)"
		run_workload "$c" "$r" "$seed"
		echo "bench-e2e: repetition $((r + 1))/$reps, $c: hold $((ws >> 20)) MiB, swapoff"
		run_hold "$c" "$r" "$seed"
	done
done

print_times
print_load
print_memory
print_targets
echo
make_plot
# Success: the daemon logs are not news.
E2E_SHOW_LOG=0

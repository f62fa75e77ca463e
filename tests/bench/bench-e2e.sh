#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# bench-e2e.sh - the whole swap path, swapdev against zram, zswap, a
# plain disk swap file and a FUSE server that stores nothing, in one run:
# time against the RAM each spends on the same data (meson benchmark 'e2e',
# needs root).
#
# Configurations, each with the same swap size and cgroup limit, and only
# one swap area active at a time:
#
#   zram-lz4       a zram device (hot_add) with comp_algorithm lz4, swapon
#                  --discard as zram-generator does
#   zswap-capped   zswap (compressor lzo-rle, read back) in front of a swap
#                  file on /var/tmp, shrinker_enabled=Y and max_pool_percent
#                  at the whole percent of RAM nearest to the half budget
#                  (below; at least 1), read back
#   zswap-lzo-rle  the same with max_pool_percent and the shrinker left as
#                  the kernel has them (not in the default set)
#   disk           a plain swap file on /var/tmp, zswap off
#   null-fuse      the transport floor: tests/bench/null-fs.c, a FUSE file
#                  that stores nothing (reads return zeros), served and
#                  activated as swapdevd does (same direct-I/O loop device,
#                  same FUSE transport). The workload runs with --no-verify
#                  on it: it reads and compares every page but cannot
#                  check them. What it measures is the kernel's swap path,
#                  the loop device and the FUSE round trips, with no store
#                  behind them: a FUSE swap server cannot go below it.
#   fuse-disk      the disk floor of a FUSE server: null-fs --backing, every
#                  request one O_DIRECT pread or pwrite at the same offset
#                  of a preallocated file beside swapdevd's backing file.
#                  What a FUSE swap server pays for a page it keeps on disk;
#                  its pages are real, so it is verified and held as usual
#                  (RAM held 0). Not in the default set
#   swapdev-lz4    swapdevd on its defaults (lz4, zstd for entries idle 60 s;
#                  incompressible pages in the pool, written back first;
#                  the backing file under $E2E_TMPROOT, /var/tmp)
#   swapdev-zstd   the same with pool.compressor=$BENCH_ZSTD (zstd:1)
#   swapdev-lz4-half, swapdev-lz4-quarter, swapdev-zstd-half,
#   swapdev-zstd-quarter
#                  the same with pool.limit at one half or one quarter of
#                  the RAM zram-lz4 spends on the same data (the budget)
#   swapdev-lz4-recompress
#                  swapdev-lz4 with idle recompression: pool.recompress=
#                  $BENCH_RECOMPRESS after $BENCH_RECOMPRESS_IDLE seconds
#                  untouched, the rest at its defaults. Its hold step waits,
#                  after the fill, until one recompression pass is over
#                  (below) before it reads the RAM held
#   swapdev-lz4-norecompress
#                  swapdev-lz4 with pool.recompress=none: lz4 alone, what
#                  swapdev-lz4-recompress is measured against
#   swapdev-lz4-devfuse
#                  swapdev-lz4 with device.io_uring=no: requests read from
#                  /dev/fuse, to measure FUSE over io_uring in the same run
#                  (not in the default set)
#
# The budget: BENCH_BUDGET when given; otherwise, when a capped
# configuration is selected, zram-lz4's hold (step 2 below) runs first and
# its mem_used_total is the budget (that measurement is also zram-lz4's
# first repetition of step 2).
#
# Per configuration and repetition:
#   1. the integrity workload (tests/e2e/workload.c: fill, sequential passes,
#      uniform random access, skewed random access with --skew $BENCH_SKEW,
#      final verify; every page checked) in a memory cgroup limited to
#      about a quarter of its working set; its --report gives the seconds
#      per phase. "uniform" is the run without its skewed phase (the total
#      of earlier runs of this benchmark), "skewed" that phase alone. For
#      the servers (swapdevd, null-fs): their CPU time during the run and,
#      for swapdevd, its counters (reads from the pool and from disk,
#      writebacks, write-throughs);
#   2. (not on null-fuse, which holds nothing and would hand hold's own
#      pages back as zeros: RAM held 0, no swapoff time)
#      on a fresh swap area, hold (tests/bench/hold.c) fills the same
#      amount with the workload's page mix and sleeps: with its data in
#      swap, the RAM each tier spends on it is read (swapdev: the pool's
#      pool_footprint_bytes and the daemon's RSS growth; zram: mm_stat
#      mem_used_total; zswap: Zswap in /proc/meminfo; disk: none), then the
#      cgroup limit is lifted and swapoff is timed. For swapdevd, swapoff is
#      what its SIGTERM runs, as `systemctl stop` does (a swapoff from
#      outside would make the daemon's own one fail at stop): the time from
#      SIGTERM until the loop device leaves /proc/swaps.
#      With recompression on, the RAM is read once a pass is over: after
#      the idle time, when the entries recompressed, kept and dropped have
#      stopped growing for 5 s and the pool is compacted (its footprint
#      within 10% of its objects, as the daemon compacts it). RAM for
#      compressible pages is the footprint less 4096 bytes per raw
#      (incompressible) entry, which no codec can shrink.
# Other swap areas would share the load: with any active, the benchmark
# reports SKIP (exit 77), as without root, FUSE, loop devices or cgroups.
# Repetition r uses seed BENCH_SEED + r for every configuration, and the
# order of the configurations rotates from one repetition to the next, so
# that drift of the machine spreads over all of them.
#
# Output: per phase (fill, passes, random, skewed, verify, uniform, total,
# swapoff) and configuration min / median / max seconds and the ratios of
# the median to zram-lz4's, the disk swap file's and the null FUSE
# server's; memory held for the same data, with ratios; the speed-for-RAM
# curve as a table (RAM held, uniform and skewed seconds, ratios to disk
# and to null-fuse); the daemons' CPU time and swapdevd's per-request
# counters; the issue 7 and issue 15 targets as MET or MISSED
# (informational: the exit status only reports errors, such as a page that
# came back wrong). Two PNG plots of the medians (gnuplot; skipped with a
# message when gnuplot is missing): per phase, and time against RAM held.
#
# Environment (sizes take K, M or G):
#   BENCH_WS       working set of the workload and of hold (1G)
#   BENCH_LIMIT    memory cgroup limit (256M)
#   BENCH_SWAP     size of every swap area (2G)
#   BENCH_REPS     repetitions (3)
#   BENCH_PASSES   sequential passes of the workload (2)
#   BENCH_SEED     first seed (1)
#   BENCH_ZSTD     compressor of the swapdev-zstd configurations (zstd:1)
#   BENCH_RECOMPRESS  second codec of swapdev-lz4-recompress (zstd)
#   BENCH_RECOMPRESS_IDLE  its pool.recompress_idle_seconds (10: entries are
#                  recompressed during the workload, as under a real load
#                  with a longer idle time on a longer time scale)
#   BENCH_SKEW     the workload's skewed phase, ACCESS:HOT percentages
#                  (80:40); empty: no skewed phase
#   BENCH_BUDGET   zram's RAM for the data, for the capped configurations
#                  (sizes with K, M, G; default: measured, see above)
#   BENCH_SWAPDEV_SET  extra SECTION.KEY=VALUE settings, space-separated,
#                  for both swapdev configurations (none): to try a tuning
#                  against the same baselines in one run
#   BENCH_CONFIGS  configurations to run, in this order (all above but
#                  zswap-lzo-rle and swapdev-lz4-devfuse)
#   BENCH_IO_URING on (default): FUSE over io_uring is turned on in the
#                  kernel for the run (fuse.enable_uring, restored at the
#                  end) where the kernel has it, so that the swapdev
#                  configurations serve through it; off: turned off
#   BENCH_SUPERVISE  1: run swapdevd under its --foreground supervisor, which
#                  holds the state's pages locked (0, the default: one process,
#                  as under the systemd unit)
#   BENCH_TIMEOUT  seconds allowed for one workload run or one fill (1800)
#   BENCH_PLOT     PNG to write (docs/bench-e2e.png in the source tree);
#                  empty: no plot
#   BENCH_CURVE_PLOT  PNG of time against RAM held
#                  (docs/bench-e2e-curve.png); empty: no plot
#   BENCH_RAW      file that keeps the raw results (default: none kept)
#   BENCH_PROFILE  strace or perf: during each workload, attach to the FUSE
#                  server (swapdevd, null-fs) `strace -c -f` (system calls
#                  per kind) or `perf record -e cpu-clock -g` (where its CPU
#                  time goes) and print the summary after the run. Slows
#                  the server (strace much): for diagnosis, not for timings.
#   BENCH_PROFILE_DIR  where the profiles are kept (default: not kept)
#   SWAPDEVD, SWAPDEVCTL, E2E_BUILDDIR (workload), HOLD, NULL_FS: built
#   programs;
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
recompress=${BENCH_RECOMPRESS:-zstd}
recompress_idle=${BENCH_RECOMPRESS_IDLE:-10}
timeout_s=${BENCH_TIMEOUT:-1800}
plot=${BENCH_PLOT-$E2E_SRCDIR/docs/bench-e2e.png}
curve_plot=${BENCH_CURVE_PLOT-$E2E_SRCDIR/docs/bench-e2e-curve.png}
skew=${BENCH_SKEW-80:40}
budget=''
[ -z "${BENCH_BUDGET:-}" ] || budget=$(to_bytes "$BENCH_BUDGET")
read -r -a swapdev_set <<<"${BENCH_SWAPDEV_SET:-}"
swapdev_args=()
for kv in "${swapdev_set[@]}"; do
	swapdev_args+=(--set "$kv")
done
default_configs="zram-lz4 zswap-capped disk null-fuse swapdev-lz4 swapdev-zstd"
default_configs+=" swapdev-lz4-half swapdev-lz4-quarter swapdev-zstd-half swapdev-zstd-quarter"
default_configs+=" swapdev-lz4-recompress swapdev-lz4-norecompress"
read -r -a configs <<<"${BENCH_CONFIGS:-$default_configs}"
for n in "$reps" "$passes" "$seed0" "$timeout_s" "$recompress_idle"; do
	[[ "$n" =~ ^[0-9]+$ ]] ||
		e2e_fail "BENCH_REPS, BENCH_PASSES, BENCH_SEED, BENCH_TIMEOUT and" \
			"BENCH_RECOMPRESS_IDLE take numbers"
done
[ "$reps" -ge 1 ] || e2e_fail "BENCH_REPS must be at least 1"
[ "$ws" -gt "$limit" ] || e2e_fail "BENCH_WS must exceed BENCH_LIMIT, or nothing swaps"
[ "$swap_size" -gt $((ws - limit)) ] ||
	e2e_fail "BENCH_SWAP is too small for BENCH_WS - BENCH_LIMIT"
for c in "${configs[@]}"; do
	case "$c" in
	swapdev-lz4 | swapdev-zstd | swapdev-lz4-devfuse | zram-lz4 | zswap-lzo-rle | disk) ;;
	swapdev-lz4-recompress | swapdev-lz4-norecompress) ;;
	swapdev-lz4-half | swapdev-lz4-quarter | swapdev-zstd-half | swapdev-zstd-quarter) ;;
	zswap-capped | null-fuse | fuse-disk) ;;
	*) e2e_fail "unknown configuration '$c' in BENCH_CONFIGS" ;;
	esac
done
profile=${BENCH_PROFILE:-}
case "$profile" in
'' | strace | perf) ;;
*) e2e_fail "BENCH_PROFILE takes strace or perf" ;;
esac
[ -z "$skew" ] || [[ "$skew" =~ ^[0-9]+:[0-9]+$ ]] ||
	e2e_fail "BENCH_SKEW takes ACCESS:HOT (percentages, e.g. 80:40) or nothing"

requires_root
requires_fuse
requires_loop
requires_swap
requires_cgroup
requires_cmd losetup mkswap swapon swapoff fallocate timeout flock awk
[ -z "$profile" ] || requires_cmd "$profile"

e2e_make_tmpdir
workload='' hold=''
e2e_program workload workload tests/e2e/workload.c
if [ -n "${HOLD:-}" ] && [ -x "$HOLD" ]; then
	hold=$HOLD
else
	e2e_program hold hold tests/bench/hold.c
fi
null_fs=''
for c in "${configs[@]}"; do
	case "$c" in null-fuse | fuse-disk) ;; *) continue ;; esac
	if [ -n "${NULL_FS:-}" ] && [ -x "$NULL_FS" ]; then
		null_fs=$NULL_FS
	else
		e2e_fail "$c needs NULL_FS, the built tests/bench/null-fs (meson builds it)"
	fi
done
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
zswap_saved_max_pool='' zswap_saved_shrinker=''
zswap_cap_percent='' # what the kernel took for zswap-capped

# zswap_restore_cap : max_pool_percent and the shrinker as they were.
zswap_restore_cap()
{
	if [ -n "$zswap_saved_max_pool" ]; then
		echo "$zswap_saved_max_pool" >"$zswap_params/max_pool_percent" ||
			e2e_log "cannot restore zswap max_pool_percent=$zswap_saved_max_pool"
	fi
	if [ -n "$zswap_saved_shrinker" ]; then
		echo "$zswap_saved_shrinker" >"$zswap_params/shrinker_enabled" ||
			e2e_log "cannot restore zswap shrinker_enabled=$zswap_saved_shrinker"
	fi
}

zswap_restore()
{
	[ -n "$zswap_saved_enabled" ] || return 0
	zswap_restore_cap
	echo "$zswap_saved_compressor" >"$zswap_params/compressor" ||
		e2e_log "cannot restore zswap compressor $zswap_saved_compressor"
	echo "$zswap_saved_enabled" >"$zswap_params/enabled" ||
		e2e_log "cannot restore zswap enabled=$zswap_saved_enabled"
}

# zswap_cap PERCENT : the shrinker on and max_pool_percent=PERCENT; sets
# $zswap_cap_percent to what the kernel reads back.
zswap_cap()
{
	[ -w "$zswap_params/max_pool_percent" ] || e2e_fail "zswap has no max_pool_percent"
	[ -w "$zswap_params/shrinker_enabled" ] ||
		e2e_fail "zswap has no shrinker_enabled (kernel before 6.8)"
	echo "$1" >"$zswap_params/max_pool_percent" || e2e_fail "zswap refuses max_pool_percent=$1"
	echo Y >"$zswap_params/shrinker_enabled" || e2e_fail "cannot turn zswap's shrinker on"
	zswap_cap_percent=$(cat "$zswap_params/max_pool_percent")
	[ "$(cat "$zswap_params/shrinker_enabled")" = Y ] || e2e_fail "zswap's shrinker is not on"
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
	zswap_saved_max_pool=$(cat "$zswap_params/max_pool_percent" 2>/dev/null || true)
	zswap_saved_shrinker=$(cat "$zswap_params/shrinker_enabled" 2>/dev/null || true)
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

# ---------------------------------------------------------------- the null FUSE server

NULL_MNT=$E2E_TMPDIR/null-mnt
NULL_PIDFILE=$E2E_TMPDIR/null-fs.pid
NULL_LOG=$E2E_TMPDIR/null-fs.log
NULL_PID=''

# null_start [ARG...] : null-fs on a fresh mount point, swap active on its
# loop device (named in $area); ARGs are null-fs's (--backing FILE).
null_start()
{
	local i

	mkdir -p "$NULL_MNT"
	rm -f "$NULL_PIDFILE"
	"$null_fs" --size "$swap_size" --mountpoint "$NULL_MNT" --pidfile "$NULL_PIDFILE" "$@" \
		>>"$NULL_LOG" 2>&1 &
	NULL_PID=$!
	for ((i = 0; i < 600; i++)); do
		[ -s "$NULL_PIDFILE" ] && break
		kill -0 "$NULL_PID" 2>/dev/null || {
			wait "$NULL_PID" || true
			NULL_PID=''
			sed 's/^/    /' "$NULL_LOG" >&2
			e2e_fail "null-fs exited during start-up (its log is above)"
		}
		sleep 0.1
	done
	[ -s "$NULL_PIDFILE" ] || e2e_fail "null-fs not ready after 60 s"
	area=$(_e2e_loops_of "$NULL_MNT/swap")
	[ -n "$area" ] || e2e_fail "no loop device backed by $NULL_MNT/swap"
}

# null_wait_exit : after SIGTERM, null-fs must exit 0 and leave nothing.
null_wait_exit()
{
	local status=0 i

	for ((i = 0; i < 3000; i++)); do
		kill -0 "$NULL_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$NULL_PID" 2>/dev/null && e2e_fail "null-fs still running 300 s after SIGTERM"
	wait "$NULL_PID" || status=$?
	NULL_PID=''
	[ "$status" -eq 0 ] || e2e_fail "null-fs exited with status $status after SIGTERM"
	check_swap_gone "$NULL_MNT" || e2e_fail "null-fs left something behind"
}

# Teardown on any exit: TERM (null-fs swaps off, detaches, unmounts), KILL
# late; then whatever is left on its mount point (hooks run in reverse).
null_final_teardown()
{
	if [ -n "$NULL_PID" ] && kill -0 "$NULL_PID" 2>/dev/null; then
		fuse_abort "$NULL_MNT"
	fi
	teardown_swap_of "$NULL_MNT"
}
null_kill()
{
	[ -n "$NULL_PID" ] || return 0
	stop_pid "$NULL_PID" 300
	NULL_PID=''
}
cleanup_fn null_final_teardown
cleanup_fn null_kill

# server_pid : the PID of the FUSE server of the current area, if any.
server_pid()
{
	if [ -n "${SD_PID:-}" ]; then
		echo "$SD_DAEMON_PID"
	elif [ -n "$NULL_PID" ]; then
		echo "$NULL_PID"
	fi
}

# ---------------------------------------------------------------- profiles

profiler_pid='' profile_out=''

# profile_start CONFIG REP PID : attach BENCH_PROFILE's tool to PID.
profile_start()
{
	[ -n "$profile" ] && [ -n "$3" ] || return 0
	profile_out=${BENCH_PROFILE_DIR:-$E2E_TMPDIR}/$profile.$1.$(($2 + 1))
	case "$profile" in
	strace) strace -c -f -p "$3" -o "$profile_out" 2>/dev/null & ;;
	perf) perf record -q -e cpu-clock -g -p "$3" -o "$profile_out" 2>/dev/null & ;;
	esac
	profiler_pid=$!
	# Neither says when it is attached; a second is plenty for a few threads.
	sleep 1
}

# profile_stop : detach (SIGINT), print the summary.
profile_stop()
{
	local i

	[ -n "$profiler_pid" ] || return 0
	kill -INT "$profiler_pid" 2>/dev/null || true
	for ((i = 0; i < 600; i++)); do
		kill -0 "$profiler_pid" 2>/dev/null || break
		sleep 0.1
	done
	stop_pid "$profiler_pid"
	profiler_pid=''
	echo "bench-e2e: $profile of the server during the workload ($profile_out):"
	case "$profile" in
	strace) sed 's/^/    /' "$profile_out" ;;
	perf)
		# Flat: the share of the server's CPU samples per function. The
		# full report stays in the file (callers with perf report -g).
		perf report -i "$profile_out" --stdio --no-children --sort dso,symbol -g none \
			2>/dev/null >"$profile_out.txt" || true
		grep '%' "$profile_out.txt" | sed -n '1,30s/^/    /p'
		;;
	esac
}
cleanup_fn profile_stop

# cpu_ticks PID : user + system clock ticks of PID so far (all threads).
cpu_ticks()
{
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

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

# budget_share N : one Nth of the budget, in whole MiB, as "123M".
budget_share()
{
	[ -n "$budget" ] || e2e_fail "no budget measured or given (BENCH_BUDGET)"
	echo "$((budget / $1 >> 20))M"
}

# zswap_percent_for SIZE : the whole percent of RAM nearest to SIZE, at least 1.
zswap_percent_for()
{
	local bytes ram

	bytes=$(to_bytes "$1")
	ram=$(awk '/^MemTotal:/ { print $2 * 1024 }' /proc/meminfo)
	awk -v b="$bytes" -v r="$ram" 'BEGIN { p = int(b * 100 / r + 0.5); print p < 1 ? 1 : p }'
}

# area_up CONFIG : set up the swap area of CONFIG, set $area.
area_up()
{
	local sys i

	case "$1" in
	swapdev-*)
		local args=()

		case "$1" in
		swapdev-zstd*) args+=(--set pool.compressor="$zstd") ;;
		esac
		case "$1" in
		*-half) args+=(--set pool.limit="$(budget_share 2)") ;;
		*-quarter) args+=(--set pool.limit="$(budget_share 4)") ;;
		esac
		args+=("${swapdev_args[@]}")
		[ "$1" != swapdev-lz4-devfuse ] || args+=(--set device.io_uring=no)
		[ "$1" != swapdev-lz4-recompress ] ||
			args+=(--set pool.recompress="$recompress"
				--set pool.recompress_idle_seconds="$recompress_idle")
		[ "$1" != swapdev-lz4-norecompress ] || args+=(--set pool.recompress=none)
		# One process, as the systemd unit runs it (its fd store takes the
		# supervisor's part); BENCH_SUPERVISE=1 measures the supervisor too.
		SD_SUPERVISE=${BENCH_SUPERVISE:-0} swapdevd_start "${args[@]}"
		area=$SD_LOOP
		sd_idle_rss=$(vmrss_bytes "$SD_DAEMON_PID")
		;;
	null-fuse)
		null_start
		;;
	fuse-disk)
		rm -f "$SD_BACKING"
		null_start --backing "$SD_BACKING"
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
	zswap-lzo-rle | zswap-capped | disk)
		fallocate -l "$swap_size" "$swap_file"
		chmod 600 "$swap_file"
		mkswap -q "$swap_file" >/dev/null
		if [ "$1" != disk ]; then
			[ -n "$zswap_saved_enabled" ] || e2e_fail "no zswap in this kernel"
			[ "$1" != zswap-capped ] || zswap_cap "$(zswap_percent_for "$(budget_share 2)")"
			zswap_set Y lzo-rle
		fi
		swapon "$swap_file"
		area=$swap_file
		;;
	esac
	grep -q "^$area " /proc/swaps || e2e_fail "$area is not an active swap area"
}

# area_swapoff CONFIG : swapoff the area of CONFIG, seconds in $swapoff_s.
area_swapoff()
{
	local t0 t1 i

	local pid

	pid=$(server_pid)
	t0=$EPOCHREALTIME
	case "$1" in
	swapdev-* | null-fuse | fuse-disk)
		kill -TERM "$pid"
		for ((i = 0; i < 90000; i++)); do
			grep -q "^$area " /proc/swaps || break
			kill -0 "$pid" 2>/dev/null || break
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
			swapdevd_wait_exit "after SIGTERM"
			check_swap_gone "$SD_MNT" || e2e_fail "swapdevd left something behind"
		fi
		rm -f "$SD_BACKING"
		;;
	null-fuse | fuse-disk)
		if [ -n "$NULL_PID" ] && kill -0 "$NULL_PID" 2>/dev/null; then
			kill -TERM "$NULL_PID" 2>/dev/null || true
			null_wait_exit
		elif [ -n "$NULL_PID" ]; then
			null_wait_exit
		fi
		rm -f "$SD_BACKING"
		;;
	zram-lz4)
		zram_remove
		;;
	zswap-lzo-rle | zswap-capped | disk)
		swap_file_remove
		if [ "$1" != disk ]; then
			zswap_set N "$zswap_saved_compressor"
			zswap_restore_cap
		fi
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
			orig_bytes raw_slots zstd_slots zstd_bytes recompressed recompress_not_worth \
			recompress_dropped recompress_cpu_us; do
			v=$(stat_value "$key")
			[ -n "$v" ] || e2e_fail "stats have no $key"
			record mem "$c" "$r" "$key" "$v"
			[ "$key" != pool_footprint_bytes ] || record mem "$c" "$r" held "$v"
		done
		# No codec shrinks an incompressible page: count those apart.
		record mem "$c" "$r" held_compressible \
			$(($(value_of mem "$c" "$r" pool_footprint_bytes) -
				$(value_of mem "$c" "$r" raw_slots) * 4096))
		record mem "$c" "$r" rss_growth $(($(vmrss_bytes "$SD_DAEMON_PID") - sd_idle_rss))
		;;
	zram-lz4)
		read -r -a mm <"/sys/block/zram$zram_id/mm_stat"
		record mem "$c" "$r" held "${mm[2]}"
		record mem "$c" "$r" orig_bytes "${mm[0]}"
		record mem "$c" "$r" compr_bytes "${mm[1]}"
		record mem "$c" "$r" same_pages "${mm[5]}"
		record mem "$c" "$r" huge_pages "${mm[7]:-0}"
		;;
	zswap-lzo-rle | zswap-capped)
		kb=$(awk '/^Zswap:/ { print $2 }' /proc/meminfo)
		record mem "$c" "$r" held $((kb * 1024))
		record mem "$c" "$r" compr_bytes $((kb * 1024))
		kb=$(awk '/^Zswapped:/ { print $2 }' /proc/meminfo)
		record mem "$c" "$r" orig_bytes $((kb * 1024))
		;;
	disk | fuse-disk)
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

# swapdev_summary CONFIG REP : one line on what the daemon served, from its
# stats; the counters that say where its time goes are recorded (diag).
swapdev_summary()
{
	local j key

	j=$("$SWAPDEVCTL" --socket "$SD_SOCKET" stats --json | tr -d '\n')
	for key in reads reads_pool reads_disk reads_same writes writes_pool writes_disk \
		writeback_pages writethrough_pages incompressible compactions alloc_failures \
		recompressed recompress_cpu_us; do
		record diag "$1" "$2" "$key" "$(json_int "$j" "$key")"
	done
	record diag "$1" "$2" read_p50_p99 "$(json_p50_p99 "$j" read_latency_us)"
	record diag "$1" "$2" write_p50_p99 "$(json_p50_p99 "$j" write_latency_us)"
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
	local c=$1 r=$2 seed=$3 out status=0 phase v pid ticks0=0 args=()

	area_up "$c"
	new_cgroup
	out=$E2E_TMPDIR/workload.out
	[ -z "$skew" ] || args+=(--skew "$skew")
	# It stores nothing: every page comes back zero.
	[ "$c" != null-fuse ] || args+=(--no-verify)
	pid=$(server_pid)
	profile_start "$c" "$r" "$pid"
	[ -z "$pid" ] || ticks0=$(cpu_ticks "$pid")
	# Other work on the machine shows up in the timings: keep a trace.
	record load "$c" "$r" before "$(cut -d' ' -f1 /proc/loadavg)"
	# Only the workload in the cgroup, its timeout outside: on null-fuse
	# anything else in the cgroup would get its swapped pages back as zeros.
	# shellcheck disable=SC2016 # expanded by the inner sh
	with_timeout "$timeout_s" sh -c 'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"' \
		workload "$(cgroup_path "$cg")" "$workload" --size "$ws" --passes "$passes" \
		--seed "$seed" --report "${args[@]}" >"$out" || status=$?
	# Once in development the memory cgroup (v1) killed the workload on
	# null-fuse with all its pages in the swap cache; a second try passed.
	# On the other configurations a kill stays a failure.
	if [ "$c" = null-fuse ] && [ "$status" -eq 137 ]; then
		echo "bench-e2e: the workload on null-fuse was killed (memory cgroup OOM?);" \
			"trying once more"
		record retry "$c" "$r" killed 1
		status=0
		[ -z "$pid" ] || ticks0=$(cpu_ticks "$pid")
		# shellcheck disable=SC2016 # expanded by the inner sh
		with_timeout "$timeout_s" sh -c \
			'echo $$ >"$1/cgroup.procs" || exit 125; shift; exec "$@"' workload \
			"$(cgroup_path "$cg")" "$workload" --size "$ws" --passes "$passes" \
			--seed "$seed" --report "${args[@]}" >"$out" || status=$?
	fi
	record load "$c" "$r" after "$(cut -d' ' -f1 /proc/loadavg)"
	if [ -n "$pid" ]; then
		record time "$c" "$r" server_cpu \
			"$(awk -v t="$(($(cpu_ticks "$pid") - ticks0))" -v hz="$(getconf CLK_TCK)" \
				'BEGIN { printf "%.2f\n", t / hz }')"
	fi
	profile_stop
	cat "$out"
	[ "$status" -eq 0 ] || e2e_fail "workload failed on $c (status $status)"
	for phase in fill passes random verify total; do
		v=$(sed -n "s/.* ${phase}_s=\([0-9.]*\).*/\1/p" "$out")
		[ -n "$v" ] || e2e_fail "no ${phase}_s in the workload's report"
		record time "$c" "$r" "$phase" "$v"
	done
	v=0
	if [ -n "$skew" ]; then
		v=$(sed -n "s/.* skewed_s=\([0-9.]*\).*/\1/p" "$out")
		[ -n "$v" ] || e2e_fail "no skewed_s in the workload's report"
		record time "$c" "$r" skewed "$v"
	fi
	# The uniform run: what the total was before the skewed phase existed.
	record time "$c" "$r" uniform "$(awk -v t="$(value_of time "$c" "$r" total)" -v s="$v" \
		'BEGIN { printf "%.3f\n", t - s }')"
	destroy_cgroups
	if [ -n "$SD_PID" ]; then
		# Freed slots reach the daemon as discards, a moment after the exit.
		sleep 1
		record mem "$c" "$r" residual_footprint "$(stat_value pool_footprint_bytes)"
		swapdev_summary "$c" "$r"
	fi
	area_down "$c"
}

# recompress_seen : entries the recompression pass has dealt with so far.
recompress_seen()
{
	local j

	j=$("$SWAPDEVCTL" --socket "$SD_SOCKET" stats --json | tr -d '\n')
	echo $(($(json_int "$j" recompressed) + $(json_int "$j" recompress_not_worth) +
		$(json_int "$j" recompress_dropped)))
}

# pool_compacted : the pool's footprint is within 10% (+ 1 MiB) of its objects.
pool_compacted()
{
	local j

	j=$("$SWAPDEVCTL" --socket "$SD_SOCKET" stats --json | tr -d '\n')
	[ "$(json_int "$j" pool_footprint_bytes)" -le \
		$(($(json_int "$j" compr_bytes) * 11 / 10 + (1 << 20))) ]
}

# wait_recompress_pass CONFIG REP : wait until one idle recompression pass
# over the held data is over, its wall time recorded.
wait_recompress_pass()
{
	local t0=$EPOCHREALTIME prev=-1 cur stable=0 i

	sleep "$recompress_idle"
	for ((i = 0; i < timeout_s && stable < 5; i++)); do
		sleep 1
		cur=$(recompress_seen)
		if [ "$cur" = "$prev" ] && [ "$cur" -gt 0 ]; then
			stable=$((stable + 1))
		else
			stable=0
		fi
		prev=$cur
	done
	[ "$stable" -ge 5 ] || e2e_fail "no recompression pass ended within ${timeout_s}s on $1"
	for ((i = 0; i < 60; i++)); do
		pool_compacted && break
		sleep 1
	done
	record time "$1" "$2" recompress_wait \
		"$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", b - a }')"
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
	[ "$c" != swapdev-lz4-recompress ] || wait_recompress_pass "$c" "$r"
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
			# Counts stay whole numbers: 39536, not 39536.000.
			if (med ~ /\./)
				sub(/\.?0+$/, "", med)
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

phases=(fill passes random skewed verify uniform total swapoff)

print_times()
{
	local p c base disk null mn md mx

	printf '\nSeconds per phase: min / median / max over %d repetitions; ratios of the' "$reps"
	printf ' median to the medians of zram-lz4, disk and null-fuse in this run.\n'
	printf 'uniform: the run without its skewed phase (fill + passes + random + verify);'
	printf ' total: with it.\n\n'
	printf '%-8s %-20s %9s %9s %9s %7s %7s %7s\n' phase config min median max /zram /disk \
		/null
	for p in "${phases[@]}"; do
		base=$(med time zram-lz4 "$p")
		disk=$(med time disk "$p")
		null=$(med time null-fuse "$p")
		for c in "${configs[@]}"; do
			read -r mn md mx <<<"$(stats_of time "$c" "$p")"
			printf '%-8s %-20s %9s %9s %9s %7s %7s %7s\n' "$p" "$c" "$mn" "$md" "$mx" \
				"$(ratio "$md" "$base")" "$(ratio "$md" "$disk")" "$(ratio "$md" "$null")"
		done
	done
}

# config_note CONFIG : the budget or cap a configuration ran with.
config_note()
{
	case "$1" in
	*-half) echo "pool.limit $(budget_share 2)" ;;
	*-quarter) echo "pool.limit $(budget_share 4)" ;;
	zswap-capped)
		echo "max_pool_percent $zswap_cap_percent" \
			"($(awk -v p="$zswap_cap_percent" '/^MemTotal:/ {
				printf "%.0f", $2 * p / 100 / 1024 }' /proc/meminfo) MiB), shrinker on"
		;;
	null-fuse) echo "stores nothing, unverified" ;;
	fuse-disk) echo "every page on disk, one O_DIRECT I/O per request" ;;
	*) echo "" ;;
	esac
}

# print_curve : the speed-for-RAM curve as a Markdown table.
print_curve()
{
	local c held

	printf '\nSpeed for RAM (medians; RAM held: hold, as below; x disk and x null:'
	printf ' median / the median of disk and of null-fuse in this run)\n\n'
	printf '| config | RAM held MiB | uniform s | x disk | x null | skewed s | x disk |'
	printf ' x null | swapoff s | setting |\n'
	printf '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
	for c in "${configs[@]}"; do
		held=$(med mem "$c" held)
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$c" "$(mib "$held")" \
			"$(med time "$c" uniform)" \
			"$(ratio "$(med time "$c" uniform)" "$(med time disk uniform)")" \
			"$(ratio "$(med time "$c" uniform)" "$(med time null-fuse uniform)")" \
			"$(med time "$c" skewed)" \
			"$(ratio "$(med time "$c" skewed)" "$(med time disk skewed)")" \
			"$(ratio "$(med time "$c" skewed)" "$(med time null-fuse skewed)")" \
			"$(med time "$c" swapoff)" "$(config_note "$c")"
	done
}

# print_servers : the FUSE servers' CPU time against the wall time of the
# workload, and where swapdevd's requests went.
print_servers()
{
	local c any=0 reads

	for c in "${configs[@]}"; do
		case "$c" in swapdev-* | null-fuse | fuse-disk) any=1 ;; esac
	done
	[ "$any" = 1 ] || return 0
	printf '\nServers during the workload (medians): CPU seconds (all threads) against'
	printf ' the total wall time; swapdevd: read requests, the pages they read from the'
	printf ' pool and from disk, writebacks (pages; each decompresses a pool entry),'
	printf ' write-throughs (pages compressed, then written raw because the pool'
	printf ' could not take them), read latency of the first repetition\n\n'
	printf '%-20s %7s %7s %6s %9s %9s %9s %6s %9s %9s %13s\n' config cpu_s wall_s cpu% \
		requests pool disk pool% writeback wthrough 'read p50/p99'
	for c in "${configs[@]}"; do
		case "$c" in swapdev-* | null-fuse | fuse-disk) ;; *) continue ;; esac
		reads=$(med diag "$c" reads)
		printf '%-20s %7s %7s %6s %9s %9s %9s %6s %9s %9s %13s\n' "$c" \
			"$(med time "$c" server_cpu)" "$(med time "$c" total)" \
			"$(awk -v a="$(med time "$c" server_cpu)" -v b="$(med time "$c" total)" \
				'BEGIN { if (a == "-" || b == "-" || b == 0) print "-";
					else printf "%.0f\n", 100 * a / b }')" \
			"$reads" "$(med diag "$c" reads_pool)" "$(med diag "$c" reads_disk)" \
			"$(awk -v a="$(med diag "$c" reads_pool)" -v b="$(med diag "$c" reads_disk)" \
				'BEGIN { if (a == "-" || b == "-" || a + b == 0) print "-";
					else printf "%.0f\n", 100 * a / (a + b) }')" \
			"$(med diag "$c" writeback_pages)" "$(med diag "$c" writethrough_pages)" \
			"$(value_of diag "$c" 0 read_p50_p99)"
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
			"raw $(med mem "$c" raw_slots), zstd $(med mem "$c" zstd_slots);" \
			"for compressible pages $(mib "$(med mem "$c" held_compressible)") MiB;" \
			"pool after the workload exited" \
			"$(mib "$(med mem "$c" residual_footprint)") MiB"
		;;
	zram-lz4)
		echo "mm_stat mem_used_total; ratio $(ratio "$(med mem "$c" orig_bytes)" \
			"$(med mem "$c" compr_bytes)"); huge pages $(med mem "$c" huge_pages)," \
			"same pages $(med mem "$c" same_pages)"
		;;
	zswap-lzo-rle | zswap-capped)
		echo "Zswap in /proc/meminfo; ratio $(ratio "$(med mem "$c" orig_bytes)" \
			"$(med mem "$c" compr_bytes)")"
		;;
	disk)
		echo "none"
		;;
	null-fuse)
		echo "none (stores nothing)"
		;;
	fuse-disk)
		echo "none (every page on disk)"
		;;
	esac
}

print_memory()
{
	local c held used base

	printf '\nRAM held for the data in swap: hold, %d MiB in a %d MiB cgroup (medians;' \
		$((ws >> 20)) $((limit >> 20))
	printf ' ratio = RAM held / zram-lz4 mem_used_total)\n\n'
	printf '%-20s %10s %10s %7s %9s  %s\n' config 'swap MiB' 'RAM MiB' ratio 'RAM/swap' source
	base=$(med mem zram-lz4 held)
	for c in "${configs[@]}"; do
		held=$(med mem "$c" held)
		used=$(med mem "$c" swap_used)
		printf '%-20s %10s %10s %7s %9s  %s\n' "$c" "$(mib "$used")" "$(mib "$held")" \
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

# rel PHASE A B : median of A / median of B for PHASE.
rel()
{
	ratio "$(med time "$2" "$1")" "$(med time "$3" "$1")"
}

print_targets_15()
{
	printf '\nIssue 15 targets (ratios of medians)\n\n'
	if has_config swapdev-lz4 && has_config null-fuse; then
		target "swapdev-lz4 uniform / null-fuse uniform <= 1.05" \
			"$(rel uniform swapdev-lz4 null-fuse)" 1.05
	fi
	if has_config swapdev-lz4 && has_config disk; then
		local p
		for p in passes random skewed verify; do
			target "swapdev-lz4 $p / disk $p < 1" "$(rel "$p" swapdev-lz4 disk)" 0.999
		done
	fi
	if has_config swapdev-lz4 && has_config zram-lz4; then
		target "swapdev-lz4 swapoff / zram-lz4 swapoff <= 3" \
			"$(rel swapoff swapdev-lz4 zram-lz4)" 3
	fi
	if has_config disk; then
		has_config swapdev-lz4-half && target "swapdev-lz4-half uniform / disk uniform <= 1.1" \
			"$(rel uniform swapdev-lz4-half disk)" 1.1
		has_config swapdev-lz4-quarter &&
			target "swapdev-lz4-quarter uniform / disk uniform <= 1.3" \
				"$(rel uniform swapdev-lz4-quarter disk)" 1.3
		has_config swapdev-lz4-half && target "swapdev-lz4-half skewed / disk skewed <= 0.67" \
			"$(rel skewed swapdev-lz4-half disk)" 0.667
	fi
	if has_config swapdev-lz4-half && has_config zswap-capped; then
		target "swapdev-lz4-half skewed / zswap-capped skewed <= 1.3" \
			"$(rel skewed swapdev-lz4-half zswap-capped)" 1.3
	fi
	if has_config swapdev-lz4 && has_config swapdev-zstd; then
		target "swapdev-zstd uniform / swapdev-lz4 uniform <= 1.2" \
			"$(rel uniform swapdev-zstd swapdev-lz4)" 1.2
	fi
	print_floors
	return 0
}

# print_floors : how close to the disk swap file a capped pool can get on
# this machine, from figures of the same run. A capped daemon pays what the
# uncapped one (swapdev-lz4) pays, a FUSE round trip per request and the
# pool's work, and on top of it reads a share S of its pages from the same
# disk. Reading a page from disk costs at least what it costs the disk swap
# file beyond an in-kernel RAM tier (disk - zram: the I/O wait, less zram's
# compression), so its floor is swapdev-lz4 + S x (disk - zram). On a
# uniform workload S cannot fall below the share of the data (same-filled
# pages aside) that pool.limit cannot hold, whatever the policy: the limit
# filled with compressible pages at the uncapped pool's density, then raw
# ones. The targets' limits give the largest S that could meet them.
print_floors()
{
	local c lim div t_free t_disk t_zram io share comp comp_ram disk_data best need

	has_config disk && has_config zram-lz4 && has_config swapdev-lz4 || return 0
	t_free=$(med time swapdev-lz4 uniform)
	t_disk=$(med time disk uniform)
	t_zram=$(med time zram-lz4 uniform)
	io=$(awk -v d="$t_disk" -v z="$t_zram" 'BEGIN { printf "%.3f\n", d - z }')
	# The uncapped hold: compressible pages and the RAM they take, raw and
	# disk pages (no codec shrinks them), in bytes.
	comp=$(awk -v p="$(med mem swapdev-lz4 pool_slots)" -v r="$(med mem swapdev-lz4 raw_slots)" \
		'BEGIN { print (p - r) * 4096 }')
	comp_ram=$(med mem swapdev-lz4 held_compressible)
	disk_data=$(awk -v r="$(med mem swapdev-lz4 raw_slots)" -v d="$(med mem swapdev-lz4 disk_slots)" \
		'BEGIN { print (r + d) * 4096 }')
	printf '\nFloors of the capped pools on this machine (uniform run, medians):'
	printf ' swapdev-lz4 %s s + disk share x (disk %s s - zram-lz4 %s s = %s s)\n\n' \
		"$t_free" "$t_disk" "$t_zram" "$io"
	printf '%-20s %7s %11s %8s %11s %12s %8s %11s\n' config target 'disk share' floor \
		'x disk' 'best share' floor 'share for target'
	for c in swapdev-lz4-half swapdev-lz4-quarter; do
		has_config "$c" || continue
		case "$c" in *-half) lim=1.1 div=2 ;; *) lim=1.3 div=4 ;; esac
		share=$(awk -v a="$(med diag "$c" reads_pool)" -v b="$(med diag "$c" reads_disk)" \
			'BEGIN { if (a == "-" || b == "-" || a + b == 0) print "-";
				else printf "%.3f\n", b / (a + b) }')
		# Best case: the limit filled with compressible pages at their
		# density, raw pages in what is left of it.
		best=$(awk -v l="$(to_bytes "$(budget_share "$div")")" -v c="$comp" -v cr="$comp_ram" \
			-v r="$disk_data" 'BEGIN {
			if (c + r <= 0 || cr <= 0) { print "-"; exit }
			held = l * c / cr
			if (held > c) { rest = l - cr; held = c + (rest < r ? rest : r) }
			printf "%.3f\n", 1 - held / (c + r) }')
		need=$(awk -v l="$lim" -v d="$t_disk" -v f="$t_free" -v io="$io" 'BEGIN {
			if (io <= 0) print "-"; else printf "%.3f\n", (l * d - f) / io }')
		printf '%-20s %7s %11s %8s %11s %12s %8s %11s\n' "$c" "$lim" "$share" \
			"$(floor_ratio "$share")" "$(rel uniform "$c" disk)" "$best" \
			"$(floor_ratio "$best")" "$need"
	done
	printf '\n(floor: the floor / disk at that share; x disk: what the configuration took.'
	printf ' The skewed phase: no FUSE server goes below null-fuse, whose skewed phase'
	printf ' took %s x disk and %s x zswap-capped)\n' \
		"$(rel skewed null-fuse disk)" "$(rel skewed null-fuse zswap-capped)"
}

# floor_ratio SHARE : (swapdev-lz4 + SHARE x (disk - zram)) / disk, uniform.
floor_ratio()
{
	awk -v s="$1" -v f="$t_free" -v io="$io" -v d="$t_disk" 'BEGIN {
		if (s == "-" || f == "-" || d == "-" || d == 0) print "-";
		else printf "%.2f\n", (f + s * io) / d }'
}

print_targets_18()
{
	local rc=swapdev-lz4-recompress lz4=swapdev-lz4-norecompress

	has_config $lz4 && has_config $rc || return 0
	printf '\nIssue 18 targets (ratios of medians; %s: pool.recompress=%s after %s s idle)\n\n' \
		$rc "$recompress" "$recompress_idle"
	target "$rc RAM for compressible pages / $lz4's <= 0.65" \
		"$(ratio "$(med mem $rc held_compressible)" "$(med mem $lz4 held_compressible)")" 0.65
	target "$rc total / $lz4 total <= 1.05" "$(rel total $rc $lz4)" 1.05
	printf '  recompression: during the workload %s entries, %s ms of CPU in a %s s run;\n' \
		"$(med diag $rc recompressed)" \
		"$(awk -v u="$(med diag $rc recompress_cpu_us)" 'BEGIN {
			if (u == "-") print "-"; else printf "%.0f", u / 1000 }')" \
		"$(med time $rc total)"
	printf '  after hold: %s replaced, %s kept, %s ms of CPU, pass over %s s after' \
		"$(med mem $rc recompressed)" "$(med mem $rc recompress_not_worth)" \
		"$(awk -v u="$(med mem $rc recompress_cpu_us)" 'BEGIN {
			if (u == "-") print "-"; else printf "%.0f", u / 1000 }')" \
		"$(med time $rc recompress_wait)"
	printf ' the fill; pool slots lz4/zstd/raw %s/%s/%s\n' \
		"$(awk -v p="$(med mem $rc pool_slots)" -v z="$(med mem $rc zstd_slots)" \
			-v r="$(med mem $rc raw_slots)" 'BEGIN { print p - z - r }')" \
		"$(med mem $rc zstd_slots)" "$(med mem $rc raw_slots)"
}

print_targets()
{
	local zs=swapdev-zstd per_slot_zstd per_slot_lz4

	has_config swapdev-lz4 && has_config zram-lz4 || return 0
	printf '\nIssue 7 targets (ratios of medians)\n\n'
	target "swapdev-lz4 uniform / zram-lz4 uniform <= 1.35" "$(lz4_vs zram-lz4 time uniform)" \
		1.35
	if has_config disk; then
		target "swapdev-lz4 uniform / disk uniform < 1" "$(lz4_vs disk time uniform)" 0.999
	fi
	target "swapdev-lz4 random / zram-lz4 random <= 3" "$(lz4_vs zram-lz4 time random)" 3
	target "swapdev-lz4 swapoff / zram-lz4 swapoff <= 4" "$(lz4_vs zram-lz4 time swapoff)" 4
	target "swapdev-lz4 RAM held / zram-lz4 mem_used_total <= 0.7" \
		"$(lz4_vs zram-lz4 mem held)" 0.7
	has_config $zs || return 0
	target "$zs uniform / swapdev-lz4 uniform <= 1.2" \
		"$(ratio "$(med time $zs uniform)" "$(med time swapdev-lz4 uniform)")" 1.2
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
		-e "n=${#configs[@]}; nphases=${#phases[@]}; subtitle='$subtitle'" \
		"$bench_dir/bench-e2e.gnuplot" || e2e_fail "gnuplot failed"
	echo "bench-e2e: plot written to $plot"
}

# make_curve_plot : seconds (uniform run, skewed phase) against RAM held.
make_curve_plot()
{
	local data=$E2E_TMPDIR/plot-curve.dat c

	[ -n "$curve_plot" ] || return 0
	command -v gnuplot >/dev/null 2>&1 || return 0
	for c in "${configs[@]}"; do
		echo "$c $(mib "$(med mem "$c" held)") $(med time "$c" uniform) $(med time "$c" skewed)"
	done >"$data"
	gnuplot -e "data='$data'; out='$curve_plot'; subtitle='$subtitle'; skew='$skew'" \
		-e "disk_u='$(med time disk uniform)'; disk_s='$(med time disk skewed)'" \
		-e "null_u='$(med time null-fuse uniform)'; null_s='$(med time null-fuse skewed)'" \
		"$bench_dir/bench-e2e-curve.gnuplot" || e2e_fail "gnuplot failed on the curve"
	echo "bench-e2e: curve written to $curve_plot"
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

# The budget of the capped configurations: zram's RAM for the same data.
calibrated=0
for c in "${configs[@]}"; do
	case "$c" in *-half | *-quarter | zswap-capped) ;; *) continue ;; esac
	if [ -z "$budget" ]; then
		echo "bench-e2e: budget: zram-lz4 hold $((ws >> 20)) MiB (its repetition 1)"
		run_hold zram-lz4 0 "$seed0"
		budget=$(value_of mem zram-lz4 0 held)
		calibrated=1
	fi
	echo "bench-e2e: budget $(mib "$budget") MiB (zram's RAM for the data);" \
		"half $(budget_share 2), quarter $(budget_share 4); zswap-capped:" \
		"max_pool_percent $(zswap_percent_for "$(budget_share 2)")"
	break
done

for ((r = 0; r < reps; r++)); do
	seed=$((seed0 + r))
	for ((k = 0; k < ${#configs[@]}; k++)); do
		c=${configs[(k + r) % ${#configs[@]}]}
		echo "bench-e2e: repetition $((r + 1))/$reps, $c: workload (seed $seed)"
		run_workload "$c" "$r" "$seed"
		if [ "$c" = zram-lz4 ] && [ "$r" = 0 ] && [ "$calibrated" = 1 ]; then
			continue
		fi
		if [ "$c" = null-fuse ]; then
			# hold's own pages would come back as zeros; it holds nothing anyway.
			record mem "$c" "$r" held 0
			continue
		fi
		echo "bench-e2e: repetition $((r + 1))/$reps, $c: hold $((ws >> 20)) MiB, swapoff"
		run_hold "$c" "$r" "$seed"
	done
done

print_times
print_load
print_memory
print_curve
print_servers
print_targets
print_targets_15
print_targets_18
echo
make_plot
make_curve_plot
# Success: the daemon logs are not news.
E2E_SHOW_LOG=0

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-activate.sh - daemon/activate.c against the real kernel, without FUSE.
#
# On a regular file under /var/tmp: our swap signature (blkid must say swap),
# a loop device with direct I/O, 4096-byte blocks and autoclear, swapon with
# priority 5 (or above any swap area already on) and discard, then the integrity workload in a memory cgroup a
# third of its working set, so that two thirds of it live in swap; swapoff,
# detach, and nothing left behind, also when a step fails.
#
# The swap file holds the part of the working set that does not fit in the
# cgroup (192 - 64 MiB) with room to spare: 256 MiB.
#
# Environment: E2E_SEED (workload seed, default 1), E2E_WORKLOAD_TIMEOUT
# (seconds, default 900).

set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

requires_root
requires_loop
requires_swap
requires_cgroup
requires_cmd blkid losetup swapoff timeout fallocate flock
e2e_exclusive

swap_size=$((256 << 20))
cgroup_limit=$((64 << 20))
working_set=$((192 << 20))
# Swap goes to the highest priority first: outrank any swap area already on
# (a distribution's zram at 100), or the workload would not swap onto ours.
priority=$(awk 'NR > 1 && $5 >= p { p = $5 + 1 } END { print p }' p=5 /proc/swaps)
cgroup=swapdev-e2e-activate-$$

e2e_make_tmpdir
activate_tool='' workload=''
e2e_program activate_tool activate-tool tests/e2e/activate-tool.c daemon/activate.c
e2e_program workload workload tests/e2e/workload.c

swapfile=$E2E_TMPDIR/swapfile
cleanup_fn teardown_swap_of "$swapfile"

# --- signature

fallocate -l "$swap_size" "$swapfile"
uuid=$("$activate_tool" mkswap "$swapfile")
type=$(blkid -p -o value -s TYPE "$swapfile" || true)
[ "$type" = swap ] || e2e_fail "blkid sees TYPE='$type' on our signature, not swap"
label=$(blkid -p -o value -s LABEL "$swapfile" || true)
[ "$label" = swapdev ] || e2e_fail "blkid sees LABEL='$label', not swapdev"
blkid_uuid=$(blkid -p -o value -s UUID "$swapfile" || true)
[ "$blkid_uuid" = "$uuid" ] || e2e_fail "blkid sees UUID='$blkid_uuid', we wrote $uuid"
e2e_log "signature ok: TYPE=swap LABEL=swapdev UUID=$uuid"

# --- loop device

# The tool holds the loop device open, as the daemon does, until its stdin
# (our end of the coprocess pipe) closes. Its first line is the device.
coproc ATTACH { exec "$activate_tool" attach "$swapfile"; }
# shellcheck disable=SC2153 # set by coproc
attach_pid=$ATTACH_PID
attach_in=${ATTACH[1]}
cleanup_fn stop_pid "$attach_pid"
loop=
read -r -t 30 loop <&"${ATTACH[0]}" || true
[[ "$loop" =~ ^/dev/loop[0-9]+$ ]] || e2e_fail "attach printed '$loop', not a loop device"
sys=/sys/block/${loop#/dev/}
e2e_log "attached $loop"

[ "$(cat "$sys/loop/backing_file")" = "$swapfile" ] ||
	e2e_fail "$loop is backed by $(cat "$sys/loop/backing_file"), not $swapfile"
[ "$(cat "$sys/loop/dio")" = 1 ] || e2e_fail "$loop does not use direct I/O"
[ "$(cat "$sys/loop/autoclear")" = 1 ] || e2e_fail "$loop is not autoclear"
[ "$(cat "$sys/queue/logical_block_size")" = 4096 ] ||
	e2e_fail "$loop has $(cat "$sys/queue/logical_block_size")-byte blocks, not 4096"
[ "$(blkid -p -o value -s TYPE "$loop" || true)" = swap ] ||
	e2e_fail "blkid does not see the signature through $loop"

# --- swapon

if "$activate_tool" is-active "$loop"; then
	e2e_fail "$loop is a swap area before swapon"
fi
"$activate_tool" swapon --priority "$priority" --discard "$loop"
"$activate_tool" is-active "$loop" || e2e_fail "is-active does not see $loop after swapon"
prio=$(awk -v dev="$loop" '$1 == dev { print $5 }' /proc/swaps)
[ "$prio" = "$priority" ] || e2e_fail "/proc/swaps shows priority '$prio' for $loop, not $priority"
# SWAP_FLAG_DISCARD discards the whole area once at swapon, if the device can.
read -r -a stat_before <"$sys/stat"
if [ "$(cat "$sys/queue/discard_max_bytes")" -gt 0 ]; then
	[ "${stat_before[11]:-0}" -gt 0 ] || e2e_fail "swapon --discard sent no discard to $loop"
fi
e2e_log "swapon ok: $(grep "^$loop " /proc/swaps)"

# --- workload in a memory cgroup

cleanup_fn cgroup_destroy "$cgroup"
cgroup_create "$cgroup" "$cgroup_limit"
e2e_log "workload: ${working_set} bytes in a cgroup limited to ${cgroup_limit} bytes"
status=0
cgroup_run --timeout "${E2E_WORKLOAD_TIMEOUT:-900}" "$cgroup" "$workload" \
	--size "$working_set" --passes 2 --seed "${E2E_SEED:-1}" --report || status=$?
[ "$status" -eq 0 ] || e2e_fail "workload failed with status $status (137: killed, OOM?)"
cgroup_destroy "$cgroup"

read -r -a stat_after <"$sys/stat"
read_kib=$(((stat_after[2] - stat_before[2]) / 2))
write_kib=$(((stat_after[6] - stat_before[6]) / 2))
e2e_log "$loop during the workload: read ${read_kib} KiB, wrote ${write_kib} KiB," \
	"discards $((${stat_after[11]:-0} - ${stat_before[11]:-0}))"
[ "$write_kib" -gt $(((working_set - cgroup_limit) >> 10 >> 1)) ] ||
	e2e_fail "only ${write_kib} KiB were swapped out to $loop; another swap area of higher" \
		"priority (run e2e tests one at a time)? $(tr -s ' \t' ' ' </proc/swaps)"
[ "$read_kib" -gt 0 ] || e2e_fail "nothing was swapped in"

# --- swapoff and detach

"$activate_tool" swapoff "$loop"
if "$activate_tool" is-active "$loop"; then
	e2e_fail "$loop is still a swap area after swapoff"
fi
exec {attach_in}>&-
status=0
wait "$attach_pid" || status=$?
[ "$status" -eq 0 ] || e2e_fail "activate-tool attach exited with status $status"
check_swap_gone "$swapfile" || e2e_fail "swap or loop device left behind"
if losetup -a | grep -qF "$swapfile"; then
	e2e_fail "losetup -a still lists $swapfile"
fi
e2e_log "ok"

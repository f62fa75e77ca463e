#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-systemd.sh - the unit as shipped, under a real systemd: systemd 252
# booted as PID 1 in a container of this machine's own OS (systemd-nspawn
# --volatile=yes: a tmpfs root over the host's /usr), serving swap to a
# workload on the host. Shows, with an integrity workload running (every
# page checksummed, working set 4 x its memory cgroup limit):
#
#  - "systemctl kill -s KILL swapdevd": systemd restarts the unit, the new
#    process gets the FUSE connection and the state back from the unit's
#    file-descriptor store, and nothing is lost;
#  - "swapdevctl restart": the same, as an explicit restart;
#  - a watchdog kill (the daemon stopped with SIGSTOP until systemd's
#    watchdog sends SIGABRT): the same;
#  - "systemctl reload" applies a runtime key changed in swapdevd.conf;
#  - "systemctl stop" swaps off and tears everything down, and empties
#    the store.
#
# The unit is the configured swapdevd.service with one drop-in: ExecStart
# names the binary under test and WatchdogSec is short. The container's
# own /dev has no udev, so the test creates /dev/loopN nodes in it; the
# backing file lives in a host directory bound at /var/lib/swapdev.
#
# Skips with the reason where systemd-nspawn is missing or cannot boot a
# container here. Pitfalls: ../shared/SYSTEMD-CONTAINER.md in the project's
# development notes (nspawn filters swapon(2) unless --system-call-filter
# allows @swap; the container needs systemd.firstboot=off).

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

requires_root
requires_fuse
requires_loop
requires_swap
requires_cgroup
requires_cmd systemd-nspawn nsenter setsid
[ -n "${SWAPDEV_SERVICE:-}" ] && [ -f "$SWAPDEV_SERVICE" ] ||
	e2e_fail "SWAPDEV_SERVICE (the configured unit) is not set: run through meson"
[ -d /sys/fs/cgroup/systemd ] && [ -d /sys/fs/cgroup/unified ] ||
	e2e_skip "needs the hybrid cgroup layout (systemd and unified hierarchies) for nspawn here"

e2e_exclusive
e2e_make_tmpdir
e2e_program workload workload tests/e2e/workload.c

CT=swapdev-ct-$$
SHARE=$E2E_TMPDIR/share
STATE=$E2E_TMPDIR/state
NSPAWN_PID=
CT_LOOP=
mkdir -p "$SHARE" "$STATE"
cp "$SWAPDEVD" "$SWAPDEVCTL" "$SWAPDEV_SERVICE" "$SHARE/"
cat >"$SHARE/swapdevd.conf" <<EOF
[device]
size = 512M

[pool]
limit = 48M
EOF
cat >"$SHARE/test.conf" <<EOF
[Service]
ExecStart=
ExecStart=/share/swapdevd --foreground
WatchdogSec=4
EOF

# ct CMD... : run CMD in the container, as PID 1's children do.
ct()
{
	timeout 60 nsenter -t "$CT_LEADER" -a "$@"
}

# swap_on_loop : whether the container's loop device is a swap area. The
# kernel prints it as the daemon that ran swapon saw it: "/dev/loopN", or
# "/loopN" once that process's mount namespace is gone.
swap_on_loop()
{
	grep -Eq "^(/dev)?/${CT_LOOP##*/} " /proc/swaps
}

ct_main_pid()
{
	ct systemctl show -p MainPID --value swapdevd
}

# ct_wait_restarted OLD_PID WHAT : the unit is active again with another
# main process that adopted the area; prints the time it took.
ct_wait_restarted()
{
	local old=$1 what=$2 pid i

	for ((i = 0; i < 300; i++)); do
		pid=$(ct_main_pid)
		if [ "$pid" != 0 ] && [ "$pid" != "$old" ] &&
			[ "$(ct systemctl is-active swapdevd)" = active ]; then
			break
		fi
		sleep 0.1
	done
	[ "$pid" != 0 ] && [ "$pid" != "$old" ] ||
		e2e_fail "$what: swapdevd not active again with a new process within 30 s"
	ct journalctl -q -u swapdevd _PID="$pid" --no-pager | grep -i 'adopted' >&2 ||
		e2e_fail "$what: process $pid did not adopt the area (journal above)"
	swap_on_loop || e2e_fail "$what: $CT_LOOP is no longer a swap area"
	e2e_log "$what: process $old replaced by $pid, swap still active on $CT_LOOP"
}

teardown_container()
{
	local i

	if [ -n "${CT_LEADER:-}" ]; then
		ct journalctl -q -u swapdevd --no-pager >"$E2E_TMPDIR/journal" 2>&1
		ct systemctl stop swapdevd
	fi
	if [ -n "$NSPAWN_PID" ]; then
		kill -TERM "$NSPAWN_PID" 2>/dev/null
		for ((i = 0; i < 150; i++)); do
			kill -0 "$NSPAWN_PID" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$NSPAWN_PID" 2>/dev/null
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	# Loop devices belong to the host: the container's end detaches nothing.
	if [ -n "$CT_LOOP" ]; then
		swap_on_loop && with_timeout 300 swapoff "$CT_LOOP"
		losetup "$CT_LOOP" >/dev/null 2>&1 && with_timeout 60 losetup -d "$CT_LOOP"
	fi
	find "/sys/fs/cgroup/systemd/$CT" "/sys/fs/cgroup/unified/$CT" -depth -type d \
		-exec rmdir {} + 2>/dev/null
	rmdir "/run/systemd/nspawn/propagate/$CT" 2>/dev/null
	if [ -s "$E2E_TMPDIR/journal" ]; then
		e2e_log "swapdevd's journal in the container:"
		sed 's/^/    /' "$E2E_TMPDIR/journal" >&2
	fi
	return 0
}
cleanup_fn teardown_container

# ---------------------------------------------------------------- boot

# The launching shell moves to cgroups of its own, so that nspawn's scope
# stays out of everyone else's.
(
	for h in systemd unified; do
		mkdir -p "/sys/fs/cgroup/$h/$CT" && echo "$BASHPID" >"/sys/fs/cgroup/$h/$CT/cgroup.procs"
	done
	exec setsid systemd-nspawn -D / --volatile=yes --register=no --keep-unit -M "$CT" \
		--console=passive --capability=all --system-call-filter=@swap \
		--bind=/dev/fuse --bind=/dev/loop-control --bind="$SHARE:/share" \
		--bind="$STATE:/var/lib/swapdev" -b systemd.firstboot=off
) >"$E2E_TMPDIR/nspawn.log" 2>&1 &
NSPAWN_PID=$!

CT_LEADER=
for ((i = 0; i < 300; i++)); do
	CT_LEADER=$(head -n 1 "/sys/fs/cgroup/unified/$CT/payload/init.scope/cgroup.procs" 2>/dev/null || true)
	[ -n "$CT_LEADER" ] && nsenter -t "$CT_LEADER" -m test -S /run/systemd/private && break
	CT_LEADER=
	kill -0 "$NSPAWN_PID" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$CT_LEADER" ]; then
	sed 's/^/    /' "$E2E_TMPDIR/nspawn.log" >&2
	e2e_skip "systemd-nspawn could not boot a container here (its log above)"
fi
state=$(ct systemctl is-system-running --wait || true)
e2e_log "container booted: $state"

# ---------------------------------------------------------------- start

ct sh -c 'for i in $(seq 0 63); do [ -e /dev/loop$i ] || mknod /dev/loop$i b 7 $i; done
	mkdir -p /etc/swapdev /etc/systemd/system/swapdevd.service.d &&
	cp /share/swapdevd.conf /etc/swapdev/ &&
	cp /share/swapdevd.service /run/systemd/system/ &&
	cp /share/test.conf /etc/systemd/system/swapdevd.service.d/ &&
	systemctl daemon-reload' || e2e_fail "cannot install the unit in the container"
ct systemctl start swapdevd || e2e_fail "systemctl start swapdevd failed"
CT_LOOP=$(ct /share/swapdevctl status --json | sed -n 's/.*"loop_device" *: *"\([^"]*\)".*/\1/p')
[ -n "$CT_LOOP" ] && swap_on_loop ||
	e2e_fail "no active swap area after start (loop device '${CT_LOOP}')"
e2e_log "swapdevd active on $CT_LOOP"
stored=$(ct systemctl show -p NFileDescriptorStore --value swapdevd)
[ "$stored" -ge 3 ] || e2e_fail "the unit's fd store holds $stored descriptors, expected fuse, state, session"

# ---------------------------------------------------------------- under load

cg=swapdev-systemd-$$
cleanup_fn cgroup_destroy "$cg"
cgroup_create "$cg" $((48 << 20))
timeout_s=600
start_workload "$cg" 7 --size 192M --passes 3 --random-ops 40000
sleep 3

pid=$(ct_main_pid)
ct systemctl kill -s KILL swapdevd
ct_wait_restarted "$pid" "systemctl kill -s KILL"
sleep 2

pid=$(ct_main_pid)
ct /share/swapdevctl restart || e2e_fail "swapdevctl restart failed"
ct_wait_restarted "$pid" "swapdevctl restart"
sleep 2

# The watchdog: a stopped daemon misses its pings and systemd sends SIGABRT
# (fatal even to a stopped process). The CONT is for the case where it is not.
pid=$(ct_main_pid)
ct systemctl kill --kill-who=main -s STOP swapdevd
for ((i = 0; i < 200; i++)); do
	ct journalctl -q -u swapdevd --no-pager | grep -q 'Watchdog timeout' && break
	sleep 0.1
done
ct systemctl kill --kill-who=main -s CONT swapdevd 2>/dev/null || true
ct journalctl -q -u swapdevd --no-pager | grep -q 'Watchdog timeout' ||
	e2e_fail "systemd's watchdog did not fire within 20 s of SIGSTOP"
ct_wait_restarted "$pid" "watchdog kill"

wait_workload || e2e_fail "the workload failed across the restarts (status above)"

# ---------------------------------------------------------------- reload

ct sed -i 's/^limit = 48M/limit = 40M/' /etc/swapdev/swapdevd.conf
ct systemctl reload swapdevd || e2e_fail "systemctl reload failed"
limit=$(ct /share/swapdevctl config get pool.limit)
case "$limit" in
*40M* | *41943040*) e2e_log "reload applied pool.limit = $limit" ;;
*) e2e_fail "after systemctl reload pool.limit is '$limit', expected 40M" ;;
esac

# ---------------------------------------------------------------- stop

ct systemctl stop swapdevd || e2e_fail "systemctl stop failed"
swap_on_loop && e2e_fail "$CT_LOOP still a swap area after systemctl stop"
for ((i = 0; i < 50; i++)); do
	losetup "$CT_LOOP" >/dev/null 2>&1 || break
	sleep 0.1
done
losetup "$CT_LOOP" >/dev/null 2>&1 && e2e_fail "$CT_LOOP still attached after systemctl stop"
stored=$(ct systemctl show -p NFileDescriptorStore --value swapdevd)
[ "$stored" -eq 0 ] || e2e_fail "the fd store still holds $stored descriptors after stop"
CT_LOOP=
e2e_log "PASS: kill, restart, watchdog kill, reload and stop under systemd"

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-systemd-verify.sh - the configured swapdevd.service passes
# "systemd-analyze verify" without a single complaint: every key known, every
# value parsed, no ordering cycle with swap.target and the units it names,
# and the man pages of Documentation= found (in docs/, through MANPATH).
#
# verify checks that ExecStart= names an executable, and the unit names the
# installed path, which does not exist before "meson install": the copy
# checked here points at the daemon in the build directory instead, and
# nothing else is changed.
#
# Needs no root and no running systemd. Without systemd-analyze it prints
# SKIP with the reason and exits 77.
#
# Environment (tests/install/meson.build sets it): SWAPDEV_SERVICE (the
# configured unit), SWAPDEV_SWAPDEVD (the built daemon), SWAPDEV_SBINDIR,
# SWAPDEV_SOURCE_ROOT.

set -euo pipefail

fail()
{
	echo "FAIL: ${0##*/}: $*" >&2
	exit 1
}

skip()
{
	echo "SKIP: ${0##*/}: $*"
	exit 77
}

for v in SWAPDEV_SERVICE SWAPDEV_SWAPDEVD SWAPDEV_SBINDIR SWAPDEV_SOURCE_ROOT; do
	[ -n "${!v:-}" ] || fail "$v is not set (run through 'meson test')"
done
command -v systemd-analyze >/dev/null ||
	skip "systemd-analyze not installed (apt-get install systemd)"
[ -f "$SWAPDEV_SERVICE" ] || fail "configured unit $SWAPDEV_SERVICE missing"
[ -x "$SWAPDEV_SWAPDEVD" ] || fail "daemon $SWAPDEV_SWAPDEVD not built"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/swapdev-verify.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

if grep -n '@[A-Za-z_]*@' "$SWAPDEV_SERVICE"; then
	fail "unsubstituted placeholder in $SWAPDEV_SERVICE"
fi
exec_start="ExecStart=$SWAPDEV_SBINDIR/swapdevd --foreground"
grep -qxF "$exec_start" "$SWAPDEV_SERVICE" ||
	fail "$SWAPDEV_SERVICE lacks the line '$exec_start'"

unit=$tmp/swapdevd.service
while IFS= read -r line; do
	if [ "$line" = "$exec_start" ]; then
		line="ExecStart=$SWAPDEV_SWAPDEVD --foreground"
	fi
	printf '%s\n' "$line"
done <"$SWAPDEV_SERVICE" >"$unit"

# Documentation=man:... is checked with man(1) when it is installed.
man_check=--man=no
if command -v man >/dev/null; then
	mkdir -p "$tmp/man/man5" "$tmp/man/man8"
	cp "$SWAPDEV_SOURCE_ROOT"/docs/*.5 "$tmp/man/man5/"
	cp "$SWAPDEV_SOURCE_ROOT"/docs/*.8 "$tmp/man/man8/"
	export MANPATH=$tmp/man
	man_check=--man=yes
fi

status=0
out=$(systemd-analyze verify "$man_check" "$unit" 2>&1) || status=$?
# Other units may draw warnings of their own on some systems; ours may not.
ours=$(grep -F 'swapdevd' <<<"$out" || true)
if [ "$status" -ne 0 ] || [ -n "$ours" ]; then
	printf '%s\n' "$out" >&2
	fail "systemd-analyze verify $man_check failed (exit $status)"
fi
echo "systemd-analyze verify $man_check: no complaints about swapdevd.service"

# The textfile collector's units, the service pointing at the built
# swapdevctl likewise.
for v in SWAPDEV_TEXTFILE_SERVICE SWAPDEV_TEXTFILE_TIMER SWAPDEV_SWAPDEVCTL SWAPDEV_BINDIR; do
	[ -n "${!v:-}" ] || fail "$v is not set (run through 'meson test')"
done
if grep -n '@[A-Za-z_]*@' "$SWAPDEV_TEXTFILE_SERVICE"; then
	fail "unsubstituted placeholder in $SWAPDEV_TEXTFILE_SERVICE"
fi
grep -qF "$SWAPDEV_BINDIR/swapdevctl stats --prometheus" "$SWAPDEV_TEXTFILE_SERVICE" ||
	fail "$SWAPDEV_TEXTFILE_SERVICE does not run $SWAPDEV_BINDIR/swapdevctl stats --prometheus"
sed "s|$SWAPDEV_BINDIR/swapdevctl|$SWAPDEV_SWAPDEVCTL|" "$SWAPDEV_TEXTFILE_SERVICE" \
	>"$tmp/swapdev-textfile.service"
cp "$SWAPDEV_TEXTFILE_TIMER" "$tmp/swapdev-textfile.timer"
status=0
out=$(systemd-analyze verify "$man_check" "$tmp/swapdev-textfile.service" \
	"$tmp/swapdev-textfile.timer" 2>&1) || status=$?
ours=$(grep -F 'swapdev-textfile' <<<"$out" || true)
if [ "$status" -ne 0 ] || [ -n "$ours" ]; then
	printf '%s\n' "$out" >&2
	fail "systemd-analyze verify of the textfile collector's units failed (exit $status)"
fi
echo "systemd-analyze verify $man_check: no complaints about swapdev-textfile.{service,timer}"

# The sandbox's exposure score, for the log (systemd 250 and later).
if out=$(systemd-analyze security --offline=yes "$unit" 2>/dev/null); then
	grep -F 'Overall exposure level' <<<"$out" || true
fi

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# run-fuzzers.sh [BUILDDIR] - run every libFuzzer target for a while; fail
# on the first crash, leak, sanitizer report or broken invariant.
#
# BUILDDIR (default build-fuzz in the source tree) is set up with clang and
# -Dfuzz=true when it does not exist yet. The seed corpora run once first
# (`meson test --suite fuzz`); then each target fuzzes from a copy of its
# seed corpus (tests/fuzz/corpus/NAME, with NAME.dict when there is one),
# so the corpus in the tree is never modified.
#
# Environment:
#	FUZZ_SECONDS	seconds per target (60)
#	FUZZ_TARGETS	which targets ("varlink protocol config ini codec")
#	FUZZ_WORKDIR	keep grown corpora and crash artifacts here, and start
#			from what an earlier run left there (default: a
#			temporary directory, removed unless something crashed)
#	FUZZ_ARGS	more libFuzzer options, e.g. "-fork=2" or "-jobs=4"
#
# Longer runs: see docs/RELIABILITY.md.

set -euo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
builddir=${1:-$srcdir/build-fuzz}
seconds=${FUZZ_SECONDS:-60}
read -r -a targets <<<"${FUZZ_TARGETS:-varlink protocol config ini codec}"
read -r -a extra <<<"${FUZZ_ARGS:-}"

die()
{
	echo "run-fuzzers.sh: $*" >&2
	exit 1
}

[[ "$seconds" =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || die "FUZZ_SECONDS must be a positive number"
command -v clang >/dev/null 2>&1 ||
	die "needs clang with libFuzzer (apt-get install clang libclang-rt-dev)"

# quiet CMD... : run CMD, showing its output only when it fails.
quiet()
{
	local out

	out=$("$@" 2>&1) || {
		echo "$out" >&2
		return 1
	}
}

if [ ! -f "$builddir/build.ninja" ]; then
	CC=clang quiet meson setup "$builddir" "$srcdir" -Dfuzz=true ||
		die "cannot set up $builddir with CC=clang -Dfuzz=true"
else
	quiet meson configure "$builddir" -Dfuzz=true ||
		die "cannot enable -Dfuzz=true in $builddir (a clang build directory is needed)"
fi
names=()
for t in "${targets[@]}"; do
	names+=("tests/fuzz/fuzz-$t")
done
quiet ninja -C "$builddir" "${names[@]}" || die "cannot build the fuzzers in $builddir"
# First the seed corpora once, as regression tests (meson's fuzz suite).
quiet meson test -C "$builddir" --no-rebuild --suite fuzz --print-errorlogs ||
	die "a seed corpus input fails (see above)"

if [ -n "${FUZZ_WORKDIR:-}" ]; then
	workdir=$FUZZ_WORKDIR
	mkdir -p "$workdir"
	keep=1
else
	workdir=$(mktemp -d "${TMPDIR:-/tmp}/swapdev-fuzz.XXXXXX")
	keep=0
fi
trap '[ "$keep" = 1 ] || rm -rf "$workdir"' EXIT

failed=()
for t in "${targets[@]}"; do
	corpus=$workdir/corpus-$t
	log=$workdir/fuzz-$t.log
	dict=()
	mkdir -p "$corpus" "$workdir/artifacts"
	cp -n "$srcdir/tests/fuzz/corpus/$t/"* "$corpus/"
	[ -f "$srcdir/tests/fuzz/corpus/$t.dict" ] && dict=("-dict=$srcdir/tests/fuzz/corpus/$t.dict")
	echo "fuzz-$t: ${seconds}s from $(find "$corpus" -type f | wc -l) inputs"
	status=0
	# -timeout: one input running 10 s is a hang; -rss_limit_mb: a leak or blow-up.
	"$builddir/tests/fuzz/fuzz-$t" -max_total_time="$seconds" -timeout=10 -error_exitcode=1 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$workdir/artifacts/$t-" \
		"${dict[@]}" "${extra[@]}" "$corpus" >"$log" 2>&1 || status=$?
	if [ "$status" -ne 0 ]; then
		keep=1
		failed+=("$t")
		echo "FAIL: fuzz-$t exited with status $status; last lines of $log:" >&2
		tail -n 40 "$log" >&2
	else
		grep '^Done ' "$log" | sed "s/^/fuzz-$t: /"
	fi
done

if [ "${#failed[@]}" -gt 0 ]; then
	echo "FAIL: ${failed[*]}; inputs that crashed are in $workdir/artifacts:" >&2
	ls -l "$workdir/artifacts" >&2
	echo "reproduce with: $builddir/tests/fuzz/fuzz-NAME ARTIFACT" >&2
	exit 1
fi
echo "PASS: fuzzers ${targets[*]}, ${seconds}s each"

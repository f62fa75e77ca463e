#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# sanitizers.sh - the sanitizer part of CI (SPEC section 8):
#
#   asan   the unit suite built with AddressSanitizer (+ LeakSanitizer) and
#          UndefinedBehaviorSanitizer; any report fails the test
#   tsan   the tsan suite (the store race harness tests/unit/race-store.c)
#          in a ThreadSanitizer build (Criterion cannot run under TSan, so
#          the harness is a plain program); any data race report fails
#   fuzz   every libFuzzer target for FUZZ_SECONDS (60) each, from its seed
#          corpus (tests/fuzz/run-fuzzers.sh; needs clang)
#
# All steps run even when one fails; the summary names the failures and
# the exit status is 1 if any failed. Build directories go under
# SANITIZERS_BUILDROOT (default: the source tree, where /build*/ is
# ignored by git) and are reused by later runs.
#
# Environment:
#	SANITIZERS_STEPS	steps to run ("asan tsan fuzz")
#	SANITIZERS_BUILDROOT	where build-asan, build-tsan, build-fuzz go
#	FUZZ_SECONDS		seconds per fuzz target (60)
#
# Typical time on 2 cores: asan 3-4 min, tsan 1-2 min, fuzz 4 x
# FUZZ_SECONDS plus 1 min of building.

set -uo pipefail

srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
buildroot=${SANITIZERS_BUILDROOT:-$srcdir}
read -r -a steps <<<"${SANITIZERS_STEPS:-asan tsan fuzz}"
failed=()
skipped=()

log()
{
	echo "sanitizers.sh: $*" >&2
}

# Sanitizer reports end the process with an error, so a test cannot pass
# over one (UBSan would otherwise print and carry on).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=1:print_summary=1}
ubsan=halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-$ubsan}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=4}

step_asan()
{
	local dir=$buildroot/build-asan

	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$srcdir" -Db_sanitize=address,undefined -Db_lundef=false \
			-Dbuildtype=debugoptimized >/dev/null || return 1
	fi
	meson compile -C "$dir" >/dev/null || { meson compile -C "$dir"; return 1; }
	# The unit tests take --jobs 1 (meson.build); ASan makes them slower.
	meson test -C "$dir" --suite unit --print-errorlogs --num-processes 1 \
		--timeout-multiplier 3
}

step_tsan()
{
	local dir=$buildroot/build-tsan harness=$srcdir/tests/unit/race-store.c

	if [ ! -f "$harness" ]; then
		log "SKIP tsan: $harness does not exist yet"
		skipped+=(tsan)
		return 0
	fi
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$srcdir" -Db_sanitize=thread -Db_lundef=false \
			-Dbuildtype=debugoptimized >/dev/null || return 1
	fi
	meson compile -C "$dir" >/dev/null || { meson compile -C "$dir"; return 1; }
	# Read the whole list: grep -q stopping early would fail meson with SIGPIPE under pipefail.
	if ! meson test -C "$dir" --list 2>/dev/null | grep -c 'race-store' >/dev/null; then
		log "SKIP tsan: race-store is not a test of $dir (tests/unit/meson.build)"
		skipped+=(tsan)
		return 0
	fi
	# ThreadSanitizer exits 66 after a race report, even if the checks passed.
	meson test -C "$dir" --suite tsan --print-errorlogs --num-processes 1
}

step_fuzz()
{
	FUZZ_SECONDS=${FUZZ_SECONDS:-60} "$srcdir/tests/fuzz/run-fuzzers.sh" "$buildroot/build-fuzz"
}

for step in "${steps[@]}"; do
	case "$step" in
	asan | tsan | fuzz) ;;
	*)
		log "unknown step '$step' (asan, tsan, fuzz)"
		exit 2
		;;
	esac
	log "== $step"
	start=$SECONDS
	if "step_$step"; then
		log "== $step: done in $((SECONDS - start)) s"
	else
		log "== $step: FAILED after $((SECONDS - start)) s"
		failed+=("$step")
	fi
done

[ "${#skipped[@]}" -eq 0 ] || log "skipped: ${skipped[*]} (reasons above)"
if [ "${#failed[@]}" -gt 0 ]; then
	log "FAIL: ${failed[*]}"
	exit 1
fi
log "PASS: ${steps[*]}"

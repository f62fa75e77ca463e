#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# sanitizers.sh - the sanitizer part of CI (SPEC section 8):
#
#   asan   the unit suite built with AddressSanitizer (+ LeakSanitizer) and
#          UndefinedBehaviorSanitizer; any report fails the test
#   tsan   the store race harness tests/unit/race-store.c built with
#          ThreadSanitizer (Criterion cannot run under TSan, so the harness
#          is a plain program); any data race report fails
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
#	RACE_STORE_OPS		operations per thread and scenario for race-store
#
# Typical time on 2 cores: asan 3-4 min, tsan under 1 min, fuzz 3 x
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
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:abort_on_error=1:print_stacktrace=1:print_summary=1}
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
	local dir=$buildroot/build-tsan harness=$srcdir/tests/unit/race-store.c sources=() m
	local ops=()

	if [ ! -f "$harness" ]; then
		log "SKIP tsan: $harness does not exist yet"
		skipped+=(tsan)
		return 0
	fi
	# The store and what it is built on (the protocol module is not needed).
	for m in codec pool slot_table disk_tier store writeback stats config; do
		[ -f "$srcdir/libswapdev/$m.c" ] && sources+=("$srcdir/libswapdev/$m.c")
	done
	mkdir -p "$dir" || return 1
	"${CC:-cc}" -std=gnu11 -D_GNU_SOURCE -fsanitize=thread -g -O1 -Wall -Wextra \
		-Wno-unused-parameter -I"$srcdir/libswapdev" "${sources[@]}" "$harness" \
		-llz4 -lzstd -lpthread -o "$dir/race-store" || return 1
	[ -n "${RACE_STORE_OPS:-}" ] && ops=(--ops "$RACE_STORE_OPS")
	# ThreadSanitizer exits 66 after a race report, even if the checks passed.
	"$dir/race-store" --dir "${TMPDIR:-/var/tmp}" "${ops[@]}"
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

#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test-prometheus.sh - `swapdevctl stats --prometheus` read by a real
# Prometheus text parser (python3-prometheus-client, as node_exporter's
# textfile collector would read the file), after a workload swapped
# through the daemon:
#
#   - every family appears once, with HELP and TYPE;
#   - read and write latencies are histograms: buckets cumulative and
#     ascending, +Inf equal to _count, _count > 0 after swapping, _sum set;
#   - tiers, operations, codecs and write-through reasons are labels;
#   - swapdev_build_info carries the daemon's version, and
#     swapdev_start_time_seconds is now minus the uptime;
#   - no counter or bucket goes down between two expositions;
#   - --prometheus --watch is refused (exit status 2).

set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/swapdevd.sh"

requires_root
requires_fuse
requires_loop
requires_swap
requires_cgroup
requires_cmd python3 timeout
# Debian's package serves /usr/bin/python3, which another python3 on $PATH may hide.
python=
for candidate in python3 /usr/bin/python3; do
	if "$candidate" -c 'import prometheus_client.parser' 2>/dev/null; then
		python=$candidate
		break
	fi
done
[ -n "$python" ] ||
	e2e_skip "python3-prometheus-client is not installed (make deps installs it)"

e2e_make_tmpdir
workload=''
e2e_program workload workload tests/e2e/workload.c
swapdevd_setup

T=$E2E_TMPDIR
cg=swapdev-e2e-prometheus-$$

ctl()
{
	with_timeout 60 "$SWAPDEVCTL" --socket "$SD_SOCKET" "$@"
}

# swap_round SEED : one workload round that swaps through the daemon.
swap_round()
{
	cgroup_run --timeout 600 "$cg" "$workload" --size 96M --passes 1 --seed "$1" ||
		e2e_fail "workload (seed $1) failed"
}

cleanup_fn cgroup_destroy "$cg"
cgroup_create "$cg" $((32 << 20))
# A small pool, so that pages also reach the disk tier.
swapdevd_start --set pool.limit=16M

swap_round 1
ctl stats --prometheus >"$T/first.prom" || e2e_fail "stats --prometheus failed"
swap_round 2
ctl stats --prometheus >"$T/second.prom" || e2e_fail "stats --prometheus failed"
version=$(ctl status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])')

"$python" - "$T/first.prom" "$T/second.prom" "$version" <<'EOF' || e2e_fail "the exposition is wrong (above)"
import math
import sys
import time
from prometheus_client.parser import text_string_to_metric_families

first_path, second_path, version = sys.argv[1:4]


def parse(path):
    with open(path) as f:
        text = f.read()
    families = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in families, f"{path}: family {family.name} twice"
        families[family.name] = family
    # The parser merges repeated HELP lines silently: count them in the text.
    helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP ")]
    assert len(helps) == len(set(helps)), f"{path}: a HELP line is repeated"
    return families


def samples(family, suffix=""):
    return [s for s in family.samples if s.name == family.name + suffix]


def check_histogram(families, name):
    family = families.get(name)
    assert family is not None, f"no family {name}"
    assert family.type == "histogram", f"{name} is a {family.type}"
    buckets = samples(family, "_bucket")
    bounds = [float(s.labels["le"]) for s in buckets]
    counts = [s.value for s in buckets]
    assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), f"{name}: le {bounds}"
    assert math.isinf(bounds[-1]), f"{name}: no +Inf bucket"
    assert len(bounds) >= 15 and bounds[0] <= 1e-5 and bounds[-2] >= 5, f"{name}: le {bounds}"
    assert counts == sorted(counts), f"{name}: buckets not cumulative: {counts}"
    (count,) = samples(family, "_count")
    (total,) = samples(family, "_sum")
    assert counts[-1] == count.value, f"{name}: +Inf {counts[-1]} != _count {count.value}"
    assert count.value > 0, f"{name}: no samples after swapping"
    assert total.value > 0, f"{name}: _sum is 0"
    return count.value


def labels(families, name, label):
    family = families.get(name)
    assert family is not None, f"no family {name}"
    return {s.labels[label]: s.value for s in family.samples}


def flat(families):
    """Every counter and histogram sample, by name and labels."""
    out = {}
    for family in families.values():
        if family.type not in ("counter", "histogram"):
            continue
        for s in family.samples:
            if s.name.endswith("_created"):
                continue
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


first = parse(first_path)
second = parse(second_path)
for families in (first, second):
    reads = check_histogram(families, "swapdev_read_duration_seconds")
    writes = check_histogram(families, "swapdev_write_duration_seconds")
    assert "swapdev_read_latency_seconds" not in families, "quantile gauges are still there"

    tiers = labels(families, "swapdev_slots", "tier")
    assert set(tiers) == {"same", "pool", "disk"}, tiers
    assert sum(tiers.values()) > 0, "no slot holds data after swapping"
    assert set(labels(families, "swapdev_slot_reads", "tier")) == {"same", "pool", "disk", "empty"}
    assert set(labels(families, "swapdev_slot_writes", "tier")) == {"same", "pool", "disk"}
    ops = labels(families, "swapdev_requests", "op")
    assert set(ops) == {"read", "write", "discard"}, ops
    assert ops["write"] > 0 and writes > 0, (ops, writes)
    reasons = labels(families, "swapdev_writethrough_pages", "reason")
    assert set(reasons) == {"pool_full", "pool_growing", "no_memory"}, reasons
    codecs = labels(families, "swapdev_pool_objects", "codec")
    assert set(codecs) == {"lz4", "zstd", "raw"}, codecs
    assert codecs["lz4"] + codecs["zstd"] + codecs["raw"] == tiers["pool"], (codecs, tiers)
    assert set(labels(families, "swapdev_pool_compressed_bytes", "codec")) == set(codecs)
    for gone in ("swapdev_same_slots", "swapdev_reads", "swapdev_reads_pool",
                 "swapdev_compactions", "swapdev_slots_used"):
        assert gone not in families, f"{gone} is still a family of its own"
    assert families["swapdev_compaction_moved_objects"].type == "counter"
    for family in families.values():
        assert not (family.name.endswith("_seconds") and "microsecond" in family.documentation), \
            f"{family.name} is in seconds but its help says microseconds"

    info = families["swapdev_build_info"]
    assert [s.labels for s in info.samples] == [{"version": version}], info.samples
    start = families["swapdev_start_time_seconds"].samples[0].value
    uptime = families["swapdev_uptime_seconds"].samples[0].value
    assert abs(start + uptime - time.time()) < 120, (start, uptime, time.time())

before, after = flat(first), flat(second)
assert before.keys() == after.keys(), set(before) ^ set(after)
down = [k for k in before if after[k] < before[k]]
assert not down, f"went down: {down}"
print(f"{len(first)} families, {len(before)} counter and histogram samples, none went down")
EOF

status=0
ctl stats --prometheus --watch 1 >/dev/null 2>"$T/watch.err" || status=$?
[ "$status" -eq 2 ] || e2e_fail "--prometheus --watch gave status $status, expected 2"
grep -q -- '--watch' "$T/watch.err" || e2e_fail "the refusal does not name --watch: $(cat "$T/watch.err")"

swapdevd_stop
echo "PASS: test-prometheus.sh"

# Thin wrapper over meson: `make run` and `make test` on a fresh Debian
# machine install what they need first (as root, with apt-get).
BUILD ?= build
# Warnings are fatal in CI (.ci/run sets -Dwerror=true), not in a user's
# build: a newer compiler's new warning must not stop `make run`.
MESON_OPTS ?=
DEB_PACKAGES = meson ninja-build pkg-config gcc libfuse3-dev fuse3 liburing-dev liblz4-dev libzstd-dev \
	libsystemd-dev libjson-c-dev libsmartcols-dev libcriterion-dev util-linux kmod \
	systemd systemd-container man-db python3-prometheus-client
SWAPDEVD_ARGS ?= --foreground

.PHONY: all deps build run test test-unit bench tsan clean

all: build

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; \
	done); \
	if [ -n "$$missing" ]; then \
		echo "Installing build dependencies:" $$missing; \
		if [ "$$(id -u)" -ne 0 ]; then echo "run as root to install: $$missing" >&2; exit 1; fi; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_OPTS)

build: deps $(BUILD)/build.ninja
	meson compile -C $(BUILD)

# Build and run the daemon on the embedded default configuration: a 1 GiB
# swap device, swap active until Ctrl-C.
run: build
	$(BUILD)/daemon/swapdevd $(SWAPDEVD_ARGS)

# Unit tests, then the root end-to-end suite (skips with a reason where
# root, /dev/fuse or loop devices are missing).
test: build
	meson test -C $(BUILD) --print-errorlogs --num-processes 1

test-unit: build
	meson test -C $(BUILD) --print-errorlogs --suite unit

bench: build
	meson test -C $(BUILD) --benchmark --print-errorlogs --verbose

clean:
	rm -rf $(BUILD)

# The store's concurrency harness under ThreadSanitizer (Criterion cannot
# run under TSan, so this is a standalone program).
tsan: deps
	[ -f $(BUILD)-tsan/build.ninja ] || meson setup $(BUILD)-tsan -Db_sanitize=thread
	meson test -C $(BUILD)-tsan --suite tsan --print-errorlogs

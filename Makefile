# The two commands: `make run` (set up, build, run airlockd) and `make check` (set up, build,
# run every suite).  Everything else is a convenience.
STATE ?= $(CURDIR)/state
PORT ?= 7070
BUILD ?= build

.PHONY: setup build run check check-purev2 bench loadtest fuzz sectest lint clean

setup:
	@scripts/setup.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

run: setup build
	@scripts/run.sh "$(BUILD)" "$(STATE)" "$(PORT)"

check: setup
	@scripts/check.sh

# boots a pure cgroup-v2 VM (QEMU, no KVM needed) and checks the cgroup limits there
check-purev2: setup
	@BUILD=$(BUILD) scripts/purev2-vm.sh

bench: setup build
	@bench/run.sh "$(BUILD)"

loadtest: setup build
	@AIRLOCK_BUILD=$(CURDIR)/$(BUILD) /usr/bin/python3 bench/load.py --out bench/results/load-$$(date -u +%Y-%m-%dT%H%MZ).md

fuzz: setup
	@scripts/fuzz.sh $(FUZZ_SECONDS)

sectest: setup build
	@AIRLOCK_BUILD=$(CURDIR)/$(BUILD) /usr/bin/python3 -m pytest -q -p no:cacheprovider -m security tests/integration

lint:
	@scripts/lint.sh

clean:
	rm -rf build build-gcc build-asan build-fuzz

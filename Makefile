# make demo   set up, build, and run the native demo
# make test   set up, build, and run every test suite (what CI runs)
# make bench  microbenchmarks, reported as ratios against same-run baselines
# make fuzz   run every libFuzzer target for FUZZ_SECONDS each
SHELL := /bin/bash
JOBS ?= 2
FUZZ_SECONDS ?= 60
export NODE_PATH := /usr/share/nodejs

.PHONY: all deps native wasm asan test test-native test-wasm test-asan demo bench fuzz clean

all: native

deps:
	@bash .ci/deps.sh

native: deps
	cmake --preset native >/dev/null
	cmake --build --preset native -j $(JOBS)

wasm: deps
	cmake --preset wasm >/dev/null
	cmake --build --preset wasm -j $(JOBS)

asan: deps
	cmake --preset asan >/dev/null
	cmake --build --preset asan -j $(JOBS)

test-native: native
	ctest --preset native

# The demo's browser test drives the native demo server.
test-wasm: native wasm
	ctest --preset wasm

test-asan: asan
	ctest --preset asan

test: test-native test-wasm test-asan

demo: native
	@if [ -x build/native/demo/preheat-demo ]; then build/native/demo/preheat-demo; \
	else build/native/tests/preheat_sim --seed 1 --steps 60 -v; fi

bench: native
	build/native/tests/memory_tier_bench --benchmark_min_time=0.5
	@for b in build/native/tests/native/*_bench; do [ -x "$$b" ] && "$$b"; done; true

fuzz: deps
	bash tests/fuzz/run.sh $(FUZZ_SECONDS)

clean:
	rm -rf build

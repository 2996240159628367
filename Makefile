# Top-level entry points; the build itself is CMake (build/).
#   make run      install missing Debian packages, build, plan the built-in example
#   make test     build and run the whole test suite (ctest)
#   make bench    guidance latency benchmark over the dev messages
#   make asan     build and test under AddressSanitizer + UBSan (build-asan/)
#   make fuzz     build the libFuzzer targets with clang (build-fuzz/) and run each
#                 for FUZZ_TIME seconds (default 60); make fuzz-smoke: 12 s each
#   make install  install binary, headers, library, pkg-config file, man page
#   make build-matrix  every build type with GCC and Clang (build-check: Release + Clang, in CI)
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local
FUZZ_TIME ?= 60
FUZZ_SMOKE_TIME ?= 12
# WERROR=ON turns warnings into errors (development and CI: .ci/run sets it).
WERROR ?= OFF
BUILD_TYPE ?= RelWithDebInfo

.PHONY: all deps deps-test build run test bench asan fuzz-build fuzz fuzz-smoke install clean build-matrix build-check

all: build

deps:
	@sh scripts/deps.sh build

deps-test:
	@sh scripts/deps.sh test

# Configured on every build (a second or less) so that WERROR, BUILD_TYPE and
# PREFIX given on the command line always reach the cached build folder.
build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DCMAKE_INSTALL_PREFIX=$(PREFIX) -DRELIEF_WERROR=$(WERROR) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/relief --example

test: deps-test build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	./$(BUILD)/bench_guide ../shared/eval/hazard_messages_dev.jsonl

asan: deps-test
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRELIEF_SANITIZE=ON -DRELIEF_WERROR=$(WERROR)
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

fuzz-build: deps-test
	cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DRELIEF_FUZZ=ON -DRELIEF_WERROR=$(WERROR)
	cmake --build build-fuzz -j $(JOBS) --target fuzzers

fuzz: fuzz-build
	sh fuzz/run.sh build-fuzz $(FUZZ_TIME)

fuzz-smoke: fuzz-build
	sh fuzz/run.sh build-fuzz $(FUZZ_SMOKE_TIME)

# PREFIX is honoured whatever the build folder was configured with.
# Every build type with GCC and Clang, warnings as errors (build-matrix/).
build-matrix: deps-test
	sh scripts/build-matrix.sh "gcc clang" "Debug Release RelWithDebInfo MinSizeRel"

# What CI checks of the matrix: Release with Clang.
build-check: deps-test
	sh scripts/build-matrix.sh clang Release

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-matrix

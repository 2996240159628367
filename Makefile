# Top-level entry points; the build itself is CMake (build/).
#   make run      install missing Debian packages, build, plan the built-in example
#   make test     build and run the whole test suite (ctest)
#   make bench    guidance latency benchmark over the dev messages
#   make asan     build and test under AddressSanitizer + UBSan (build-asan/)
#   make install  install binary, headers, library, pkg-config file, man page
BUILD ?= build
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local

.PHONY: all deps deps-test build run test bench asan install clean

all: build

deps:
	@sh scripts/deps.sh build

deps-test:
	@sh scripts/deps.sh test

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=$(PREFIX)

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/relief --example

test: deps-test build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	./$(BUILD)/bench_guide ../shared/eval/hazard_messages_dev.jsonl

asan: deps-test
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DRELIEF_SANITIZE=ON
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) build-asan

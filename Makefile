# The two commands of the README: `make demo` and `make test`.
# Everything else is CMake; this file only strings the steps together.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps build test test-fast test-asan check-style format demo bench clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The style checks first (formatting as scripts/format.sh leaves it,
# function and file lengths), then every test, then the whole suite again
# under ASan + UBSan (built with clang, so both compilers must compile the
# tree without warnings).
test: check-style build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	$(MAKE) test-asan

test-fast: check-style build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: deps
	CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPLM_SANITIZE=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

# Both checks run, so one failure does not hide the other.
check-style: deps
	@rc=0; sh scripts/check-format.sh || rc=1; \
	  sh scripts/check-lengths.sh || rc=1; exit $$rc

# Rewrites every C file in place to the .clang-format style.
format: deps
	@sh scripts/format.sh

demo: build
	@sh scripts/demo.sh $(BUILD)

bench: build
	@sh bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

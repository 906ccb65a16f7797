# The two commands of the README: `make demo` and `make test`.
# Everything else is CMake; this file only strings the steps together.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
# make fuzz: seconds per target, and which targets (default: all).
FUZZ_TIME  ?= 60
FUZZ_TARGETS ?=
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps build test test-fast test-asan test-tsan fuzz check-style format demo bench clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The style checks first (formatting as scripts/format.sh leaves it,
# function and file lengths), then every test, then the whole suite again
# under ASan + UBSan (built with clang, so both compilers must compile the
# tree without warnings); the clang build also runs each fuzz target a few
# seconds (label "fuzz"); then the threaded tests (label "threads") under
# ThreadSanitizer.
test: check-style build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	$(MAKE) test-asan
	$(MAKE) test-tsan

test-fast: check-style build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: deps
	CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPLM_SANITIZE=ON -DPLM_FUZZ=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j $(JOBS)

# The tests that run code on several threads, under ThreadSanitizer.
test-tsan: deps
	CC=clang cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPLM_TSAN=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target plm_threaded_tests
	ctest --test-dir $(TSAN_BUILD) --output-on-failure -j $(JOBS) -L threads

# The fuzz targets (fuzz/README.md), one after the other, FUZZ_TIME seconds
# each, growing a corpus kept in $(FUZZ_BUILD)/fuzz-out/corpus; stops at
# the first crash (saved in $(FUZZ_BUILD)/fuzz-out/artifacts).
fuzz: deps
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPLM_SANITIZE=ON -DPLM_FUZZ=ON $(CMAKE_ARGS) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target plm_fuzz_all
	@mkdir -p $(FUZZ_BUILD)/fuzz-out
	@set -e; targets="$(FUZZ_TARGETS)"; \
	[ -n "$$targets" ] || targets=$$(cd fuzz && ls fuzz_*.c | sed 's/\.c$$//'); \
	for t in $$targets; do \
	  echo "== $$t: $(FUZZ_TIME) s"; \
	  PLM_FUZZ_KEEP=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    sh fuzz/run.sh $(FUZZ_BUILD)/$$t fuzz $(FUZZ_BUILD)/fuzz-out $(FUZZ_TIME) -1 \
	    > $(FUZZ_BUILD)/fuzz-out/$$t.log 2>&1 || \
	    { tail -40 $(FUZZ_BUILD)/fuzz-out/$$t.log; echo "fuzz: $$t failed (log: $(FUZZ_BUILD)/fuzz-out/$$t.log)"; exit 1; }; \
	  grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' $(FUZZ_BUILD)/fuzz-out/$$t.log || true; \
	done

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)

# iotgate - the two commands: `make run` and `make test`. See README.md.
JOBS    ?= $(shell nproc)
CONFIG  ?= iotgate.conf
FUZZ_SECONDS ?= 20
PYTEST  ?= /usr/bin/python3 -m pytest

.PHONY: run test deps deps-test build build-asan build-fuzz unit fuzz integration clean

run: deps build
	mkdir -p data
	./build/release/iotgate --config $(CONFIG)

deps:
	@./scripts/install-deps.sh run

deps-test:
	@./scripts/install-deps.sh test

build:
	cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DIOT_TESTS=OFF >/dev/null
	cmake --build build/release -j $(JOBS)

build-asan:
	cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DIOT_SANITIZE=ON >/dev/null
	cmake --build build/asan -j $(JOBS)

build-fuzz:
	CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DIOT_FUZZ=ON >/dev/null
	cmake --build build/fuzz -j $(JOBS)

unit: build-asan
	cd build/asan && ctest --output-on-failure

fuzz: build-fuzz
	@for f in build/fuzz/*_fuzz; do \
	    name=$$(basename $$f); mkdir -p build/fuzz/corpus-$$name; \
	    seeds=""; [ -d fuzz/seeds/$$name ] && seeds=fuzz/seeds/$$name; \
	    echo "fuzz: $$name for $(FUZZ_SECONDS)s"; \
	    $$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
	        build/fuzz/corpus-$$name $$seeds 2>build/fuzz/$$name.log \
	        || { tail -40 build/fuzz/$$name.log; exit 1; }; \
	    grep -E '^Done|^#[0-9]+.*DONE' build/fuzz/$$name.log | tail -1; \
	done

integration: build-asan
	IOTGATE_BIN=$(CURDIR)/build/asan/iotgate $(PYTEST) -q -p no:cacheprovider tests/integration

test: deps-test
	$(MAKE) unit
	$(MAKE) fuzz
	$(MAKE) integration

clean:
	rm -rf build

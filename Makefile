# pushgate: build, run, test. `make test` is what CI runs (.ci/run).
CARGO ?= cargo
VENV := .venv

# `make static`: the binary that ships (containers, systemd), for the machine's own target.
HOST := $(shell rustc -vV | sed -n 's/^host: //p')
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
STATIC_BIN := $(TARGET_DIR)/$(HOST)/static/pushgate
# Optional features for `make static`, e.g. FEATURES="basic-auth tls".
FEATURES ?=
# The size limit of the default build, 2 MB; a build with features is checked but not limited.
STATIC_MAX_BYTES ?= 2000000
# The C library linked in (glibc's static-pie: no interpreter, runs in an empty root);
# relative relocations packed, so position independence costs 1 KB instead of 56 KB; identical
# functions folded into one by the linker (rust-lld, the toolchain's default here): 10 KB;
# the unwind tables, which nothing in it reads, left out (packaging/static.ld): 130 KB.
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs \
	-C link-arg=-Wl,--icf=all -C link-arg=-Wl,-T,$(CURDIR)/packaging/static.ld

# Seconds of fuzzing per target in `make test`.
FUZZ_SMOKE_SECONDS ?= 5

.PHONY: build run static deps test fuzz-smoke bench fuzz fmt lint clean

build:
	$(CARGO) build --release

# Serves on :9091 like upstream, persisting to data/ (kept by `make clean`).
run: build
	mkdir -p data
	./target/release/pushgate --web.listen-address=:9091 --persistence.file=data/pushgate.log

# The target is named even though it is the host's, so RUSTFLAGS reach the binary but not
# build.rs.
static:
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CARGO) build --profile static --target $(HOST) \
		--features "$(FEATURES)"
	scripts/check-static.sh $(STATIC_BIN) $(if $(FEATURES),,$(STATIC_MAX_BYTES))

# Debian packages and the Python venv the tests use; a no-op when all is in place.
deps:
	scripts/install-deps.sh

# Lints both builds and runs every test with every feature: features only add code. The
# default build, the one `make run` ships, also runs its unit tests and the web configuration
# tests (the `webconfig::` tests of the one test binary, tests/tests.rs), where it must refuse
# what it was built without. The static binary is tested in an empty root (tests/packaging.rs).
# Every fuzz target runs its kept inputs and fuzzes for a few seconds (`fuzz-smoke`).
test: deps lint static fuzz-smoke
	PUSHGATE_PYTHON=$(CURDIR)/$(VENV)/bin/python PUSHGATE_STATIC_BIN=$(abspath $(STATIC_BIN)) \
		$(CARGO) test --all-targets --all-features --no-fail-fast
	$(CARGO) test --lib
	$(CARGO) test --test tests webconfig::

bench:
	$(CARGO) bench

# Every fuzz target in fuzz/ for FUZZ_SECONDS (default 60) each, one at a time, its corpus
# kept in fuzz/corpus; see README, "Fuzzing".
fuzz:
	scripts/fuzz.sh

# What `make test` fuzzes: each target from its seeds alone, FUZZ_SMOKE_SECONDS each.
fuzz-smoke: deps
	FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS) scripts/fuzz.sh --smoke

fmt:
	$(CARGO) fmt
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml

# The fuzz targets are linted (and so built) with the stable toolchain too, so a change of
# the library's API cannot leave them broken until someone next fuzzes.
lint:
	$(CARGO) fmt --check
	$(CARGO) fmt --check --manifest-path fuzz/Cargo.toml
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --all-features -- -D warnings
	$(CARGO) clippy --manifest-path fuzz/Cargo.toml -- -D warnings

clean:
	$(CARGO) clean
	$(CARGO) clean --manifest-path fuzz/Cargo.toml
	rm -rf $(VENV)

# pushgate: build, run, test. `make test` is what CI runs (.ci/run).
CARGO ?= cargo
VENV := .venv

.PHONY: build run deps test bench fmt lint clean

build:
	$(CARGO) build --release

# Serves on :9091 like upstream, persisting to data/ (kept by `make clean`).
run: build
	mkdir -p data
	./target/release/pushgate --web.listen-address=:9091 --persistence.file=data/pushgate.log

# Debian packages and the Python venv the tests use; a no-op when all is in place.
deps:
	scripts/install-deps.sh

# Lints both builds and runs every test with every feature: features only add code. The
# default build, the one `make run` ships, also runs its unit tests and the web configuration
# tests, where it must refuse what it was built without.
test: deps lint
	PUSHGATE_PYTHON=$(CURDIR)/$(VENV)/bin/python $(CARGO) test --all-targets --all-features --no-fail-fast
	$(CARGO) test --lib --test webconfig

bench:
	$(CARGO) bench

fmt:
	$(CARGO) fmt

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets --all-features -- -D warnings

clean:
	$(CARGO) clean
	rm -rf $(VENV)

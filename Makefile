# sandboxctl: build, install, test, bench.
#   make install   build a release binary and install it with cargo
#   make test      lints, unit tests, the integration suite (again as an
#                  ordinary user when run as root), the fuzz targets' build
#   make bench     startup and filter overhead beside bubblewrap and bare

CARGO ?= cargo
SKIP_LOG := $(CURDIR)/target/skips.log
export SANDBOXCTL_SKIP_LOG := $(SKIP_LOG)

.PHONY: all build install test lint unit integration as-user fuzz-build bench clean

all: build

build:
	$(CARGO) build --release --locked

install:
	$(CARGO) install --locked --path . --force

test: lint unit integration as-user fuzz-build
	@echo
	@if [ -s $(SKIP_LOG) ]; then echo "Skipped tests (with reasons):"; sort -u $(SKIP_LOG); else echo "No test was skipped."; fi

lint:
	@mkdir -p target && rm -f $(SKIP_LOG)
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets --features test-hooks -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps --quiet

unit:
	$(CARGO) test --locked --features test-hooks --lib

integration:
	SANDBOXCTL_TEST_HOOKS=1 $(CARGO) test --locked --features test-hooks --test cli -- --test-threads=4

as-user:
	ci/as-user.sh

fuzz-build:
	$(CARGO) build --locked --manifest-path fuzz/Cargo.toml

bench:
	ci/bench.sh

clean:
	$(CARGO) clean

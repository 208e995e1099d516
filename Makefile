# sandboxctl: build, install, test, bench.
#   make install   build a release binary and install it with cargo
#   make test      lints, unit tests, the integration suite (again as an
#                  ordinary user when run as root, and against the static
#                  release binary), the fuzz targets' build
#   make bench     startup and filter overhead beside bubblewrap and bare

CARGO ?= cargo
SKIP_LOG := $(CURDIR)/target/skips.log
export SANDBOXCTL_SKIP_LOG := $(SKIP_LOG)

.PHONY: all build install test lint unit integration as-user release-suite fuzz-build bench print-release-bin clean

all: build

# Release binaries are linked statically (static-pie, still randomised):
# sandboxctl starts about 0.4 ms sooner without the dynamic loader, on
# every run. The target is named so that the flag reaches only the
# binary, not the build's proc macros.
HOST := $(shell rustc -vV | sed -n 's/^host: //p')
STATIC := RUSTFLAGS="-C target-feature=+crt-static"
RELEASE_BIN := target/$(HOST)/release/sandboxctl

build:
	$(STATIC) $(CARGO) build --release --locked --target $(HOST)

install:
	$(STATIC) $(CARGO) install --locked --path . --force --target $(HOST)

test: lint unit integration as-user release-suite fuzz-build
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

# The integration suite again, against the statically linked release
# binary that `make install` installs (tests that need the test hooks
# skip: that binary has none).
release-suite: build
	@rm -f target/release-skips.log
	SANDBOXCTL_BIN=$(CURDIR)/$(RELEASE_BIN) SANDBOXCTL_SKIP_LOG=$(CURDIR)/target/release-skips.log \
		$(CARGO) test --locked --features test-hooks --test cli -- --test-threads=4
	@if [ -s target/release-skips.log ]; then sed 's/^skipped: /skipped: (release binary) /' target/release-skips.log >> $(SKIP_LOG); fi

fuzz-build:
	$(CARGO) build --locked --manifest-path fuzz/Cargo.toml

bench:
	ci/bench.sh

print-release-bin:
	@echo $(RELEASE_BIN)

clean:
	$(CARGO) clean

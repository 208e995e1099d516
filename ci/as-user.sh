#!/usr/bin/env bash
# Run the integration suite a second time as an ordinary user, the way most
# people use sandboxctl. Only meaningful as root: it creates a throw-away
# user and a temporary directory and removes both when done.
set -euo pipefail
cd "$(dirname "$0")/.."
skip_log=${SANDBOXCTL_SKIP_LOG:-/dev/null}
if [ "$(id -u)" != 0 ]; then
    echo "skipped: as-user suite: not running as root (this run already is an ordinary user)" | tee -a "$skip_log"
    exit 0
fi
if ! command -v useradd >/dev/null; then
    echo "skipped: as-user suite: useradd not available" | tee -a "$skip_log"
    exit 0
fi
bin=$(SANDBOXCTL_TEST_HOOKS=1 cargo test --locked --features test-hooks --test cli --no-run --message-format=json 2>/dev/null \
      | python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("target", {}).get("name") == "cli" and m.get("executable"):
        print(m["executable"])')
sbx=target/debug/sandboxctl
user=sbxtest$$
work=$(mktemp -d /tmp/sandboxctl-as-user.XXXXXX)
cleanup() {
    # The suite ran synchronously under runuser and ends what it starts;
    # -f removes the user even if the system still lists a session for it.
    userdel -f "$user" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
useradd --no-create-home --home-dir "$work/home" --shell /bin/sh "$user"
mkdir -p "$work/home"
cp "$bin" "$work/cli"
cp "$sbx" "$work/sandboxctl"
chown -R "$user" "$work"
chmod 755 "$work"
echo "== integration suite as $user (uid $(id -u "$user"))"
runuser -u "$user" -- env -i PATH=/usr/bin:/bin HOME="$work/home" LANG=C.UTF-8 \
    SANDBOXCTL_BIN="$work/sandboxctl" SANDBOXCTL_TEST_HOOKS=1 SANDBOXCTL_SKIP_LOG="$work/skips.log" \
    "$work/cli" --test-threads=4
if [ -s "$work/skips.log" ]; then sed "s/^skipped: /skipped: (as $user) /" "$work/skips.log" >> "$skip_log"; fi

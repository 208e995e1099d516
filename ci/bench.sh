#!/usr/bin/env bash
# make bench: sandboxctl measured side by side with bare execution, the
# namespace floor (unshare) and bubblewrap, in the same run. Reports
# medians and ratios. Start-up times come from tests/probe/startup_bench.c,
# which interleaves the commands run by run so that drift in the machine's
# speed hits all alike (hyperfine, used for the longer runs below, runs one
# command's batch after another). Installs hyperfine and bubblewrap when
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
if ! command -v hyperfine >/dev/null || ! command -v bwrap >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine bubblewrap >/dev/null
    else
        echo "bench needs hyperfine and bubblewrap (apt-get install hyperfine bubblewrap)" >&2
        exit 1
    fi
fi
make --no-print-directory -s build
SBX=$root/$(make --no-print-directory -s -C "$root" print-release-bin)
work=$(mktemp -d /tmp/sandboxctl-bench.XXXXXX)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
printf 'version: 1\nfilesystem:\n  writable: ["."]\n' > nolimits.yaml
runs=${BENCH_RUNS:-200}

gcc -O2 -o startup_bench "$root/tests/probe/startup_bench.c"
BWRAP='bwrap --unshare-all --die-with-parent --ro-bind / / --dev /dev --proc /proc --tmpfs /tmp /bin/true'
# startup_bench prints name, median, mean, min (ms) per command; this
# turns that into medians, time added to bare, and the ratio to bubblewrap.
cat > table.py <<'PY'
import sys
rows = [l.split("\t") for l in sys.stdin.read().splitlines()]
med = {r[0]: float(r[1]) for r in rows}
bare, bw = med["bare"], med["bwrap"]
print(f"{'':42} {'median':>9} {'added':>9} {'vs bwrap':>9}")
for k, m in med.items():
    print(f"{k:42} {m:8.2f}ms {m - bare:8.2f}ms {m / bw:8.2f}x")
PY
startup() { "$@" | python3 "$work/table.py"; }

echo "== startup: /bin/true, $runs runs each, interleaved, medians ($(id -un))"
startup ./startup_bench "$runs" 20 \
    bare /bin/true \
    unshare 'unshare --user --map-root-user --net --mount --pid --fork /bin/true' \
    bwrap "$BWRAP" \
    'sandboxctl (default policy, every layer)' "$SBX run --no-audit -- /bin/true" \
    'sandboxctl (no resource limits)' "$SBX run --no-audit -p nolimits.yaml -- /bin/true"

echo
echo "== the same after a 200 ms pause before each run (nothing left warm by the previous run)"
startup ./startup_bench -p 200 "$(( runs / 4 ))" 5 \
    bare /bin/true \
    bwrap "$BWRAP" \
    'sandboxctl (default policy, every layer)' "$SBX run --no-audit -- /bin/true"

if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null; then
    # Most people run sandboxctl as an ordinary user: a throw-away one,
    # removed with its files when the bench ends.
    user=sbxbench$$
    home=$(mktemp -d /tmp/sandboxctl-bench-user.XXXXXX)
    useradd --no-create-home --home-dir "$home" --shell /bin/sh "$user"
    trap 'cleanup; userdel -f "$user" 2>/dev/null || true; rm -rf "$home"' EXIT
    cp "$SBX" startup_bench nolimits.yaml "$home/"
    chown -R "$user" "$home"
    echo
    echo "== startup as the ordinary user $user (uid $(id -u "$user")): $runs runs each, interleaved, medians"
    ( cd "$home" && startup runuser -u "$user" -- env -i PATH=/usr/bin:/bin HOME="$home" ./startup_bench "$runs" 20 \
        bare /bin/true \
        unshare 'unshare --user --map-root-user --net --mount --pid --fork /bin/true' \
        bwrap "$BWRAP" \
        'sandboxctl (default policy, every layer)' "./sandboxctl run --no-audit -- /bin/true" \
        'sandboxctl (no resource limits)' "./sandboxctl run --no-audit -p nolimits.yaml -- /bin/true" )
fi

echo
echo "== where the time goes (default policy, median of 30 runs, ms since sandboxctl started;"
echo "   namespaces, plan received, view built: init; policy and plan: the supervisor; forked to"
echo "   cgroups joined: the command, beside init's mounts; then Landlock and exec once the view is built)"
for i in $(seq 30); do "$SBX" run --no-audit --json -- /bin/true 2>&1 | tail -1; done > phases.jsonl
python3 - phases.jsonl <<'PY'
import json, statistics, sys
runs = [dict(json.loads(l)["outcome"]["timing"]) for l in open(sys.argv[1]) if l.strip()]
# Three processes work at once (supervisor, init, command): phases are
# listed by median time; "+" is the gap to the line above.
med = {p: statistics.median(r[p] for r in runs if p in r) / 1000 for p in set().union(*runs)}
prev = 0.0
for phase in sorted(med, key=med.get):
    m = med[phase]
    print(f"  {m:7.2f} ms  (+{m - prev:5.2f})  {phase}")
    prev = m
PY

echo
echo "== syscall overhead: inside the sandbox (seccomp + Landlock + namespaces) vs bare"
gcc -O2 -o syscall_bench "$root/tests/probe/syscall_bench.c"
for i in 1 2 3 4 5; do ./syscall_bench; done > bare.txt
for i in 1 2 3 4 5; do "$SBX" run --no-audit -p nolimits.yaml -- ./syscall_bench; done > inside.txt
python3 - bare.txt inside.txt <<'PY'
import statistics, sys
def load(p):
    d = {}
    for line in open(p):
        k, v = line.split()
        d.setdefault(k, []).append(float(v))
    return {k: statistics.median(v) for k, v in d.items()}
b, s = load(sys.argv[1]), load(sys.argv[2])
for k in b:
    print(f"  {k:10} bare {b[k]:7.1f} ns  sandboxed {s[k]:7.1f} ns  overhead {100 * (s[k] / b[k] - 1):+6.1f}%")
PY
gcc -O2 -o seccomp_floor "$root/tests/probe/seccomp_floor.c"
./seccomp_floor | sed 's/^/  floor of any seccomp filter on this kernel: /'
hyperfine -N -i --warmup 2 --runs 10 --export-json find.json --style none \
    -n 'find /usr bare' 'find /usr -name nonexistent' \
    -n 'find /usr sandboxed' "$SBX run --no-audit -p nolimits.yaml -- find /usr -name nonexistent" >/dev/null
python3 - find.json <<'PY'
import json, sys
r = [(x["command"], x["median"]) for x in json.load(open(sys.argv[1]))["results"]]
print(f"  {r[0][0]}: {r[0][1]*1000:.1f} ms   {r[1][0]}: {r[1][1]*1000:.1f} ms   overhead {100*(r[1][1]/r[0][1]-1):+.1f}% (includes startup)")
PY

echo
echo "== egress proxy on loopback: throughput, latency, 200 concurrent tunnels"
python3 - <<'PY' &
import http.server, socketserver
PAYLOAD = b"x" * (256 << 20)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    def do_GET(self):
        body = PAYLOAD if self.path == "/big" else b"ok\n"
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 512
S(("127.0.0.1", 18099), H).serve_forever()
PY
server_pid=$!
sleep 1
printf 'version: 1\nnetwork:\n  default: deny\n  allow: ["127.0.0.1:18099"]\nfilesystem:\n  writable: ["."]\n' > net.yaml
for i in 1 2 3 4 5 6 7; do
    d=$(curl -s -o /dev/null -w '%{speed_download}' http://127.0.0.1:18099/big)
    p=$("$SBX" run --no-audit -p net.yaml -- sh -c 'curl -s --noproxy "" -x "$HTTP_PROXY" -o /dev/null -w "%{speed_download}" http://127.0.0.1:18099/big')
    echo "$d $p"
done > throughput.txt
python3 - throughput.txt <<'PY'
import statistics, sys
r = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
ratios = [p / d for d, p in r]
print("  256 MiB download, 7 runs: " + ", ".join(f"{100 * x:.0f}%" for x in ratios) + " of direct; "
      f"median {100 * statistics.median(ratios):.0f}% "
      f"(direct {statistics.median(d for d, _ in r) / 2**20:.0f} MiB/s, proxied {statistics.median(p for _, p in r) / 2**20:.0f} MiB/s)")
PY
lat_direct=$(python3 - <<'PY'
import time, urllib.request, statistics
ts = []
for _ in range(200):
    t = time.perf_counter(); urllib.request.urlopen("http://127.0.0.1:18099/small").read(); ts.append(time.perf_counter() - t)
print(statistics.median(ts) * 1000)
PY
)
lat_proxy=$("$SBX" run --no-audit -p net.yaml -- /usr/bin/python3 - <<'PY'
import os, time, urllib.request, statistics
for k in ("no_proxy", "NO_PROXY"):
    os.environ.pop(k, None)  # the server is on the host's loopback: go through the proxy
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": os.environ["HTTP_PROXY"]}))
ts = []
for _ in range(200):
    t = time.perf_counter(); opener.open("http://127.0.0.1:18099/small").read(); ts.append(time.perf_counter() - t)
print(statistics.median(ts) * 1000)
PY
)
python3 -c "print(f'  request latency (median of 200): direct {$lat_direct:.2f} ms, through the proxy {$lat_proxy:.2f} ms, added {$lat_proxy-$lat_direct:.2f} ms')"
ok=$("$SBX" run --no-audit -p net.yaml -- sh -c 'seq 200 | xargs -P 200 -I{} curl -s -m 20 --noproxy "" -x "$HTTP_PROXY" -o /dev/null -w "%{http_code}\n" http://127.0.0.1:18099/small' | grep -c '^200$' || true)
echo "  200 concurrent tunnels: $ok of 200 succeeded"

echo
echo "== pre-check (criterion)"
cd "$root" && cargo bench --locked --bench precheck 2>/dev/null | grep -E '^precheck|time:'

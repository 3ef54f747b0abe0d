#!/usr/bin/env bash
# Issue 21: the same workload against a peer and against OpenDMP, back to back in one run, and the
# ratios. The peer is Medplum's FHIR router over its in-memory repository (npm packages
# @medplum/fhir-router and @medplum/core, wrapped in bench/peers/medplum-host.mjs): it keeps
# nothing on disk, audits nothing, encrypts nothing, has no TLS and no access policy, and checks
# no MHD rule — see BENCHMARKS.md before reading the ratios. Extra arguments go to the driver:
#   bench/peers.sh --documents 20000 --patients 200 --clients 8
# BENCH_PROVIDERS (sqlite, postgres or both) chooses OpenDMP's databases, as for bench/run.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"/..
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--documents 20000 --patients 200 --clients 8)
args+=(--large-transactions 0)

(cd bench/peers && npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null)
dotnet build bench/OpenDmp.Bench -c Release -v q -nologo >/dev/null
driver=bench/OpenDmp.Bench/bin/Release/net10.0/OpenDmp.Bench.dll
out=$(mktemp -d /tmp/opendmp-peers.XXXXXX)
trap 'rm -rf "$out"' EXIT

# Node.js before 22 has WebSocket (which @medplum/core expects) behind a flag.
node_flags=()
if [ "$(node -e 'process.stdout.write(typeof WebSocket)')" != "function" ]; then node_flags=(--experimental-websocket); fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
node "${node_flags[@]}" --max-old-space-size=8192 bench/peers/medplum-host.mjs "$port" >"$out/peer.log" 2>&1 &
peer=$!
dotnet "$driver" --peer "http://127.0.0.1:$port" --peer-pid "$peer" "${args[@]}" | tee "$out/medplum.txt" || { cat "$out/peer.log" >&2; exit 1; }
kill "$peer"; wait "$peer" 2>/dev/null || true

bench/run.sh "${args[@]}" | tee "$out/opendmp.txt"

python3 - "$out/medplum.txt" "$out/opendmp.txt" <<'PY'
import re, sys
# (label, pattern, higher is better)
FIGURES = [
    ('ingest (documents/s)', r'^ITI-65 ingest: .* = (\d+) documents/s', True),
    ('first page p95, 1 client (ms)', r'first page \(50 of \d+\) at \d+ documents, 1 client: p50 [\d.]+ ms, p95 ([\d.]+)', False),
    ('read by id (reads/s)', r'read by id.*?: (\d+) reads/s', True),
    ('peak RSS (MB)', r'peak RSS \(VmHWM\) (\d+) MB', False),
]
def figures(part):
    out = {}
    for label, pattern, _ in FIGURES:
        m = re.search(pattern, part, flags=re.M)
        out[label] = float(m.group(1)) if m else float('nan')
    return out
peer = figures(open(sys.argv[1]).read())
print('\n# Peer comparison: OpenDMP against Medplum in memory (advantage above 1 is OpenDMP ahead, below 1 behind)')
for part in re.split(r'^# ', open(sys.argv[2]).read(), flags=re.M)[1:]:
    name = 'OpenDMP ' + ('SQLite' if 'SQLite' in part.splitlines()[0] else 'PostgreSQL')
    ours = figures(part)
    print(f'{name}:')
    for label, _, higher in FIGURES:
        a, b = ours[label], peer[label]
        advantage = a / b if higher else b / a
        print(f'  {label}: OpenDMP {a:g}, Medplum {b:g}, advantage {advantage:.2f}')
PY

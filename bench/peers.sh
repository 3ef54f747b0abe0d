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
def runs(path, split):
    text = open(path).read()
    parts = re.split(r'^# ', text, flags=re.M)[1:] if split else [text]
    for part in parts:
        name = 'OpenDMP ' + ('SQLite' if 'SQLite' in part.splitlines()[0] else 'PostgreSQL') if split else 'Medplum (in memory)'
        def num(pattern):
            m = re.search(pattern, part)
            return float(m.group(1)) if m else float('nan')
        yield name, {
            'ingest (documents/s)': num(r'^ITI-65 ingest: .* = (\d+) documents/s'),
            'first page p95, 1 client (ms)': num(r'first page \(50 of \d+\) at \d+ documents, 1 client: p50 [\d.]+ ms, p95 ([\d.]+)'),
            'read by id (reads/s)': num(r'read by id.*?: (\d+) reads/s'),
            'peak RSS (MB)': num(r'peak RSS \(VmHWM\) (\d+) MB'),
        }
peer = dict(runs(sys.argv[1], False))['Medplum (in memory)']
print('\n# Peer comparison (OpenDMP / Medplum; above 1 is OpenDMP ahead for rates, behind for times and memory)')
for name, ours in runs(sys.argv[2], True):
    print(f'{name}:')
    for k, v in ours.items():
        print(f'  {k}: OpenDMP {v:g}, Medplum {peer[k]:g}, ratio {v / peer[k]:.2f}')
PY

#!/usr/bin/env bash
# Microbenchmarks (BenchmarkDotNet): the access-policy decision, and audit append throughput on
# SQLite and on PostgreSQL (a throwaway cluster with default, durable settings).
# Extra arguments go to BenchmarkDotNet, e.g. bench/micro.sh --filter '*Policy*'
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"/..
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
dir=$(mktemp -d /tmp/opendmp-micro-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; as_pg=(runuser -u postgres --); fi
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/log" -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200" start >/dev/null
trap '"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null; rm -rf "$dir"' EXIT
"${as_pg[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE opendmp_micro" >/dev/null
export OPENDMP_BENCH_PG="Host=127.0.0.1;Port=$port;Username=postgres;Database=opendmp_micro;Maximum Pool Size=50"
dotnet run -c Release --project bench/OpenDmp.Microbench -- "${@:---filter *}"

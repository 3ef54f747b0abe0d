#!/usr/bin/env bash
# Portal benchmark: the professional synthesis page (500 documents, 2,000 numeric results) on SQLite
# and on PostgreSQL (a throwaway cluster with default, durable settings on a free loopback port):
# response time at an HTTP client and first paint in Chromium (Playwright). Extra arguments go to
# the driver, e.g. bench/portal.sh --requests 300 --navigations 40
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"/..
dotnet build bench/OpenDmp.PortalBench -c Release -v q -nologo >/dev/null
driver=bench/OpenDmp.PortalBench/bin/Release/net10.0/OpenDmp.PortalBench.dll
which=${BENCH_PROVIDERS:-"sqlite postgres"}

if [[ " $which " == *" sqlite "* ]]; then
  dotnet "$driver" "$@"
fi

if [[ " $which " == *" postgres "* ]]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  dir=$(mktemp -d /tmp/opendmp-portalbench-pg.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg=()
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; as_pg=(runuser -u postgres --); fi
  "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 >/dev/null
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/log" -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c shared_buffers=512MB -c max_connections=200" start >/dev/null
  trap '"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null; rm -rf "$dir"' EXIT
  "${as_pg[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE opendmp_portalbench" >/dev/null
  dotnet "$driver" --postgres "Host=127.0.0.1;Port=$port;Username=postgres;Database=opendmp_portalbench;Maximum Pool Size=100" "$@"
fi

#!/usr/bin/env bash
# Runs the OpenDMP load driver on SQLite and on PostgreSQL (a throwaway cluster with default,
# durable settings on a free loopback port). Extra arguments go to the driver, e.g.
#   bench/run.sh --documents 100000 --patients 1000 --clients 8
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"/..
dotnet build bench/OpenDmp.Bench -c Release -v q -nologo >/dev/null
driver=bench/OpenDmp.Bench/bin/Release/net10.0/OpenDmp.Bench.dll
which=${BENCH_PROVIDERS:-"sqlite postgres"}

if [[ " $which " == *" sqlite "* ]]; then
  dotnet "$driver" "$@"
fi

if [[ " $which " == *" postgres "* ]]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  dir=$(mktemp -d /tmp/opendmp-bench-pg.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg=()
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; as_pg=(runuser -u postgres --); fi
  "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 >/dev/null
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/log" -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c shared_buffers=512MB -c max_connections=200" start >/dev/null
  trap '"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null; rm -rf "$dir"' EXIT
  "${as_pg[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE opendmp_bench" >/dev/null
  dotnet "$driver" --postgres "Host=127.0.0.1;Port=$port;Username=postgres;Database=opendmp_bench;Maximum Pool Size=100" "$@"
  # Storage per document (docs/SCALING.md): the tables a filed document writes to, indexes and TOAST included.
  "${as_pg[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d opendmp_bench -Atc "VACUUM ANALYZE" >/dev/null
  "${as_pg[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d opendmp_bench -Atc "
    SELECT format('PostgreSQL storage: %s documents; database %s; per document %s bytes (documents %s, content %s, audit %s, submission sets %s)',
      d.n, pg_size_pretty(pg_database_size(current_database())),
      (sum(pg_total_relation_size(c.oid)) / d.n)::bigint,
      (sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'documents') / d.n)::bigint,
      (sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'content_blobs') / d.n)::bigint,
      (sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'audit_entries') / d.n)::bigint,
      (sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relname = 'submission_sets') / d.n)::bigint)
    FROM pg_class c, (SELECT greatest(count(*), 1) AS n FROM documents) d
    WHERE c.relkind = 'r' AND c.relname IN ('documents', 'content_blobs', 'audit_entries', 'submission_sets', 'document_links', 'record_keys')
    GROUP BY d.n"
fi

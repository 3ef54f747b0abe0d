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
  out=$(mktemp)
  dotnet "$driver" --postgres "Host=127.0.0.1;Port=$port;Username=postgres;Database=opendmp_bench;Maximum Pool Size=100" "$@" | tee "$out"
  # The physical reference, same cluster, same run: PostgreSQL's own insert rate of a 10 KB
  # incompressible row (random bytes, like sealed content), one durable commit per row, with the
  # driver's client count. OpenDMP's ingest is read against it (the ratio).
  clients=8
  for ((i = 1; i <= $#; i++)); do if [ "${!i}" = "--clients" ]; then j=$((i + 1)); clients=${!j}; fi; done
  "${as_pg[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE raw_reference" >/dev/null
  "${as_pg[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d raw_reference -qc "CREATE EXTENSION pgcrypto" -c "CREATE TABLE raw_rows (id bigserial PRIMARY KEY, record_id uuid NOT NULL, payload bytea NOT NULL)" >/dev/null
  script="$dir/raw.sql"
  echo "INSERT INTO raw_rows (record_id, payload) VALUES (gen_random_uuid(), $(printf 'gen_random_bytes(1024)%.0s || ' {1..9})gen_random_bytes(1024));" > "$script"
  chmod a+r "$script"
  raw=$("${as_pg[@]}" "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -c "$clients" -j 2 -T "${BENCH_RAW_SECONDS:-20}" -f "$script" raw_reference | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
  ingest=$(sed -n 's/^ITI-65 ingest: .* = \([0-9]*\) documents\/s.*/\1/p' "$out")
  rm -f "$out"
  echo "PostgreSQL raw insert (pgbench, 10 KB random bytea, $clients clients, one commit per row): ${raw%.*} rows/s; OpenDMP ITI-65 ingest / raw insert = $(python3 -c "print(f'{$ingest / $raw:.3f}')" 2>/dev/null || echo '?')"
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

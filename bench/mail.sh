#!/usr/bin/env bash
# Deposit-channel benchmark: starts a throwaway Postfix + Dovecot on loopback (tests/mail/mail-servers.sh,
# needs root and the Debian packages the test command installs), then runs the mail load driver on
# SQLite and on PostgreSQL (a throwaway cluster with default, durable settings). Extra arguments go
# to the driver, e.g.   bench/mail.sh --messages 600 --bytes 102400 [--rate 10]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"/..
dotnet build bench/OpenDmp.MailBench -c Release -v q -nologo >/dev/null
driver=bench/OpenDmp.MailBench/bin/Release/net10.0/OpenDmp.MailBench.dll
which=${BENCH_PROVIDERS:-"sqlite postgres"}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

maildir=$(mktemp -d /tmp/opendmp-bench-mail.XXXXXX)
smtp=$(free_port); imap=$(free_port)
cleanup() { tests/mail/mail-servers.sh stop "$maildir" || true; rm -rf "$maildir"; }
trap cleanup EXIT
tests/mail/mail-servers.sh start "$maildir" "$smtp" "$imap"
mail_args=(--mail-dir "$maildir" --smtp-port "$smtp" --imap-port "$imap")

if [[ " $which " == *" sqlite "* ]]; then
  dotnet "$driver" "${mail_args[@]}" "$@"
fi

if [[ " $which " == *" postgres "* ]]; then
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  dir=$(mktemp -d /tmp/opendmp-bench-pg.XXXXXX)
  port=$(free_port)
  as_pg=()
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$dir"; as_pg=(runuser -u postgres --); fi
  "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 >/dev/null
  "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/log" -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c shared_buffers=512MB -c max_connections=200" start >/dev/null
  trap '"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null; rm -rf "$dir"; cleanup' EXIT
  "${as_pg[@]}" "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE opendmp_bench" >/dev/null
  dotnet "$driver" "${mail_args[@]}" --postgres "Host=127.0.0.1;Port=$port;Username=postgres;Database=opendmp_bench;Maximum Pool Size=100" "$@"
fi

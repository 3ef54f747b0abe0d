#!/usr/bin/env bash
# The one test command: installs what the tests need (Debian packages), builds, runs the whole
# suite (SQLite and a throwaway PostgreSQL cluster the tests start themselves), and prints
# "N passed, N failed" counted from the test results. Exit code non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"/..

need_pkgs=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_pkgs+=(postgresql)
command -v runuser >/dev/null 2>&1 || need_pkgs+=(util-linux)
# Backups: pgBackRest (full backup, WAL archive, point-in-time restore into a fresh cluster).
command -v pgbackrest >/dev/null 2>&1 || need_pkgs+=(pgbackrest)
# High availability: a three-node Patroni cluster with etcd (the failover test).
command -v patroni >/dev/null 2>&1 || need_pkgs+=(patroni)
command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server)
# The systemd unit of the package is checked with systemd-analyze.
command -v systemd-analyze >/dev/null 2>&1 || need_pkgs+=(systemd)
# Secure messaging tests run a real Postfix and Dovecot on loopback, and check interoperability with openssl.
command -v postfix >/dev/null 2>&1 || need_pkgs+=(postfix)
[ -x /usr/lib/dovecot/imap ] || need_pkgs+=(dovecot-imapd)
[ -x /usr/lib/dovecot/lmtp ] || need_pkgs+=(dovecot-lmtpd)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
# Browser tests drive the distribution's Chromium (Playwright never downloads a browser).
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
# Exports are opened in the tests by tools that are not OpenDMP: age (the encryption), unzip, and script
# (bsdutils) to give age the terminal it reads a passphrase from.
command -v age >/dev/null 2>&1 || need_pkgs+=(age)
command -v unzip >/dev/null 2>&1 || need_pkgs+=(unzip)
command -v script >/dev/null 2>&1 || need_pkgs+=(bsdutils)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${need_pkgs[*]} (run as root, or install them)" >&2
    exit 2
  fi
  echo "Installing ${need_pkgs[*]} …"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix without a system configuration: the tests run their own instance.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  # The tests start their own cluster; the distribution's default one is not needed.
  if command -v pg_lsclusters >/dev/null 2>&1; then
    pg_lsclusters -h 2>/dev/null | while read -r ver name _; do pg_ctlcluster "$ver" "$name" stop 2>/dev/null || true; done
  fi
fi

results="$(pwd)/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"
status=0
dotnet test OpenDmp.slnx -c Release --logger "trx;LogFileName=results.trx" --results-directory "$results" || status=$?

passed=0
failed=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1)
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters")
  f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0}))
  failed=$((failed + ${f:-0}))
done

echo "${passed} passed, ${failed} failed"
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ] || [ "$passed" -eq 0 ]; then
  exit 1
fi

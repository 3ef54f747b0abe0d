#!/usr/bin/env bash
# Builds the self-contained linux-x64 package: OUT/opendmp/ (the server and admin tool, the .NET
# runtime included, the systemd unit and OPERATIONS.md) and OUT/opendmp-linux-x64.tar.gz.
# Usage: scripts/package.sh OUT
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"/..
out="${1:?usage: scripts/package.sh OUT}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
rm -rf "$out/opendmp" "$out/opendmp-linux-x64.tar.gz"
dotnet publish src/OpenDmp.Server/OpenDmp.Server.csproj -c Release -r linux-x64 --self-contained true \
  -p:DebugType=none -o "$out/opendmp" -nologo -v quiet
cp deploy/opendmp.service docs/OPERATIONS.md "$out/opendmp/"
tar -czf "$out/opendmp-linux-x64.tar.gz" -C "$out" opendmp
echo "$out/opendmp-linux-x64.tar.gz"

#!/usr/bin/env bash
# Proves the packed packages work for a consumer: a project outside this repository restores
# IoTMastery.Sdk.Local from the local package folder (dependencies from the normal feed) and runs
# a few lines against the embedded Local provider.
set -euo pipefail
packages="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/consumer/Consumer.csproj" "$here/consumer/Program.cs" "$work/"
version=$(ls "$packages"/IoTMastery.Sdk.Local.*.nupkg | sed -E 's/.*IoTMastery\.Sdk\.Local\.(.*)\.nupkg/\1/' | grep -v symbols | head -1)
cat > "$work/nuget.config" <<CFG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <clear />
    <add key="local" value="$packages" />
    <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
  </packageSources>
</configuration>
CFG
# A private package cache, so the check cannot pick up an older build of the same version.
export NUGET_PACKAGES="$work/.nuget"
dotnet run --project "$work/Consumer.csproj" -c Release -p:IoTMasteryVersion="$version"

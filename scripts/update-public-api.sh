#!/usr/bin/env bash
# Regenerates src/*/PublicAPI.Unshipped.txt from the code, with the PublicApiAnalyzers code fix (RS0016).
#
# Run it after a change that adds, removes or changes public API (and after merging branches that do), then read
# the diff: every line added is a new promise to users, every line removed is a breaking change unless it was never
# released. PublicAPI.Shipped.txt is never touched here; at a release, move the Unshipped lines into Shipped
# (see CONTRIBUTING.md, "Public API").
#
# Usage: scripts/update-public-api.sh [project.csproj ...]   (default: every project under src/)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

projects=("$@")
if [ ${#projects[@]} -eq 0 ]; then
  mapfile -t projects < <(ls src/*/*.csproj)
fi

header='#nullable enable'
for project in "${projects[@]}"; do
  dir="$(dirname "$project")"
  shipped="$dir/PublicAPI.Shipped.txt"
  unshipped="$dir/PublicAPI.Unshipped.txt"
  [ -f "$shipped" ] || printf '%s\n' "$header" > "$shipped"
  # Start from an empty Unshipped file so API that was removed or changed leaves no stale line behind.
  printf '%s\n' "$header" > "$unshipped"
  echo "== $project"
  # The code fix writes one line per public symbol that neither file declares. Severity warn: the build treats
  # warnings as errors, and format must see the diagnostics to fix them rather than stop on them.
  dotnet format analyzers "$project" --diagnostics RS0016 --severity warn -v q > "$unshipped.log" 2>&1 || true; rm -f "$unshipped.log"
  # Sorted, header first, so regenerating is stable and a merge conflict is a plain line conflict.
  { printf '%s\n' "$header"; { grep -v -x -F "$header" "$unshipped" || true; } | LC_ALL=C sort -u; } > "$unshipped.tmp"
  mv "$unshipped.tmp" "$unshipped"
  echo "   $(($(wc -l < "$unshipped") - 1)) unshipped API lines"
done
echo "Now build with warnings as errors: RS0016/RS0017 left over mean the fix could not express a symbol."

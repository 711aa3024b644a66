#!/usr/bin/env bash
# Runs every test project on a fresh Debian 12 machine (as root, or with sudo). First it sets up the real
# third-party peers the integration tests start on loopback; anything it cannot set up stops the script at once
# with ONE line naming the missing piece and the command that gets it (a missing peer is never a skip). Then it
# runs the test projects one after another, prints each one's counts and wall time, and closes with
# "N passed, N failed, N skipped" (a build error, crash or timeout counts as a failure; the exit code is non-zero).
#
#   bash scripts/test.sh                         set up, build, run everything
#   bash scripts/test.sh --no-build              run what is already built (as .ci/run does)
#   bash scripts/test.sh --project Aws           only the test projects whose name contains "Aws"
#   bash scripts/test.sh --check-prerequisites   set up the peers (or stop with the one line) and run nothing
#   any other argument goes to every `dotnet test`, e.g. --filter "FullyQualifiedName~SigV4"
#
# Environment: IOTM_NO_INSTALL=1 checks without installing anything; IOTM_TEST_DEADLINE (epoch seconds) bounds
# the run: a project still running then is stopped and counted as a failure, later projects as one failure each;
# IOTM_MOTO_VENV puts the moto virtual environment elsewhere than /opt/iotm-moto.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION=5.2.1
MOTO_VENV=${IOTM_MOTO_VENV:-/opt/iotm-moto}  # overridable so the PyPI-unreachable path can be tried without touching /opt
NODE_MAJOR=20
JAVA_MAJOR=17

build=1 check_only=0 projects=() passthrough=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build=0 ;;
    --check-prerequisites) check_only=1 ;;
    --project) projects+=("${2:?--project needs a name}"); shift ;;
    *) passthrough+=("$1") ;;
  esac
  shift
done

# ---------------------------------------------------------------------------------------------------------
# Prerequisites. missing() is the only way out of this section on failure: one line on stderr, exit 3.
missing() { echo "test.sh: missing $1; get it with: $2" >&2; exit 3; }

SUDO=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
apt_updated=0
# Installs Debian packages quietly; false when installing is not allowed or apt cannot do it.
apt_install() {
  [ "${IOTM_NO_INSTALL:-0}" != 1 ] && command -v apt-get >/dev/null 2>&1 || return 1
  [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ] || return 1
  if [ "$apt_updated" -eq 0 ]; then $SUDO apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1
}
# The version apt would install, empty when no configured source has the package.
apt_candidate() {
  command -v apt-cache >/dev/null 2>&1 || return 0
  apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { if ($2 != "(none)") print $2 }'
}
major_of() { sed -E 's/^[^0-9]*([0-9]+).*/\1/' <<<"$1"; }

command -v dotnet >/dev/null 2>&1 ||
  missing ".NET 10 SDK (dotnet)" "apt-get install -y dotnet-sdk-10.0 (after adding https://packages.microsoft.com/config/debian/12/packages-microsoft-prod.deb)"

# The tests also look in /usr/sbin and /usr/local/sbin, which are not on a normal user's PATH.
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] && [ ! -x /usr/local/sbin/mosquitto ]; then
  apt_install mosquitto || missing "Eclipse Mosquitto (mosquitto)" "apt-get install -y mosquitto"
fi

node_ok() { command -v node >/dev/null 2>&1 && [ "$(major_of "$(node --version)")" -ge "$NODE_MAJOR" ]; }
if ! node_ok; then
  # Debian 12's own nodejs is 18: install from apt only where a source offering >= 20 (e.g. NodeSource) is configured.
  candidate="$(apt_candidate nodejs)"
  if [ -z "$candidate" ] || [ "$(major_of "$candidate")" -lt "$NODE_MAJOR" ] || ! apt_install nodejs || ! node_ok; then
    missing "Node.js >= $NODE_MAJOR with npm (found: $(node --version 2>/dev/null || echo none))" \
      "curl -fsSL https://deb.nodesource.com/setup_$NODE_MAJOR.x | bash - && apt-get install -y nodejs"
  fi
fi
if ! command -v npm >/dev/null 2>&1; then
  apt_install npm || missing "npm" "apt-get install -y npm"
fi

if ! command -v moto_server >/dev/null 2>&1; then
  # Debian's system Python refuses a plain `pip install` (PEP 668), so moto gets its own virtual environment.
  moto_command="apt-get install -y python3-venv && python3 -m venv $MOTO_VENV && $MOTO_VENV/bin/pip install \"moto[server]==$MOTO_VERSION\" && ln -sf $MOTO_VENV/bin/moto_server /usr/local/bin/moto_server"
  if [ "${IOTM_NO_INSTALL:-0}" = 1 ]; then missing "moto's server $MOTO_VERSION (moto_server)" "$moto_command"; fi
  { python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || apt_install python3 python3-venv; } &&
    $SUDO python3 -m venv "$MOTO_VENV" >/dev/null 2>&1 &&
    timeout 600 $SUDO "$MOTO_VENV/bin/pip" install -q --disable-pip-version-check --retries 1 --timeout 20 "moto[server]==$MOTO_VERSION" >/dev/null 2>&1 &&
    $SUDO ln -sf "$MOTO_VENV/bin/moto_server" /usr/local/bin/moto_server ||
    missing "moto's server $MOTO_VERSION (moto_server; PyPI may be unreachable)" "$moto_command"
fi

java_ok() { command -v java >/dev/null 2>&1 && [ "$(major_of "$(java -version 2>&1 | awk -F'"' '/version/ { print $2; exit }')")" -ge "$JAVA_MAJOR" ]; }
if ! java_ok; then
  apt_install openjdk-17-jre-headless && java_ok || missing "Java $JAVA_MAJOR (for the Pub/Sub emulator)" "apt-get install -y openjdk-17-jre-headless"
fi

# The tests start the emulator's own launcher under gcloud's SDK root, as PubSubEmulator.cs does.
emulator_launcher() {
  command -v gcloud >/dev/null 2>&1 || return 1
  local root
  root="$(CLOUDSDK_CORE_DISABLE_PROMPTS=1 timeout 120 gcloud info --format='value(installation.sdk_root)' 2>/dev/null)" || return 1
  [ -x "$root/platform/pubsub-emulator/bin/cloud-pubsub-emulator" ]
}
if ! emulator_launcher; then
  emulator_command="apt-get install -y google-cloud-cli-pubsub-emulator (after adding Google's apt source: https://cloud.google.com/sdk/docs/install#deb)"
  [ -n "$(apt_candidate google-cloud-cli-pubsub-emulator)" ] && apt_install google-cloud-cli-pubsub-emulator && emulator_launcher ||
    missing "Google's Pub/Sub emulator (google-cloud-cli-pubsub-emulator)" "$emulator_command"
fi

# The official Node.js SDKs the conformance tests compare against, exactly as the lock files pin them. Done here once,
# so a registry outage is one clear line before any test runs (the tests would otherwise each try npm ci themselves).
for folder in tests/conformance/*/; do
  folder="${folder%/}"
  [ -f "$folder/package-lock.json" ] || continue
  if [ ! -f "$folder/node_modules/.package-lock.json" ] || [ "$folder/package-lock.json" -nt "$folder/node_modules/.package-lock.json" ]; then
    [ "${IOTM_NO_INSTALL:-0}" != 1 ] && (cd "$folder" && timeout 900 npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1) ||
      missing "the pinned npm packages of $folder" "(cd $folder && npm ci) with the npm registry reachable"
  fi
done

if [ "$check_only" -eq 1 ]; then echo "test.sh: prerequisites ok"; exit 0; fi

# ---------------------------------------------------------------------------------------------------------
# Tests: one project at a time (kinder to a small machine, and each gets its own wall time).
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
passed=0 failed=0 skipped=0 status=0
summary=()

if [ "$build" -eq 1 ] && ! dotnet build IoTMastery.Sdk.sln -c Release; then
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi

selected=()
for proj in $(find tests -name '*.Tests.csproj' | sort); do
  name="$(basename "$proj" .csproj)"
  if [ ${#projects[@]} -gt 0 ]; then
    match=0
    for wanted in "${projects[@]}"; do [[ "$name" == *"$wanted"* ]] && match=1; done
    [ "$match" -eq 1 ] || continue
  fi
  selected+=("$proj")
done
if [ ${#selected[@]} -eq 0 ]; then echo "test.sh: no test project matches: ${projects[*]}" >&2; echo "0 passed, 1 failed, 0 skipped"; exit 1; fi

duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
for proj in "${selected[@]}"; do
  name="$(basename "$proj" .csproj)"
  limit=()
  if [ -n "${IOTM_TEST_DEADLINE:-}" ]; then
    left=$((IOTM_TEST_DEADLINE - $(date +%s)))
    if [ "$left" -le 0 ]; then
      summary+=("$name: not run, the time budget was spent (1 failure)"); failed=$((failed + 1)); status=1; continue
    fi
    # SIGINT first: dotnet test then stops its test host itself, so the fixtures' processes are not orphaned.
    limit=(timeout -s INT -k 60 "$left")
  fi
  echo "== $name"
  start=$(date +%s)
  set +e
  "${limit[@]}" dotnet test "$proj" -c Release --no-build "${passthrough[@]}" 2>&1 | tee "$work/$name.log"
  code=${PIPESTATUS[0]}
  set -e
  seconds=$(($(date +%s) - start))
  # The runner's own closing line: "Passed!  - Failed:     0, Passed:    31, Skipped:     0, Total:    31, ...".
  line="$(grep -E '^(Passed|Failed)! +- Failed: +[0-9]+' "$work/$name.log" | tail -1 || true)"
  p=$(sed -nE 's/.*Passed: +([0-9]+).*/\1/p' <<<"$line"); p=${p:-0}
  f=$(sed -nE 's/.*Failed: +([0-9]+).*/\1/p' <<<"$line"); f=${f:-0}
  s=$(sed -nE 's/.*Skipped: +([0-9]+).*/\1/p' <<<"$line"); s=${s:-0}
  note=""
  if [ "$code" -ne 0 ]; then
    status=1
    [ "$code" -eq 124 ] || [ "$code" -eq 137 ] && note=" (stopped at the time budget)"
    if [ "$f" -eq 0 ]; then f=1; [ -n "$note" ] || note=" (exit $code: crash or build error)"; fi
  fi
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  summary+=("$name: $p passed, $f failed, $s skipped in $(duration "$seconds")$note")
done

echo "== wall time per test project"
printf '%s\n' "${summary[@]}"
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$status"

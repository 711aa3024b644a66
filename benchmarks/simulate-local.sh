#!/usr/bin/env bash
# Runs `iotm simulate` against the Local broker hosted by a second iotm process (one process cannot hold 10,000 TLS
# connections at both ends under a 20,000 file-descriptor limit) and prints, next to the simulator's JSON summary, the
# CPU seconds and peak RSS (VmHWM) of both processes and the load average. Usage:
#   benchmarks/simulate-local.sh [devices=10000] [rate=1000] [duration=20s]
# Needs `dotnet build src/IoTMastery.Sdk.Cli -c Release -warnaserror` first. Everything lives in a fresh temp folder,
# removed at the end; the broker process is stopped by its PID.
set -euo pipefail
devices=${1:-10000}
rate=${2:-1000}
duration=${3:-20s}
root=$(cd "$(dirname "$0")/.." && pwd)
iotm="$root/src/IoTMastery.Sdk.Cli/bin/Release/net10.0/IoTMastery.Sdk.Cli.dll"
work=$(mktemp -d /tmp/iotm-sim-XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
echo "{\"IoT\":{\"Local\":{\"sim\":{\"DatabasePath\":\"$work/fleet.db\",\"Port\":$port}}}}" > "$work/broker.json"
echo "{\"IoT\":{\"Local\":{\"sim\":{\"DatabasePath\":\"$work/fleet.db\",\"Port\":0}}}}" > "$work/sim.json"
ulimit -n "$(ulimit -Hn)"

cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"; }
peak_mb() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }

dotnet "$iotm" simulate --provider local --config "$work/broker.json" --devices 1 --rate 1 --duration 900s -o json \
  > "$work/broker.out" 2> "$work/broker.err" &
broker=$!
cleanup() { kill "$broker" 2>/dev/null || true; wait "$broker" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# The broker is up once its port accepts; bounded at 120 s.
for _ in $(seq 1 240); do
  if (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; then break; fi
  sleep 0.5
done
sleep 2
broker_cpu0=$(cpu_seconds "$broker")
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet "$iotm" simulate --provider local --config "$work/sim.json" --broker "127.0.0.1:$port" --devices "$devices" --rate "$rate" \
  --duration "$duration" --connect-timeout 300s -o json > "$work/sim.out" 2> "$work/sim.err" &
sim=$!
sim_cpu=0; sim_peak=0
while kill -0 "$sim" 2>/dev/null; do
  # Sampled while it runs (the process is gone once it exits); an empty read at exit keeps the previous sample.
  c=$(cpu_seconds "$sim" 2>/dev/null || true); [ -n "$c" ] && sim_cpu=$c
  m=$(peak_mb "$sim" 2>/dev/null || true); [ -n "$m" ] && sim_peak=$m
  sleep 0.5
done
wait "$sim" || echo "simulator exit code $?"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
cat "$work/sim.out"
grep -E "registered|connected" "$work/sim.err" | tail -n 4 || true
echo "simulator: CPU >= ${sim_cpu} s (last sample), peak RSS ${sim_peak} MB"
echo "broker:    CPU $(awk -v a="$(cpu_seconds "$broker")" -v b="$broker_cpu0" 'BEGIN{print a-b}') s during the run, peak RSS $(peak_mb "$broker") MB"

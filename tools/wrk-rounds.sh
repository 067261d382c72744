# Sourced by tools/compare-wasmtime-serve and tools/compare-hosts: the
# servers they start (stopped and their data removed at exit), and one
# measured `wrk -t1 -c32` run against one of them.
# Needs wrk (Debian: apt-get install wrk).

command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Wait for URL to answer (60 s); else print LOG, if given, and fail.
wait_for() {
  for _ in $(seq 1 600); do
    curl -sf -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  [[ -n "${2:-}" ]] && cat "$2" >&2
  exit 1
}

# measure URL SECONDS PID: a 1 s warm-up, then `wrk -t1 -c32` for SECONDS;
# prints "requests/s p99_ms server_cpu_us wrk_cpu_us", the CPU time per
# request of process PID (user + system, /proc/PID/stat) and of `wrk` itself
# (which shares the machine's cores with the server).
measure() {
  local before after report wrk_cpu TIMEFORMAT='%U %S'
  wrk -t1 -c32 -d1s "$1" >/dev/null
  before=$(awk '{print $14 + $15}' "/proc/$3/stat")
  report=$( { time wrk -t1 -c32 -d"$2s" --latency "$1"; } 2>"$work/wrk-time")
  after=$(awk '{print $14 + $15}' "/proc/$3/stat")
  wrk_cpu=$(awk '{print $1 + $2}' "$work/wrk-time")
  echo "$report" | awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" -v wrk="$wrk_cpu" '
    /requests in/ { requests = $1 }
    /Requests\/sec/ { rps = $2 }
    /^ +99%/ { v = $2
      if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 }
      else if (v ~ /ms$/) { sub(/ms/, "", v) }
      else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }
      p99 = v }
    END { printf "%.0f %.2f %.1f %.1f\n", rps, p99, ticks / hz * 1e6 / requests, wrk * 1e6 / requests }'
}

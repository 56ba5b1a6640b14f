#!/usr/bin/env bash
# CPU cost per request of the gateway's verify route against nginx's plain
# proxy, both in front of the same nginx upstream, measured in one run.
#
#   scripts/bench.sh [REQUESTS] [ROUNDS]        (defaults: 40000, 3)
#
# Figures: CPU microseconds each proxy process spent per request (utime+stime
# from /proc, all threads), plus the load generator's throughput and latency.
# The machine is shared and small, so compare the ratio, not absolute numbers.
# Needs nginx (apt-get install nginx-light). Loopback only; every run is
# bounded by REQUESTS and the load generator's --max-seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS=${1:-40000}
ROUNDS=${2:-3}
CONCURRENCY=${CONCURRENCY:-16}
UP_PORT=${UP_PORT:-18090}
NGINX_PORT=${NGINX_PORT:-18091}
GW_PORT=${GW_PORT:-18092}
KEY=$(head -c 64 /dev/urandom | base64 -w0)
WORK=$(mktemp -d)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "nginx not found: apt-get install -y nginx-light" >&2; exit 1; }

cleanup() {
  [ -f "$WORK/up.pid" ] && kill "$(cat "$WORK/up.pid")" 2>/dev/null || true
  [ -f "$WORK/proxy.pid" ] && kill "$(cat "$WORK/proxy.pid")" 2>/dev/null || true
  [ -n "${GW_PID:-}" ] && kill "$GW_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet --bin hmac-gateway --example loadgen

nginx_conf() { # name, body
  cat > "$WORK/$1.conf" <<CONF
worker_processes 1;
pid $WORK/$1.pid;
error_log $WORK/$1.err warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  $2
}
CONF
}
nginx_conf up "server { listen 127.0.0.1:$UP_PORT; location / { return 200 'ok'; } }"
nginx_conf proxy "upstream up { server 127.0.0.1:$UP_PORT; keepalive 64; }
  server { listen 127.0.0.1:$NGINX_PORT; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }"
"$NGINX" -p "$WORK" -c "$WORK/up.conf"
"$NGINX" -p "$WORK" -c "$WORK/proxy.conf"

cat > "$WORK/gw.yaml" <<YAML
listeners: [{ name: in, bind: "127.0.0.1:$GW_PORT" }]
secrets: { bench: { value: "$KEY", encoding: base64 } }
consumers: [{ id: bench, keys: [{ keyid: bench-1, secret: bench }] }]
routes:
  - name: verify
    listener: in
    verify: { scheme: rfc9421, consumers: [bench], replay: true }
    upstream: "http://127.0.0.1:$UP_PORT"
replay: { store: memory, capacity: 2000000 }
workers: 2
YAML
RUST_LOG=warn ./target/release/hmac-gateway run --config "$WORK/gw.yaml" > "$WORK/gw.log" 2>&1 &
GW_PID=$!
sleep 0.5

cpu_ticks() { # "user system" ticks summed over the given pids (all threads)
  local u=0 k=0 pid
  for pid in "$@"; do
    read -r -a f < "/proc/$pid/stat"
    u=$((u + f[13])); k=$((k + f[14]))
  done
  echo "$u $k"
}
HZ=$(getconf CLK_TCK)
NGINX_WORKERS=$(pgrep -P "$(cat "$WORK/proxy.pid")" | tr '\n' ' ')
RESULTS="$WORK/results"

measure() { # label, pids, loadgen args...
  local label=$1 pids=$2; shift 2
  local u1 k1 u2 k2 out n
  read -r u1 k1 <<< "$(cpu_ticks $pids)"
  out=$(./target/release/examples/loadgen --requests "$REQUESTS" --concurrency "$CONCURRENCY" --max-seconds 120 "$@")
  read -r u2 k2 <<< "$(cpu_ticks $pids)"
  n=$(echo "$out" | sed 's/.*"requests":\([0-9]*\).*/\1/')
  awk -v l="$label" -v u=$((u2 - u1)) -v k=$((k2 - k1)) -v hz="$HZ" -v n="$n" -v o="$out" 'BEGIN {
    printf "%-16s cpu_us_per_req=%.1f (user %.1f, sys %.1f) %s\n", l, (u + k) / hz * 1e6 / n, u / hz * 1e6 / n, k / hz * 1e6 / n, o }' | tee -a "$RESULTS"
}

# Warm-up (connections, pools, page faults), not reported.
./target/release/examples/loadgen --addr "127.0.0.1:$NGINX_PORT" --requests 2000 > /dev/null
./target/release/examples/loadgen --addr "127.0.0.1:$GW_PORT" --requests 2000 --key-b64 "$KEY" > /dev/null

echo "requests=$REQUESTS concurrency=$CONCURRENCY rounds=$ROUNDS (alternating)"
for round in $(seq 1 "$ROUNDS"); do
  measure nginx-proxy "$NGINX_WORKERS" --addr "127.0.0.1:$NGINX_PORT"
  measure gateway-verify "$GW_PID" --addr "127.0.0.1:$GW_PORT" --key-b64 "$KEY"
done

# Medians and ratios (gateway / nginx) over the rounds.
awk '
  { split($2, c, "="); cpu[$1] = cpu[$1] " " c[2]; match($0, /"rps":[0-9]+/); rps[$1] = rps[$1] " " substr($0, RSTART + 6, RLENGTH - 6) }
  function median(s,   a, n, i, j, t) { n = split(s, a, " "); for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }; return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END {
    cn = median(cpu["nginx-proxy"]); cg = median(cpu["gateway-verify"]); rn = median(rps["nginx-proxy"]); rg = median(rps["gateway-verify"])
    printf "median cpu_us_per_req: nginx %.1f, gateway %.1f -> ratio %.2f\n", cn, cg, cg / cn
    printf "median rps:            nginx %d, gateway %d -> ratio %.2f\n", rn, rg, rg / rn
  }' "$RESULTS"

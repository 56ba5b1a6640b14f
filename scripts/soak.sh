#!/usr/bin/env bash
# Soak: signed traffic through two gateway processes while their configs are
# reloaded every few seconds and keys are rotated, following the
# "Rotating keys" runbook (docs/operations.md); then the errors and the RSS /
# open-fd drift.
#
#   scripts/soak.sh [SECONDS]            (default 180)
#
#   loadgen --> egress gateway (sign) --> ingress gateway (verify, replay on) --> echo
#
# Every RELOAD_EVERY seconds (default 3) one step runs, in a cycle:
#   1. ingress config gains the next key (overlap)     -> reload by file watch
#   2. egress config signs with the next key           -> reload by file watch
#   3. ingress config drops the previous key           -> reload by file watch
#   4. a broken ingress config is written (must be rejected), then restored,
#      and both processes get SIGHUP
# Each step waits for the reload to show in /metrics before the next one, as
# the runbook says. Expected request errors: 0. Expected rejected reloads: one
# per cycle (step 4). Loopback only; bounded by SECONDS.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-180}
RELOAD_EVERY=${RELOAD_EVERY:-3}
CONCURRENCY=${CONCURRENCY:-8}
BASE_PORT=${BASE_PORT:-18190}
IN_PORT=$BASE_PORT IN_ADMIN=$((BASE_PORT + 1)) EG_PORT=$((BASE_PORT + 2)) EG_ADMIN=$((BASE_PORT + 3))
WORK=$(mktemp -d)
BIN=target/release/hmac-gateway

cleanup() {
  for pid in ${IN_PID:-} ${EG_PID:-} ${LOAD_PID:-}; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --release --quiet --bin hmac-gateway --example loadgen
mkdir -p "$WORK/ingress" "$WORK/egress"

key_file() { # N -> path of key N, created on first use (shared by both sides)
  local f="$WORK/key-$1.b64"
  [ -f "$f" ] || "$BIN" keygen > "$f"
  echo "$f"
}

ingress_yaml() { # keyids...
  local secrets="" keys=""
  for n in "$@"; do
    secrets+="  key-$n: { file: $(key_file "$n"), encoding: base64 }"$'\n'
    keys+="{ keyid: soak-$n, secret: key-$n }, "
  done
  cat <<YAML
listeners: [{ name: ingress, bind: "127.0.0.1:$IN_PORT" }]
admin: { bind: "127.0.0.1:$IN_ADMIN" }
secrets:
$secrets
consumers:
  - id: soak-client
    keys: [${keys%, }]
routes:
  - name: api
    listener: ingress
    match: { path_prefix: /_functions/ }
    verify: { scheme: rfc9421, consumers: [soak-client], max_age: 10 }
    upstream: echo
YAML
}

egress_yaml() { # keyid
  cat <<YAML
listeners: [{ name: egress, bind: "127.0.0.1:$EG_PORT" }]
admin: { bind: "127.0.0.1:$EG_ADMIN" }
secrets:
  key-$1: { file: $(key_file "$1"), encoding: base64 }
upstreams:
  host-a: { url: "http://127.0.0.1:$IN_PORT" }
routes:
  - name: out
    listener: egress
    sign: { scheme: rfc9421, keyid: soak-$1, secret: key-$1 }
    upstream: host-a
YAML
}

# Atomic replace, as a deploy tool or kubelet would do it.
publish() { # dir, content
  printf '%s\n' "$2" > "$1/gateway.yaml.tmp" && mv "$1/gateway.yaml.tmp" "$1/gateway.yaml"
}

metric() { # admin port, exact metric name with labels -> value
  curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}

wait_generation() { # admin port, generation
  for _ in $(seq 1 100); do
    [ "$(metric "$1" hmacgw_config_generation)" = "$2" ] && return 0
    sleep 0.1
  done
  echo "generation $2 never reached on admin port $1" >&2
  exit 1
}

proc_stats() { # pid -> "rss_kib fds"
  echo "$(awk '/^VmRSS/ { print $2 }' "/proc/$1/status") $(ls "/proc/$1/fd" | wc -l)"
}

publish "$WORK/ingress" "$(ingress_yaml 1)"
publish "$WORK/egress" "$(egress_yaml 1)"
RUST_LOG=warn "$BIN" run --config "$WORK/ingress/gateway.yaml" > "$WORK/ingress.log" 2>&1 & IN_PID=$!
RUST_LOG=warn "$BIN" run --config "$WORK/egress/gateway.yaml" > "$WORK/egress.log" 2>&1 & EG_PID=$!
wait_generation "$IN_ADMIN" 1
wait_generation "$EG_ADMIN" 1

END=$(( $(date +%s) + DURATION ))
(
  round=0
  while [ "$(date +%s)" -lt "$END" ]; do
    body=$(( round % 2 == 0 ? 0 : 512 ))
    left=$(( END - $(date +%s) )); [ "$left" -ge 1 ] || break
    target/release/examples/loadgen --addr "127.0.0.1:$EG_PORT" --path /_functions/soak \
      --requests 20000 --concurrency "$CONCURRENCY" --body-bytes "$body" --max-seconds "$left" \
      || echo '{"requests":0,"non_ok":1,"loadgen_failed":true}'
    round=$((round + 1))
  done
) > "$WORK/load.jsonl" & LOAD_PID=$!

# Warm up past max_age (10 s), so the nonce cache is at its steady size
# before the first sample and any later growth is drift, not filling.
sleep 15
read -r IN_RSS0 IN_FD0 <<< "$(proc_stats "$IN_PID")"
NONCES0=$(metric "$IN_ADMIN" hmacgw_replay_cache_entries)
read -r EG_RSS0 EG_FD0 <<< "$(proc_stats "$EG_PID")"

current=1 step=0 in_gen=1 eg_gen=1 intended_failures=0
while [ "$(date +%s)" -lt $((END - RELOAD_EVERY)) ]; do
  sleep "$RELOAD_EVERY"
  case $((step % 4)) in
    0) publish "$WORK/ingress" "$(ingress_yaml "$current" $((current + 1)))"; in_gen=$((in_gen + 1))
       wait_generation "$IN_ADMIN" "$in_gen" ;;
    1) publish "$WORK/egress" "$(egress_yaml $((current + 1)))"; eg_gen=$((eg_gen + 1))
       wait_generation "$EG_ADMIN" "$eg_gen" ;;
    2) current=$((current + 1))
       publish "$WORK/ingress" "$(ingress_yaml "$current")"; in_gen=$((in_gen + 1))
       wait_generation "$IN_ADMIN" "$in_gen" ;;
    3) good=$(cat "$WORK/ingress/gateway.yaml")
       publish "$WORK/ingress" "${good/max_age: 10/max_age: soon}"; intended_failures=$((intended_failures + 1))
       sleep 1
       publish "$WORK/ingress" "$good"; in_gen=$((in_gen + 1))
       wait_generation "$IN_ADMIN" "$in_gen"
       kill -HUP "$IN_PID" "$EG_PID"; in_gen=$((in_gen + 1)) eg_gen=$((eg_gen + 1))
       wait_generation "$IN_ADMIN" "$in_gen"; wait_generation "$EG_ADMIN" "$eg_gen" ;;
  esac
  step=$((step + 1))
  echo "$(proc_stats "$IN_PID") $(proc_stats "$EG_PID")" >> "$WORK/samples"
done
wait "$LOAD_PID"; LOAD_PID=
read -r IN_RSS1 IN_FD1 <<< "$(proc_stats "$IN_PID")"
NONCES1=$(metric "$IN_ADMIN" hmacgw_replay_cache_entries)
read -r EG_RSS1 EG_FD1 <<< "$(proc_stats "$EG_PID")"

requests=$(jq -s 'map(.requests) | add' "$WORK/load.jsonl")
non_ok=$(jq -s 'map(.non_ok) | add' "$WORK/load.jsonl")
in_fail=$(metric "$IN_ADMIN" 'hmacgw_config_reloads_total{result="failure"}')
eg_fail=$(metric "$EG_ADMIN" 'hmacgw_config_reloads_total{result="failure"}')
kill -TERM "$IN_PID" "$EG_PID"
wait "$IN_PID" && in_exit=0 || in_exit=$?
wait "$EG_PID" && eg_exit=0 || eg_exit=$?
IN_PID= EG_PID=

echo "soak: ${DURATION}s, reload step every ${RELOAD_EVERY}s, $step steps, keys rotated $((current - 1)) times"
echo "requests: $requests, errors (non-2xx): $non_ok"
echo "reloads: ingress generation $in_gen, egress generation $eg_gen; rejected: ingress $in_fail (intended $intended_failures), egress $eg_fail (intended 0)"
echo "ingress: RSS ${IN_RSS0} -> ${IN_RSS1} KiB, open fds ${IN_FD0} -> ${IN_FD1}, nonces held ${NONCES0} -> ${NONCES1}"
echo "egress:  RSS ${EG_RSS0} -> ${EG_RSS1} KiB, open fds ${EG_FD0} -> ${EG_FD1}"
echo "RSS KiB over the run (ingress egress), at each quarter: $(awk '{ r[NR] = $1 " " $3 } END {
  for (q = 1; q <= 4; q++) printf "%s%s", (q > 1 ? " | " : ""), r[int(NR * q / 4)] }' "$WORK/samples")"
echo "exit codes after SIGTERM: ingress $in_exit, egress $eg_exit"
grep -h '"level":"ERROR"\|ERROR' "$WORK/ingress.log" "$WORK/egress.log" | grep -v 'invalid configuration\|reload rejected' | head -5 || true
[ "$non_ok" = 0 ] && [ "$in_fail" = "$intended_failures" ] && [ "$eg_fail" = 0 ] && [ "$in_exit" = 0 ] && [ "$eg_exit" = 0 ]

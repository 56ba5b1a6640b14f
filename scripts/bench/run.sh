#!/usr/bin/env bash
# Reproducible benchmark of hmac-gateway against nginx and haproxy (issue #12).
#
#   scripts/bench/run.sh [--quick] [--rounds N] [--duration SECONDS] [--only LIST] [--idle-conns N]
#
#   --quick          2 s per run, 1 round, 2000 idle connections: checks that every row works
#   --rounds N       alternating rounds per row; each figure is the median (default 3)
#   --duration S     seconds per wrk run (default 8)
#   --only LIST      comma-separated rows: get,post,sign,idle,replay (default: all)
#   --idle-conns N   idle keep-alive connections for the memory row (default 10000)
#   --profile        after the pinned rows, a `perf` profile of the gateway on the verify route (one more
#                    wrk run, not recorded): the top entries by self time, printed after the table
#   --baseline BIN   also run another hmac-gateway binary (an earlier build) as target `gateway-base` in the
#                    same rounds of the get and sign rows, and print the before/after ratios: a change is
#                    judged against a baseline measured in the same run, not against an older run
#
# Environment: BIN and LOADGEN point at prebuilt binaries (hmac-gateway and examples/loadgen); without
# them the script builds both with `$CARGO build --release` (CARGO defaults to cargo). Also CONNS (wrk
# connections, 64), UNPINNED_WORKERS (2), BASE_PORT (18100: uses BASE_PORT..BASE_PORT+7), LOADGEN_RATE
# (40000 pre-signed requests per second of a replay-on run), KEEP_WORK=1 (keep the temp dir with configs,
# logs and raw outputs). DURATION, ROUNDS, ONLY and IDLE_CONNS may also come from the environment.
#
# What runs (all on 127.0.0.1):
#   upstream  nginx, 1 worker, `return 200 "ok"`, keep-alive
#   nginx     plain reverse proxy: upstream keepalive pool, proxy_http_version 1.1, Connection "", no access log
#   haproxy   plain reverse proxy, http-reuse always
#   gateway   RFC 9421 verify route with replay off (wrk repeats one signed request), RUST_LOG=warn;
#             an egress sign route for the sign rows
# Layouts: pinned = wrk and the upstream on CPU 0, the proxy under test on CPU 1, 1 worker each;
#          unpinned = no affinity, UNPINNED_WORKERS workers each.
# Load: wrk -t1 -c$CONNS -d$DURATION --latency, targets alternating within each round. nginx and haproxy
# get the same signature headers as the gateway, so every proxy parses the same bytes.
# Figures: rps (wrk), CPU µs per request = utime+stime of the proxy's processes (/proc, all threads)
# ÷ requests wrk completed, p99 latency (wrk); medians over rounds, then ratios to nginx.
# Idle memory: scripts/bench/idle_conns.py opens N keep-alive connections, sends one request on each,
# holds them, and reports the proxy's RSS delta ÷ N, then the RSS after they close.
# Replay store: replay on needs a unique nonce per request, so examples/loadgen (which signs each
# request itself) drives two gateways, one with the memory store, one with Redis (a redis-server
# this script starts on loopback).
#
# Configs differ from each program's defaults only where a row needs it: keep-alive/idle timeouts of 300 s
# (the gateway's timeouts.header_read is also its keep-alive idle timeout, 10 s by default), a 2 MiB body
# limit for the POST row, and fd limits for the idle row. That row needs `ulimit -n` above N; the script
# raises the soft limit as far as the hard one allows, and leaves haproxy out of it when its maxconn
# (about half the limit) is below N.
#
# Installs nothing: a missing tool prints the apt-get line. Every process it starts is stopped on exit.
# The machine this runs on is usually small and shared: compare ratios from one run, not absolute numbers.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DURATION=${DURATION:-8}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
IDLE_CONNS=${IDLE_CONNS:-10000}
UNPINNED_WORKERS=${UNPINNED_WORKERS:-2}
ONLY=${ONLY:-get,post,sign,idle,replay}
BASE_PORT=${BASE_PORT:-18100}
CARGO=${CARGO:-cargo}
LOADGEN_RATE=${LOADGEN_RATE:-40000} # pre-signed requests per second of a replay-on run
PROFILE=${PROFILE:-0}
BASELINE_BIN=${BASELINE_BIN:-}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

parse_args() {
  while [ $# -gt 0 ]; do
    case $1 in
      --quick) DURATION=2; ROUNDS=1; IDLE_CONNS=2000 ;;
      --rounds) ROUNDS=$2; shift ;;
      --duration) DURATION=$2; shift ;;
      --only) ONLY=$2; shift ;;
      --idle-conns) IDLE_CONNS=$2; shift ;;
      --profile) PROFILE=1 ;;
      --baseline) BASELINE_BIN=$2; shift ;;
      -h|--help) usage; exit 0 ;;
      *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
  done
  for n in "$DURATION" "$ROUNDS" "$IDLE_CONNS" "$CONNS" "$UNPINNED_WORKERS"; do
    [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "expected a positive integer, got '$n'" >&2; exit 2; }
  done
}

wants() { [[ ,$ONLY, == *,$1,* ]]; }
log() { echo "[bench $(date +%T)] $*" >&2; }

# ---------------------------------------------------------------- ports, files, cleanup

UP_PORT=$BASE_PORT              # nginx upstream
NGINX_PORT=$((BASE_PORT + 1))   # nginx proxy
HAPROXY_PORT=$((BASE_PORT + 2))
GW_PORT=$((BASE_PORT + 3))      # gateway verify listener
GW_SIGN_PORT=$((BASE_PORT + 4)) # gateway egress (sign) listener
GW_MEM_PORT=$((BASE_PORT + 5))  # replay on, memory store
GW_REDIS_PORT=$((BASE_PORT + 6))
REDIS_PORT=$((BASE_PORT + 7))
GW_BASE_PORT=$((BASE_PORT + 8))      # --baseline: the other binary's verify listener
GW_BASE_SIGN_PORT=$((BASE_PORT + 9)) # and its sign listener
PATH_=/_functions/bench

WORK=$(mktemp -d /tmp/hmacgw-bench.XXXXXX)
# nginx workers drop to an unprivileged user when started as root, and spool request bodies to disk:
# they must be able to reach the temp dir.
chmod 755 "$WORK"
mkdir -m 1777 "$WORK/tmp"
mkdir "$WORK/raw"
RESULTS=$WORK/results.tsv
: > "$RESULTS"
declare -A PID=() # name -> pid of every process this script started

stop() { # name: TERM, wait up to 5 s, then KILL (and any worker a KILLed nginx master would leave behind)
  local name=$1 pid=${PID[$1]:-} i kids
  [ -n "$pid" ] || return 0
  kids=$(pgrep -P "$pid" || true)
  kill "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" $kids 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "PID[$name]"
}

cleanup() {
  local name
  for name in "${!PID[@]}"; do stop "$name"; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools and binaries

require_tools() {
  local missing=() pkgs=()
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || { missing+=(nginx); pkgs+=(nginx-light); }
  command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || { missing+=(haproxy); pkgs+=(haproxy); }
  command -v wrk >/dev/null || { missing+=(wrk); pkgs+=(wrk); }
  if wants replay; then command -v redis-server >/dev/null || { missing+=(redis-server); pkgs+=(redis-server); }; fi
  command -v taskset >/dev/null || { missing+=(taskset); pkgs+=(util-linux); }
  command -v python3 >/dev/null || { missing+=(python3); pkgs+=(python3); }
  command -v curl >/dev/null || { missing+=(curl); pkgs+=(curl); }
  if [ ${#missing[@]} -gt 0 ]; then
    echo "missing: ${missing[*]}. Install with:" >&2
    echo "  apt-get install -y ${pkgs[*]}" >&2
    exit 1
  fi
  [ "$(nproc)" -ge 2 ] || { echo "the pinned layout needs at least 2 CPUs" >&2; exit 1; }
  NGINX=$(command -v nginx || echo /usr/sbin/nginx)
  HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
}

binaries() { # BIN / LOADGEN from the environment, or a release build
  BUILT="BIN=${BIN:-}"
  if [ -z "${BIN:-}" ] || { wants replay && [ -z "${LOADGEN:-}" ]; }; then
    log "building (set BIN= and LOADGEN= to use prebuilt binaries)"
    (cd "$ROOT" && $CARGO build --release --quiet --bin hmac-gateway --example loadgen)
    local target=${CARGO_TARGET_DIR:-$ROOT/target}
    BIN=${BIN:-$target/release/hmac-gateway}
    LOADGEN=${LOADGEN:-$target/release/examples/loadgen}
    [ "$BUILT" != "BIN=" ] || BUILT="built from $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "$ROOT")"
  fi
  [ -x "$BIN" ] || { echo "BIN=$BIN is not executable" >&2; exit 1; }
  if wants replay; then [ -x "$LOADGEN" ] || { echo "LOADGEN=$LOADGEN is not executable" >&2; exit 1; }; fi
}

# ---------------------------------------------------------------- configs

KEY=$(head -c 64 /dev/urandom | base64 -w0)

nginx_conf() { # file, workers, server block(s)
  cat > "$1" <<CONF
worker_processes $2;
# Enough descriptors for the idle-connection row (client + upstream side).
worker_rlimit_nofile $NOFILE;
pid $1.pid;
error_log $1.err warn;
daemon off;
events { worker_connections $((NOFILE - 100)); }
http {
  access_log off;
  keepalive_requests 1000000;
  keepalive_timeout 300s;  # the idle row holds connections open
  client_max_body_size 2m; # the 1 MiB POST row
  client_body_temp_path $WORK/tmp/body;
  proxy_temp_path $WORK/tmp/proxy;
  fastcgi_temp_path $WORK/tmp/fastcgi;
  uwsgi_temp_path $WORK/tmp/uwsgi;
  scgi_temp_path $WORK/tmp/scgi;
  $3
}
CONF
}

write_upstream_conf() {
  nginx_conf "$WORK/upstream.conf" 1 "server { listen 127.0.0.1:$UP_PORT; location / { return 200 'ok'; } }"
}

write_nginx_proxy_conf() { # workers
  nginx_conf "$WORK/nginx.conf" "$1" "upstream up { server 127.0.0.1:$UP_PORT; keepalive 256; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection \"\"; }
  }"
}

write_haproxy_conf() { # threads
  cat > "$WORK/haproxy.cfg" <<CONF
global
  nbthread $1
  maxconn $HAPROXY_MAXCONN  # haproxy refuses to start unless ulimit -n covers 2 x maxconn
defaults
  mode http
  timeout connect 5s
  timeout client 300s          # the idle row holds connections open
  timeout http-keep-alive 300s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend be
backend be
  server up 127.0.0.1:$UP_PORT
CONF
}

gateway_common() { # workers: the parts every gateway config shares
  cat <<YAML
secrets: { bench: { value: "$KEY", encoding: base64 } }
consumers: [{ id: bench, keys: [{ keyid: bench-1, secret: bench }] }]
workers: $1
# header_read is also the keep-alive idle timeout: the idle row holds connections for longer than the 10 s default.
# shutdown_grace: stop quickly between layouts.
timeouts: { header_read: 300s, shutdown_grace: 2s }
YAML
  # The gateway admits limits.max_connections per listener (default 10000); only raise it when asked for more.
  if [ "$IDLE_CONNS" -gt 10000 ]; then echo "limits: { max_connections: $((IDLE_CONNS + 100)) }"; fi
}

write_gateway_conf() { # workers: verify route (replay off) + egress sign route, both to the upstream
  gateway_conf "$1" "$GW_PORT" "$GW_SIGN_PORT" > "$WORK/gateway.yaml"
  gateway_conf "$1" "$GW_BASE_PORT" "$GW_BASE_SIGN_PORT" > "$WORK/gateway-base.yaml"
}

gateway_conf() { # workers, verify port, sign port
  { gateway_common "$1"; cat <<YAML
listeners: [{ name: in, bind: "127.0.0.1:$2" }, { name: out, bind: "127.0.0.1:$3" }]
routes:
  - name: verify
    listener: in
    verify: { scheme: rfc9421, consumers: [bench], replay: false }
    upstream: "http://127.0.0.1:$UP_PORT"
    max_body_bytes: 2097152   # the 1 MiB POST row
  - name: sign
    listener: out
    sign: { scheme: rfc9421, keyid: bench-1, secret: bench }
    upstream: "http://127.0.0.1:$UP_PORT"
YAML
  }
}

write_replay_confs() { # one gateway per replay store, replay on, 1 worker
  { gateway_common 1; cat <<YAML
listeners: [{ name: in, bind: "127.0.0.1:$GW_MEM_PORT" }]
routes:
  - { name: verify, listener: in, verify: { scheme: rfc9421, consumers: [bench], replay: true }, upstream: "http://127.0.0.1:$UP_PORT" }
replay: { store: memory, capacity: 5000000 }
YAML
  } > "$WORK/gw-memory.yaml"
  { gateway_common 1; cat <<YAML
listeners: [{ name: in, bind: "127.0.0.1:$GW_REDIS_PORT" }]
routes:
  - { name: verify, listener: in, verify: { scheme: rfc9421, consumers: [bench], replay: true }, upstream: "http://127.0.0.1:$UP_PORT" }
replay: { store: redis, url: "redis://127.0.0.1:$REDIS_PORT" }
YAML
  } > "$WORK/gw-redis.yaml"
}

# Never run: `hmac-gateway sign` takes its key and the signed @authority from this sign route, whose
# upstream is the verify listener wrk talks to.
write_signer_conf() {
  { gateway_common 1; cat <<YAML
listeners: [{ name: signer, bind: "127.0.0.1:0" }]
routes:
  - { name: signer, listener: signer, sign: { scheme: rfc9421, keyid: bench-1, secret: bench }, upstream: "http://127.0.0.1:$GW_PORT" }
YAML
  } > "$WORK/signer.yaml"
}

check_gateway_confs() {
  local f
  for f in gateway signer $(wants replay && echo gw-memory gw-redis); do
    "$BIN" check --config "$WORK/$f.yaml" > "$WORK/$f.check" 2>&1 || { cat "$WORK/$f.check" >&2; exit 1; }
  done
}

# Signature headers for one request to the verify route, one `Name: value` per line (Host left to wrk).
# Signed again before every gateway run, so `created` stays inside max_age however long the run is.
sign_headers() { # method [body file]
  local args=(sign --config "$WORK/signer.yaml" --route signer -X "$1")
  [ $# -ge 2 ] && args+=(-d "@$2")
  "$BIN" "${args[@]}" "http://127.0.0.1:$GW_PORT$PATH_" | tail -n +2 | grep -vi '^host:' > "$WORK/headers.txt"
}

# ---------------------------------------------------------------- processes

LAYOUT=pinned
LOAD_CPU=0
PROXY_CPU=1

on_cpu() { # cpu|-, command...: pinned layout runs under taskset, unpinned as is
  local cpu=$1; shift
  if [ "$LAYOUT" = pinned ] && [ "$cpu" != - ]; then taskset -c "$cpu" "$@"; else "$@"; fi
}

start() { # name, cpu, command...: start in the background, remember the pid
  local name=$1 cpu=$2; shift 2
  local pin=() # not through on_cpu: $! must be the process itself (taskset and env exec it), not a subshell
  if [ "$LAYOUT" = pinned ]; then pin=(taskset -c "$cpu"); fi
  "${pin[@]}" "$@" > "$WORK/$name.log" 2>&1 &
  PID[$name]=$!
}

wait_port() { # port: up to 10 s for a listener
  local i
  for i in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$1; logs in $WORK" >&2
  KEEP_WORK=1
  exit 1
}

start_layout() { # pinned|unpinned: upstream plus the three proxies, idle until measured
  LAYOUT=$1
  local workers=1
  [ "$LAYOUT" = unpinned ] && workers=$UNPINNED_WORKERS
  log "layout $LAYOUT ($workers worker(s) per proxy)"
  write_upstream_conf
  write_nginx_proxy_conf "$workers"
  write_haproxy_conf "$workers"
  write_gateway_conf "$workers"
  start upstream "$LOAD_CPU" "$NGINX" -e "$WORK/upstream.err" -p "$WORK" -c "$WORK/upstream.conf"
  start nginx "$PROXY_CPU" "$NGINX" -e "$WORK/nginx.err" -p "$WORK" -c "$WORK/nginx.conf"
  start haproxy "$PROXY_CPU" "$HAPROXY" -db -f "$WORK/haproxy.cfg"
  start gateway "$PROXY_CPU" env RUST_LOG=warn "$BIN" run --config "$WORK/gateway.yaml"
  local p
  for p in "$UP_PORT" "$NGINX_PORT" "$HAPROXY_PORT" "$GW_PORT" "$GW_SIGN_PORT"; do wait_port "$p"; done
  if [ -n "$BASELINE_BIN" ]; then
    start gateway-base "$PROXY_CPU" env RUST_LOG=warn "$BASELINE_BIN" run --config "$WORK/gateway-base.yaml"
    wait_port "$GW_BASE_PORT"
    wait_port "$GW_BASE_SIGN_PORT"
  fi
  check_verify_works
}

stop_layout() {
  [ -n "$BASELINE_BIN" ] && stop gateway-base
  stop gateway; stop haproxy; stop nginx; stop upstream
}

# A signed request must pass, and an unsigned one or a POST whose body differs from its Content-Digest must
# not: otherwise the figures would measure a rejection, or a route that does not check what it should.
check_verify_works() {
  expect_status 200 GET
  expect_status 401 GET unsigned
  expect_status 200 POST "$WORK/body.bin"
  # The first byte changed to one base64 (the body's alphabet) never has.
  { printf '!'; tail -c +2 "$WORK/body.bin"; } > "$WORK/tampered.bin"
  expect_status '[^2]..' POST "$WORK/tampered.bin"
}

expect_status() { # status (a regex), method, unsigned | body file to send (signed for body.bin)
  local want=$1 method=$2 what=${3:-} args=() line code
  if [ "$what" != unsigned ]; then
    if [ "$method" = POST ]; then sign_headers POST "$WORK/body.bin"; else sign_headers GET; fi
    while IFS= read -r line; do args+=(-H "$line"); done < "$WORK/headers.txt"
  fi
  [ "$method" = POST ] && args+=(--data-binary "@$what" -H 'Content-Type: application/octet-stream')
  code=$(curl -s -o /dev/null -w '%{http_code}' "${args[@]}" "http://127.0.0.1:$GW_PORT$PATH_" || true)
  [[ $code =~ ^$want$ ]] || { echo "pre-flight: $method ${what:-signed} to the verify route got $code, expected $want" >&2; exit 1; }
}

proxy_pids() { # name: the processes whose CPU and memory count for that proxy
  local pid=${PID[$1]}
  case $1 in
    nginx|upstream) echo "$pid" $(pgrep -P "$pid" || true) ;; # master + workers
    *) echo "$pid" ;;
  esac
}

cpu_ticks() { # utime+stime of the given pids, all threads (fields 14 and 15 of /proc/PID/stat)
  local total=0 pid rest
  for pid in "$@"; do
    rest=$(cat "/proc/$pid/stat")
    rest=${rest##*) } # the command name may hold spaces; fields after it are plain
    read -r -a f <<< "$rest"
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

# ---------------------------------------------------------------- measurements

target_port() {
  case $1 in
    nginx) echo "$NGINX_PORT" ;; haproxy) echo "$HAPROXY_PORT" ;;
    gateway) echo "$GW_PORT" ;; gateway-sign) echo "$GW_SIGN_PORT" ;;
    gateway-base) echo "$GW_BASE_PORT" ;; gateway-sign-base) echo "$GW_BASE_SIGN_PORT" ;;
  esac
}
process_of() {
  case $1 in gateway-sign) echo gateway ;; gateway-sign-base) echo gateway-base ;; *) echo "$1" ;; esac
}

# One wrk run against a target; CPU ticks of its processes around it. A record per run goes to results.tsv:
# row, layout, target, round, cpu ticks, raw output file.
run_wrk() { # row, target, round, seconds, record(yes|no), extra wrk args...
  local row=$1 target=$2 round=$3 seconds=$4 record=$5; shift 5
  local proc pids t0 t1 out
  proc=$(process_of "$target")
  pids=$(proxy_pids "$proc")
  out=$WORK/raw/$row.$LAYOUT.$target.$round.txt
  t0=$(cpu_ticks $pids)
  # The baseline listens on another port, but was signed for the verify listener's authority.
  [ "$target" = gateway-base ] && set -- "$@" -H "Host: 127.0.0.1:$GW_PORT"
  on_cpu "$LOAD_CPU" timeout $((seconds + 30)) wrk -t1 -c"$CONNS" -d"${seconds}s" --latency "$@" \
    "http://127.0.0.1:$(target_port "$target")$PATH_" > "$out" 2>&1 || true
  t1=$(cpu_ticks $pids)
  [ "$record" = yes ] && printf 'wrk\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$LAYOUT" "$target" "$round" $((t1 - t0)) "$out" >> "$RESULTS"
  return 0
}

# wrk arguments for a row: signature headers (the same for every target), and the POST script.
wrk_args() { # row
  WRK_ARGS=()
  case $1 in
    get)
      sign_headers GET
      local line
      while IFS= read -r line; do WRK_ARGS+=(-H "$line"); done < "$WORK/headers.txt"
      ;;
    post)
      sign_headers POST "$WORK/body.bin"
      WRK_ARGS=(-s "$HERE/post.lua")
      ;;
    sign) ;; # the application's plain request; the gateway signs it
  esac
}

# Alternating rounds over the targets of a row, after a short unrecorded warm-up of each
# (connections, upstream pools, page faults).
bench_row() { # row, targets...
  local row=$1; shift
  local round target
  log "row $row, $LAYOUT: ${DURATION}s x $ROUNDS rounds x ($*)"
  for target in "$@"; do wrk_args "$row"; run_wrk "$row" "$target" 0 1 no "${WRK_ARGS[@]}"; done
  for round in $(seq "$ROUNDS"); do
    for target in "$@"; do
      wrk_args "$row"
      run_wrk "$row" "$target" "$round" "$DURATION" yes "${WRK_ARGS[@]}"
    done
  done
}

# Where the gateway's CPU goes on the pinned verify route: perf samples the gateway during one more wrk run.
profile_gateway() {
  if ! command -v perf > /dev/null; then
    log "profile: perf is not installed (apt-get install linux-perf); skipped"
    return 0
  fi
  log "profile: perf on the gateway, pinned verify route, ${DURATION}s"
  wrk_args get
  perf record -F 999 -g -o "$WORK/perf.data" -p "${PID[gateway]}" -- sleep "$DURATION" > "$WORK/perf.log" 2>&1 &
  local perf_pid=$!
  run_wrk get gateway profile "$DURATION" no "${WRK_ARGS[@]}"
  wait "$perf_pid" || true
  if [ ! -s "$WORK/perf.data" ]; then
    log "profile: perf recorded nothing (kernel.perf_event_paranoid? it said: $(tail -n 2 "$WORK/perf.log" | tr '\n' ' '))"
    return 0
  fi
  { # by binary (kernel, libc, gateway), then by symbol
    perf_top --sort dso -F overhead,dso --percent-limit 1
    echo
    perf_top --sort dso,symbol -F overhead,dso,sym --percent-limit 0.7
  } > "$WORK/profile.txt"
}

perf_top() { # perf report arguments: self time, flat, no headers or padding
  perf report -i "$WORK/perf.data" --no-children -g none --stdio "$@" 2> /dev/null \
    | grep -v '^#' | grep -v '^$' | sed -E 's/( +-)+ *$//; s/ +$//' | sort -rn || true
}

make_post_body() { # 1 MiB of printable bytes, and the environment post.lua reads
  head -c 786432 /dev/urandom | base64 -w0 > "$WORK/body.bin"
  [ "$(stat -c %s "$WORK/body.bin")" = 1048576 ]
  export BENCH_BODY=$WORK/body.bin BENCH_HEADERS=$WORK/headers.txt
}

# Idle keep-alive memory, on freshly started proxies (pinned, 1 worker) so "after close" compares with a
# process that has served nothing else.
bench_idle() {
  log "idle: $IDLE_CONNS keep-alive connections per proxy"
  start_layout pinned
  sign_headers GET
  local target out
  for target in nginx haproxy gateway; do
    if [ "$target" = haproxy ] && [ "$HAPROXY_MAXCONN" -lt "$IDLE_CONNS" ]; then
      log "idle: skipping haproxy (maxconn $HAPROXY_MAXCONN < $IDLE_CONNS: raise ulimit -n to $((2 * IDLE_CONNS + 200)))"
      continue
    fi
    out=$WORK/raw/idle.$target.json
    on_cpu "$LOAD_CPU" timeout 300 python3 "$HERE/idle_conns.py" --port "$(target_port "$target")" --path "$PATH_" \
      --conns "$IDLE_CONNS" --headers "$WORK/headers.txt" --pids $(proxy_pids "$target") > "$out" 2> "$out.err" || true
    printf 'idle\tidle\tpinned\t%s\t1\t0\t%s\n' "$target" "$out" >> "$RESULTS"
  done
  stop_layout
}

# Replay on: loadgen signs each request with a unique nonce; memory store against Redis, pinned
# (loadgen, upstream and redis-server on CPU 0; the gateway on CPU 1).
bench_replay() {
  log "replay: memory store vs redis"
  LAYOUT=pinned
  write_upstream_conf
  start upstream "$LOAD_CPU" "$NGINX" -e "$WORK/upstream.err" -p "$WORK" -c "$WORK/upstream.conf"
  start redis "$LOAD_CPU" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
  start gw-memory "$PROXY_CPU" env RUST_LOG=warn "$BIN" run --config "$WORK/gw-memory.yaml"
  start gw-redis "$PROXY_CPU" env RUST_LOG=warn "$BIN" run --config "$WORK/gw-redis.yaml"
  local p round target
  for p in "$UP_PORT" "$REDIS_PORT" "$GW_MEM_PORT" "$GW_REDIS_PORT"; do wait_port "$p"; done
  for target in gw-memory gw-redis; do run_loadgen "$target" 0 1 no; done
  for round in $(seq "$ROUNDS"); do
    for target in gw-memory gw-redis; do run_loadgen "$target" "$round" "$DURATION" yes; done
  done
  stop gw-redis; stop gw-memory; stop redis; stop upstream
}

run_loadgen() { # target, round, seconds, record
  local target=$1 round=$2 seconds=$3 record=$4 port t0 t1 out
  port=$GW_MEM_PORT
  [ "$target" = gw-redis ] && port=$GW_REDIS_PORT
  out=$WORK/raw/replay.$target.$round.json
  t0=$(cpu_ticks "${PID[$target]}")
  # Requests are signed up front (about 1.6 KB of memory each): give it more than it can send in the time,
  # and let --max-seconds stop it. The report flags a run that ran out early.
  on_cpu "$LOAD_CPU" timeout $((seconds + 60)) "$LOADGEN" --addr "127.0.0.1:$port" --path "$PATH_" \
    --concurrency "$CONNS" --requests $((seconds * LOADGEN_RATE)) --max-seconds "$seconds" --key-b64 "$KEY" \
    > "$out" 2> "$out.err" || true
  t1=$(cpu_ticks "${PID[$target]}")
  [ "$record" = yes ] && printf 'loadgen\treplay\tpinned\t%s\t%s\t%s\t%s\n' "$target" "$round" $((t1 - t0)) "$out" >> "$RESULTS"
  return 0
}

machine() {
  echo "nproc=$(nproc)"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel=$(uname -sr)"
  echo "nginx=$("$NGINX" -v 2>&1 | sed 's/.*\///')"
  echo "haproxy=$("$HAPROXY" -v | head -1 | awk '{print $3}')"
  echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  # With BIN= the binary may come from another checkout than this one: name it.
  echo "gateway=$("$BIN" --version | awk '{print $2}') ($BUILT)"
  [ -z "$BASELINE_BIN" ] || echo "baseline=$BASELINE_BIN"
  echo "duration=$DURATION"
  echo "rounds=$ROUNDS"
  echo "conns=$CONNS"
  echo "idle_conns=$IDLE_CONNS"
  echo "unpinned_workers=$UNPINNED_WORKERS"
  echo "clk_tck=$(getconf CLK_TCK)"
  # The machine is shared: other work running during the benchmark shows here.
  echo "loadavg_before=$(cut -d' ' -f1 /proc/loadavg)"
}

# The idle row holds N client sockets in the proxy (plus whatever it opens upstream) and N in the helper.
# Raising the hard limit needs CAP_SYS_RESOURCE; without it, use the hard limit as it is.
raise_fd_limit() {
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  NOFILE=$(ulimit -n)
  [ "$NOFILE" = unlimited ] && NOFILE=65536
  HAPROXY_MAXCONN=$(( (NOFILE - 200) / 2 ))
  [ "$HAPROXY_MAXCONN" -le 30000 ] || HAPROXY_MAXCONN=30000
  if wants idle && [ "$NOFILE" -le $((IDLE_CONNS + 1000)) ]; then
    echo "ulimit -n is $NOFILE, too low for $IDLE_CONNS idle connections (--idle-conns)" >&2
    exit 1
  fi
}

main() {
  parse_args "$@"
  require_tools
  binaries
  raise_fd_limit
  write_gateway_conf 1
  write_signer_conf
  wants replay && write_replay_confs
  check_gateway_confs
  make_post_body
  machine > "$WORK/machine.txt"

  local base=() base_sign=()
  [ -n "$BASELINE_BIN" ] && { base=(gateway-base); base_sign=(gateway-sign-base); }
  if wants get || wants post || wants sign; then
    start_layout pinned
    wants get && bench_row get nginx haproxy gateway "${base[@]}"
    wants post && bench_row post nginx haproxy gateway
    wants sign && bench_row sign nginx haproxy gateway-sign "${base_sign[@]}"
    [ "$PROFILE" = 1 ] && profile_gateway
    stop_layout
  fi
  if wants get || wants sign; then
    start_layout unpinned
    wants get && bench_row get nginx haproxy gateway "${base[@]}"
    wants sign && bench_row sign nginx haproxy gateway-sign "${base_sign[@]}"
    stop_layout
  fi
  if [ "$PROFILE" = 1 ] && ! { wants get || wants post || wants sign; }; then
    log "profile: skipped, --only names no pinned row (get, post or sign)"
  fi
  wants idle && bench_idle
  wants replay && bench_replay
  echo "loadavg_after=$(cut -d' ' -f1 /proc/loadavg)" >> "$WORK/machine.txt"
  python3 "$HERE/report.py" "$RESULTS" "$WORK/machine.txt"
  if [ -s "$WORK/profile.txt" ]; then
    printf '\nProfile of the gateway, pinned verify route (self time; perf record -g, perf report --no-children):\n\n```\n'
    head -n 45 "$WORK/profile.txt"
    printf '```\n'
  fi
}

# On one line, so bash has read it all before main runs: editing this file during a run cannot change the run.
main "$@"; exit

#!/usr/bin/env bash
# Checks examples/production/gateway.yaml with `hmac-gateway check`, as a user
# would after putting its files in place: a self-signed certificate and key
# (openssl), a key from `hmac-gateway keygen`, and REDIS_URL. Nothing secret is
# committed: the stand-ins are made in a scratch directory and removed.
#
#   scripts/check-production-example.sh      (BIN=path/to/hmac-gateway to use a built binary)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${BIN:-}" ]; then
  (cd "$ROOT" && cargo build --quiet --locked --bin hmac-gateway)
  BIN=$ROOT/target/debug/hmac-gateway
fi
command -v openssl >/dev/null 2>&1 || { echo "needs openssl (apt-get install openssl)" >&2; exit 1; }

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp "$ROOT/examples/production/gateway.yaml" "$WORK/gateway.yaml"
mkdir -p "$WORK/certs" "$WORK/secrets"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "/CN=gateway.example" \
  -addext "subjectAltName=DNS:gateway.example" \
  -keyout "$WORK/certs/gateway-key.pem" -out "$WORK/certs/gateway.pem" 2>/dev/null
"$BIN" keygen > "$WORK/secrets/partner-a-2026" 2>/dev/null
out=$(REDIS_URL="rediss://gateway:password@redis.internal:6379" "$BIN" check --config "$WORK/gateway.yaml")
echo "$out" | head -n 3
# `check` passing means the certificate, key and key file were read and
# valid; the summary says the replay store is Redis over TLS.
grep -q "replay store redis (one server, TLS)" <<<"$out" || { echo "not the Redis replay store over TLS" >&2; exit 1; }

#!/usr/bin/env bash
# Builds the release tarball of hmac-gateway for this machine's target:
#
#   scripts/release.sh [--out DIR]
#
#   dist/hmac-gateway-VERSION-TARGET.tar.gz         the binary, LICENSE-MIT, LICENSE-APACHE, README.md,
#                                                   CHANGELOG.md, SECURITY.md, docs/ (the README's links), the
#                                                   demo gateway.yaml, examples/production/gateway.yaml and
#                                                   SHA256SUMS of every file
#   dist/hmac-gateway-VERSION-TARGET.tar.gz.sha256  the tarball's own SHA-256 (`sha256sum -c` checks it)
#
# The binary is built with `cargo build --release --locked` (BIN=path uses a prebuilt one). The script then
# unpacks the tarball in a scratch directory, checks every sum, and runs the packed binary: `--version` must
# name this version and `check` must pass on the packed gateway.yaml. CI runs it.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/dist
while [ $# -gt 0 ]; do
  case $1 in
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

cd "$ROOT"
VERSION=$(cargo metadata --format-version 1 --no-deps --locked \
  | python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "hmac-gateway"))')
TARGET=$(rustc -vV | sed -n 's/^host: //p')
NAME=hmac-gateway-$VERSION-$TARGET

if [ -z "${BIN:-}" ]; then
  cargo build --release --locked --quiet --bin hmac-gateway
  BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/hmac-gateway
fi
[ -x "$BIN" ] || { echo "no executable at $BIN" >&2; exit 1; }

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/$NAME" "$OUT"
cp "$BIN" "$STAGE/$NAME/hmac-gateway"
cp LICENSE-MIT LICENSE-APACHE README.md CHANGELOG.md SECURITY.md gateway.yaml "$STAGE/$NAME/"
cp -R docs "$STAGE/$NAME/docs"
mkdir -p "$STAGE/$NAME/examples/production"
cp examples/production/gateway.yaml "$STAGE/$NAME/examples/production/"
(cd "$STAGE/$NAME" && find . -type f ! -name SHA256SUMS | sed 's|^\./||' | LC_ALL=C sort | xargs sha256sum > SHA256SUMS)
# Reproducible archive metadata: file order, owners and times do not depend on this machine.
tar -C "$STAGE" --sort=name --owner=0 --group=0 --numeric-owner --mtime='@0' -czf "$OUT/$NAME.tar.gz" "$NAME"
(cd "$OUT" && sha256sum "$NAME.tar.gz" > "$NAME.tar.gz.sha256")

# Check what was packed, as a user would after downloading it.
CHECK=$STAGE/check
mkdir -p "$CHECK"
(cd "$OUT" && sha256sum --quiet -c "$NAME.tar.gz.sha256")
tar -C "$CHECK" -xzf "$OUT/$NAME.tar.gz"
(cd "$CHECK/$NAME" && sha256sum --quiet -c SHA256SUMS)
reported=$("$CHECK/$NAME/hmac-gateway" --version)
[ "$reported" = "hmac-gateway $VERSION" ] || { echo "the packed binary says '$reported', not $VERSION" >&2; exit 1; }
(cd "$CHECK/$NAME" && ./hmac-gateway check --config gateway.yaml > /dev/null)

echo "$OUT/$NAME.tar.gz"
echo "$OUT/$NAME.tar.gz.sha256"

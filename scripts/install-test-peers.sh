#!/usr/bin/env bash
# Installs what the ignored tests need, so that `cargo test -- --include-ignored` runs every test:
#
#   scripts/install-test-peers.sh
#
# - redis-server and redis-cli (Debian packages): the Redis replay store tests start their own servers,
#   plain, TLS and a 3-primary cluster (tests/it/redis_*.rs);
# - independent implementations the gateway is checked against: Python http-message-signatures and
#   requests (RFC 9421, tests/it/interop_python.rs and the Python client in examples/clients), each
#   webhook provider's own library (Python standardwebhooks, stripe, slack_sdk; npm
#   @octokit/webhooks-methods, pinned in tests/peers/package-lock.json: tests/it/webhooks.rs), and
#   Node.js for the JavaScript client;
# - Python jsonschema and PyYAML (scripts/validate-configs.py, scripts/check-docs.py), and the
#   yaml-language-server editors run (tests/peers), which tests/it/schema.rs points at the schema.
#
# Debian packages need root (apt-get); the script installs only what is missing. .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() { # packages...
  export DEBIAN_FRONTEND=noninteractive
  if [ "$(id -u)" -ne 0 ]; then
    echo "needs root to install $*: run as root, or apt-get install $* yourself" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq "$@" >/dev/null
}

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "== installing redis-server and redis-tools"
  apt_install redis-server redis-tools
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "== installing nodejs and npm"
  apt_install nodejs npm
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "== installing openssl (scripts/check-production-example.sh)"
  apt_install openssl
fi
command -v python3 >/dev/null 2>&1 || apt_install python3 python3-pip
python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
echo "== Python peers"
packages=("http-message-signatures==3.0.0" "requests>=2.31,<3" "standardwebhooks==1.1.0" "stripe==16.1.0"
  "slack_sdk==3.48.0" "jsonschema==4.26.0" "PyYAML==6.0.3")
# The tests run `python3` from PATH, so the packages go where it looks. A
# distribution's Python that refuses that (PEP 668, "externally managed")
# is told this machine's test peers may go there.
python3 -m pip install --quiet --disable-pip-version-check "${packages[@]}" 2>/dev/null \
  || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${packages[@]}"
echo "== npm peers (tests/peers)"
npm ci --prefix tests/peers --silent --no-audit --no-fund

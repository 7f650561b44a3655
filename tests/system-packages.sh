#!/usr/bin/env bash
# The Debian packages the test suite needs, installed only where missing (needs root): PostgreSQL for the
# store and daemon tests, Node.js and npm for the third-party SMSC peer, openssl for TLS certificates.
set -euo pipefail
missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || missing+=(postgresql)
command -v node > /dev/null || missing+=(nodejs)
command -v npm > /dev/null || missing+=(npm)
command -v openssl > /dev/null || missing+=(openssl)
python3 -c "import ensurepip" 2> /dev/null || missing+=(python3-venv)
if ((${#missing[@]})); then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

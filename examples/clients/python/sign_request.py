#!/usr/bin/env python3
"""Calls an hmac-gateway RFC 9421 verify route directly, with no sidecar.

    pip install "http-message-signatures==3.0.0" "requests>=2.31,<3"
    python3 examples/clients/python/sign_request.py http://127.0.0.1:8080/_functions/siteStats
    python3 examples/clients/python/sign_request.py http://127.0.0.1:8080/_functions/siteStats '{"a":1}'

The key id and secret are the demo's (gateway.yaml); set HMAC_KEYID and HMAC_SECRET_B64 (base64) for your own.
It signs what the demo route requires: @method @authority @path @query, plus Content-Digest (RFC 9530) when there
is a body, with created, a fresh nonce, keyid and alg. Prints the status and the body; exits 1 unless it is 2xx.
"""
import base64
import os
import secrets
import sys

import requests
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

DEMO_SECRET = "QR3Nb/EMvE/G2vE6gfji+V8fkItRAduDBA5yKS2FcikmSOFt6ssWUZhjhURsg/rsUy+uPq5V+cVjEqjqAzbIiw=="


def main():
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080/_functions/siteStats"
    body = sys.argv[2].encode() if len(sys.argv) > 2 else None
    keyid = os.environ.get("HMAC_KEYID", "consumer-site-1")
    secret = base64.b64decode(os.environ.get("HMAC_SECRET_B64", DEMO_SECRET))

    request = requests.Request("POST" if body else "GET", url, data=body).prepare()
    signer = HTTPMessageSigner(signature_algorithm=algorithms.HMAC_SHA256,
                               key_resolver=MappingKeyResolver(public_keys={}, private_keys={keyid: secret}))
    # body= adds Content-Digest and covers it; created defaults to now; the
    # gateway accepts each (keyid, nonce) once, so every request gets a new one.
    signer.sign(request, key_id=keyid, label="sig1", nonce=secrets.token_urlsafe(16),
                covered_component_ids=("@method", "@authority", "@path", "@query"), body=body)

    response = requests.Session().send(request, timeout=10)
    print(response.status_code)
    print(response.text)
    return 0 if 200 <= response.status_code < 300 else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Independent RFC 9421 peer for the interop tests: the PyPI package
`http-message-signatures` (pyauth/http-message-signatures) signs or verifies
one request described as JSON on stdin.

  sign:   {"method", "url", "headers", "body_b64", "key_b64", "keyid", "components", "nonce"}
          -> prints {"headers": {...}} with Content-Digest, Signature-Input, Signature
  verify: {"method", "url", "headers", "body_b64", "key_b64", "require"}
          -> exit 0 when the signature and digest verify, 1 with the reason otherwise
"""
import base64
import datetime
import json
import sys

import requests
from http_message_signatures import (HTTPMessageSigner, HTTPMessageVerifier,
                                     HTTPSignatureKeyResolver, algorithms)


def resolver(key):
    class Resolver(HTTPSignatureKeyResolver):
        def resolve_public_key(self, key_id):
            return key

        def resolve_private_key(self, key_id):
            return key

    return Resolver()


def message(spec):
    body = base64.b64decode(spec.get("body_b64", "")) or None
    prepared = requests.Request(spec["method"], spec["url"], data=body).prepare()
    for name, value in spec.get("headers", {}).items():
        prepared.headers[name] = value
    return prepared, body


def main():
    mode = sys.argv[1]
    spec = json.load(sys.stdin)
    key = base64.b64decode(spec["key_b64"])
    msg, body = message(spec)
    if mode == "sign":
        signer = HTTPMessageSigner(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=resolver(key))
        signer.sign(msg, key_id=spec["keyid"], covered_component_ids=tuple(spec["components"]),
                    nonce=spec.get("nonce"), label="py", include_alg=True, body=body)
        print(json.dumps({"headers": dict(msg.headers)}))
        return 0
    verifier = HTTPMessageVerifier(signature_algorithm=algorithms.HMAC_SHA256, key_resolver=resolver(key))
    try:
        results = verifier.verify(msg, max_age=datetime.timedelta(minutes=5),
                                  require_components=tuple(spec.get("require", [])), body=body)
    except Exception as exc:  # the reason goes to the test's failure message
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"verified": [r.label for r in results]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Independent webhook signers and verifiers for tests/it/webhooks.rs.

Reads one JSON object on stdin:
  {"mode": "sign" | "verify", "provider": "stripe" | "slack" | "standard-webhooks",
   "secret": "...", "body_b64": "...", "timestamp": 1700000000, "id": "msg_...",
   "headers": {...}}
"sign" prints {"headers": {...}}; "verify" exits 0 when the provider's own
library accepts the headers and body, 1 (with the reason) when it does not.
Each provider's official library does the work: standardwebhooks, stripe,
slack_sdk.
"""
import base64
import datetime
import json
import sys


def sign(spec, body):
    provider, secret, ts = spec["provider"], spec["secret"], spec["timestamp"]
    if provider == "standard-webhooks":
        from standardwebhooks.webhooks import Webhook

        when = datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc)
        signature = Webhook(secret).sign(spec["id"], when, body.decode())
        return {"webhook-id": spec["id"], "webhook-timestamp": str(ts), "webhook-signature": signature}
    if provider == "stripe":
        import stripe

        return {"stripe-signature": stripe.WebhookSignature.generate_signature_header(body.decode(), secret, ts)}
    if provider == "slack":
        from slack_sdk.signature import SignatureVerifier

        signature = SignatureVerifier(secret).generate_signature(timestamp=str(ts), body=body)
        return {"x-slack-request-timestamp": str(ts), "x-slack-signature": signature}
    raise SystemExit(f"unknown provider {provider}")


def verify(spec, body):
    provider, secret, headers = spec["provider"], spec["secret"], spec["headers"]
    if provider == "standard-webhooks":
        from standardwebhooks.webhooks import Webhook

        Webhook(secret).verify(body, headers, json_parse=False)
    elif provider == "stripe":
        import stripe

        stripe.WebhookSignature.verify_header(body.decode(), headers["stripe-signature"], secret, tolerance=300)
    elif provider == "slack":
        from slack_sdk.signature import SignatureVerifier

        ok = SignatureVerifier(secret).is_valid(
            body, headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
        )
        if not ok:
            raise ValueError("slack_sdk: signature is not valid")
    else:
        raise SystemExit(f"unknown provider {provider}")


def main():
    spec = json.load(sys.stdin)
    body = base64.b64decode(spec.get("body_b64", ""))
    if spec["mode"] == "sign":
        print(json.dumps({"headers": sign(spec, body)}))
        return
    try:
        verify(spec, body)
    except Exception as e:  # the libraries raise their own error types
        print(f"rejected: {type(e).__name__}: {e}")
        sys.exit(1)
    print("verified")


if __name__ == "__main__":
    main()

//! `hmac-gateway explain` for every webhook provider, table-driven: a
//! correct delivery explains as passing and the real gateway binary accepts
//! it; a re-serialised body and (for providers that sign a timestamp) a
//! clock 10 minutes off are named; no secret and no MAC is printed. Webhooks
//! sign neither the path nor a header, so those mistakes do not apply.

#![allow(clippy::unwrap_used)]

use crate::common::explain::{explain, raw_http, write_config};
use crate::common::*;
use hmac_gateway::scheme::webhook::{self, Provider};

const NOW: i64 = 1_764_670_000;
const BODY: &[u8] = br#"{"event":"order.paid","order":{"id":42,"total":"9.90"}}"#;
const PRETTY: &[u8] =
    b"{\n  \"event\": \"order.paid\",\n  \"order\": {\n    \"id\": 42,\n    \"total\": \"9.90\"\n  }\n}\n";

const SECRETS: [(Provider, &str); 5] = [
    (Provider::Github, "gh-secret-0123456789abcdefghijklmnopqrstuv"),
    (Provider::Stripe, "whsec_new0123456789abcdefghijklmnopqrstu"),
    (Provider::Slack, "8f742231b10e8888abcd99yyyzzz85a5"),
    (Provider::StandardWebhooks, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAAAAAAAAAAAA"),
    (Provider::Shopify, "shpss_0123456789abcdef0123456789abcdef"),
];

fn yaml(upstream: &str) -> String {
    let mut out = String::from("listeners:\n  - { name: hooks, bind: \"127.0.0.1:0\" }\nsecrets:\n");
    for (provider, secret) in SECRETS {
        out.push_str(&format!("  {}: {{ value: \"{secret}\" }}\n", provider.name()));
    }
    out.push_str("routes:\n");
    for (provider, _) in SECRETS {
        let name = provider.name();
        out.push_str(&format!(
            "  - {{ name: {name}, listener: hooks, match: {{ path_prefix: /{name}/ }}, verify: {{ scheme: {name}, \
             secrets: [{name}] }}, upstream: \"http://{upstream}\" }}\n"
        ));
    }
    out
}

/// The key bytes the provider's library signs with.
fn key(provider: Provider, secret: &str) -> Vec<u8> {
    match provider {
        Provider::StandardWebhooks => webhook::standard_webhooks_key(secret.as_bytes()).unwrap(),
        _ => secret.as_bytes().to_vec(),
    }
}

fn delivery(provider: Provider, secret: &str, at: i64) -> Req {
    let mut req = Req::post("127.0.0.1:1".parse().unwrap(), &format!("/{}/events", provider.name()), BODY);
    req.authority = "hooks.example.com".into();
    req.headers.insert("content-type", "application/json".parse().unwrap());
    for (name, value) in webhook::sign(provider, &[&key(provider, secret)], BODY, at, "msg_2Lh9") {
        req.headers.insert(name, value.parse().unwrap());
    }
    req
}

/// The secret as written, as key bytes in hex, and every header value
/// the signature is carried in.
fn hidden(provider: Provider, secret: &str, req: &Req) -> Vec<String> {
    let mut out = vec![secret.to_owned(), hex::encode(key(provider, secret))];
    for name in
        ["x-hub-signature-256", "stripe-signature", "x-slack-signature", "webhook-signature", "x-shopify-hmac-sha256"]
    {
        if let Some(value) = req.headers.get(name) {
            let value = value.to_str().unwrap();
            out.extend(value.split([',', '=', ' ']).filter(|part| part.len() > 20).map(str::to_owned));
        }
    }
    out
}

#[test]
fn webhook_mistakes_are_named_for_every_provider() {
    let config = write_config("explain-hooks", &yaml("127.0.0.1:9"));
    for (provider, secret) in SECRETS {
        let good = delivery(provider, secret, NOW);
        let secrets = hidden(provider, secret, &good);
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let out = explain(&config, &raw_http(&good), NOW, &[]);
        out.hides(&secrets).names("result: accepted").names("begin body_sha256");
        assert_eq!(out.code, 0, "{provider:?}: {out}");
        let mut pretty = good.clone();
        pretty.body = bytes::Bytes::from_static(PRETTY);
        explain(&config, &raw_http(&pretty), NOW, &[])
            .hides(&secrets)
            .refused(401, "invalid_signature")
            .names("the signature verifies with the body's JSON minified");
        if provider.has_timestamp() {
            let late = delivery(provider, secret, NOW - 600);
            explain(&config, &raw_http(&late), NOW, &[])
                .refused(401, "signature_expired")
                .names("the signed timestamp is 600s old")
                .names("--now");
            // Replayed at the time it was sent, the same delivery passes.
            assert_eq!(explain(&config, &raw_http(&late), NOW - 600, &[]).code, 0);
        }
    }
}

#[tokio::test]
async fn deliveries_that_explain_as_passing_are_accepted_by_the_gateway() {
    let upstream = Upstream::start().await;
    let config = write_config("explain-hooks-agree", &yaml(&upstream.addr.to_string()));
    let gateway = binary::spawn(&config).await;
    let now = hmac_gateway::testing::unix_now();
    for (n, (provider, secret)) in SECRETS.into_iter().enumerate() {
        let req = delivery(provider, secret, now);
        let out = explain(&config, &raw_http(&req), now, &[]);
        assert_eq!(out.code, 0, "{provider:?}: {out}");
        let got = send(gateway.addr, &req).await;
        assert_eq!(got.status, 200, "{provider:?}: {:?}", got.body);
        assert_eq!(upstream.count(), n + 1);
        assert_eq!(upstream.last().body.as_ref(), BODY);
    }
}

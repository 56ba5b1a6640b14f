//! Each provider's published example, plus sign/verify round trips,
//! tampering, windows and rotation.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};

use super::*;
use crate::Secret;
use crate::authenticate;

const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&\
channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2F\
hooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.\
803a0bc887a14d10d2c447fce8b6703c";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(http::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
    }
    map
}

fn view(headers: &HeaderMap) -> MessageView<'_> {
    MessageView { method: "POST", scheme: "https", authority: "hooks.example", path: "/in", query: None, headers }
}

/// Runs the shared driver with `secrets` as the route's secrets.
fn check(provider: Provider, headers: &HeaderMap, body: &[u8], now: i64, secrets: &[&[u8]]) -> Result<(), AuthError> {
    let scheme = Webhook { provider, window: Window::symmetric(300), replay_ttl: Duration::from_secs(3600) };
    let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(s.to_vec())).collect();
    authenticate(&scheme, &view(headers), body, now, |keyid| {
        assert!(keyid.is_none(), "webhooks have no key id");
        Some(crate::Found { owner: &(), keys: &secrets[..], allowed: true })
    })
    .map(|_| ())
}

#[test]
fn github_documented_example() {
    let h =
        headers(&[("x-hub-signature-256", "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")]);
    assert_eq!(check(Provider::Github, &h, b"Hello, World!", 0, &[b"It's a Secret to Everybody"]), Ok(()));
    assert_eq!(
        check(Provider::Github, &h, b"Hello, World?", 0, &[b"It's a Secret to Everybody"]),
        Err(AuthError::InvalidSignature)
    );
    let signed = sign(Provider::Github, &[b"It's a Secret to Everybody"], b"Hello, World!", 0, "");
    assert_eq!(signed[0].1, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
}

#[test]
fn slack_documented_example_and_window() {
    let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    let h = headers(&[("x-slack-signature", sig), ("x-slack-request-timestamp", "1531420618")]);
    let secret: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    assert_eq!(check(Provider::Slack, &h, SLACK_BODY.as_bytes(), 1_531_420_618 + 60, &[secret]), Ok(()));
    let late = check(Provider::Slack, &h, SLACK_BODY.as_bytes(), 1_531_420_618 + 301, &[secret]);
    assert!(matches!(late, Err(AuthError::Expired(_))), "{late:?}");
    let early = check(Provider::Slack, &h, SLACK_BODY.as_bytes(), 1_531_420_618 - 301, &[secret]);
    assert!(matches!(early, Err(AuthError::Expired(_))), "{early:?}");
}

#[test]
fn standard_webhooks_specification_example() {
    let key = standard_webhooks_key(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let body = br#"{"test": 2432232314}"#;
    let h = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="),
    ]);
    assert_eq!(check(Provider::StandardWebhooks, &h, body, 1_614_265_330, &[&key]), Ok(()));
    let signed = sign(Provider::StandardWebhooks, &[&key], body, 1_614_265_330, "msg_p5jXN8AQM9LWM0D4loKWxJek");
    assert_eq!(signed[2], ("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".to_owned()));
    // The id is signed: another id with the same signature fails.
    let mut moved = h.clone();
    moved.insert("webhook-id", HeaderValue::from_static("msg_other"));
    assert_eq!(
        check(Provider::StandardWebhooks, &moved, body, 1_614_265_330, &[&key]),
        Err(AuthError::InvalidSignature)
    );
}

#[test]
fn shopify_example() {
    let h = headers(&[("x-shopify-hmac-sha256", "plW8VGqq0nDMIEhDqaNNW99asdUCy7EIqLZVcQwtAZ0=")]);
    assert_eq!(check(Provider::Shopify, &h, br#"{"id":1}"#, 0, &[b"shop-secret"]), Ok(()));
    assert_eq!(check(Provider::Shopify, &h, br#"{"id":2}"#, 0, &[b"shop-secret"]), Err(AuthError::InvalidSignature));
}

#[test]
fn every_provider_round_trips_and_rejects_tampering() {
    let (old, new): (&[u8], &[u8]) = (b"0123456789abcdef0123456789abcdef", b"fedcba9876543210fedcba9876543210");
    for provider in Provider::ALL {
        let now = 1_700_000_000;
        let signed = sign(provider, &[new], b"{\"ok\":true}", now, "msg_1");
        let pairs: Vec<(&str, &str)> = signed.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let h = headers(&pairs);
        assert_eq!(check(provider, &h, b"{\"ok\":true}", now, &[old, new]), Ok(()), "{provider:?}");
        assert_eq!(check(provider, &h, b"{\"ok\":false}", now, &[old, new]), Err(AuthError::InvalidSignature));
        assert_eq!(check(provider, &h, b"{\"ok\":true}", now, &[old]), Err(AuthError::InvalidSignature));
        let missing = check(provider, &HeaderMap::new(), b"", now, &[new]);
        assert!(matches!(missing, Err(AuthError::MissingCredentials(_))), "{missing:?}");
    }
}

#[test]
fn stripe_accepts_any_v1_and_signs_with_every_secret() {
    let (old, new): (&[u8], &[u8]) = (b"whsec_old_0123456789abcdef0123456", b"whsec_new_0123456789abcdef0123456");
    let signed = sign(Provider::Stripe, &[old, new], b"{}", 1_700_000_000, "");
    let header = &signed[0].1;
    assert!(header.starts_with("t=1700000000,v1=") && header.matches(",v1=").count() == 2, "{header}");
    let h = headers(&[("stripe-signature", header)]);
    // A receiver that already moved to the new secret, or still has the old one.
    assert_eq!(check(Provider::Stripe, &h, b"{}", 1_700_000_000, &[new]), Ok(()));
    assert_eq!(check(Provider::Stripe, &h, b"{}", 1_700_000_000, &[old]), Ok(()));
    let no_v1 = headers(&[("stripe-signature", "t=1700000000,v0=abcd")]);
    assert!(matches!(check(Provider::Stripe, &no_v1, b"{}", 1_700_000_000, &[new]), Err(AuthError::Malformed(_))));
}

#[test]
fn replay_ids_are_what_the_mac_covers_not_header_text() {
    let scheme =
        Webhook { provider: Provider::Github, window: Window::symmetric(300), replay_ttl: Duration::from_secs(3600) };
    let key = |scheme: &Webhook, pairs: &[(&str, &str)], body: &[u8], now: i64| {
        let id = scheme.replay_id(&scheme.parse(&view(&headers(pairs)), body, now, &|_| None).unwrap()).unwrap();
        (id.id, id.ttl_secs)
    };
    // X-GitHub-Delivery is not signed: changing it must not make a new key.
    let (id, ttl) = key(&scheme, &[("x-hub-signature-256", "sha256=00"), ("x-github-delivery", "72d3162e")], b"{}", 0);
    assert!(id.starts_with("github:content:"), "{id}");
    assert_eq!(ttl, 3600);
    let other_id = key(&scheme, &[("x-hub-signature-256", "sha256=00"), ("x-github-delivery", "other")], b"{}", 0);
    assert_eq!(other_id.0, id);
    assert_ne!(key(&scheme, &[("x-hub-signature-256", "sha256=00")], b"{ }", 0).0, id, "another body");
    // Slack: the same signature spelled in upper-case hex is the same delivery.
    let slack = Webhook { provider: Provider::Slack, ..scheme };
    let lower = key(&slack, &[("x-slack-signature", "v0=ab"), ("x-slack-request-timestamp", "100")], b"x", 100);
    let upper = key(&slack, &[("x-slack-signature", "v0=AB"), ("x-slack-request-timestamp", "100")], b"x", 100);
    assert_eq!(lower, upper);
    assert!(lower.0.starts_with("slack:content:") && lower.1 == 301, "{lower:?}");
    // Checked later, it is kept only for the rest of its window.
    let later = key(&slack, &[("x-slack-signature", "v0=ab"), ("x-slack-request-timestamp", "100")], b"x", 350);
    assert_eq!(later.1, 51);
    // Stripe: an extra v0 (or v1) entry does not make a new key.
    let stripe = Webhook { provider: Provider::Stripe, ..scheme };
    let plain = key(&stripe, &[("stripe-signature", "t=100,v1=ab")], b"x", 100);
    let padded = key(&stripe, &[("stripe-signature", "t=100,v1=ab,v0=ff,v1=cd")], b"x", 100);
    assert_eq!(plain, padded);
    // Standard Webhooks signs its id: that is the key, as the spec intends.
    let sw = Webhook { provider: Provider::StandardWebhooks, ..scheme };
    let pairs = [("webhook-signature", "v1,AAAA"), ("webhook-id", "msg_1"), ("webhook-timestamp", "100")];
    assert_eq!(key(&sw, &pairs, b"x", 100).0, "standard-webhooks:id:msg_1");
}

#[test]
fn signature_lists_are_capped_at_64() {
    let secret: &[u8] = b"whsec_cap";
    let signed = sign(Provider::Stripe, &[secret], b"{}", 1_700_000_000, "");
    let valid = signed[0].1.split_once(",v1=").unwrap().1.to_owned();
    // 63 wrong entries and the right one last still verify; one more is refused.
    let stripe = |wrong: usize| {
        let junk: String = (0..wrong).map(|_| format!(",v1={}", "0".repeat(64))).collect();
        headers(&[("stripe-signature", &format!("t=1700000000{junk},v1={valid}"))])
    };
    assert_eq!(check(Provider::Stripe, &stripe(63), b"{}", 1_700_000_000, &[secret]), Ok(()));
    assert_eq!(
        check(Provider::Stripe, &stripe(64), b"{}", 1_700_000_000, &[secret]),
        Err(AuthError::Malformed("Stripe-Signature has more than 64 v1 signatures".into()))
    );
    let v1 = format!("v1,{}", B64.encode([0u8; 32]));
    let standard = |n: usize| vec![v1.as_str(); n].join(" ");
    assert_eq!(parse_standard_signatures(&standard(64)).map(|s| s.len()), Ok(64));
    assert_eq!(
        parse_standard_signatures(&standard(65)),
        Err(AuthError::Malformed("webhook-signature has more than 64 v1 signatures".into()))
    );
    // Other versions are skipped, not counted.
    assert_eq!(parse_standard_signatures(&format!("{} v1a,xyz", standard(64))).map(|s| s.len()), Ok(64));
}

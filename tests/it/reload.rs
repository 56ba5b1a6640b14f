//! Hot reload: key rotation, bad configs, referenced files, listeners
//! opened and closed, requests and connections that live across a reload,
//! and the running binary reloading on SIGHUP and on file changes.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;
use hmac_gateway::config::ConfigError;
use hmac_gateway::server::{self, ReloadError, RunningGateway};
use http::StatusCode;

/// A fresh directory under Cargo's per-test scratch space.
pub fn scratch(tag: &str) -> PathBuf {
    let nonce = hmac_gateway::testing::fresh_nonce().unwrap().replace(['-', '_'], "x");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("reload-{tag}-{nonce}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A verify gateway whose consumer `site-b` holds the keys `keyids` (each
/// `site-b-N` reads its secret from the file `key-N.b64`), with one verify
/// route on each of `listeners`.
fn config(upstream: SocketAddr, keyids: &[u32], listeners: &[&str]) -> String {
    let keys: Vec<String> = keyids.iter().map(|n| format!("{{ keyid: site-b-{n}, secret: key-{n} }}")).collect();
    let mut out = String::from("listeners:\n");
    for name in listeners {
        out.push_str(&format!("  - {{ name: {name}, bind: \"127.0.0.1:0\" }}\n"));
    }
    out.push_str(&format!(
        r#"admin: {{ bind: "127.0.0.1:0" }}
secrets:
  key-1: {{ file: key-1.b64, encoding: base64 }}
  key-2: {{ file: key-2.b64, encoding: base64 }}
consumers:
  - id: site-b
    keys: [{}]
routes:
"#,
        keys.join(", ")
    ));
    for name in listeners {
        out.push_str(&format!(
            "  - name: api-{name}\n    listener: {name}\n    match: {{ path_prefix: /_functions/ }}\n    \
             verify: {{ scheme: rfc9421, consumers: [site-b], max_age: 300 }}\n    upstream: \"http://{upstream}\"\n"
        ));
    }
    out
}

fn write_keys(dir: &Path) {
    std::fs::write(dir.join("key-1.b64"), KEY_B64).unwrap();
    std::fs::write(dir.join("key-2.b64"), OTHER_KEY_B64).unwrap();
}

async fn start(dir: &Path, yaml: &str) -> RunningGateway {
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    server::start(hmac_gateway::config::Loaded::load(&path).unwrap()).await.unwrap()
}

async fn rewrite_and_reload(gw: &RunningGateway, dir: &Path, yaml: &str) -> Result<u64, ReloadError> {
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    gw.reload_file(&path).await
}

/// Status of a GET signed with key `n` (`site-b-n`).
async fn status_with_key(addr: SocketAddr, n: u32) -> StatusCode {
    let mut req = Req::get(addr, "/_functions/ping");
    let key_b64 = if n == 1 { KEY_B64 } else { OTHER_KEY_B64 };
    sign(&mut req, &SignOpts { keyid: format!("site-b-{n}"), key_b64, ..SignOpts::default() });
    send(addr, &req).await.status
}

async fn metrics(gw: &RunningGateway) -> String {
    let admin = gw.addr("admin").unwrap();
    String::from_utf8(send(admin, &Req::get(admin, "/metrics")).await.body.to_vec()).unwrap()
}

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[tokio::test]
async fn keys_rotate_with_an_overlap_and_no_restart() {
    let upstream = Upstream::start().await;
    let dir = scratch("rotate");
    write_keys(&dir);
    let gw = start(&dir, &config(upstream.addr, &[1], &["ingress"])).await;
    let addr = gw.addr("ingress").unwrap();
    assert_eq!(
        (status_with_key(addr, 1).await, status_with_key(addr, 2).await),
        (StatusCode::OK, StatusCode::UNAUTHORIZED)
    );

    assert_eq!(rewrite_and_reload(&gw, &dir, &config(upstream.addr, &[1, 2], &["ingress"])).await.unwrap(), 2);
    assert_eq!(gw.addr("ingress"), Some(addr), "a kept listener keeps its socket");
    assert_eq!((status_with_key(addr, 1).await, status_with_key(addr, 2).await), (StatusCode::OK, StatusCode::OK));

    assert_eq!(rewrite_and_reload(&gw, &dir, &config(upstream.addr, &[2], &["ingress"])).await.unwrap(), 3);
    assert_eq!(
        (status_with_key(addr, 1).await, status_with_key(addr, 2).await),
        (StatusCode::UNAUTHORIZED, StatusCode::OK)
    );
    let text = metrics(&gw).await;
    assert!(has_line(&text, "hmacgw_config_generation 3"), "{text}");
    assert!(has_line(&text, r#"hmacgw_config_reloads_total{result="success"} 2"#), "{text}");
    assert!(has_line(&text, r#"hmacgw_config_reloads_total{result="failure"} 0"#), "{text}");
    // The replay store outlives generations: nonces from before still count.
    assert!(has_line(&text, "hmacgw_replay_cache_entries 4"), "{text}");
}

#[tokio::test]
async fn a_bad_config_is_rejected_with_its_location_and_the_old_one_keeps_serving() {
    let upstream = Upstream::start().await;
    let dir = scratch("bad");
    write_keys(&dir);
    let gw = start(&dir, &config(upstream.addr, &[1], &["ingress"])).await;
    let addr = gw.addr("ingress").unwrap();
    let broken = config(upstream.addr, &[1], &["ingress"]).replace("consumers: [site-b]", "consumers: [site-x]");
    let err = rewrite_and_reload(&gw, &dir, &broken).await.unwrap_err();
    let ReloadError::Config(ConfigError::Invalid(problems)) = &err else { panic!("{err}") };
    let expected_line = broken.lines().position(|l| l.contains("site-x")).unwrap() as u64 + 1;
    assert_eq!(problems[0].line, expected_line, "{err}");
    assert!(err.to_string().contains("gateway.yaml:") && err.to_string().contains("site-x"), "{err}");

    // A secret file that no longer holds a usable key is refused the same way.
    std::fs::write(dir.join("key-1.b64"), "c2hvcnQ=").unwrap();
    let err = rewrite_and_reload(&gw, &dir, &config(upstream.addr, &[1], &["ingress"])).await.unwrap_err();
    assert!(err.to_string().contains("at least 32 bytes"), "{err}");

    assert_eq!(gw.generation(), 1);
    assert_eq!(status_with_key(addr, 1).await, StatusCode::OK, "the old generation stopped serving");
    let text = metrics(&gw).await;
    assert!(has_line(&text, r#"hmacgw_config_reloads_total{result="failure"} 2"#), "{text}");
    assert!(has_line(&text, "hmacgw_config_generation 1"), "{text}");
}

#[tokio::test]
async fn a_changed_secret_file_takes_effect_on_reload() {
    let upstream = Upstream::start().await;
    let dir = scratch("secret");
    write_keys(&dir);
    let gw = start(&dir, &config(upstream.addr, &[1], &["ingress"])).await;
    let addr = gw.addr("ingress").unwrap();
    assert_eq!(status_with_key(addr, 1).await, StatusCode::OK);
    // Same keyid, new key material: sign as `site-b-1` with the other key.
    std::fs::write(dir.join("key-1.b64"), OTHER_KEY_B64).unwrap();
    assert!(gw.current().config.files.contains(&dir.join("key-1.b64")), "the watcher must know the file");
    gw.reload_file(&dir.join("gateway.yaml")).await.unwrap();
    let mut req = Req::get(addr, "/_functions/ping");
    sign(&mut req, &SignOpts { key_b64: OTHER_KEY_B64, ..SignOpts::default() });
    assert_eq!(send(addr, &req).await.status, StatusCode::OK);
    assert_eq!(status_with_key(addr, 1).await, StatusCode::UNAUTHORIZED, "the old key material still verifies");
}

#[tokio::test]
async fn listeners_are_opened_and_closed_by_reload() {
    let upstream = Upstream::start().await;
    let dir = scratch("listeners");
    write_keys(&dir);
    let gw = start(&dir, &config(upstream.addr, &[1], &["ingress"])).await;
    let first = gw.addr("ingress").unwrap();
    assert!(gw.addr("second").is_none());

    rewrite_and_reload(&gw, &dir, &config(upstream.addr, &[1], &["ingress", "second"])).await.unwrap();
    let second = gw.addr("second").expect("the new listener is open");
    assert_eq!(gw.addr("ingress"), Some(first));
    assert_eq!(status_with_key(second, 1).await, StatusCode::OK);

    rewrite_and_reload(&gw, &dir, &config(upstream.addr, &[1], &["second"])).await.unwrap();
    assert_eq!(gw.addr("second"), Some(second), "the kept listener moved position but kept its socket");
    assert!(gw.addr("ingress").is_none());
    assert_eq!(status_with_key(second, 1).await, StatusCode::OK);
    let refused = async {
        while tokio::net::TcpStream::connect(first).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), refused).await.expect("the removed listener still accepts");
}

/// A keep-alive HTTP/1.1 connection the test controls.
async fn connection(addr: SocketAddr) -> hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
    tokio::spawn(conn);
    sender
}

fn hyper_request(req: &Req) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    let mut request = http::Request::builder()
        .method(req.method.clone())
        .uri(req.target())
        .body(http_body_util::Full::new(req.body.clone()))
        .unwrap();
    *request.headers_mut() = req.headers.clone();
    request.headers_mut().insert("host", req.authority.parse().unwrap());
    request
}

#[tokio::test]
async fn requests_in_flight_finish_and_open_connections_get_the_new_rules() {
    let slow = Upstream::start_with_delay(Duration::from_millis(600)).await;
    let dir = scratch("inflight");
    write_keys(&dir);
    let gw = start(&dir, &config(slow.addr, &[1], &["ingress", "second"])).await;
    let (addr, second) = (gw.addr("ingress").unwrap(), gw.addr("second").unwrap());
    let mut kept = connection(addr).await;
    let mut closing = connection(second).await;
    let in_flight = kept.send_request(hyper_request(&signed(Req::get(addr, "/_functions/slow"))));
    let on_removed = closing.send_request(hyper_request(&signed(Req::get(second, "/_functions/slow"))));
    let reload = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Rotate to key 2 only and drop the second listener mid-request.
        rewrite_and_reload(&gw, &dir, &config(slow.addr, &[2], &["ingress"])).await.unwrap()
    };
    let (a, b, generation) = tokio::join!(in_flight, on_removed, reload);
    assert_eq!(generation, 2);
    assert_eq!(a.unwrap().status(), StatusCode::OK, "a request in flight was cut by the reload");
    assert_eq!(b.unwrap().status(), StatusCode::OK, "a request on a removed listener was cut");

    // The same keep-alive connection now follows the new generation.
    let mut old_key = Req::get(addr, "/_functions/after");
    sign(&mut old_key, &SignOpts::default());
    assert_eq!(kept.send_request(hyper_request(&old_key)).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let mut new_key = Req::get(addr, "/_functions/after");
    sign(&mut new_key, &SignOpts { keyid: "site-b-2".into(), key_b64: OTHER_KEY_B64, ..SignOpts::default() });
    assert_eq!(kept.send_request(hyper_request(&new_key)).await.unwrap().status(), StatusCode::OK);
    // The removed listener's connection is closed once its request is done.
    let closed = async {
        while !closing.is_closed() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), closed).await.expect("connection left open");
}

#[tokio::test]
async fn a_renamed_listener_keeps_serving_the_connections_it_had() {
    let upstream = Upstream::start().await;
    let dir = scratch("rename");
    write_keys(&dir);
    let gw = start(&dir, &config(upstream.addr, &[1], &["main"])).await;
    let addr = gw.addr("main").unwrap();
    let mut kept = connection(addr).await;
    let first = kept.send_request(hyper_request(&signed(Req::get(addr, "/_functions/before")))).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);

    // Same bind, new name (and routes that name it): the socket stays open.
    rewrite_and_reload(&gw, &dir, &config(upstream.addr, &[1], &["front"])).await.unwrap();
    assert_eq!(gw.addr("front"), Some(addr));
    // The connection opened before the reload is served by the renamed
    // listener's routes, as a new one is.
    let after = kept.send_request(hyper_request(&signed(Req::get(addr, "/_functions/after")))).await.unwrap();
    assert_eq!(after.status(), StatusCode::OK, "the old connection lost its listener");
    assert_eq!(status_with_key(addr, 1).await, StatusCode::OK);
}

#[tokio::test]
async fn a_sign_route_switches_to_the_new_key_on_reload() {
    let upstream = Upstream::start().await;
    let dir = scratch("sign");
    write_keys(&dir);
    let sign_yaml = |keyid: u32| {
        format!(
            "listeners: [{{ name: egress, bind: \"127.0.0.1:0\" }}]\nsecrets:\n  key-1: {{ file: key-1.b64, encoding: \
             base64 }}\n  key-2: {{ file: key-2.b64, encoding: base64 }}\nroutes:\n  - name: out\n    listener: \
             egress\n    sign: {{ scheme: rfc9421, keyid: site-b-{keyid}, secret: key-{keyid} }}\n    upstream: \
             \"http://{}\"\n",
            upstream.addr
        )
    };
    let gw = start(&dir, &sign_yaml(1)).await;
    let addr = gw.addr("egress").unwrap();
    let keyid_sent = |upstream: &Upstream| {
        let input = upstream.last().headers["signature-input"].to_str().unwrap().to_owned();
        input.split("keyid=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
    };
    assert_eq!(send(addr, &Req::get(addr, "/x")).await.status, StatusCode::OK);
    assert_eq!(keyid_sent(&upstream), "site-b-1");
    rewrite_and_reload(&gw, &dir, &sign_yaml(2)).await.unwrap();
    assert_eq!(send(addr, &Req::get(addr, "/x")).await.status, StatusCode::OK);
    assert_eq!(keyid_sent(&upstream), "site-b-2");
}

/// Lays out `dir` like a Kubernetes ConfigMap volume: the files live in a
/// versioned directory reached through the `..data` symlink.
fn publish_version(dir: &Path, version: &str, yaml: &str) {
    let versioned = dir.join(version);
    std::fs::create_dir_all(&versioned).unwrap();
    std::fs::write(versioned.join("gateway.yaml"), yaml).unwrap();
    std::fs::write(versioned.join("key-1.b64"), KEY_B64).unwrap();
    std::fs::write(versioned.join("key-2.b64"), OTHER_KEY_B64).unwrap();
    let staging = dir.join("..data_tmp");
    std::os::unix::fs::symlink(version, &staging).unwrap();
    // The atomic swap kubelet performs.
    std::fs::rename(&staging, dir.join("..data")).unwrap();
    for file in ["gateway.yaml", "key-1.b64", "key-2.b64"] {
        let link = dir.join(file);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(Path::new("..data").join(file), &link).unwrap();
        }
    }
}

/// Polls `/metrics` until `line` appears (10 s at most).
async fn wait_for_metric(admin: SocketAddr, line: &str) {
    for _ in 0..200 {
        let text = String::from_utf8(send(admin, &Req::get(admin, "/metrics")).await.body.to_vec()).unwrap();
        if has_line(&text, line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("`{line}` never appeared in /metrics");
}

#[tokio::test]
async fn the_binary_reloads_on_sighup_and_on_a_configmap_swap() {
    use tokio::io::{AsyncBufReadExt as _, BufReader};
    let upstream = Upstream::start().await;
    let dir = scratch("process");
    publish_version(&dir, "..v1", &config(upstream.addr, &[1], &["ingress"]));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hmac-gateway"))
        .args(["run", "--log-format", "json", "--config"])
        .arg(dir.join("gateway.yaml"))
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut addr, mut admin) = (None, None);
    while addr.is_none() || admin.is_none() {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line()).await.unwrap().unwrap().unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        let bound = event["fields"]["addr"].as_str().map(|a| a.parse::<SocketAddr>().unwrap());
        match event["fields"]["message"].as_str() {
            Some("listening") => addr = bound,
            Some("admin listening") => admin = bound,
            _ => {}
        }
    }
    let (addr, admin) = (addr.unwrap(), admin.unwrap());
    let log: std::sync::Arc<std::sync::Mutex<Vec<String>>> = std::sync::Arc::default();
    let sink = log.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    assert_eq!(status_with_key(addr, 2).await, StatusCode::UNAUTHORIZED);

    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap().success());
    wait_for_metric(admin, "hmacgw_config_generation 2").await;

    // No signal: the watch on the mount directory sees the `..data` swap.
    publish_version(&dir, "..v2", &config(upstream.addr, &[2], &["ingress"]));
    wait_for_metric(admin, "hmacgw_config_generation 3").await;
    assert_eq!(
        (status_with_key(addr, 1).await, status_with_key(addr, 2).await),
        (StatusCode::UNAUTHORIZED, StatusCode::OK)
    );

    // A broken edit is refused, logged with file:line:column, and changes nothing.
    let broken = config(upstream.addr, &[2], &["ingress"]).replace("max_age: 300", "max_age: soon");
    std::fs::write(dir.join("..v2").join("gateway.yaml"), &broken).unwrap();
    wait_for_metric(admin, r#"hmacgw_config_reloads_total{result="failure"} 1"#).await;
    let bad_line = broken.lines().position(|l| l.contains("soon")).unwrap() + 1;
    let logged = log.lock().unwrap().join("\n");
    let location = format!("gateway.yaml:{bad_line}:");
    assert!(logged.contains(&location) && logged.contains("reload rejected"), "no `{location}` in:\n{logged}");
    assert!(!logged.contains(KEY_B64) && !logged.contains(OTHER_KEY_B64), "a secret reached the log");
    assert_eq!(status_with_key(addr, 2).await, StatusCode::OK);
    wait_for_metric(admin, "hmacgw_config_generation 3").await;

    // Only a referenced secret file changes (the config is fixed first): the
    // watcher reloads and `site-b-2` now verifies with the new key material.
    std::fs::write(dir.join("..v2").join("gateway.yaml"), config(upstream.addr, &[2], &["ingress"])).unwrap();
    wait_for_metric(admin, "hmacgw_config_generation 4").await;
    std::fs::write(dir.join("..v2").join("key-2.b64"), KEY_B64).unwrap();
    wait_for_metric(admin, "hmacgw_config_generation 5").await;
    let mut req = Req::get(addr, "/_functions/ping");
    sign(&mut req, &SignOpts { keyid: "site-b-2".into(), key_b64: KEY_B64, ..SignOpts::default() });
    assert_eq!(send(addr, &req).await.status, StatusCode::OK, "the rewritten secret file was not picked up");
    assert_eq!(status_with_key(addr, 2).await, StatusCode::UNAUTHORIZED);

    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "exit status {status}");
    let _ = std::fs::remove_dir_all(&dir);
}

//! Real `redis-server` processes started by the tests: single servers (plain,
//! TLS, with ACL users) and a Redis Cluster made with `redis-cli --cluster
//! create`. Loopback ports outside the ephemeral range, every wait bounded, each process
//! killed and its directory removed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tls::{Pki, temp_dir};

/// Fails the test unless `redis-server` and `redis-cli` can run.
pub fn require_redis() {
    let runs = |bin: &str| Command::new(bin).arg("--version").output().is_ok_and(|o| o.status.success());
    super::require_peer(
        runs("redis-server") && runs("redis-cli"),
        "redis-server and redis-cli (apt-get install redis-server)",
    );
}

/// A loopback port for a redis-server, which must be told its port.
pub fn free_port() -> u16 {
    super::ports::unused_port()
}

/// One `redis-server`, restartable on the same port, directory and options.
pub struct RedisServer {
    pub port: u16,
    pub dir: PathBuf,
    args: Vec<String>,
    /// What redis-cli needs to reach it (`--tls --cacert ...` for TLS).
    cli_args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server listening on `port` (plain or TLS, as `args` say),
    /// its files in `dir`, and waits (10 s at most) until it accepts.
    pub fn start(port: u16, dir: &Path, args: Vec<String>) -> Self {
        let mut server = Self { port, dir: dir.to_owned(), args, cli_args: Vec::new(), child: None };
        server.restart();
        server
    }

    /// A plain server on a fresh port with `extra` options.
    pub fn plain(tag: &str, extra: &[&str]) -> Self {
        let port = free_port();
        let mut args = vec!["--port".to_owned(), port.to_string()];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        Self::start(port, &temp_dir(tag).keep(), args)
    }

    /// (Re)starts the process with the options it was created with.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .args(&self.args)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on {}: see {:?}", self.port, self.dir);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process (as a crash would) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `redis-cli -p PORT ARGS` (over TLS when the server is), its output trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let mut all: Vec<&str> = self.cli_args.iter().map(String::as_str).collect();
        all.extend(args);
        cli(self.port, &all)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `redis-cli -p PORT ARGS`, bounded by its own timeout; stdout trimmed.
pub fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["10", "redis-cli", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The password of the cluster's `gateway` ACL user.
pub const CLUSTER_PASSWORD: &str = "cluster-Pa55-for-tests";

/// A Redis Cluster of `n` primaries without replicas, on loopback.
pub struct Cluster {
    pub nodes: Vec<RedisServer>,
    tls: bool,
}

impl Cluster {
    /// Starts the nodes, joins them with `redis-cli --cluster create` and
    /// waits until every node reports `cluster_state:ok`. A node down
    /// fails only the keys of its own slots (`cluster-require-full-coverage
    /// no`), and is marked failed after one second.
    pub fn start(n: usize) -> Self {
        Self::start_on(&(0..n).map(|_| free_port()).collect::<Vec<_>>())
    }

    /// [`Cluster::start`] on given ports, one node each.
    pub fn start_on(ports: &[u16]) -> Self {
        Self::create(ports, None)
    }

    /// [`Cluster::start`] over TLS only (clients and the cluster bus), with
    /// `pki`'s certificate on every node.
    pub fn start_tls(n: usize, pki: &Pki) -> Self {
        Self::create(&(0..n).map(|_| free_port()).collect::<Vec<_>>(), Some(pki))
    }

    fn create(ports: &[u16], tls: Option<&Pki>) -> Self {
        let nodes: Vec<RedisServer> = ports.iter().enumerate().map(|(i, &port)| Self::node(i, port, tls)).collect();
        let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let mut args: Vec<&str> = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let created = nodes[0].cli(&args);
        assert!(created.contains("All 16384 slots covered"), "cluster create: {created}");
        let cluster = Self { nodes, tls: tls.is_some() };
        cluster.wait_until_ok();
        cluster
    }

    fn node(i: usize, port: u16, tls: Option<&Pki>) -> RedisServer {
        let listen = match tls {
            None => vec!["--port".to_owned(), port.to_string()],
            Some(pki) => [
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cluster",
                "yes",
                "--tls-cert-file",
                &pki.cert_pem.display().to_string(),
                "--tls-key-file",
                &pki.key_pem.display().to_string(),
                "--tls-ca-cert-file",
                &pki.ca_pem.display().to_string(),
                "--tls-auth-clients",
                "no",
            ]
            .map(str::to_owned)
            .to_vec(),
        };
        let cluster = [
            "--cluster-enabled",
            "yes",
            "--cluster-port",
            &free_port().to_string(),
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "1000",
            "--cluster-require-full-coverage",
            "no",
            // The gateway's ACL user, with the commands a cluster client
            // needs (docs/guides/managed-redis.md); `default` stays open for redis-cli.
            "--user",
            "gateway",
            "on",
            &format!(">{CLUSTER_PASSWORD}"),
            "~hmacgw-test:*",
            "+set",
            "+del",
            "+ping",
            "+cluster|slots",
            "+asking",
        ];
        let args = listen.into_iter().chain(cluster.map(str::to_owned)).collect();
        let mut server = RedisServer::start(port, &temp_dir(&format!("cluster{i}")).keep(), args);
        if let Some(pki) = tls {
            server.cli_args = vec!["--tls".into(), "--cacert".into(), pki.ca_pem.display().to_string()];
        }
        server
    }

    /// The URLs the gateway is given.
    pub fn urls(&self) -> Vec<String> {
        let scheme = if self.tls { "rediss" } else { "redis" };
        self.nodes.iter().map(|n| format!("{scheme}://127.0.0.1:{}", n.port)).collect()
    }

    /// Waits (20 s at most) until every running node sees the cluster whole.
    pub fn wait_until_ok(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            while !node.cli(&["cluster", "info"]).contains("cluster_state:ok") {
                assert!(Instant::now() < deadline, "the cluster did not become ok");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// How many keys matching `pattern` each node holds.
    pub fn keys_per_node(&self, pattern: &str) -> Vec<usize> {
        self.nodes.iter().map(|n| n.cli(&["--scan", "--pattern", pattern]).lines().count()).collect()
    }
}

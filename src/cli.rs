//! Command line: `run`, `check`, `keygen`, `sign`, `schema`, `explain`. The edge of the program,
//! so errors here are `anyhow`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use base64::Engine as _;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Action, Config, ConfigError, Loaded, Upstream};

mod explain;
mod sign;
mod summary;

#[derive(Debug, Parser)]
#[command(name = "hmac-gateway", version, about = "Reverse proxy that verifies and signs HMAC HTTP message signatures")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve until SIGINT/SIGTERM, then drain and exit. SIGHUP, or a change
    /// to the config or a file it references, reloads.
    Run {
        /// The config file (YAML; `hmac-gateway schema` prints its JSON Schema).
        #[arg(long, default_value = "gateway.yaml")]
        config: PathBuf,
        /// `pretty` for people, `json` (one object per line) for log collectors.
        #[arg(long, value_enum, default_value_t = LogFormat::Pretty)]
        log_format: LogFormat,
    },
    /// Validate a config file and print a summary: exit 1 with every
    /// problem as `FILE:LINE:COLUMN: message`, exit 0 when it would load.
    Check {
        /// The config file to validate (secrets are resolved, never printed).
        #[arg(long, default_value = "gateway.yaml")]
        config: PathBuf,
    },
    /// Print a fresh random key, base64, on stdout (and, on stderr, how to
    /// use it in gateway.yaml: with `encoding: base64`).
    Keygen {
        /// Length of the key in bytes (at least 32).
        #[arg(long, default_value_t = 64)]
        bytes: usize,
    },
    /// Print the headers a sign route would add to a request.
    Sign(sign::SignArgs),
    /// Print the JSON Schema of the config file, for editors and CI.
    Schema,
    /// Why the gateway would refuse a request: its checks, step by step, and
    /// the text the signature had to cover. Exit 0: accepted, 1: refused,
    /// 2: bad usage or unreadable request.
    Explain(explain::ExplainArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per event (the access log is target `hmac_gateway::access`).
    Json,
}

/// Runs the command line (`run`, `check`, `keygen`, `sign`, `schema`, `explain`) and returns the
/// exit code: failure after printing the error to stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config, log_format } => run(&config, log_format),
        Command::Check { config } => return check(&config),
        Command::Keygen { bytes } => keygen(bytes),
        Command::Sign(args) => sign::run(&args),
        Command::Schema => {
            print!("{}", crate::config::raw::gateway_schema());
            Ok(())
        }
        Command::Explain(args) => return explain::main(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes on one line, each said once: several of the
/// gateway's errors name their cause in their own message, which anyhow's
/// `{:#}` would print again.
fn chain(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.ends_with(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// Loads a config or prints each problem as `PATH:LINE:COL: message`.
fn load(path: &Path) -> anyhow::Result<Loaded> {
    Loaded::load(path).map_err(|e| match e {
        ConfigError::Invalid(problems) => {
            for p in &problems {
                eprintln!("{p}");
            }
            anyhow::anyhow!("{} has {} problem(s)", path.display(), problems.len())
        }
        other => anyhow::Error::new(other),
    })
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi);
    match format {
        LogFormat::Pretty => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn run(path: &Path, log_format: LogFormat) -> anyhow::Result<()> {
    init_logging(log_format);
    let loaded = load(path)?;
    for warning in &loaded.config.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut triggers = crate::reload::Triggers::new(path, &loaded.config.files)?;
        let running = crate::server::start(loaded).await?;
        serve_until_signal(path, &running, &mut triggers).await?;
        tracing::info!("shutting down: draining in-flight requests");
        running.shutdown().await;
        tracing::info!("stopped");
        Ok(())
    })
}

/// Reloads on SIGHUP or a file change until SIGINT/SIGTERM.
async fn serve_until_signal(
    path: &Path,
    running: &crate::server::RunningGateway,
    triggers: &mut crate::reload::Triggers,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    loop {
        let trigger = tokio::select! {
            r = tokio::signal::ctrl_c() => return r.context("cannot listen for SIGINT"),
            _ = term.recv() => return Ok(()),
            trigger = triggers.next() => trigger,
        };
        tracing::info!(?trigger, config = %path.display(), "reloading configuration");
        match running.reload_file(path).await {
            Ok(_) => {
                let generation = running.current();
                for warning in &generation.config.warnings {
                    tracing::warn!("{warning}");
                }
                triggers.track(&generation.config.files);
            }
            Err(e) => log_rejected_reload(&e, running.generation()),
        }
    }
}

fn log_rejected_reload(error: &crate::server::ReloadError, kept: u64) {
    use crate::server::ReloadError;
    match error {
        ReloadError::Config(ConfigError::Invalid(problems)) => {
            for problem in problems {
                tracing::error!(%problem, "invalid configuration");
            }
            tracing::error!(generation = kept, "reload rejected; the running configuration stays");
        }
        other => tracing::error!(error = %other, generation = kept, "reload rejected; the running configuration stays"),
    }
}

fn check(path: &Path) -> ExitCode {
    match load(path) {
        Ok(loaded) => {
            print!("{}", summary::render(path, &loaded));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

fn keygen(bytes: usize) -> anyhow::Result<()> {
    if bytes < crate::config::secret::MIN_KEY_BYTES {
        bail!("keys shorter than {} bytes are refused by the gateway", crate::config::secret::MIN_KEY_BYTES);
    }
    let mut key = zeroize::Zeroizing::new(vec![0u8; bytes]);
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    println!("{}", base64::engine::general_purpose::STANDARD.encode(&*key));
    // On stderr, so `KEY=$(hmac-gateway keygen)` takes the key alone.
    eprintln!(
        "# A {bytes}-byte key, base64. The gateway must decode it, so its secret says `encoding: base64`:\n\
         #   secrets:\n\
         #     my-key: {{ env: MY_KEY, encoding: base64 }}     # or file: my-key.b64, or value: \"...\" (a demo only)\n\
         # Clients that sign with it decode it from base64 too."
    );
    Ok(())
}

/// Describes where a route sends requests.
fn upstream_label(upstream: &Upstream) -> String {
    match upstream {
        Upstream::Echo => "echo".into(),
        Upstream::Http(up) => {
            let scheme = if up.https { "https" } else { "http" };
            format!("{scheme}://{}{}", up.authority, up.base_path)
        }
    }
}

fn action_label(action: &Action, config: &Config) -> String {
    match action {
        Action::Verify(p) => {
            let replay = if p.replay { "on" } else { "off" };
            let who = match &p.scheme {
                crate::config::VerifyScheme::Webhook(w) => {
                    format!("{} secret(s), as {}", w.secrets.len(), String::from_utf8_lossy(w.consumer_id.as_bytes()))
                }
                _ => {
                    let ids: Vec<&str> = p.consumers.iter().map(|i| config.consumers[*i].id.as_str()).collect();
                    format!("consumers: {}", ids.join(", "))
                }
            };
            let window = match &p.scheme {
                crate::config::VerifyScheme::Rfc9421(r) => Some(r.window),
                crate::config::VerifyScheme::AwsSigV4(s) => Some(s.window),
                crate::config::VerifyScheme::Compat(c) => Some(c.window),
                crate::config::VerifyScheme::Webhook(w) if w.scheme.provider.has_timestamp() => Some(w.scheme.window),
                crate::config::VerifyScheme::Webhook(w) => {
                    let ttl = w.scheme.replay_ttl.as_secs();
                    return format!("verify {} ({who}; replay {replay}, kept {ttl}s)", p.scheme.name());
                }
            };
            let window = window.map_or(String::new(), |w| {
                format!("; max_age {}s, max_ahead {}s", w.max_age.as_secs(), w.max_ahead.as_secs())
            });
            format!("verify {} ({who}{window}; replay {replay})", p.scheme.name())
        }
        Action::Sign(p) if p.keyid.is_empty() => format!("sign {}", p.scheme.name()),
        Action::Sign(p) => format!("sign {} (keyid {})", p.scheme.name(), p.keyid),
    }
}

//! `ocisrv`: an OCI registry server.
//!
//! With no arguments it serves an in-memory registry on 127.0.0.1:5000. `--config FILE` describes
//! the registry as a stack in TOML (see `conformance/stacks/` for examples).

mod auth;
mod config;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use std::sync::Arc;

use ociregistry_filter::{AccessChecker, deny_as_not_found};
use ociregistry_server::auth::AuthLayer;
use ociregistry_server::{AccessLogLayer, RegistryService, serve};
use tower_layer::Layer;

use crate::config::Config;

/// An OCI distribution registry server.
///
/// Serves the OCI distribution API over a stack of registries described by a TOML file; with
/// no configuration, an in-memory registry on 127.0.0.1:5000. Logs one line per request on
/// stderr (set RUST_LOG, e.g. RUST_LOG=warn, to change the level). Stops cleanly on SIGINT or
/// SIGTERM, letting in-flight requests finish.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Address to listen on, HOST:PORT (port 0 picks a free port). Overrides the config file's
    /// `server.addr`. Default 127.0.0.1:5000.
    #[arg(long, value_name = "HOST:PORT", global = true)]
    addr: Option<std::net::SocketAddr>,

    /// TOML file describing the server options and the registry stack. Without it, an
    /// in-memory registry with default options.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,

    /// Serve a durable registry stored in DIR on the local disk (created if missing), instead
    /// of the config file's `[registry]`.
    #[arg(long, value_name = "DIR", global = true)]
    storage: Option<PathBuf>,

    /// Collect garbage inside the server every SECS seconds (needs a durable store: --storage,
    /// or a config whose registry section has type "fs" or "s3"). Overrides the config file's
    /// `gc.interval_secs`. Default: never (run `ocisrv gc` instead).
    #[arg(long, value_name = "SECS")]
    gc_interval_secs: Option<u64>,

    /// With --gc-interval-secs: seconds content must be unreferenced before the server
    /// collects it. Overrides `gc.grace_secs`. Default 3600.
    #[arg(long, value_name = "SECS")]
    gc_grace_secs: Option<u64>,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Collect garbage in a durable store: delete blobs no manifest references and abandoned
    /// uploads, older than the grace period (so pushes in flight are never collected). Safe
    /// while a server is running on the same store.
    Gc {
        /// Seconds content must be unreferenced before it is deleted.
        #[arg(long, default_value_t = 3600)]
        grace_secs: u64,
        /// Report what would be deleted without deleting it.
        #[arg(long)]
        dry_run: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let mut config = match &args.config {
        Some(path) => match Config::load(path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ocisrv: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => Config::default(),
    };
    if let Some(dir) = &args.storage {
        config.registry = config::Stack::Fs(config::FsConfig {
            dir: Some(dir.clone()),
            ..config::FsConfig::default()
        });
    }
    if args.gc_interval_secs.is_some() {
        config.gc.interval_secs = args.gc_interval_secs;
    }
    if args.gc_grace_secs.is_some() {
        config.gc.grace_secs = args.gc_grace_secs;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(config.server.blocking_threads())
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ocisrv: starting the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match args.command {
        Some(Command::Gc {
            grace_secs,
            dry_run,
        }) => runtime.block_on(gc(&config, grace_secs, dry_run)),
        None => runtime.block_on(run(args, config)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ocisrv: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let addr = args.addr.unwrap_or(config.server.addr);
    let registry = match config.gc.interval() {
        None => config.registry.build(&config.base)?,
        Some(every) => {
            // The collector works on the very store the server serves.
            let store = config.registry.durable(&config.base)?;
            spawn_gc(store.clone(), every, config.gc.grace());
            Arc::new(store)
        }
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let serve_config = config.server.serve_config();
    match &config.auth {
        None => {
            let service = RegistryService::with_options(registry, config.server.options());
            announce(local);
            let service = AccessLogLayer.layer(service);
            serve(listener, service, serve_config, shutdown_signal()).await?;
        }
        Some(section) => {
            let (auth, users, rules) = section.build(&config.base, local)?;
            // The auth layer says who is calling; the access checker enforces the rules on
            // every operation, and answers reads of what the caller may not see as missing.
            let checked = AccessChecker::new(registry, deny_as_not_found(rules.clone()));
            let service = RegistryService::with_options(Arc::new(checked), config.server.options());
            let layer = AuthLayer::new(auth, Arc::new(users), Arc::new(rules));
            announce(local);
            let service = AccessLogLayer.layer(layer.layer(service));
            serve(listener, service, serve_config, shutdown_signal()).await?;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

async fn gc(
    config: &Config,
    grace_secs: u64,
    dry_run: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = config.registry.durable(&config.base)?;
    let options = ociregistry_store::GcOptions::default()
        .grace_period(Duration::from_secs(grace_secs))
        .dry_run(dry_run);
    let report = store.collect_garbage(options).await?;
    println!("{report:#?}");
    Ok(())
}

/// Collects garbage in `store` every `every`, in the background, for as long as the server
/// runs (collection is safe while pushes continue; one cut short by shutdown leaves nothing
/// half-done).
fn spawn_gc(store: ociregistry_store::ObjectStoreRegistry, every: Duration, grace: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let options = ociregistry_store::GcOptions::default().grace_period(grace);
            match store.collect_garbage(options).await {
                Ok(r) => tracing::info!(
                    blobs_deleted = r.blobs_deleted,
                    bytes_deleted = r.bytes_deleted,
                    markers_deleted = r.markers_deleted,
                    uploads_deleted = r.uploads_deleted,
                    orphan_parts_deleted = r.orphan_parts_deleted,
                    "garbage collected"
                ),
                Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
            }
        }
    });
}

fn announce(local: std::net::SocketAddr) {
    // Scripts (and `cargo xtask conformance`) read the bound address from this line.
    println!("listening on http://{local}");
    tracing::info!(addr = %local, "serving");
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down");
}

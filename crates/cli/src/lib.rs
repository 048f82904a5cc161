//! The haul command line: argument parsing and the `crawl`, `sites` and `serve` commands.
//!
//! Kept as a library under a thin `main` so that the binary relinks in under a second after a
//! change elsewhere, and so the commands can be tested without spawning processes.

mod args;
mod cluster;
mod crawl;
mod events;
mod fetch;
mod parse;
mod progress;
mod settings;
mod watch;

use std::process::ExitCode;

use clap::Parser;

pub use args::{Cli, Command, EvalCommand, LogFormat};

/// Parses the command line, runs the command, prints errors with their causes, and returns
/// the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "warn,haul_cli=info,haul_watch=info,{}",
            haul_browser::LOG_FILTER
        ))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match cli.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Crawl(args) => crawl::crawl(*args, cli.log_format == LogFormat::Text).await,
        Command::Eval(EvalCommand::Prices { file }) => {
            let report = tokio::task::spawn_blocking(move || haul_price::eval::evaluate_file(file))
                .await??;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Parse(args) => parse::parse(args).await,
        Command::Worker(args) => cluster::worker(*args).await,
        Command::Collect(args) => cluster::collect(args).await,
        Command::Fetch(args) => fetch::fetch(args).await,
        Command::Events(args) => events::list(args).await,
        Command::Watch(args) => watch::watch(*args).await,
        Command::Report(args) => watch::report(args).await,
        Command::Eval(EvalCommand::Pages { dir, tuning }) => {
            let report = tokio::task::spawn_blocking(move || {
                haul_extract::eval::evaluate_corpora(dir, &tuning)
            })
            .await??;
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Sites => {
            let registry = haul_sites::registry()?;
            for reg in registry.iter() {
                let e = reg.extractor;
                let domains = e.domains().join(", ");
                println!(
                    "{:<14} {:<28} {}",
                    e.name(),
                    if domains.is_empty() { "-" } else { &domains },
                    e.description()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            site,
            products,
            script_share,
            port,
            latency_ms,
        } => serve(&site, products, script_share, port, latency_ms).await,
    }
}

/// `haul serve`: one of the bundled test shops on 127.0.0.1 until Ctrl-C.
#[cfg(feature = "serve")]
async fn serve(
    site: &str,
    products: usize,
    script_share: u8,
    port: u16,
    latency_ms: u64,
) -> anyhow::Result<ExitCode> {
    let latency = std::time::Duration::from_millis(latency_ms);
    // The hostile shop redirects to an "internal" service; it gets its own port.
    let mut internal = None;
    let router = match site {
        "hostile" => {
            let server = haul_testkit::TestServer::start(haul_testkit::internal_router())
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1: {e}"))?;
            let url = server.url("/");
            println!("internal service (must get no request) at {url}");
            internal = Some(server);
            haul_testkit::hostile_router(url)
        }
        "demo" => haul_testkit::demo_router(latency),
        "generated" => haul_testkit::generated_router(products, latency),
        "mixed" => haul_testkit::mixed_router(products, script_share.into(), latency),
        "recrawl" => haul_testkit::RecrawlShop::new(haul_testkit::ShopOptions {
            latency,
            ..haul_testkit::ShopOptions::new(products)
        })
        .router(),
        other => anyhow::bail!(
            "haul serve: unknown site {other:?}; choose \"demo\", \"generated\", \"mixed\", \"recrawl\" or \"hostile\""
        ),
    };
    let server = haul_testkit::TestServer::bind(router, port)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on 127.0.0.1:{port}: {e}"))?;
    println!("serving {site} at {}", server.url("/"));
    // Whoever reads the address must get it now, not when the buffer fills.
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c().await?;
    drop(internal);
    Ok(ExitCode::SUCCESS)
}

/// `haul serve` in a build without the `serve` feature: says how to get it.
#[cfg(not(feature = "serve"))]
async fn serve(
    site: &str,
    _products: usize,
    _script_share: u8,
    _port: u16,
    _latency_ms: u64,
) -> anyhow::Result<ExitCode> {
    anyhow::bail!(
        "haul serve {site}: this haul was built without the test shops; rebuild it with \
         `cargo build --release -p haul-cli --features serve` (or run `cargo xtask crawl --demo`)"
    )
}

//! `metadata-api`: the Metaflow metadata service.
//!
//! - On AWS Lambda (detected by `AWS_LAMBDA_RUNTIME_API`): serves API Gateway events over the
//!   DynamoDB table named by `FERRY_METADATA_TABLE` (or `--dynamodb`).
//! - Elsewhere: a plain HTTP server, `metadata-api --listen 127.0.0.1:8080 --sqlite PATH` or
//!   `--dynamodb TABLE` (AWS settings from the environment, e.g. `AWS_ENDPOINT_URL` for moto).
//!
//! The optional API key comes from `--api-key` or `FERRY_METADATA_API_KEY`. The web UI is served
//! at `/ui` on the same router, over the stores `metadata_api::ui` reads from the environment.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use clap::Parser;
use ferry_metadata::Config;
use ferry_spec::task::TableRef;

/// Command line (every option also reads an environment variable, for Lambda).
#[derive(Parser, Debug)]
#[command(
    version,
    about = "The Metaflow metadata service (metaflow-service 2.5.1 wire contract)"
)]
struct Args {
    /// Address to listen on (outside Lambda). Use 127.0.0.1; port 0 picks a free one.
    #[arg(long, env = "FERRY_METADATA_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// SQLite file to store metadata in (created when missing).
    #[arg(long, env = "FERRY_METADATA_SQLITE", conflicts_with = "dynamodb")]
    sqlite: Option<String>,
    /// DynamoDB table to store metadata in (must exist, keys `pk`/`sk` strings).
    #[arg(long, env = "FERRY_METADATA_TABLE")]
    dynamodb: Option<String>,
    /// Require this value in the `x-api-key` header.
    #[arg(long, env = "FERRY_METADATA_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FERRY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let table_ref = match (&args.sqlite, &args.dynamodb) {
        (Some(p), None) => TableRef::Sqlite { path: p.clone() },
        (None, Some(t)) => TableRef::Dynamodb { table: t.clone() },
        _ => bail!("say where to store metadata: --sqlite PATH or --dynamodb TABLE"),
    };
    let table = ferry_store::open_table(&table_ref)
        .await
        .with_context(|| format!("opening the store {table_ref:?}"))?;
    let api_key = args.api_key.filter(|k| !k.is_empty());
    let ui =
        metadata_api::ui::ui_config_from(|k| std::env::var(k).ok(), table.clone(), api_key.clone())
            .await
            .context("configuring the web UI")?;
    let config = Config { table, api_key };
    let app = metadata_api::app(config, ui);

    if std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some() {
        let service = metadata_api::lambda_service(app);
        return lambda_http::run(service)
            .await
            .map_err(|e| anyhow::anyhow!("lambda runtime: {e}"));
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("metadata-api listening on http://{addr} (web UI at http://{addr}/ui/)");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
        .context("serving")?;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

//! Chroma 1.5.9: the Rust server inside the PyPI wheel, run with python3.
//!
//! The lean way: `pip download` the `chromadb` wheel, unpack only
//! `chromadb_rust_bindings/` (a native module that links only libc), and call
//! its `cli(["chroma", "run", ...])`. No venv, no Python dependencies.

use anyhow::{Context, Result, anyhow};
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use xtask::test_servers::Service;

use super::http::{self, Base, Method};
use super::{Ctx, wheel};

const SERVICE: Service = Service::Chroma;
/// The pinned chromadb release.
pub const VERSION: &str = "1.5.9";

/// Downloads and unpacks the wheel once.
pub fn install(ctx: &Ctx) -> Result<()> {
    let log = ctx.install_log(SERVICE);
    let wheel = wheel::fetch(
        &ctx.cache(),
        &format!("chromadb=={VERSION}"),
        &format!("chromadb-{VERSION}-"),
        &[],
        &log,
    )?;
    wheel::unpack(
        &wheel,
        &["chromadb_rust_bindings/*"],
        &install_dir(ctx),
        &log,
    )
}

fn install_dir(ctx: &Ctx) -> std::path::PathBuf {
    ctx.svc_dir(SERVICE).join(format!("chromadb-{VERSION}"))
}

/// The server command, on 127.0.0.1:PORT with its data in the state folder.
pub fn command(ctx: &Ctx) -> Result<Command> {
    let (_, port) = ctx
        .endpoints
        .host_port(SERVICE)
        .map_err(anyhow::Error::msg)?;
    let svc = ctx.svc_dir(SERVICE);
    let mut cmd = Command::new(wheel::python());
    cmd.args([
        "-c",
        "import sys, chromadb_rust_bindings as c; c.cli(['chroma'] + sys.argv[1:])",
        "run",
        "--host",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--path",
    ])
    .arg(svc.join("data"))
    .env("PYTHONPATH", install_dir(ctx))
    .env("PYTHONDONTWRITEBYTECODE", "1")
    .env("ANONYMIZED_TELEMETRY", "False")
    .current_dir(&svc);
    Ok(cmd)
}

/// Ready when `GET /api/v2/heartbeat` answers 200.
pub fn ready(ctx: &Ctx) -> Result<()> {
    let base = Base::parse(&ctx.endpoints.chroma_url)?;
    let agent = http::agent(Duration::from_secs(3));
    http::json(
        &agent,
        Method::Get,
        &base.at("/api/v2/heartbeat"),
        base.auth.as_ref(),
        None,
        &[200],
    )
    .map(|_| ())
}

/// Smoke check: upsert one record into collection `uds3_smoke`, read it back.
pub fn check(ctx: &Ctx, token: &str) -> Result<String> {
    let base = Base::parse(&ctx.endpoints.chroma_url)?;
    let auth = base.auth.as_ref();
    let agent = http::agent(Duration::from_secs(10));
    let collections =
        base.at("/api/v2/tenants/default_tenant/databases/default_database/collections");
    let created = http::json(
        &agent,
        Method::Post,
        &collections,
        auth,
        Some(&json!({"name": "uds3_smoke", "get_or_create": true})),
        &[200, 201],
    )?;
    let id = created["id"]
        .as_str()
        .with_context(|| format!("collection answer has no id: {created}"))?;
    let records = format!("{collections}/{id}");
    http::json(
        &agent,
        Method::Post,
        &format!("{records}/upsert"),
        auth,
        Some(&json!({
            "ids": ["smoke"],
            "embeddings": [[0.5, 1.0, 1.5]],
            "documents": [token],
            "metadatas": [{"source": "cargo xtask services check"}],
        })),
        &[200, 201],
    )?;
    let got = http::json(
        &agent,
        Method::Post,
        &format!("{records}/get"),
        auth,
        Some(&json!({"ids": ["smoke"], "include": ["documents"]})),
        &[200],
    )?;
    match got["documents"][0].as_str() {
        Some(doc) if doc == token => {
            Ok("upserted and read back a record in collection uds3_smoke".into())
        }
        _ => Err(anyhow!("wrote document {token:?}, read {got}")),
    }
}

super::server::managed_server!(Chroma: Service::Chroma, "chroma (Chroma)" {});

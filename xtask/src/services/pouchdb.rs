//! The `couch` service: pouchdb-server 4.2.0, which implements CouchDB's HTTP API.
//!
//! Apache CouchDB is in no registry this project can reach. pouchdb-server is
//! pinned by the committed `xtask/assets/pouchdb/package.json` and
//! `package-lock.json`; they are copied into the state folder and installed
//! there with `npm ci --ignore-scripts` (leveldown loads its bundled prebuilt
//! binary), so `node_modules` never lands in the source tree. npm's own cache
//! lives in the state folder's cache too.

use anyhow::{Context, Result, anyhow, bail};
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use xtask::test_servers::Service;

use super::Ctx;
use super::http::{self, Base, Method};
use super::process::run_logged;

const SERVICE: Service = Service::Couch;
const PACKAGE_JSON: &str = include_str!("../../assets/pouchdb/package.json");
const PACKAGE_LOCK: &str = include_str!("../../assets/pouchdb/package-lock.json");
/// Copy of the lock file that the last successful `npm ci` installed.
const STAMP: &str = ".installed-package-lock.json";

fn npm_dir(ctx: &Ctx) -> PathBuf {
    ctx.svc_dir(SERVICE).join("npm")
}

fn server_js(ctx: &Ctx) -> PathBuf {
    npm_dir(ctx).join("node_modules/pouchdb-server/bin/pouchdb-server")
}

/// Runs `npm ci` once per lock file content.
pub fn install(ctx: &Ctx) -> Result<()> {
    let dir = npm_dir(ctx);
    let stamp = dir.join(STAMP);
    if server_js(ctx).is_file() && fs::read_to_string(&stamp).is_ok_and(|s| s == PACKAGE_LOCK) {
        return Ok(());
    }
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, text: &str| {
        fs::write(dir.join(name), text).with_context(|| format!("cannot write {name}"))
    };
    write("package.json", PACKAGE_JSON)?;
    write("package-lock.json", PACKAGE_LOCK)?;
    let _ = fs::remove_file(&stamp);
    let mut cmd = Command::new("npm");
    cmd.args([
        "ci",
        "--ignore-scripts",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
    ])
    .arg("--cache")
    .arg(ctx.cache().join("npm"))
    .current_dir(&dir);
    eprintln!("[couch] npm ci (pouchdb-server)");
    run_logged(cmd, &ctx.install_log(SERVICE), "npm ci").map_err(anyhow::Error::msg)?;
    write(STAMP, PACKAGE_LOCK)
}

/// The server command, on 127.0.0.1:PORT with its databases on disk.
pub fn command(ctx: &Ctx) -> Result<Command> {
    let (_, port) = ctx
        .endpoints
        .host_port(SERVICE)
        .map_err(anyhow::Error::msg)?;
    let data = ctx.svc_dir(SERVICE).join("data");
    fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let mut cmd = Command::new("node");
    cmd.arg(server_js(ctx))
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .arg("--dir")
        .arg(&data)
        .arg("--config")
        .arg(data.join("config.json"))
        .arg("-n")
        .current_dir(&data);
    Ok(cmd)
}

/// Ready when `GET /` answers 200 with a welcome: CouchDB's `{"couchdb":
/// "Welcome"}`, or pouchdb-server's `{"express-pouchdb": "Welcome!"}`.
pub fn ready(ctx: &Ctx) -> Result<()> {
    let base = Base::parse(&ctx.endpoints.couchdb_url)?;
    let agent = http::agent(Duration::from_secs(3));
    let welcome = http::json(&agent, Method::Get, &base.at("/"), None, None, &[200])?;
    if welcome.get("couchdb").is_some() || welcome.get("express-pouchdb").is_some() {
        Ok(())
    } else {
        Err(anyhow!("GET / answered {welcome}, not a CouchDB welcome"))
    }
}

/// If the URL carries `user:pass`, makes that user a server admin once (while
/// the server is still in "admin party" mode), so basic auth works.
pub fn after_start(ctx: &Ctx) -> Result<()> {
    let base = Base::parse(&ctx.endpoints.couchdb_url)?;
    let Some((user, pass)) = &base.auth else {
        return Ok(());
    };
    let agent = http::agent(Duration::from_secs(10));
    let session = http::json(
        &agent,
        Method::Get,
        &base.at("/_session"),
        base.auth.as_ref(),
        None,
        &[200, 401],
    );
    if session.is_ok_and(|s| s["userCtx"]["name"].as_str() == Some(user.as_str())) {
        return Ok(());
    }
    http::json(
        &agent,
        Method::Put,
        &base.at(&format!("/_config/admins/{user}")),
        None,
        Some(&json!(pass)),
        &[200],
    )
    .map(|_| ())
    .with_context(|| format!("cannot create admin {user:?}"))
}

/// Smoke check: write one document with `_bulk_docs`, read it, delete it.
pub fn check(ctx: &Ctx, token: &str) -> Result<String> {
    let base = Base::parse(&ctx.endpoints.couchdb_url)?;
    let auth = base.auth.as_ref();
    let agent = http::agent(Duration::from_secs(10));
    let db = base.at("/uds3_smoke");
    http::json(&agent, Method::Put, &db, auth, None, &[201, 202, 412])?;
    let id = format!("smoke-{token}");
    let written = http::json(
        &agent,
        Method::Post,
        &format!("{db}/_bulk_docs"),
        auth,
        Some(&json!({"docs": [{"_id": id, "token": token}]})),
        &[201, 202],
    )?;
    let rev = match written[0]["rev"].as_str() {
        Some(rev) if written[0]["ok"] == json!(true) => rev.to_owned(),
        _ => bail!("_bulk_docs answered {written}"),
    };
    let read = http::json(
        &agent,
        Method::Get,
        &format!("{db}/{id}"),
        auth,
        None,
        &[200],
    )?;
    if read["token"].as_str() != Some(token) {
        bail!("wrote token {token:?}, read {read}");
    }
    http::json(
        &agent,
        Method::Delete,
        &format!("{db}/{id}?rev={rev}"),
        auth,
        None,
        &[200, 202],
    )?;
    Ok("wrote (_bulk_docs), read and deleted a document in database uds3_smoke".into())
}

super::server::managed_server!(PouchDb: Service::Couch, "couch (pouchdb-server)" {
    fn after_start(&self, ctx: &Ctx) -> Result<()> {
        after_start(ctx)
    }
});

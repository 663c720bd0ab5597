//! The `neo4j` service: ArcadeDB 26.10.2 with its Bolt plugin, from the PyPI
//! wheel `arcadedb-embedded`, on the JRE bundled in that wheel.
//!
//! Neo4j itself is in no registry this project can reach; ArcadeDB speaks Bolt
//! (3, 4.0, 4.4, 5.0-5.4) and Cypher and needs Java 21+, hence its bundled JRE.
//! Only the jars and the JRE are unpacked; no Python runs. The server needs
//! `arcadedb.server.plugins` naming the Bolt plugin, or Bolt does not start.
//! Bolt accepts connections 1-2 s before the database exists, so readiness is
//! HTTP `GET /api/v1/ready` = 204 first, then `RETURN 1` over Bolt.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use xtask::test_servers::{NEO4J_DATABASE, Service, tcp_reachable};

use xtask::bolt::{Bolt, Value};

use super::http::{self, Method};
use super::{Ctx, wheel};

const SERVICE: Service = Service::Neo4j;
/// The pinned arcadedb-embedded release (ArcadeDB 26.10.2).
pub const VERSION: &str = "26.10.2.post1";
/// Java heap limit: small, this is a test server.
const HEAP: &str = "-Xmx512m";

/// Downloads the wheel once and unpacks its jars and JRE once.
pub fn install(ctx: &Ctx) -> Result<(), String> {
    check_password(ctx)?;
    let log = ctx.install_log(SERVICE);
    let platform = format!("manylinux_2_34_{}", std::env::consts::ARCH);
    let wheel = wheel::fetch(
        &ctx.cache(),
        &format!("arcadedb-embedded=={VERSION}"),
        &format!("arcadedb_embedded-{VERSION}-"),
        &["--python-version", "3.11", "--platform", &platform],
        &log,
    )?;
    wheel::unpack(
        &wheel,
        &["arcadedb_embedded/jars/*", "arcadedb_embedded/jre/*"],
        &install_dir(ctx),
        &log,
    )
}

fn check_password(ctx: &Ctx) -> Result<(), String> {
    if ctx.endpoints.neo4j_password.chars().count() < 8 {
        return Err(
            "ArcadeDB needs a root password of at least 8 characters: set UDS3_NEO4J_PASSWORD"
                .into(),
        );
    }
    if ctx.endpoints.neo4j_user != "root" {
        return Err(format!(
            "the local ArcadeDB has only the user root, not {:?}: unset UDS3_NEO4J_USER",
            ctx.endpoints.neo4j_user
        ));
    }
    Ok(())
}

fn install_dir(ctx: &Ctx) -> PathBuf {
    ctx.svc_dir(SERVICE).join(format!("arcadedb-{VERSION}"))
}

/// The Java command running ArcadeDB's server with the Bolt plugin.
pub fn command(ctx: &Ctx) -> Result<Command, String> {
    check_password(ctx)?;
    let (_, bolt_port) = ctx.endpoints.host_port(SERVICE)?;
    let http_port = ctx.endpoints.arcadedb_http_port;
    let pkg = install_dir(ctx).join("arcadedb_embedded");
    if tcp_reachable("127.0.0.1", http_port, Duration::from_millis(500)) {
        return Err(format!(
            "ArcadeDB's HTTP port {http_port} (UDS3_ARCADEDB_HTTP_PORT) is taken by another process"
        ));
    }
    let run = ctx.svc_dir(SERVICE).join("run");
    std::fs::create_dir_all(&run).map_err(|e| format!("cannot create {}: {e}", run.display()))?;
    reset_root_password_if_changed(ctx, &run)?;
    let mut cmd = Command::new(pkg.join("jre/bin/java"));
    cmd.args([
        "-Xms64m",
        HEAP,
        "--add-modules=jdk.incubator.vector",
        "--add-exports=java.management/sun.management=ALL-UNNAMED",
        "--add-opens=java.base/java.lang=ALL-UNNAMED",
        "--add-opens=java.base/java.nio.channels.spi=ALL-UNNAMED",
        "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
        "-Djava.awt.headless=true",
    ])
    .arg(format!("-Darcadedb.server.rootPath={}", run.display()))
    .arg(format!(
        "-Darcadedb.server.databaseDirectory={}",
        run.join("databases").display()
    ))
    .arg(format!(
        "-Darcadedb.server.rootPassword={}",
        ctx.endpoints.neo4j_password
    ))
    .arg(format!(
        "-Darcadedb.server.defaultDatabases={NEO4J_DATABASE}[root]"
    ))
    .arg("-Darcadedb.server.httpIncomingHost=127.0.0.1")
    .arg(format!("-Darcadedb.server.httpIncomingPort={http_port}"))
    .arg("-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin")
    .arg("-Darcadedb.bolt.host=127.0.0.1")
    .arg(format!("-Darcadedb.bolt.port={bolt_port}"))
    .arg(format!("-Darcadedb.bolt.defaultDatabase={NEO4J_DATABASE}"))
    .arg("-cp")
    .arg(format!("{}/*", pkg.join("jars").display()))
    .arg("com.arcadedb.server.ArcadeDBServer")
    .current_dir(&run);
    Ok(cmd)
}

/// ArcadeDB takes `server.rootPassword` only when it creates
/// `config/server-users.jsonl` (first start) and keeps the stored hash after
/// that. So xtask remembers the password it started with, and when
/// `UDS3_NEO4J_PASSWORD` changes it removes the users file: the next start
/// creates root with the new password. Databases are kept.
fn reset_root_password_if_changed(ctx: &Ctx, run: &Path) -> Result<(), String> {
    let users = run.join("config").join("server-users.jsonl");
    let remembered = ctx.svc_dir(SERVICE).join("root-password");
    let password = &ctx.endpoints.neo4j_password;
    let same = fs::read_to_string(&remembered).is_ok_and(|p| p == *password);
    if !same && users.exists() {
        eprintln!("[neo4j] UDS3_NEO4J_PASSWORD changed: resetting ArcadeDB's root password");
        fs::remove_file(&users).map_err(|e| format!("cannot remove {}: {e}", users.display()))?;
    }
    if !same {
        fs::write(&remembered, password)
            .map_err(|e| format!("cannot write {}: {e}", remembered.display()))?;
        fs::set_permissions(&remembered, fs::Permissions::from_mode(0o600))
            .map_err(|e| format!("cannot chmod {}: {e}", remembered.display()))?;
    }
    Ok(())
}

/// Ready when HTTP `/api/v1/ready` answers 204 and Bolt answers `RETURN 1`.
pub fn ready(ctx: &Ctx) -> Result<(), String> {
    let url = format!(
        "http://127.0.0.1:{}/api/v1/ready",
        ctx.endpoints.arcadedb_http_port
    );
    let agent = http::agent(Duration::from_secs(3));
    let (status, body) = http::request(&agent, Method::Get, &url, None, None)?;
    if status != 204 {
        return Err(format!("GET {url}: HTTP {status} {body}"));
    }
    probe_external(ctx)
}

fn connect(ctx: &Ctx) -> Result<Bolt, String> {
    let (host, port) = ctx.endpoints.host_port(SERVICE)?;
    Bolt::connect(
        &host,
        port,
        &ctx.endpoints.neo4j_user,
        &ctx.endpoints.neo4j_password,
        Duration::from_secs(10),
    )
}

/// Ready check that also suits a real Neo4j: `RETURN 1` over Bolt.
pub fn probe_external(ctx: &Ctx) -> Result<(), String> {
    let mut bolt = connect(ctx)?;
    let rows = bolt.query("RETURN 1 AS one", HashMap::new())?;
    bolt.close();
    match rows.as_slice() {
        [row] if row.first() == Some(&Value::Integer(1)) => Ok(()),
        _ => Err(format!("RETURN 1 answered {rows:?}")),
    }
}

/// Smoke check: MERGE one node over Bolt, then read it back.
pub fn check(ctx: &Ctx, token: &str) -> Result<String, String> {
    let mut bolt = connect(ctx)?;
    let params = HashMap::from([("token".to_owned(), Value::from(token))]);
    bolt.query(
        "MERGE (n:Uds3Smoke {key: 'smoke'}) SET n.token = $token",
        params,
    )?;
    let rows = bolt.query(
        "MATCH (n:Uds3Smoke {key: 'smoke'}) RETURN n.token AS token",
        HashMap::new(),
    )?;
    bolt.close();
    match rows.as_slice() {
        [row] if row.first() == Some(&Value::from(token)) => {
            Ok("merged and read back a node (:Uds3Smoke) over Bolt".into())
        }
        _ => Err(format!("wrote token {token:?}, read {rows:?}")),
    }
}

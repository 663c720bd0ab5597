//! PostgreSQL: Debian's server binaries, a private cluster in the state folder.
//!
//! initdb and the server refuse to run as root, so when xtask runs as root
//! both run as the `postgres` system user (`Command::uid`/`gid`, like
//! `runuser -u postgres`) on a data folder that user owns; every folder above
//! it gets the others' search bit (`o+x`) if it lacks it. The server listens
//! on 127.0.0.1 only, with trust authentication and no Unix socket.

use anyhow::{Context, Result, anyhow, bail};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use xtask::test_servers::postgres::{bin_dir, make_traversable, psql, run_as};
use xtask::test_servers::{Service, UrlParts};

use super::Ctx;
use super::process::{self, euid, run_logged};
use super::tls;

const SERVICE: Service = Service::Postgres;

/// Installs Debian's PostgreSQL if missing, and creates the cluster once.
pub fn install(ctx: &Ctx) -> Result<()> {
    let log = ctx.install_log(SERVICE);
    let bin = match bin_dir() {
        Some(bin) => bin,
        None => {
            if euid() != Some(0) {
                bail!(
                    "PostgreSQL server binaries are missing: run `apt-get install -y postgresql` as root"
                );
            }
            eprintln!("[postgres] installing Debian's postgresql (apt-get)");
            process::apt_install("postgresql", &log).map_err(anyhow::Error::msg)?;
            bin_dir().context("apt-get installed postgresql but no server binaries were found")?
        }
    };
    let svc = ctx.svc_dir(SERVICE);
    let data = svc.join("data");
    let owner = run_as().map_err(anyhow::Error::msg)?;
    if owner.is_some() {
        make_traversable(&svc).map_err(anyhow::Error::msg)?;
    }
    if data.join("PG_VERSION").is_file() {
        return Ok(());
    }
    if data.exists() {
        // A half-made cluster from an interrupted initdb.
        fs::remove_dir_all(&data).with_context(|| format!("cannot remove {}", data.display()))?;
    }
    fs::create_dir(&data).with_context(|| format!("cannot create {}", data.display()))?;
    fs::set_permissions(&data, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot chmod {}", data.display()))?;
    let user = user_of(ctx)?;
    let mut cmd = Command::new(bin.join("initdb"));
    cmd.arg("-D")
        .arg(&data)
        .args([
            "-A",
            "trust",
            "-U",
            &user,
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ])
        .current_dir(&data);
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(&data, Some(uid), Some(gid))
            .with_context(|| format!("cannot chown {} to postgres", data.display()))?;
        cmd.uid(uid).gid(gid);
    }
    eprintln!("[postgres] initdb {}", data.display());
    run_logged(cmd, &log, "initdb").map_err(anyhow::Error::msg)
}

fn user_of(ctx: &Ctx) -> Result<String> {
    Ok(ctx
        .endpoints
        .parts(SERVICE)
        .map_err(anyhow::Error::msg)?
        .user
        .unwrap_or_else(|| "postgres".into()))
}

/// The server command: `postgres` in the foreground, on 127.0.0.1:PORT.
pub fn command(ctx: &Ctx) -> Result<Command> {
    let bin = bin_dir().context("PostgreSQL server binaries not found")?;
    let (_, port) = ctx
        .endpoints
        .host_port(SERVICE)
        .map_err(anyhow::Error::msg)?;
    let data = ctx.svc_dir(SERVICE).join("data");
    wait_for_dead_postmaster(&data);
    let mut cmd = Command::new(bin.join("postgres"));
    cmd.arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string()])
        .args(["-c", "listen_addresses=127.0.0.1"])
        .args(["-c", "unix_socket_directories="])
        .current_dir(&data);
    let owner = run_as().map_err(anyhow::Error::msg)?;
    let (cert, key) = server_cert(ctx, owner)?;
    cmd.args(["-c", "ssl=on"])
        .arg("-c")
        .arg(format!("ssl_cert_file={}", cert.display()))
        .arg("-c")
        .arg(format!("ssl_key_file={}", key.display()));
    if let Some((uid, gid)) = owner {
        cmd.uid(uid).gid(gid);
    }
    Ok(cmd)
}

/// Copies the test server certificate and key next to the data folder,
/// owned by the server's user (PostgreSQL refuses a key file that others
/// or other users can read); returns their paths.
fn server_cert(ctx: &Ctx, owner: Option<(u32, u32)>) -> Result<(PathBuf, PathBuf)> {
    let svc = ctx.svc_dir(SERVICE);
    let cert = svc.join("server.pem");
    let key = svc.join("server.key");
    for (from, to, mode) in [
        (tls::server_cert(ctx), &cert, 0o644),
        (tls::server_key(ctx), &key, 0o600),
    ] {
        let _ = fs::remove_file(to);
        fs::copy(&from, to)
            .map_err(|e| {
                format!(
                    "cannot copy {} to {}: {e} (`up` writes it)",
                    from.display(),
                    to.display()
                )
            })
            .map_err(anyhow::Error::msg)?;
        fs::set_permissions(to, fs::Permissions::from_mode(mode))
            .with_context(|| format!("cannot chmod {}", to.display()))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(to, Some(uid), Some(gid))
                .with_context(|| format!("cannot chown {} to postgres", to.display()))?;
        }
    }
    Ok((cert, key))
}

/// A postmaster that was just killed (SIGKILL) can still be exiting, or linger
/// as a zombie for a moment; PostgreSQL then takes its `postmaster.pid` for a
/// live server and refuses to start. Waits (at most 10 s) until that pid is
/// really gone, unless it is a live postmaster on this data folder.
fn wait_for_dead_postmaster(data: &Path) {
    let Some(pid) = fs::read_to_string(data.join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse::<u32>().ok())
    else {
        return;
    };
    let data_dir = data.display().to_string();
    if process::is_alive(pid) && process::cmdline(pid).is_some_and(|c| c.contains(&data_dir)) {
        return; // a live server: PostgreSQL reports it, with its log
    }
    process::wait_vanished(pid, Duration::from_secs(10));
}

/// A psql command on the server of the URL, on database `dbname` (the URL's if None).
fn psql_cmd(ctx: &Ctx, dbname: Option<&str>) -> Result<Command> {
    let p: UrlParts = ctx.endpoints.parts(SERVICE).map_err(anyhow::Error::msg)?;
    let port = p.port.unwrap_or(SERVICE.default_port());
    let db = dbname.map(str::to_owned).unwrap_or_else(|| db_of(&p));
    let mut cmd = Command::new(psql());
    cmd.args(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", &p.host, "-p", &port.to_string()])
        .args(["-U", p.user.as_deref().unwrap_or("postgres")])
        .args(["-d", &db])
        .env("PGCONNECT_TIMEOUT", "3");
    if let Some(pw) = &p.password {
        cmd.env("PGPASSWORD", pw);
    }
    Ok(cmd)
}

/// The database named by the URL's path (`postgres` if none).
fn db_of(p: &UrlParts) -> String {
    let path = p.path.split(['?', '#']).next().unwrap_or("");
    let db = path.trim_start_matches('/');
    if db.is_empty() {
        "postgres".into()
    } else {
        db.into()
    }
}

fn run_psql(mut cmd: Command) -> Result<String> {
    let out = cmd.output().context("cannot run psql")?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(anyhow!(
            "psql: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Ready when `SELECT 1` answers on the maintenance database.
pub fn ready(ctx: &Ctx) -> Result<()> {
    let mut cmd = psql_cmd(ctx, Some("postgres"))?;
    cmd.args(["-c", "SELECT 1"]);
    match run_psql(cmd)?.as_str() {
        "1" => Ok(()),
        other => Err(anyhow!("SELECT 1 answered {other:?}")),
    }
}

/// Ready check of a server xtask did not start: `SELECT 1` on the URL's database.
pub fn probe_external(ctx: &Ctx) -> Result<()> {
    let mut cmd = psql_cmd(ctx, None)?;
    cmd.args(["-c", "SELECT 1"]);
    run_psql(cmd).map(|_| ())
}

/// Creates the URL's database if it is not `postgres` and does not exist yet.
pub fn after_start(ctx: &Ctx) -> Result<()> {
    let db = db_of(&ctx.endpoints.parts(SERVICE).map_err(anyhow::Error::msg)?);
    if db == "postgres" {
        return Ok(());
    }
    let literal = db.replace('\'', "''");
    let mut cmd = psql_cmd(ctx, Some("postgres"))?;
    cmd.args([
        "-c",
        &format!("SELECT 1 FROM pg_database WHERE datname = '{literal}'"),
    ]);
    if run_psql(cmd)? == "1" {
        return Ok(());
    }
    let mut cmd = psql_cmd(ctx, Some("postgres"))?;
    cmd.args([
        "-c",
        &format!("CREATE DATABASE \"{}\"", db.replace('"', "\"\"")),
    ]);
    run_psql(cmd).map(|_| ())
}

/// Smoke check: upsert one row into `uds3_smoke`, then read it back.
pub fn check(ctx: &Ctx, token: &str) -> Result<String> {
    let mut cmd = psql_cmd(ctx, None)?;
    cmd.args([
        "-c",
        "CREATE TABLE IF NOT EXISTS uds3_smoke (k text PRIMARY KEY, v text NOT NULL)",
        "-c",
        &format!(
            "INSERT INTO uds3_smoke (k, v) VALUES ('smoke', '{token}') \
             ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v"
        ),
        "-c",
        "SELECT v FROM uds3_smoke WHERE k = 'smoke'",
    ]);
    let got = run_psql(cmd)?;
    if got == token {
        Ok("upserted and read back a row in table uds3_smoke".into())
    } else {
        Err(anyhow!("wrote {token:?}, read {got:?}"))
    }
}

/// TLS check: psql with `sslmode=verify-full` and the test CA (see
/// `Endpoints::postgres_tls_libpq_url`), asking the server whether the
/// connection is encrypted.
pub fn check_tls(ctx: &Ctx) -> Result<String> {
    let mut cmd = Command::new(psql());
    cmd.args(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .args(["-d", &ctx.endpoints.postgres_tls_libpq_url()])
        .args([
            "-c",
            "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ])
        .env("PGCONNECT_TIMEOUT", "3");
    let got = run_psql(cmd)?;
    match got.split_once('|') {
        Some(("t", version)) => Ok(format!("verified TLS ({version}), pg_stat_ssl.ssl = t")),
        _ => Err(anyhow!("pg_stat_ssl answered {got:?}")),
    }
}

super::server::managed_server!(Postgres: Service::Postgres, "postgres (PostgreSQL)" {
    fn probe_external(&self, ctx: &Ctx) -> Result<()> {
        probe_external(ctx)
    }

    fn after_start(&self, ctx: &Ctx) -> Result<()> {
        after_start(ctx)
    }

    fn check_tls(&self, ctx: &Ctx) -> Result<String> {
        check_tls(ctx)
    }

    /// SIGINT to the postmaster only ("fast" shutdown; its backends would
    /// take SIGINT as "cancel query").
    fn stop_signal(&self) -> (&'static str, bool) {
        ("INT", false)
    }

    fn started_with(&self) -> &'static str {
        " ssl=on"
    }
});

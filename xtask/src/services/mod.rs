//! `cargo xtask services`: installs, starts, stops and checks the four real
//! servers the backends are tested against.
//!
//! All state (downloads, installs, data, logs, pid files) lives in one folder:
//! `$UDS3_SERVICES_DIR`, else `<workspace>/.services` (git-ignored). Addresses
//! come from the same `UDS3_*` variables the tests read
//! (`xtask::test_servers`); `up` derives the ports from them. Every
//! server binds to 127.0.0.1 only.
//!
//! `up` also makes the TLS endpoints (`tls.rs`): a test CA and a server
//! certificate in `$UDS3_SERVICES_DIR/tls/`, PostgreSQL with `ssl=on`, and
//! stunnel in front of Chroma, pouchdb-server and Neo4j's Bolt port.

pub mod chroma;
pub mod command;
pub mod http;
pub mod neo4j;
pub mod postgres;
pub mod pouchdb;
mod server;
pub mod tls;
pub mod wheel;

// In the library, so that the tests' own servers (`xtask::test_servers::postgres`)
// run their processes the same way.
pub use xtask::process;

use anyhow::{Context, Result, anyhow, bail};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use xtask::test_servers::{
    Endpoints, SERVICES_DIR_VAR, Service, TLS_CA_FILE_VAR, TLS_OTHER_CA_FILE_VAR, tcp_reachable,
};

use process::{StateLock, running_pid};
use server::Server;

use command::ServicesCommand;

/// Environment variable: seconds `up`/`start` wait for a server to get ready.
pub const TIMEOUT_VAR: &str = "UDS3_SERVICES_TIMEOUT";
const DEFAULT_TIMEOUT_SECS: u64 = 180;
/// How long a server gets to stop after its stop signal before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// Lines of a server's log shown when it fails.
const LOG_TAIL: usize = 40;

/// The long help of `cargo xtask services`, before its commands.
pub const ABOUT: &str = "\
Installs, runs and checks the four servers the backends are tested against,
on this machine, bound to 127.0.0.1. All state (downloads, installs, data,
logs, pid files) lives in $UDS3_SERVICES_DIR.

`up` also starts TLS endpoints for every backend: it makes (once) a test CA
and a certificate for localhost and 127.0.0.1 in $UDS3_SERVICES_DIR/tls/
(plus an unrelated CA, other-ca.pem, for \"wrong CA\" tests), starts
PostgreSQL with ssl=on (same port; the client picks with sslmode), and
stunnel (Debian's stunnel4, installed if missing) in front of Chroma,
pouchdb-server and Neo4j's Bolt port, on the ports of the *_TLS_*
variables. `down` stops stunnel once no server `up` started is left.

NAME: postgres, chroma, neo4j (Neo4j 5.26 Community), couch (pouchdb-server)";

/// The `UDS3_*` variables with their defaults, as help text.
pub fn variables_help() -> String {
    let mut lines = vec![
        "The servers' addresses come from these variables (unset or empty means".to_owned(),
        "the default); `up` takes its ports from them:".to_owned(),
    ];
    let mut vars = Endpoints::default().vars();
    let dir = xtask::workspace_root().join(".services");
    vars.push((SERVICES_DIR_VAR, dir.display().to_string()));
    vars.push((
        TIMEOUT_VAR,
        format!("{DEFAULT_TIMEOUT_SECS} (seconds to wait until ready)"),
    ));
    lines.extend(
        vars.iter()
            .map(|(name, value)| format!("  {name:<24} {value}")),
    );
    lines.join("\n")
}

/// Where the state is and which addresses the servers use.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The state folder (absolute).
    pub dir: PathBuf,
    /// Addresses and credentials, from the `UDS3_*` variables.
    pub endpoints: Endpoints,
    /// How long to wait for a server to get ready.
    pub timeout: Duration,
}

impl Ctx {
    /// Reads the environment; creates the state folder.
    pub fn from_env() -> Result<Ctx> {
        let dir = match std::env::var_os(SERVICES_DIR_VAR).filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => xtask::workspace_root().join(".services"),
        };
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let dir = dir
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        let timeout = match std::env::var(TIMEOUT_VAR).ok().filter(|v| !v.is_empty()) {
            None => DEFAULT_TIMEOUT_SECS,
            Some(v) => v
                .parse()
                .ok()
                .with_context(|| format!("{TIMEOUT_VAR}={v:?} is not a number of seconds"))?,
        };
        let mut endpoints = Endpoints::from_env();
        // The CA files `up` writes, by the canonical state folder.
        if std::env::var_os(TLS_CA_FILE_VAR).is_none_or(|v| v.is_empty()) {
            endpoints.tls_ca_file = dir.join(xtask::test_servers::TLS_CA_FILE);
        }
        if std::env::var_os(TLS_OTHER_CA_FILE_VAR).is_none_or(|v| v.is_empty()) {
            endpoints.tls_other_ca_file = dir.join(xtask::test_servers::TLS_OTHER_CA_FILE);
        }
        Ok(Ctx {
            dir,
            endpoints,
            timeout: Duration::from_secs(timeout),
        })
    }

    /// The folder of one service (install, data, log, pid file).
    pub fn svc_dir(&self, s: Service) -> PathBuf {
        self.dir.join(s.name())
    }

    /// The server's log.
    pub fn log(&self, s: Service) -> PathBuf {
        self.svc_dir(s).join(format!("{}.log", s.name()))
    }

    /// The log of install steps (downloads, unpacking, initdb, npm).
    pub fn install_log(&self, s: Service) -> PathBuf {
        self.svc_dir(s).join("install.log")
    }

    /// The pid file.
    pub fn pid_file(&self, s: Service) -> PathBuf {
        self.svc_dir(s).join("pid")
    }

    /// Where `up` records the settings a running server was started with.
    pub fn url_file(&self, s: Service) -> PathBuf {
        self.svc_dir(s).join("serving")
    }

    /// The download cache.
    pub fn cache(&self) -> PathBuf {
        self.dir.join("cache")
    }

    /// Text found in the command line of the service's server process.
    fn marker(&self, s: Service) -> String {
        self.svc_dir(s).display().to_string()
    }

    /// The pid of the service's server if `up` started it and it is alive.
    pub fn running(&self, s: Service) -> Option<u32> {
        running_pid(&self.pid_file(s), &self.marker(s))
    }

    fn lock(&self) -> Result<StateLock> {
        StateLock::acquire(&self.dir.join(".lock")).map_err(anyhow::Error::msg)
    }
}

/// What `up` did for one service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Started now, ready after `secs` seconds.
    Started {
        /// Server pid.
        pid: u32,
        /// Seconds from spawn (after install) to ready.
        secs: f64,
    },
    /// Was already running (started by an earlier `up`) and is ready.
    AlreadyRunning {
        /// Server pid.
        pid: u32,
    },
    /// A server that xtask does not manage answers at the URL.
    External,
}

/// The implementation of `s`.
fn server(s: Service) -> &'static dyn Server {
    match s {
        Service::Postgres => &postgres::Postgres,
        Service::Chroma => &chroma::Chroma,
        Service::Neo4j => &neo4j::Neo4j,
        Service::Couch => &pouchdb::PouchDb,
    }
}

/// Installs (once) and starts one service, and waits until it is ready.
pub fn up_one(ctx: &Ctx, s: Service) -> Result<Outcome> {
    let parts = ctx.endpoints.parts(s).map_err(anyhow::Error::msg)?;
    if !parts.is_loopback() {
        server(s)
            .probe_external(ctx)
            .map_err(|e| {
                format!(
                    "{} points at {} (not this machine), which does not answer: {e}",
                    s.env_var(),
                    parts.host
                )
            })
            .map_err(anyhow::Error::msg)?;
        return Ok(Outcome::External);
    }
    let svc = ctx.svc_dir(s);
    fs::create_dir_all(&svc).with_context(|| format!("cannot create {}", svc.display()))?;
    if let Some(pid) = ctx.running(s) {
        if !same_settings(ctx, s) {
            let recorded = fs::read_to_string(ctx.url_file(s)).unwrap_or_default();
            bail!(
                "pid {pid} serves {} with other settings ({}); \
                 run `cargo xtask services restart {s}` to apply the new ones",
                server(s).label(),
                recorded.trim()
            );
        }
        wait_ready(ctx, s, None)?;
        return Ok(Outcome::AlreadyRunning { pid });
    }
    // A server just killed may still be exiting (or be an unreaped zombie):
    // let it go before looking at its port.
    if let Some(old) = process::read_pid(&ctx.pid_file(s)) {
        process::wait_vanished(old, Duration::from_secs(10));
    }
    let (host, port) = ctx.endpoints.host_port(s).map_err(anyhow::Error::msg)?;
    if tcp_reachable(&host, port, Duration::from_millis(500)) {
        return match server(s).probe_external(ctx) {
            Ok(()) => Ok(Outcome::External),
            Err(e) => Err(anyhow!(
                "port {port} is taken by a process `up` did not start, which does not answer as {}: {e}",
                server(s).label()
            )),
        };
    }
    server(s).install(ctx)?;
    let log = ctx.log(s);
    let _ = fs::remove_file(ctx.pid_file(s));
    rotate(&log);
    let cmd = server(s).command(ctx)?;
    let started = Instant::now();
    let mut child = process::spawn_detached(cmd, &log).map_err(anyhow::Error::msg)?;
    let pid = child.id();
    process::write_pid(&ctx.pid_file(s), pid).map_err(anyhow::Error::msg)?;
    fs::write(ctx.url_file(s), serve_key(ctx, s))
        .with_context(|| format!("cannot write {}", ctx.url_file(s).display()))?;
    if let Err(e) = wait_ready(ctx, s, Some(&mut child)) {
        let (sig, group) = server(s).stop_signal();
        process::terminate(pid, sig, group, Duration::from_secs(10));
        let _ = fs::remove_file(ctx.pid_file(s));
        return Err(e);
    }
    let secs = started.elapsed().as_secs_f64();
    server(s).after_start(ctx)?;
    Ok(Outcome::Started { pid, secs })
}

/// The settings a server is started with (URL; for PostgreSQL also TLS), as
/// recorded next to its pid.
fn serve_key(ctx: &Ctx, s: Service) -> String {
    let url = mask_password(ctx.endpoints.url(s));
    format!("{url}{}\n", server(s).started_with())
}

/// Whether the running server was started with the current settings (true
/// if it was started before xtask recorded them).
fn same_settings(ctx: &Ctx, s: Service) -> bool {
    match fs::read_to_string(ctx.url_file(s)) {
        Ok(recorded) => recorded == serve_key(ctx, s),
        Err(_) => true,
    }
}

/// Polls readiness until the timeout; fails early if `child` exits.
fn wait_ready(ctx: &Ctx, s: Service, mut child: Option<&mut std::process::Child>) -> Result<()> {
    let start = Instant::now();
    let log = ctx.log(s);
    loop {
        let last = match server(s).ready(ctx) {
            Ok(()) => return Ok(()),
            Err(e) => format!("{e:#}"),
        };
        if is_fatal(&last) {
            bail!("{}: {last}", server(s).label());
        }
        if child.is_some() && fatal_in_log(s, &log) {
            bail!(
                "{} failed to start; last {LOG_TAIL} lines of {}:\n{}",
                server(s).label(),
                log.display(),
                process::tail(&log, LOG_TAIL)
            );
        }
        let exited = child
            .as_deref_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        if let Some(status) = exited {
            bail!(
                "{} exited during start-up ({status}); last {LOG_TAIL} lines of {}:\n{}",
                server(s).label(),
                log.display(),
                process::tail(&log, LOG_TAIL)
            );
        }
        if start.elapsed() > ctx.timeout {
            bail!(
                "{} not ready after {} s (set {TIMEOUT_VAR} to wait longer); last check: {last}\nlast {LOG_TAIL} lines of {}:\n{}",
                server(s).label(),
                ctx.timeout.as_secs(),
                log.display(),
                process::tail(&log, LOG_TAIL)
            );
        }
        sleep(Duration::from_millis(250));
    }
}

/// Whether a readiness error will not go away by waiting (wrong credentials).
fn is_fatal(error: &str) -> bool {
    error.contains("Neo.ClientError.Security")
        || error.contains("HTTP 401")
        || error.contains("password authentication failed")
}

/// Whether the server's log shows a start-up failure although the process
/// lives on.
fn fatal_in_log(s: Service, log: &Path) -> bool {
    server(s).failed_in_log(&process::tail(log, 400))
}

/// Keeps one previous log (`NAME.log.1`) when the log passes 8 MiB.
fn rotate(log: &Path) {
    if fs::metadata(log).is_ok_and(|m| m.len() > 8 * 1024 * 1024) {
        let _ = fs::rename(log, log.with_extension("log.1"));
    }
}

/// Stops one service if `up` started it; returns what happened.
pub fn stop_one(ctx: &Ctx, s: Service) -> Result<String> {
    let pid_file = ctx.pid_file(s);
    let Some(pid) = ctx.running(s) else {
        let _ = fs::remove_file(&pid_file);
        return Ok("not running".into());
    };
    let (sig, group) = server(s).stop_signal();
    let note = process::terminate(pid, sig, group, STOP_GRACE);
    if process::is_alive(pid) {
        bail!("pid {pid}: {note}");
    }
    let _ = fs::remove_file(&pid_file);
    Ok(format!("pid {pid} {note}"))
}

/// Runs `action` for every service in parallel; one result per service,
/// in order. `what` names the action if its thread panics.
fn in_parallel<T: Send>(
    ctx: &Ctx,
    services: &[Service],
    what: &str,
    action: fn(&Ctx, Service) -> Result<T>,
) -> Vec<(Service, Result<T>)> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = services
            .iter()
            .map(|&s| (s, scope.spawn(move || action(ctx, s))))
            .collect();
        handles
            .into_iter()
            .map(|(s, h)| {
                let result = h
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("{s}: {what} thread panicked")));
                (s, result)
            })
            .collect()
    })
}

/// Starts the services in parallel; one result per service, in order.
pub fn up(ctx: &Ctx, services: &[Service]) -> Vec<(Service, Result<Outcome>)> {
    in_parallel(ctx, services, "start-up", up_one)
}

/// Stops the services in parallel; one result per service, in order.
pub fn down(ctx: &Ctx, services: &[Service]) -> Vec<(Service, Result<String>)> {
    in_parallel(ctx, services, "stop", stop_one)
}

/// `up` with its report; false if any service failed.
pub fn up_report(ctx: &Ctx, services: &[Service]) -> (bool, Vec<(Service, Outcome)>) {
    let start = Instant::now();
    let _lock = match ctx.lock() {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("services: {e}");
            return (false, Vec::new());
        }
    };
    let mut ok = true;
    let mut outcomes = Vec::new();
    // PostgreSQL reads the certificate at start-up.
    let results = match tls::ensure_certs(ctx) {
        Ok(()) => up(ctx, services),
        Err(e) => services
            .iter()
            .map(|&s| (s, Err(anyhow!("no TLS certificate: {e}"))))
            .collect(),
    };
    for (s, result) in results {
        let url = ctx.endpoints.url(s);
        match result {
            Ok(outcome) => {
                let what = match outcome {
                    Outcome::Started { pid, secs } => {
                        format!("started, pid {pid}, ready after {secs:.1} s")
                    }
                    Outcome::AlreadyRunning { pid } => format!("already running, pid {pid}"),
                    Outcome::External => {
                        "answered by a server `up` did not start; left alone".into()
                    }
                };
                eprintln!("services: {:<8} {url}  {what}", s.name());
                outcomes.push((s, outcome));
            }
            Err(e) => {
                ok = false;
                eprintln!("services: FAILED {}: {e}", server(s).label());
            }
        }
    }
    if ok {
        ok = tls_up_report(ctx);
    }
    eprintln!(
        "services: up {} in {:.1} s",
        if ok { "done" } else { "FAILED" },
        start.elapsed().as_secs_f64()
    );
    (ok, outcomes)
}

/// Starts stunnel (if needed) and prints the TLS endpoints; false on failure.
fn tls_up_report(ctx: &Ctx) -> bool {
    let what = match tls::up(ctx) {
        Ok(tls::Outcome::Nothing) => "no TLS URL points at this machine".to_owned(),
        Ok(tls::Outcome::Started(pid)) => format!("stunnel started, pid {pid}"),
        Ok(tls::Outcome::AlreadyRunning(pid)) => format!("stunnel already running, pid {pid}"),
        Err(e) => {
            eprintln!("services: FAILED tls (stunnel): {e}");
            return false;
        }
    };
    eprintln!(
        "services: {:<8} {what}; CA {}",
        "tls",
        tls::ca_cert(ctx).display()
    );
    for s in Service::ALL {
        eprintln!(
            "services: {:<8} {}",
            "",
            mask_password(ctx.endpoints.tls_url(s))
        );
    }
    true
}

/// `down` with its report; false if any service failed to stop.
pub fn down_report(ctx: &Ctx, services: &[Service]) -> bool {
    let _lock = match ctx.lock() {
        Ok(lock) => lock,
        Err(e) => {
            eprintln!("services: {e}");
            return false;
        }
    };
    let mut ok = true;
    for (s, result) in down(ctx, services) {
        match result {
            Ok(note) => eprintln!("services: {:<8} {note}", s.name()),
            Err(e) => {
                ok = false;
                eprintln!("services: FAILED to stop {}: {e}", server(s).label());
            }
        }
    }
    // The TLS front end goes with the last server.
    if Service::ALL.iter().all(|&s| ctx.running(s).is_none()) {
        match tls::stop(ctx) {
            Ok(note) => eprintln!("services: {:<8} stunnel {note}", "tls"),
            Err(e) => {
                ok = false;
                eprintln!("services: FAILED to stop tls (stunnel): {e}");
            }
        }
    }
    ok
}

fn status(ctx: &Ctx) -> bool {
    println!("{:<9}{:<9}{:<9}URL", "SERVICE", "STATE", "PID");
    for s in Service::ALL {
        let pid = ctx.running(s);
        let reachable = ctx
            .endpoints
            .host_port(s)
            .is_ok_and(|(h, p)| tcp_reachable(&h, p, Duration::from_secs(1)));
        let state = match (pid, reachable) {
            (Some(_), true) => "up",
            (Some(_), false) => "starting",
            (None, true) => "external",
            (None, false) => "down",
        };
        let pid = pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
        let mut url = mask_password(ctx.endpoints.url(s));
        if s == Service::Neo4j {
            url.push_str(&format!(" (user {})", ctx.endpoints.neo4j_user));
        }
        println!("{:<9}{state:<9}{pid:<9}{url}", s.name());
    }
    let pid = tls::running(ctx);
    let ports: Vec<bool> = tls::sections(ctx)
        .unwrap_or_default()
        .iter()
        .map(|sec| tcp_reachable("127.0.0.1", sec.accept, Duration::from_secs(1)))
        .collect();
    let state = match (pid, ports.iter().all(|&p| p)) {
        (Some(_), true) => "up",
        (Some(_), false) => "starting",
        (None, _) if ports.iter().any(|&p| p) => "external",
        (None, _) => "down",
    };
    let pid = pid.map(|p| p.to_string()).unwrap_or_else(|| "-".into());
    println!(
        "{:<9}{state:<9}{pid:<9}stunnel in front of chroma, neo4j, couch",
        "tls"
    );
    for s in Service::ALL {
        println!("{:<27}{}", "", mask_password(ctx.endpoints.tls_url(s)));
    }
    println!("TLS CA: {}", ctx.endpoints.tls_ca_file.display());
    println!("state folder: {}", ctx.dir.display());
    true
}

fn mask_password(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(a), Some(at)) if at > a => {
            let userinfo = &url[a + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..a + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn logs(ctx: &Ctx, services: &[Service]) -> bool {
    let mut files: Vec<PathBuf> = services
        .iter()
        .flat_map(|&s| [ctx.install_log(s), ctx.log(s)])
        .collect();
    if services.len() == Service::ALL.len() {
        files.extend([tls::dir(ctx).join("install.log"), tls::log(ctx)]);
    }
    for log in files {
        if log.is_file() {
            println!("==> {} <==", log.display());
            println!("{}", process::tail(&log, 100));
        }
    }
    true
}

/// `check`: one write and one read on each server; false if any fails.
pub fn check_all(ctx: &Ctx) -> bool {
    let token = format!(
        "t{}",
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = Service::ALL
            .iter()
            .map(|&s| {
                let token = &token;
                (s, scope.spawn(move || server(s).check(ctx, token)))
            })
            .collect();
        handles
            .into_iter()
            .map(|(s, h)| {
                (
                    s,
                    h.join().unwrap_or_else(|_| Err(anyhow!("check panicked"))),
                )
            })
            .collect()
    });
    let tls_results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = Service::ALL
            .iter()
            .map(|&s| (s, scope.spawn(move || check_tls(ctx, s))))
            .collect();
        handles
            .into_iter()
            .map(|(s, h)| {
                (
                    s,
                    h.join().unwrap_or_else(|_| Err(anyhow!("check panicked"))),
                )
            })
            .collect()
    });
    let mut ok = true;
    let urls = |s: Service| mask_password(ctx.endpoints.url(s));
    let tls_urls = |s: Service| mask_password(ctx.endpoints.tls_url(s));
    let all = results
        .into_iter()
        .map(|(s, r)| (s, urls(s), r))
        .chain(tls_results.into_iter().map(|(s, r)| (s, tls_urls(s), r)));
    for (s, url, result) in all {
        match result {
            Ok(what) => println!("check: ok     {:<8} {url}: {what}", s.name()),
            Err(e) => {
                ok = false;
                println!(
                    "check: FAILED {:<8} {url}: {e} (is it up? `cargo xtask services up`)",
                    s.name()
                );
            }
        }
    }
    ok
}

fn env(ctx: &Ctx) -> bool {
    for (name, value) in ctx.endpoints.vars() {
        println!("export {name}={}", shell_quote(&value));
    }
    println!(
        "export {SERVICES_DIR_VAR}={}",
        shell_quote(&ctx.dir.display().to_string())
    );
    true
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@%+=:,./_-".contains(c))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Refuses to `stop`/`restart` a service answered by a server `up` did not
/// start: a test that restarts a server must not pass without a restart.
fn managed_only(ctx: &Ctx, services: &[Service], what: &str) -> Result<Vec<Service>> {
    for &s in services {
        // Started by `up` (its recorded pid lives): ours to stop or restart, also
        // when it runs with older settings (restarting applies the new ones).
        let ours = ctx.running(s).is_some();
        let foreign = !ours
            && ctx
                .endpoints
                .host_port(s)
                .is_ok_and(|(h, p)| tcp_reachable(&h, p, Duration::from_secs(1)));
        if foreign {
            bail!(
                "cannot {what} {s}: {} is served by a process `cargo xtask services up` did not start (state folder {})",
                mask_password(ctx.endpoints.url(s)),
                ctx.dir.display()
            );
        }
    }
    Ok(services.to_vec())
}

/// Sends `signal` to the process group of each service `up` started
/// (`pause`: STOP, `resume`: CONT); refuses a service that is not running.
fn signal_all(ctx: &Ctx, services: &[Service], signal: &str) -> Result<bool> {
    for &s in services {
        let Some(pid) = ctx.running(s) else {
            bail!("{s} is not running (start it with `cargo xtask services up {s}`)");
        };
        if !process::signal(pid, signal, true) {
            bail!("cannot send SIG{signal} to {s}'s process group {pid}");
        }
        // Children that left the group (PostgreSQL's backends) too.
        let children = process::descendants(pid);
        for &child in &children {
            process::signal(child, signal, false);
        }
        println!(
            "{s:<8} SIG{signal} sent to process group {pid} and its {} descendants",
            children.len()
        );
    }
    Ok(true)
}

/// Runs `cargo xtask services COMMAND`.
pub fn run(command: &ServicesCommand) -> ExitCode {
    let ctx = match Ctx::from_env() {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("services: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match command {
        ServicesCommand::Up(names) => Ok(up_report(&ctx, &names.services()).0),
        ServicesCommand::Start(names) => Ok(up_report(&ctx, &names.services()).0),
        ServicesCommand::Down(names) => Ok(down_report(&ctx, &names.services())),
        ServicesCommand::Stop(names) => {
            managed_only(&ctx, &names.services(), "stop").map(|ss| down_report(&ctx, &ss))
        }
        ServicesCommand::Restart(names) => managed_only(&ctx, &names.services(), "restart")
            .map(|ss| down_report(&ctx, &ss) && up_report(&ctx, &ss).0),
        ServicesCommand::Pause(names) => managed_only(&ctx, &names.services(), "pause")
            .and_then(|ss| signal_all(&ctx, &ss, "STOP")),
        ServicesCommand::Resume(names) => managed_only(&ctx, &names.services(), "resume")
            .and_then(|ss| signal_all(&ctx, &ss, "CONT")),
        ServicesCommand::Status => Ok(status(&ctx)),
        ServicesCommand::Logs(names) => Ok(logs(&ctx, &names.services())),
        ServicesCommand::Check => Ok(check_all(&ctx)),
        ServicesCommand::Env => Ok(env(&ctx)),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("services: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The TLS check of one service: PostgreSQL's own (psql with
/// `sslmode=verify-full`), the others' through their TLS front end.
fn check_tls(ctx: &Ctx, s: Service) -> Result<String> {
    server(s).check_tls(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_passwords() {
        assert_eq!(mask_password("http://a:b@h:1/x"), "http://a:***@h:1/x");
        assert_eq!(mask_password("http://h:1"), "http://h:1");
        assert_eq!(mask_password("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn quotes_for_shell() {
        assert_eq!(shell_quote("http://127.0.0.1:1"), "http://127.0.0.1:1");
        assert_eq!(shell_quote("a b'c"), r"'a b'\''c'");
        assert_eq!(shell_quote(""), "''");
    }
}

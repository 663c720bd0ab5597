//! TLS endpoints: a test CA and a server certificate, and stunnel in front
//! of Chroma, pouchdb-server and Neo4j's Bolt port.
//!
//! Everything lives in `$UDS3_SERVICES_DIR/tls/`: `ca.pem` + `ca.key` (the
//! test CA), `server.pem` + `server.key` (EC P-256, for `localhost` and
//! `127.0.0.1`, signed by the test CA), `other-ca.pem` + `other-ca.key` (an
//! unrelated CA, for "wrong CA" tests), and stunnel's `stunnel.conf`,
//! `stunnel.log` and `pid`. The certificates are made once with the
//! `openssl` command and made again only when one is missing. PostgreSQL
//! serves TLS itself (see `postgres.rs`); stunnel gets one section per
//! other backend whose TLS URL points at this machine, and runs in the
//! foreground as a detached process of its own, like the servers.

use anyhow::{Context, Result, anyhow, bail};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use xtask::test_servers::{Service, tcp_reachable};

use super::Ctx;
use super::process::{self, run_logged};

/// The services that stunnel fronts (PostgreSQL has TLS of its own).
pub const FRONTED: [Service; 3] = [Service::Chroma, Service::Neo4j, Service::Couch];

/// How long stunnel gets to open its ports.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one `openssl s_client` check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);
/// Validity of the generated certificates.
const DAYS: &str = "3650";

/// The TLS folder of the state folder.
pub fn dir(ctx: &Ctx) -> PathBuf {
    ctx.dir.join("tls")
}

/// The test CA certificate (PEM).
pub fn ca_cert(ctx: &Ctx) -> PathBuf {
    dir(ctx).join("ca.pem")
}

/// The server certificate (PEM), signed by the test CA.
pub fn server_cert(ctx: &Ctx) -> PathBuf {
    dir(ctx).join("server.pem")
}

/// The server's private key (PEM, mode 0600).
pub fn server_key(ctx: &Ctx) -> PathBuf {
    dir(ctx).join("server.key")
}

fn install_log(ctx: &Ctx) -> PathBuf {
    dir(ctx).join("install.log")
}

/// stunnel's log.
pub fn log(ctx: &Ctx) -> PathBuf {
    dir(ctx).join("stunnel.log")
}

fn pid_file(ctx: &Ctx) -> PathBuf {
    dir(ctx).join("pid")
}

fn config_file(ctx: &Ctx) -> PathBuf {
    dir(ctx).join("stunnel.conf")
}

/// The pid of stunnel if `up` started it and it is alive.
pub fn running(ctx: &Ctx) -> Option<u32> {
    process::running_pid(&pid_file(ctx), &config_file(ctx).display().to_string())
}

/// The extensions of the server certificate: rustls wants the names in
/// `subjectAltName` (it ignores the CN) and refuses a CA certificate as a
/// server's.
pub fn server_extensions() -> &'static str {
    "basicConstraints = critical,CA:FALSE\n\
     keyUsage = critical,digitalSignature,keyEncipherment\n\
     extendedKeyUsage = serverAuth\n\
     subjectAltName = DNS:localhost,IP:127.0.0.1\n"
}

fn openssl(args: &[&str], dir: &Path) -> Command {
    let mut cmd = Command::new("openssl");
    cmd.args(args).current_dir(dir);
    cmd
}

/// A self-signed CA `NAME.pem` + `NAME.key` in `dir`.
fn make_ca(dir: &Path, name: &str, subject: &str, log: &Path) -> Result<()> {
    let key = format!("{name}.key");
    let cert = format!("{name}.pem");
    run_logged(
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &cert,
                "-days",
                DAYS,
                "-subj",
                subject,
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            dir,
        ),
        log,
        "openssl req (CA)",
    )
    .map_err(anyhow::Error::msg)?;
    restrict(&dir.join(key))
}

fn restrict(key: &Path) -> Result<()> {
    fs::set_permissions(key, fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot chmod 600 {}", key.display()))
}

/// Writes the CAs and the server certificate once; makes the test CA and
/// the server certificate again if one of their files is missing, the
/// unrelated CA if its files are missing.
pub fn ensure_certs(ctx: &Ctx) -> Result<()> {
    let dir = dir(ctx);
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log = install_log(ctx);
    let have = |names: &[&str]| names.iter().all(|n| dir.join(n).is_file());
    if !have(&["ca.pem", "ca.key", "server.pem", "server.key"]) {
        if which("openssl").is_none() {
            eprintln!("[tls] installing Debian's openssl (apt-get)");
            process::apt_install("openssl", &log).map_err(anyhow::Error::msg)?;
        }
        eprintln!(
            "[tls] making a test CA and a server certificate in {}",
            dir.display()
        );
        make_ca(&dir, "ca", "/CN=uds3-batch test CA", &log)?;
        run_logged(
            openssl(
                &[
                    "req",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=localhost",
                ],
                &dir,
            ),
            &log,
            "openssl req (server)",
        )
        .map_err(anyhow::Error::msg)?;
        restrict(&dir.join("server.key"))?;
        let ext = dir.join("server.ext");
        fs::write(&ext, server_extensions())
            .with_context(|| format!("cannot write {}", ext.display()))?;
        let serial = format!(
            "0x{:x}",
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(1)
        );
        run_logged(
            openssl(
                &[
                    "x509",
                    "-req",
                    "-in",
                    "server.csr",
                    "-CA",
                    "ca.pem",
                    "-CAkey",
                    "ca.key",
                    "-set_serial",
                    &serial,
                    "-days",
                    DAYS,
                    "-extfile",
                    "server.ext",
                    "-out",
                    "server.pem",
                ],
                &dir,
            ),
            &log,
            "openssl x509 (sign the server certificate)",
        )
        .map_err(anyhow::Error::msg)?;
        let _ = fs::remove_file(dir.join("server.csr"));
    }
    if !have(&["other-ca.pem", "other-ca.key"]) {
        eprintln!("[tls] making an unrelated CA in {}", dir.display());
        make_ca(&dir, "other-ca", "/CN=uds3-batch unrelated CA", &log)?;
    }
    Ok(())
}

/// `program` on PATH (or in /usr/bin, /usr/sbin), if there.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin"), PathBuf::from("/usr/sbin")])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Debian's stunnel: `stunnel4`, else `stunnel`.
fn stunnel() -> Option<PathBuf> {
    which("stunnel4").or_else(|| which("stunnel"))
}

/// One stunnel section: TLS on `accept`, plain TCP to `connect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The service behind it.
    pub service: Service,
    /// The TLS port (on 127.0.0.1).
    pub accept: u16,
    /// The backend's host.
    pub host: String,
    /// The backend's port.
    pub port: u16,
}

/// The sections for the services whose TLS URL points at this machine.
pub fn sections(ctx: &Ctx) -> Result<Vec<Section>> {
    let mut out = Vec::new();
    for s in FRONTED {
        if !ctx
            .endpoints
            .tls_parts(s)
            .map_err(anyhow::Error::msg)?
            .is_loopback()
        {
            continue;
        }
        let (_, accept) = ctx.endpoints.tls_host_port(s).map_err(anyhow::Error::msg)?;
        let (host, port) = ctx.endpoints.host_port(s).map_err(anyhow::Error::msg)?;
        out.push(Section {
            service: s,
            accept,
            host,
            port,
        });
    }
    Ok(out)
}

/// stunnel's configuration: in the foreground (xtask detaches it and
/// records its pid), logging to stderr, one section per service.
pub fn stunnel_config(cert: &Path, key: &Path, sections: &[Section]) -> String {
    let mut text = String::from(
        "; written by `cargo xtask services up`; rewritten on every start\n\
         foreground = yes\n\
         syslog = no\n\
         debug = notice\n",
    );
    for s in sections {
        let host = if s.host.contains(':') {
            format!("[{}]", s.host)
        } else {
            s.host.clone()
        };
        // The same front end on 127.0.0.2 too, an address the certificate
        // does not name: the backends' wrong-host tests connect there.
        for (suffix, address) in [("", "127.0.0.1"), ("-wrong-host", "127.0.0.2")] {
            text.push_str(&format!(
                "\n[{}{suffix}]\naccept = {address}:{}\nconnect = {host}:{}\ncert = {}\nkey = {}\n",
                s.service.name(),
                s.accept,
                s.port,
                cert.display(),
                key.display()
            ));
        }
    }
    text
}

/// What [`up`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// No service's TLS URL points at this machine: nothing to front.
    Nothing,
    /// stunnel was started now.
    Started(u32),
    /// stunnel was already running with this configuration.
    AlreadyRunning(u32),
}

/// Installs stunnel4 if missing, writes its configuration and starts it
/// (again if its configuration changed); waits until its ports accept.
pub fn up(ctx: &Ctx) -> Result<Outcome> {
    let sections = sections(ctx)?;
    let config = stunnel_config(&server_cert(ctx), &server_key(ctx), &sections);
    let file = config_file(ctx);
    let same = fs::read_to_string(&file).is_ok_and(|old| old == config);
    if let Some(pid) = running(ctx) {
        if same {
            wait_ports(ctx, &sections, None)?;
            return Ok(Outcome::AlreadyRunning(pid));
        }
        eprintln!("[tls] stunnel settings changed: restarting it");
        stop(ctx)?;
    }
    if sections.is_empty() {
        return Ok(Outcome::Nothing);
    }
    for s in &sections {
        if tcp_reachable("127.0.0.1", s.accept, Duration::from_millis(500)) {
            bail!(
                "port {} ({} TLS) is taken by a process `up` did not start",
                s.accept,
                s.service.tls_env_var()
            );
        }
    }
    let bin = match stunnel() {
        Some(bin) => bin,
        None => {
            eprintln!("[tls] installing Debian's stunnel4 (apt-get)");
            process::apt_install("stunnel4", &install_log(ctx)).map_err(anyhow::Error::msg)?;
            stunnel().context("apt-get installed stunnel4 but no stunnel command was found")?
        }
    };
    fs::write(&file, &config).with_context(|| format!("cannot write {}", file.display()))?;
    let mut cmd = Command::new(bin);
    cmd.arg(&file).current_dir(dir(ctx));
    let mut child = process::spawn_detached(cmd, &log(ctx)).map_err(anyhow::Error::msg)?;
    let pid = child.id();
    process::write_pid(&pid_file(ctx), pid).map_err(anyhow::Error::msg)?;
    if let Err(e) = wait_ports(ctx, &sections, Some(&mut child)) {
        process::terminate(pid, "TERM", true, Duration::from_secs(5));
        let _ = fs::remove_file(pid_file(ctx));
        return Err(e);
    }
    Ok(Outcome::Started(pid))
}

fn wait_ports(
    ctx: &Ctx,
    sections: &[Section],
    mut child: Option<&mut std::process::Child>,
) -> Result<()> {
    let start = Instant::now();
    loop {
        let closed: Vec<u16> = sections
            .iter()
            .map(|s| s.accept)
            .filter(|&p| !tcp_reachable("127.0.0.1", p, Duration::from_millis(500)))
            .collect();
        if closed.is_empty() {
            return Ok(());
        }
        if let Some(status) = child
            .as_deref_mut()
            .and_then(|c| c.try_wait().ok().flatten())
        {
            bail!(
                "stunnel exited during start-up ({status}); tail of {}:\n{}",
                log(ctx).display(),
                process::tail(&log(ctx), 20)
            );
        }
        if start.elapsed() > READY_TIMEOUT {
            bail!(
                "stunnel does not accept on port(s) {closed:?} after {} s; tail of {}:\n{}",
                READY_TIMEOUT.as_secs(),
                log(ctx).display(),
                process::tail(&log(ctx), 20)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Stops stunnel if `up` started it; says what happened.
pub fn stop(ctx: &Ctx) -> Result<String> {
    let Some(pid) = running(ctx) else {
        let _ = fs::remove_file(pid_file(ctx));
        return Ok("not running".into());
    };
    let note = process::terminate(pid, "TERM", true, Duration::from_secs(10));
    if process::is_alive(pid) {
        bail!("pid {pid}: {note}");
    }
    let _ = fs::remove_file(pid_file(ctx));
    Ok(format!("pid {pid} {note}"))
}

/// Runs `cmd` with `input` on its stdin; its stdout, or an error with its
/// stderr. Killed after [`CHECK_TIMEOUT`].
fn run_with_input(mut cmd: Command, input: &[u8]) -> Result<String> {
    use std::io::{Read, Write};
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A failed write shows up as the server's answer missing.
        let _ = stdin.write_all(input);
    }
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("cannot wait for the check")? {
            break status;
        }
        if start.elapsed() > CHECK_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            bail!("no answer within {} s", CHECK_TIMEOUT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_string(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    if status.success() {
        Ok(out)
    } else {
        let err = err.trim();
        Err(anyhow!(
            "openssl s_client failed ({status}): {}",
            err.lines().rev().take(3).collect::<Vec<_>>().join(" / ")
        ))
    }
}

/// `openssl s_client` to `host:port`, trusting only `ca` and checking that
/// the certificate names `host`. `session`: print what the server sends and
/// wait until it closes the connection (`-quiet`), else only the handshake
/// (`-brief`, ends when stdin does).
fn s_client(host: &str, port: u16, ca: &Path, session: bool) -> Command {
    let mut cmd = Command::new("openssl");
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    cmd.arg("s_client")
        .args(["-connect", &format!("{host}:{port}")])
        .arg("-CAfile")
        .arg(ca)
        .arg("-verify_return_error");
    if is_ip {
        cmd.args(["-verify_ip", host]);
    } else {
        cmd.args(["-servername", host, "-verify_hostname", host]);
    }
    cmd.arg(if session { "-quiet" } else { "-brief" });
    cmd
}

/// The TLS check of a service behind the front end: Chroma and CouchDB
/// with one HTTPS request, Bolt with a verified TLS handshake, each
/// through `openssl s_client` trusting only the test CA. (PostgreSQL's own
/// TLS is checked by its module.)
pub fn check(ctx: &Ctx, s: Service) -> Result<String> {
    let ca = &ctx.endpoints.tls_ca_file;
    if !ca.is_file() {
        bail!("no CA file {}", ca.display());
    }
    let parts = ctx.endpoints.tls_parts(s).map_err(anyhow::Error::msg)?;
    let (host, port) = ctx.endpoints.tls_host_port(s).map_err(anyhow::Error::msg)?;
    let request = |path: &str| {
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
    };
    match s {
        Service::Postgres => Err(anyhow!(
            "PostgreSQL terminates TLS itself: see its own check"
        )),
        Service::Chroma | Service::Couch => {
            let path = if s == Service::Chroma {
                "/api/v2/heartbeat".to_owned()
            } else {
                format!("{}/", parts.path.trim_end_matches('/'))
            };
            let out = run_with_input(s_client(&host, port, ca, true), &request(&path))?;
            let status = out.lines().next().unwrap_or("").trim().to_owned();
            if status.starts_with("HTTP/1.") && status.contains(" 200") {
                Ok(format!("GET {path} over verified TLS: {status}"))
            } else {
                Err(anyhow!("GET {path} answered {status:?}"))
            }
        }
        Service::Neo4j => {
            // A Bolt server never closes on its own: only the handshake
            // (the Bolt checks of the plain port cover the server itself).
            run_with_input(s_client(&host, port, ca, false), b"")?;
            Ok("verified TLS handshake".into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_has_one_section_per_service() {
        let sections = [
            Section {
                service: Service::Chroma,
                accept: 28443,
                host: "127.0.0.1".into(),
                port: 28000,
            },
            Section {
                service: Service::Neo4j,
                accept: 27688,
                host: "::1".into(),
                port: 27687,
            },
        ];
        let text = stunnel_config(
            Path::new("/s/server.pem"),
            Path::new("/s/server.key"),
            &sections,
        );
        assert!(text.contains("foreground = yes\n"));
        assert!(text.contains(
            "[chroma]\naccept = 127.0.0.1:28443\nconnect = 127.0.0.1:28000\ncert = /s/server.pem\nkey = /s/server.key\n"
        ));
        assert!(text.contains("[neo4j]\naccept = 127.0.0.1:27688\nconnect = [::1]:27687\n"));
        assert!(!text.contains("[couch]"));
    }

    #[test]
    fn server_certificate_names_localhost() {
        let ext = server_extensions();
        assert!(ext.contains("subjectAltName = DNS:localhost,IP:127.0.0.1"));
        assert!(ext.contains("CA:FALSE"));
    }

    #[test]
    fn s_client_checks_the_name() {
        let cmd = s_client("localhost", 1, Path::new("/ca.pem"), true);
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            args.windows(2)
                .any(|w| w == ["-verify_hostname", "localhost"])
        );
        assert!(args.contains(&"-verify_return_error".to_owned()));
        let cmd = s_client("127.0.0.1", 1, Path::new("/ca.pem"), false);
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.windows(2).any(|w| w == ["-verify_ip", "127.0.0.1"]));
    }
}

//! PostgreSQL servers a test runs itself: Debian's server binaries (the
//! ones `cargo xtask services` runs), and [`PgPair`], a throwaway primary
//! with a streaming standby for failover tests.
//!
//! initdb, `pg_ctl` and the server refuse to run as root, so when the test
//! runs as root they run as the `postgres` system user ([`run_as`]) on
//! folders that user owns. The servers listen on 127.0.0.1 only, with trust
//! authentication and no Unix socket.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::process::{self, euid, run_logged, user_ids};

/// Server binaries of Debian's PostgreSQL, 15 preferred, else the newest.
pub fn bin_dir() -> Option<PathBuf> {
    let preferred = PathBuf::from("/usr/lib/postgresql/15/bin");
    if preferred.join("postgres").is_file() {
        return Some(preferred);
    }
    let mut found: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

/// The `psql` to use for checks: Debian's next to the server, else from PATH.
pub fn psql() -> PathBuf {
    bin_dir()
        .map(|b| b.join("psql"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("psql"))
}

/// Uid and gid to run the server as: the `postgres` user when we are root,
/// `None` otherwise (the server runs as we do).
pub fn run_as() -> Result<Option<(u32, u32)>, String> {
    if euid() != Some(0) {
        return Ok(None);
    }
    user_ids("postgres")
        .map(|(uid, gid, _)| Some((uid, gid)))
        .ok_or_else(|| {
            "running as root but there is no `postgres` user (apt-get install -y postgresql)".into()
        })
}

/// Gives every folder from `/` down to `dir` the others' search bit, so the
/// `postgres` user can reach its data folder.
pub fn make_traversable(dir: &Path) -> Result<(), String> {
    for folder in dir.ancestors() {
        let meta = fs::metadata(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 {
            eprintln!(
                "[postgres] chmod o+x {} (so the postgres user can reach its data folder)",
                folder.display()
            );
            fs::set_permissions(folder, fs::Permissions::from_mode(mode | 0o001))
                .map_err(|e| format!("cannot chmod o+x {}: {e}", folder.display()))?;
        }
    }
    Ok(())
}

/// How the primary of a [`PgPair`] waits for its standby at commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    /// `synchronous_standby_names = '*'`, `synchronous_commit = on`: a
    /// commit is acknowledged only once the standby has flushed it.
    Synchronous,
    /// PostgreSQL's default: a commit is acknowledged once it is on the
    /// primary's disk; the standby follows when it can. Only for showing
    /// what a failover loses then.
    Asynchronous,
}

/// How long starting, promoting or stopping one server may take.
const SERVER_WAIT: Duration = Duration::from_secs(60);
/// The user the pair's clusters are created with (trust authentication).
const USER: &str = "postgres";

/// One server of a [`PgPair`].
#[derive(Debug)]
struct Node {
    name: &'static str,
    data: PathBuf,
    port: u16,
    log: PathBuf,
}

/// A throwaway primary and a streaming standby made from it with
/// `pg_basebackup -R`, on two free loopback ports, in a temporary folder
/// owned by the server's user. Both are stopped, and the folder removed,
/// when it drops (also when the test panics): it never leaves a server
/// running.
///
/// Failover tests use [`Replication::Synchronous`]: the primary
/// acknowledges a commit only once the standby has it, so every commit a
/// client saw acknowledged survives the promotion of the standby. With
/// asynchronous replication a commit acknowledged just before the
/// promotion can be missing on the new primary: a real loss no client can
/// see, since its answer said "committed". Once the standby is promoted it
/// stops streaming, so the old primary's commits wait for an
/// acknowledgement that never comes: their clients see no answer (an
/// unknown outcome) until the old primary dies or their deadline passes.
#[derive(Debug)]
pub struct PgPair {
    dir: PathBuf,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    primary: Node,
    standby: Node,
}

impl PgPair {
    /// Creates the primary (initdb, `wal_level = replica`, replication
    /// allowed from 127.0.0.1 with trust), starts it, makes the standby
    /// with `pg_basebackup -R`, starts it, and returns once the standby
    /// streams (and, with [`Replication::Synchronous`], once the primary
    /// counts it as its synchronous standby).
    ///
    /// Takes a few seconds. An error names the step and holds the tail of
    /// its log.
    pub fn start(replication: Replication) -> Result<PgPair, String> {
        let bin = bin_dir().ok_or(
            "PostgreSQL server binaries are missing under /usr/lib/postgresql: \
             run `apt-get install -y postgresql`",
        )?;
        let owner = run_as()?;
        let dir = std::env::temp_dir().join(super::unique_name("uds3_pg_pair"));
        fs::create_dir(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let node = |name: &'static str, port: u16| Node {
            name,
            data: dir.join(name),
            port,
            log: dir.join(format!("{name}.log")),
        };
        let (primary_port, standby_port) = (free_port()?, free_port()?);
        // From here on, Drop stops whatever started and removes the folder.
        let pair = PgPair {
            primary: node("primary", primary_port),
            standby: node("standby", standby_port),
            dir,
            bin,
            owner,
        };
        pair.set_up(replication)?;
        Ok(pair)
    }

    fn set_up(&self, replication: Replication) -> Result<(), String> {
        if let Some((uid, gid)) = self.owner {
            make_traversable(&self.dir)?;
            std::os::unix::fs::chown(&self.dir, Some(uid), Some(gid))
                .map_err(|e| format!("cannot chown {} to postgres: {e}", self.dir.display()))?;
        }
        let (primary, standby) = (&self.primary, &self.standby);
        let mut initdb = self.command("initdb");
        initdb.arg("-D").arg(&primary.data).args([
            "-A",
            "trust",
            "-U",
            USER,
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ]);
        // Setup commands log elsewhere: `pg_ctl -l` opens the server logs
        // as the server's user, so they must not exist yet owned by root.
        let setup_log = self.dir.join("setup.log");
        run_logged(initdb, &setup_log, "initdb")?;
        // Copied to the standby by pg_basebackup; its port is set after.
        append(
            &primary.data.join("postgresql.conf"),
            &format!(
                "\n# PgPair\nlisten_addresses = '127.0.0.1'\nport = {}\n\
                 unix_socket_directories = ''\nwal_level = replica\n\
                 max_wal_senders = 4\nhot_standby = on\nsynchronous_commit = on\n",
                primary.port
            ),
        )?;
        append(
            &primary.data.join("pg_hba.conf"),
            &format!("\nhost replication {USER} 127.0.0.1/32 trust\n"),
        )?;
        self.pg_ctl_start(primary)?;
        let mut basebackup = self.command("pg_basebackup");
        basebackup
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary.port.to_string(),
                "-U",
                USER,
            ])
            .arg("-D")
            .arg(&standby.data)
            .args(["-R", "-X", "stream", "-c", "fast", "--no-sync"]);
        run_logged(basebackup, &setup_log, "pg_basebackup")?;
        append(
            &standby.data.join("postgresql.conf"),
            &format!("port = {}\n", standby.port),
        )?;
        self.pg_ctl_start(standby)?;
        self.wait_for(primary, "the standby to stream", || {
            self.psql(
                primary,
                "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'",
            )
            .map(|n| n == "1")
        })?;
        if replication == Replication::Synchronous {
            // Not in the file pg_basebackup copied: once promoted, the
            // standby must commit without a standby of its own.
            append(
                &primary.data.join("postgresql.conf"),
                "synchronous_standby_names = '*'\n",
            )?;
            self.psql(primary, "SELECT pg_reload_conf()")?;
            self.wait_for(primary, "the standby to become synchronous", || {
                self.psql(
                    primary,
                    "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'",
                )
                .map(|n| n == "1")
            })?;
        }
        Ok(())
    }

    /// The multi-host URL of both servers, primary first, that connects
    /// only to the one that accepts writes:
    /// `postgresql://postgres@127.0.0.1:P1,127.0.0.1:P2/postgres?target_session_attrs=read-write`.
    pub fn url(&self) -> String {
        format!(
            "postgresql://{USER}@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
            self.primary.port, self.standby.port
        )
    }

    /// The URL of the primary alone.
    pub fn primary_url(&self) -> String {
        format!(
            "postgresql://{USER}@127.0.0.1:{}/postgres",
            self.primary.port
        )
    }

    /// The URL of the standby alone (the new primary once promoted).
    pub fn standby_url(&self) -> String {
        format!(
            "postgresql://{USER}@127.0.0.1:{}/postgres",
            self.standby.port
        )
    }

    /// Promotes the standby (`pg_ctl promote`); returns once it accepts
    /// writes. The old primary keeps running: both accept connections, and
    /// the old one's commits wait for the standby that left.
    pub fn promote_standby(&self) -> Result<(), String> {
        let mut cmd = self.pg_ctl(&self.standby);
        cmd.args(["promote", "-w", "-t", &SERVER_WAIT.as_secs().to_string()]);
        run_logged(cmd, &self.dir.join("setup.log"), "pg_ctl promote")?;
        self.wait_for(
            &self.standby,
            "the promoted standby to accept writes",
            || {
                self.psql(&self.standby, "SELECT pg_is_in_recovery()")
                    .map(|r| r == "f")
            },
        )
    }

    /// Kills the primary like a machine that died: SIGKILL to its
    /// postmaster and every process under it (backends waiting for the
    /// standby included), so no client gets another answer from it and
    /// its port refuses connections. Returns once the postmaster is gone.
    pub fn kill_primary(&self) -> Result<(), String> {
        let pid = postmaster_pid(&self.primary.data)
            .ok_or("the primary has no postmaster.pid: it is not running")?;
        // Found before the kill: once the postmaster is gone its children
        // belong to init.
        let children = process::descendants(pid);
        process::signal(pid, "KILL", false);
        for child in children {
            process::signal(child, "KILL", false);
        }
        if process::wait_gone(pid, SERVER_WAIT) {
            Ok(())
        } else {
            Err(format!("the primary's postmaster {pid} survived SIGKILL"))
        }
    }

    /// Runs `sql` with psql on the primary (`primary` true) or the standby,
    /// unaligned, without headers; returns its output, trimmed.
    pub fn query(&self, primary: bool, sql: &str) -> Result<String, String> {
        self.psql(
            if primary {
                &self.primary
            } else {
                &self.standby
            },
            sql,
        )
    }

    fn psql(&self, node: &Node, sql: &str) -> Result<String, String> {
        let out = Command::new(psql())
            .args(["-X", "-w", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &node.port.to_string()])
            .args(["-U", USER, "-d", "postgres", "-c", sql])
            .env("PGCONNECT_TIMEOUT", "3")
            .output()
            .map_err(|e| format!("cannot run psql: {e}"))?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(format!(
                "psql on the {} (port {}): {}",
                node.name,
                node.port,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Polls `done` every 100 ms until it says yes; an error after
    /// [`SERVER_WAIT`] names `what` and holds the last answer and the
    /// node's log tail.
    fn wait_for(
        &self,
        node: &Node,
        what: &str,
        mut done: impl FnMut() -> Result<bool, String>,
    ) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let last = match done() {
                Ok(true) => return Ok(()),
                Ok(false) => "not yet".to_owned(),
                Err(e) => e,
            };
            if start.elapsed() > SERVER_WAIT {
                return Err(format!(
                    "waited {}s for {what} ({last}); tail of {}:\n{}",
                    SERVER_WAIT.as_secs(),
                    node.log.display(),
                    process::tail(&node.log, 30)
                ));
            }
            sleep(Duration::from_millis(100));
        }
    }

    /// A server program, run as the server's user.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir(&self.dir);
        if let Some((uid, gid)) = self.owner {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn pg_ctl(&self, node: &Node) -> Command {
        let mut cmd = self.command("pg_ctl");
        cmd.arg("-D").arg(&node.data);
        cmd
    }

    /// `pg_ctl start -w`: returns once the server accepts connections.
    fn pg_ctl_start(&self, node: &Node) -> Result<(), String> {
        let mut cmd = self.pg_ctl(node);
        cmd.arg("-l").arg(&node.log).args([
            "start",
            "-w",
            "-t",
            &SERVER_WAIT.as_secs().to_string(),
        ]);
        // pg_ctl writes its own lines to stdout; the server's go to -l.
        run_logged(
            cmd,
            &self.dir.join(format!("{}-pg_ctl.log", node.name)),
            "pg_ctl start",
        )
        .map_err(|e| {
            format!(
                "{} on port {}: {e}\ntail of {}:\n{}",
                node.name,
                node.port,
                node.log.display(),
                process::tail(&node.log, 30)
            )
        })
    }

    /// Stops a node that still runs: `pg_ctl stop -m immediate` (which
    /// also frees its shared memory), then SIGKILL for anything left.
    fn stop(&self, node: &Node) {
        let Some(pid) = postmaster_pid(&node.data).filter(|&p| process::is_alive(p)) else {
            return;
        };
        let children = process::descendants(pid);
        let mut cmd = self.pg_ctl(node);
        cmd.args(["stop", "-m", "immediate", "-w", "-t", "10"]);
        // Best effort: the kill below covers a failed stop.
        let _ = run_logged(cmd, &self.dir.join("stop.log"), "pg_ctl stop");
        for p in std::iter::once(pid).chain(children) {
            if process::is_alive(p) {
                process::signal(p, "KILL", false);
            }
        }
        process::wait_gone(pid, Duration::from_secs(10));
    }
}

impl Drop for PgPair {
    fn drop(&mut self) {
        // Never panics (a test may already be unwinding).
        for node in [&self.primary, &self.standby] {
            self.stop(node);
            remove_shared_memory(&node.data);
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("cannot remove {}: {e}", self.dir.display());
        }
    }
}

/// The postmaster's pid, from the first line of `postmaster.pid`.
fn postmaster_pid(data: &Path) -> Option<u32> {
    fs::read_to_string(data.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Removes the System V shared memory segment a killed postmaster leaves
/// (a clean stop removes it and its `postmaster.pid`), if nothing is
/// attached to it any more.
fn remove_shared_memory(data: &Path) {
    // Line 7 of postmaster.pid: the segment's key and id.
    let Some(id) = fs::read_to_string(data.join("postmaster.pid"))
        .ok()
        .and_then(|t| {
            t.lines()
                .nth(6)?
                .split_whitespace()
                .nth(1)?
                .parse::<u64>()
                .ok()
        })
    else {
        return;
    };
    // Best effort: a segment left behind costs a few bytes. Its processes
    // are gone by now (ipcrm would only mark a used one for removal).
    let _ = Command::new("ipcrm")
        .args(["-m", &id.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
}

/// A loopback port nothing listens on at the moment (the kernel's pick).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("cannot append to {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pair replicates synchronously, the promoted standby takes
    /// writes, the killed primary refuses connections, and nothing is left
    /// behind: no folder, no process.
    #[test]
    fn pair_streams_fails_over_and_leaves_nothing() {
        let pair = PgPair::start(Replication::Synchronous).expect("pair");
        assert_eq!(
            pair.query(
                true,
                "SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'"
            ),
            Ok("sync".to_owned())
        );
        pair.query(
            true,
            "CREATE TABLE t (k int PRIMARY KEY); INSERT INTO t VALUES (1)",
        )
        .expect("write on the primary");
        // Synchronous: acknowledged means on the standby.
        assert_eq!(
            pair.query(false, "SELECT count(*) FROM t"),
            Ok("1".to_owned())
        );
        assert!(pair.query(false, "INSERT INTO t VALUES (2)").is_err());
        pair.promote_standby().expect("promote");
        pair.query(false, "INSERT INTO t VALUES (2)")
            .expect("the promoted standby takes writes");
        let pids: Vec<u32> = [&pair.primary, &pair.standby]
            .iter()
            .filter_map(|n| postmaster_pid(&n.data))
            .flat_map(|p| std::iter::once(p).chain(process::descendants(p)))
            .collect();
        pair.kill_primary().expect("kill");
        assert!(!crate::test_servers::tcp_reachable(
            "127.0.0.1",
            pair.primary.port,
            Duration::from_secs(2)
        ));
        let dir = pair.dir.clone();
        drop(pair);
        assert!(!dir.exists(), "{} is left", dir.display());
        for pid in pids {
            assert!(!process::is_alive(pid), "process {pid} is left");
        }
    }
}

//! Processes: detached spawning, pid files, liveness, stopping, log tails, the state lock.
//!
//! std only. Signals are sent with the `kill` command (the crate forbids unsafe
//! code, so no libc), and liveness is read from `/proc`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

/// Spawns `cmd` detached: own process group, stdin closed, stdout and stderr
/// appended to `log`.
pub fn spawn_detached(mut cmd: Command, log: &Path) -> Result<Child, String> {
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    cmd.spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))
}

/// Runs `cmd` to completion with its output appended to `log`; on failure the
/// error holds the tail of `log`.
pub fn run_logged(mut cmd: Command, log: &Path, what: &str) -> Result<(), String> {
    let mut out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    // Best effort: the log line only helps a reader.
    let _ = writeln!(out, "\n$ {cmd:?}");
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed ({status}); tail of {}:\n{}",
            log.display(),
            tail(log, 30)
        ))
    }
}

/// Installs a Debian package with apt-get (as root only), output appended
/// to `log`; runs `apt-get update` first if the install fails (a fresh
/// machine has no package lists).
pub fn apt_install(package: &str, log: &Path) -> Result<(), String> {
    if euid() != Some(0) {
        return Err(format!(
            "{package} is missing: run `apt-get install -y {package}` as root"
        ));
    }
    let apt = |args: &[&str]| {
        let mut cmd = Command::new("apt-get");
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    if run_logged(apt(&["install", "-y", package]), log, "apt-get install").is_err() {
        run_logged(apt(&["update"]), log, "apt-get update")?;
        run_logged(apt(&["install", "-y", package]), log, "apt-get install")?;
    }
    Ok(())
}

/// Reads the pid recorded in `pid_file`.
pub fn read_pid(pid_file: &Path) -> Option<u32> {
    fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// Records `pid` in `pid_file`.
pub fn write_pid(pid_file: &Path, pid: u32) -> Result<(), String> {
    fs::write(pid_file, format!("{pid}\n"))
        .map_err(|e| format!("cannot write {}: {e}", pid_file.display()))
}

/// Whether `pid` is a live process: one of its threads is not a zombie. A
/// process whose main thread has exited shows as a zombie while its other
/// threads (node's, the JVM's) still run and hold its sockets.
pub fn is_alive(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks
        .flatten()
        .any(|task| fs::read_to_string(task.path().join("stat")).is_ok_and(|s| !zombie(&s)))
}

/// Whether a `/proc/.../stat` line is of a zombie (or dead) task. The
/// state follows the command name, which is in parentheses.
fn zombie(stat: &str) -> bool {
    matches!(stat_field(stat, 0), Some("Z" | "X" | "x") | None)
}

/// Field `n` after the command name of a `/proc/.../stat` line ("pid
/// (comm) state ppid pgrp ...": 0 is the state, 1 the parent, 2 the
/// process group). The name may hold spaces and ')', so the fields start
/// after its last ')'.
fn stat_field(stat: &str, n: usize) -> Option<&str> {
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(n))
}

/// The command line of `pid`, arguments joined by spaces.
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .map(String::from_utf8_lossy)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The pid recorded in `pid_file` if that process is alive and its command
/// line contains `marker` (which guards against a recycled pid).
pub fn running_pid(pid_file: &Path, marker: &str) -> Option<u32> {
    let pid = read_pid(pid_file)?;
    (is_alive(pid) && cmdline(pid).is_some_and(|c| c.contains(marker))).then_some(pid)
}

/// Sends `signal` (e.g. `TERM`) to `pid`, or to its whole process group.
pub fn signal(pid: u32, signal: &str, group: bool) -> bool {
    let target = if group {
        format!("-{pid}")
    } else {
        pid.to_string()
    };
    Command::new("kill")
        .args(["-s", signal, "--", &target])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Every live descendant of `pid` (children, their children, ...), found
/// through `/proc/*/stat`. Needed where a server's children leave its
/// process group (PostgreSQL's backends each start a session of their own).
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(child) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            let ppid = stat_field(&stat, 1).and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((child, ppid));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, ppid) in &parents {
            if ppid == parent && !found.contains(&child) {
                found.push(child);
                frontier.push(child);
            }
        }
    }
    found
}

/// Polls `busy` every `every` until it is false; false if it is still
/// true after `timeout`.
fn wait_while(timeout: Duration, every: Duration, busy: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while busy() {
        if start.elapsed() > timeout {
            return false;
        }
        sleep(every);
    }
    true
}

/// Waits until `pid` is gone; false if it is still alive after `timeout`.
pub fn wait_gone(pid: u32, timeout: Duration) -> bool {
    wait_while(timeout, Duration::from_millis(100), || is_alive(pid))
}

/// Waits until `/proc/PID` is gone (exited and reaped); false after `timeout`.
pub fn wait_vanished(pid: u32, timeout: Duration) -> bool {
    wait_while(timeout, Duration::from_millis(100), || {
        Path::new(&format!("/proc/{pid}")).exists()
    })
}

/// Whether a live process (not a zombie) of process group `pgid` is left,
/// found through `/proc/*/stat`.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            return false;
        };
        let pgrp = stat_field(&stat, 2).and_then(|p| p.parse::<u32>().ok());
        pgrp == Some(pgid) && is_alive(pid)
    })
}

/// Waits until no live process of group `pgid` is left; false after `timeout`.
pub fn wait_group_gone(pgid: u32, timeout: Duration) -> bool {
    wait_while(timeout, Duration::from_millis(50), || group_alive(pgid))
}

/// Stops `pid`: `signal` (to the group if `group`), then after `grace` SIGKILL
/// to the group. With `group`, it returns only once every process of the
/// group is gone: a child that outlives its leader may still hold the
/// server's port, and a start right after would find it taken.
pub fn terminate(pid: u32, signal_name: &str, group: bool, grace: Duration) -> String {
    signal(pid, signal_name, group);
    if wait_gone(pid, grace) {
        if !group {
            return format!("stopped (SIG{signal_name})");
        }
        // Children of a group leader that outlived it get the same signal.
        signal(pid, signal_name, true);
        if wait_group_gone(pid, grace) {
            return format!("stopped (SIG{signal_name})");
        }
    }
    signal(pid, "KILL", true);
    signal(pid, "KILL", false);
    if wait_gone(pid, Duration::from_secs(5))
        && (!group || wait_group_gone(pid, Duration::from_secs(5)))
    {
        format!(
            "killed (no exit {}s after SIG{signal_name})",
            grace.as_secs()
        )
    } else {
        format!("pid {pid} survived SIGKILL")
    }
}

/// The last `lines` lines of a text file (empty if unreadable).
pub fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    // Read at most the last 256 KiB: enough for any tail we print.
    let start = len.saturating_sub(256 * 1024);
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(start)).is_err() || f.read_to_end(&mut buf).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&buf);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The effective user id of this process.
pub fn euid() -> Option<u32> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Uid, gid and home of a system user, from /etc/passwd.
pub fn user_ids(name: &str) -> Option<(u32, u32, PathBuf)> {
    let passwd = fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() >= 6 && f[0] == name)
            .then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?, PathBuf::from(f[5]))))?
    })
}

/// An exclusive lock on the state folder, held until dropped.
pub struct StateLock {
    _file: File,
}

impl StateLock {
    /// Takes the lock at `path`, waiting (and saying so) while another xtask holds it.
    pub fn acquire(path: &Path) -> Result<StateLock, String> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| format!("cannot open lock {}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                eprintln!(
                    "services: waiting for another `cargo xtask services` ({})",
                    path.display()
                );
                file.lock()
                    .map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(format!("cannot lock {}: {e}", path.display()));
            }
        }
        Ok(StateLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use super::{group_alive, terminate};

    /// A child that takes a second to exit after SIGTERM outlives its
    /// group's leader: `terminate` returns only once it is gone too (a
    /// `restart` started the new server while the old one's child still
    /// held the port).
    #[test]
    fn terminate_waits_for_the_whole_group() {
        let leader = Command::new("sh")
            .args([
                "-c",
                "sh -c 'trap \"sleep 1; exit 0\" TERM; while :; do sleep 0.1; done' & \
                 trap 'exit 0' TERM; while :; do sleep 0.1; done",
            ])
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn");
        let pid = leader.id();
        std::thread::sleep(Duration::from_millis(300));
        assert!(group_alive(pid), "the group runs");
        // Reap the leader when it exits, as a parent would.
        let reaper = std::thread::spawn(move || {
            let mut leader = leader;
            leader.wait()
        });
        let note = terminate(pid, "TERM", true, Duration::from_secs(10));
        assert_eq!(note, "stopped (SIGTERM)");
        assert!(!group_alive(pid), "a child of the group outlived terminate");
        reaper.join().expect("reaper").expect("wait");
    }
}

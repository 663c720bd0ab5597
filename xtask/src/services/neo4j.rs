//! The `neo4j` service: Neo4j 5.26 LTS Community, embedded in a small Java
//! main (`xtask/assets/neo4j/Uds3Neo4j.java`) with its Bolt connector.
//!
//! The jars come from Maven Central: `mvn dependency:copy-dependencies` on
//! the committed `xtask/assets/neo4j/pom.xml` copies `org.neo4j:neo4j`,
//! `org.neo4j:neo4j-bolt` and APOC Core with their dependencies into
//! `$UDS3_SERVICES_DIR/cache/neo4j-jars` (Maven's own repository cache stays
//! in `~/.m2`); APOC Core's two jars are copied to its `plugins/` folder. `javac` compiles the main into the service folder. Both
//! happen once per pom and source: a stamp file holds the text they were
//! made from. The JVM is Java 17 or later (`$JAVA_HOME`, else `java` and
//! `javac` on the PATH), heap at most 1 GiB, page cache 256 MiB. The main
//! registers `uds3.setTransactionMemoryMax(bytes)`, which sets the dynamic
//! `db.memory.transaction.max` (Community lacks `dbms.setConfigValue`),
//! for the test of a batch over the limit.
//!
//! Auth is on: the main sets the password of the user `neo4j` from
//! `UDS3_NEO4J_PASSWORD` through the system database at every start, then
//! writes a ready file; readiness is that file, then `RETURN 1` over Bolt
//! with that password (before the file exists the old password still holds,
//! and a refused login would end `up` as fatal).

use anyhow::{Context, Result, anyhow, bail};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use batch_neo4j::{CypherParams, CypherSession, Neo4jConfig, PropertyValue};
use xtask::test_servers::Service;

use super::Ctx;
use super::process::run_logged;

const SERVICE: Service = Service::Neo4j;
/// The pom naming the Neo4j jars (its `neo4j.version` is the version run).
const POM: &str = include_str!("../../assets/neo4j/pom.xml");
/// The Java main that runs the embedded database.
const MAIN_JAVA: &str = include_str!("../../assets/neo4j/Uds3Neo4j.java");
/// Java heap limit: small, this is a test server.
const HEAP: &str = "-Xmx1g";
/// Neo4j's minimum password length (`dbms.security.auth_minimum_password_length`).
const MIN_PASSWORD: usize = 8;
/// The only user of the local server.
const USER: &str = "neo4j";
/// The folder, inside the jars folder, of the procedure jars (APOC Core).
const PLUGINS: &str = "plugins";

/// Fetches the jars (once per pom) and compiles the main (once per source
/// and jar list).
pub fn install(ctx: &Ctx) -> Result<()> {
    check_credentials(ctx)?;
    let log = ctx.install_log(SERVICE);
    let jars = fetch_jars(ctx, &log)?;
    compile_main(ctx, &jars, &log)
}

/// Refuses credentials the local Neo4j cannot have, naming the variable.
fn check_credentials(ctx: &Ctx) -> Result<()> {
    if ctx.endpoints.neo4j_password.chars().count() < MIN_PASSWORD {
        bail!(
            "Neo4j needs a password of at least {MIN_PASSWORD} characters: set UDS3_NEO4J_PASSWORD"
        );
    }
    if ctx.endpoints.neo4j_user != USER {
        bail!(
            "the local Neo4j has only the user {USER}, not {:?}: unset UDS3_NEO4J_USER",
            ctx.endpoints.neo4j_user
        );
    }
    Ok(())
}

fn jars_dir(ctx: &Ctx) -> PathBuf {
    ctx.cache().join("neo4j-jars")
}

fn classes_dir(ctx: &Ctx) -> PathBuf {
    ctx.svc_dir(SERVICE).join("classes")
}

/// Whether `dir/.stamp` holds exactly `text`.
fn stamped(dir: &Path, text: &str) -> bool {
    fs::read_to_string(dir.join(".stamp")).is_ok_and(|s| s == text)
}

/// Runs `make` into a fresh temporary folder next to `dest` and moves it to
/// `dest` with a stamp holding `stamp`, so that a half-made folder is never
/// taken for a finished one.
fn build_into(dest: &Path, stamp: &str, make: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = dest.parent().context("no parent folder")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = parent.join(format!(".tmp-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let result = make(&tmp).and_then(|()| {
        fs::write(tmp.join(".stamp"), stamp).context("cannot write stamp")?;
        let _ = fs::remove_dir_all(dest);
        fs::rename(&tmp, dest).with_context(|| format!("cannot move {}", tmp.display()))
    });
    let _ = fs::remove_dir_all(&tmp);
    result
}

/// `mvn dependency:copy-dependencies` of the committed pom, once per pom.
fn fetch_jars(ctx: &Ctx, log: &Path) -> Result<PathBuf> {
    let dir = jars_dir(ctx);
    if stamped(&dir, POM) {
        return Ok(dir);
    }
    let pom = ctx.svc_dir(SERVICE).join("pom.xml");
    fs::write(&pom, POM).with_context(|| format!("cannot write {}", pom.display()))?;
    eprintln!("[neo4j] mvn dependency:copy-dependencies (Neo4j jars from Maven Central)");
    build_into(&dir, POM, |tmp| {
        let mut cmd = Command::new("mvn");
        cmd.args(["-B", "-q", "-f"])
            .arg(&pom)
            .arg("org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies")
            .arg(format!("-DoutputDirectory={}", tmp.display()))
            .current_dir(ctx.svc_dir(SERVICE));
        run_logged(cmd, log, "mvn dependency:copy-dependencies")
            .map_err(|e| anyhow!("{e}\n(needs `mvn` on the PATH and Maven Central reachable)"))?;
        copy_plugins(tmp)
    })?;
    Ok(dir)
}

/// Copies APOC Core's two jars (apoc-core, apoc-common) into `plugins/`,
/// where Neo4j finds procedures; they stay on the class path too (see the
/// pom).
fn copy_plugins(jars: &Path) -> Result<()> {
    let plugins = jars.join(PLUGINS);
    fs::create_dir_all(&plugins).with_context(|| format!("cannot create {}", plugins.display()))?;
    let apoc: Vec<PathBuf> = fs::read_dir(jars)
        .with_context(|| format!("cannot read {}", jars.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("apoc-") && n.ends_with(".jar"))
        })
        .collect();
    if apoc.len() != 2 {
        bail!(
            "expected two APOC jars (apoc-core, apoc-common) in {}, found {apoc:?}",
            jars.display()
        );
    }
    for jar in apoc {
        let to = plugins.join(jar.file_name().unwrap_or_default());
        fs::copy(&jar, &to).with_context(|| format!("cannot copy {}", jar.display()))?;
    }
    Ok(())
}

/// The jar file names, sorted: part of the compiled main's stamp.
fn jar_list(jars: &Path) -> Result<String> {
    let mut names: Vec<String> = fs::read_dir(jars)
        .with_context(|| format!("cannot read {}", jars.display()))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".jar"))
        .collect();
    names.sort();
    Ok(names.join("\n"))
}

/// `javac` of the main against the jars, once per source and jar list.
fn compile_main(ctx: &Ctx, jars: &Path, log: &Path) -> Result<()> {
    let stamp = format!("{MAIN_JAVA}\n--\n{}", jar_list(jars)?);
    let dir = classes_dir(ctx);
    if stamped(&dir, &stamp) {
        return Ok(());
    }
    let src = ctx.svc_dir(SERVICE).join("Uds3Neo4j.java");
    fs::write(&src, MAIN_JAVA).with_context(|| format!("cannot write {}", src.display()))?;
    eprintln!("[neo4j] javac Uds3Neo4j.java");
    build_into(&dir, &stamp, |tmp| {
        let mut cmd = Command::new(java_tool("javac"));
        cmd.arg("-cp")
            .arg(format!("{}/*", jars.display()))
            .arg("-d")
            .arg(tmp)
            .arg(&src);
        run_logged(cmd, log, "javac Uds3Neo4j.java")
            .map_err(|e| anyhow!("{e}\n(needs a JDK 17 or later: set JAVA_HOME)"))
    })
}

/// `$JAVA_HOME/bin/TOOL` if JAVA_HOME is set, else TOOL on the PATH.
fn java_tool(tool: &str) -> PathBuf {
    match std::env::var_os("JAVA_HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join("bin").join(tool),
        None => PathBuf::from(tool),
    }
}

/// The file the main writes once the password is set.
fn ready_file(ctx: &Ctx) -> PathBuf {
    ctx.svc_dir(SERVICE).join("ready")
}

/// The Java command running the embedded Neo4j with Bolt on the URI's port.
pub fn command(ctx: &Ctx) -> Result<Command> {
    check_credentials(ctx)?;
    let (_, port) = ctx
        .endpoints
        .host_port(SERVICE)
        .map_err(anyhow::Error::msg)?;
    let home = ctx.svc_dir(SERVICE).join("home");
    fs::create_dir_all(&home).with_context(|| format!("cannot create {}", home.display()))?;
    let ready = ready_file(ctx);
    let _ = fs::remove_file(&ready);
    let mut cmd = Command::new(java_tool("java"));
    cmd.args([
        "-Xms128m",
        HEAP,
        "-XX:+UseG1GC",
        // As Neo4j's own launcher runs it.
        "--add-opens=java.base/java.nio=ALL-UNNAMED",
        "--add-opens=java.base/java.io=ALL-UNNAMED",
        "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
        "-Dio.netty.tryReflectionSetAccessible=true",
        "-Djava.awt.headless=true",
    ])
    .arg("-cp")
    .arg(format!(
        "{}:{}/*",
        classes_dir(ctx).display(),
        jars_dir(ctx).display()
    ))
    .arg("Uds3Neo4j")
    .arg(&home)
    .arg(port.to_string())
    .arg(&ready)
    .arg(jars_dir(ctx).join(PLUGINS))
    .env("UDS3_NEO4J_PASSWORD", &ctx.endpoints.neo4j_password)
    .current_dir(ctx.svc_dir(SERVICE));
    Ok(cmd)
}

/// The line the main prints first: the log holds earlier starts too.
const START_LINE: &str = "uds3-neo4j: starting";

/// Whether the log of the latest start (from its last [`START_LINE`] on)
/// shows that the main thread died: the JVM then lives on with Neo4j's
/// threads and never gets ready. An earlier start's failure does not count.
pub fn failed_in_log(log_tail: &str) -> bool {
    let latest = log_tail.rfind(START_LINE).map_or("", |at| &log_tail[at..]);
    latest.contains("Exception in thread \"main\"")
}

/// Ready when the main has set the password and Bolt answers `RETURN 1`.
pub fn ready(ctx: &Ctx) -> Result<()> {
    let file = ready_file(ctx);
    if !file.is_file() {
        bail!("{} not written yet", file.display());
    }
    probe_external(ctx)
}

/// A session to the server's default database, over batch-neo4j's own
/// connection code (the one the tests exercise).
fn connect(ctx: &Ctx) -> Result<CypherSession> {
    let config = Neo4jConfig::new(
        &ctx.endpoints.neo4j_uri,
        ctx.endpoints.neo4j_user.as_str(),
        ctx.endpoints.neo4j_password.as_str(),
    )?
    .database(None)
    .timeout(Duration::from_secs(10));
    Ok(CypherSession::connect(config)?)
}

/// Ready check of any Neo4j (also one `up` did not start): `RETURN 1` over Bolt.
pub fn probe_external(ctx: &Ctx) -> Result<()> {
    let rows = connect(ctx)?.run("RETURN 1 AS one", CypherParams::new())?;
    match rows.as_slice() {
        [row] if row.first() == Some(&Some(PropertyValue::Int(1))) => Ok(()),
        _ => Err(anyhow!("RETURN 1 answered {rows:?}")),
    }
}

/// Smoke check: MERGE one node over Bolt, then read it back.
pub fn check(ctx: &Ctx, token: &str) -> Result<String> {
    let mut session = connect(ctx)?;
    session.run(
        "MERGE (n:Uds3Smoke {key: 'smoke'}) SET n.token = $token",
        CypherParams::from([("token".to_owned(), token.into())]),
    )?;
    let rows = session.run(
        "MATCH (n:Uds3Smoke {key: 'smoke'}) RETURN n.token AS token",
        CypherParams::new(),
    )?;
    match rows.as_slice() {
        [row] if row.first() == Some(&Some(PropertyValue::from(token))) => {
            Ok("merged and read back a node (:Uds3Smoke) over Bolt".into())
        }
        _ => Err(anyhow!("wrote token {token:?}, read {rows:?}")),
    }
}

super::server::managed_server!(Neo4j: Service::Neo4j, "neo4j (Neo4j, Bolt)" {
    fn probe_external(&self, ctx: &Ctx) -> Result<()> {
        probe_external(ctx)
    }

    /// Neo4j's JVM keeps running on its own threads after the main thread
    /// died, e.g. when setting the password failed.
    fn failed_in_log(&self, log_tail: &str) -> bool {
        failed_in_log(log_tail)
    }
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_latest_start_can_have_failed() {
        let old = "uds3-neo4j: starting\nException in thread \"main\" java.lang.RuntimeException\n";
        assert!(failed_in_log(old));
        let restarted = format!("{old}uds3-neo4j: starting\nuds3-neo4j: ready\n");
        assert!(!failed_in_log(&restarted));
        assert!(!failed_in_log(
            "Exception in thread \"main\" from before the marker"
        ));
    }
}

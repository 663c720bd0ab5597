//! Stale copies of this workspace's own crates in Cargo's source cache.
//!
//! `cargo package --workspace` verifies each crate against the others
//! through a local overlay registry, and Cargo extracts every `.crate` it
//! reads from there into `$CARGO_HOME/registry/src/-<hash>/NAME-VERSION`,
//! keyed by the overlay's path. It never extracts a crate again once that
//! folder exists, so a second run from the same folder at the same version
//! verifies against the first run's sources (seen: `batch-postgres` built
//! against an older `batch-core` and failed). Removing this workspace's own
//! extracted crates before packaging makes every run verify what it packed.

use std::path::{Path, PathBuf};

/// The crates `cargo package` packs (every member but xtask): the one
/// list of published crates, also the crates `cargo xtask test` tests and
/// checks one by one. A test in `tests` below keeps it equal to the
/// workspace members without `publish = false`.
pub(crate) const PUBLISHED: [&str; 6] = [
    "batch-core",
    "batch-chroma",
    "batch-neo4j",
    "batch-postgres",
    "batch-couch",
    "uds3-batch",
];

/// Removes extracted copies of the published crates at this workspace's
/// version from overlay registries (folders named `-<hash>`; crates.io's
/// own folder is never touched). Returns what it removed.
pub fn forget_extracted_crates() -> std::io::Result<Vec<PathBuf>> {
    forget_extracted_crates_in(&cargo_home().join("registry").join("src"))
}

fn forget_extracted_crates_in(src: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let Ok(registries) = std::fs::read_dir(src) else {
        return Ok(removed);
    };
    for registry in registries {
        let registry = registry?;
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for name in PUBLISHED {
            let dir = registry
                .path()
                .join(format!("{name}-{}", env!("CARGO_PKG_VERSION")));
            if dir.is_dir() {
                std::fs::remove_dir_all(&dir)?;
                removed.push(dir);
            }
        }
    }
    Ok(removed)
}

fn cargo_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CARGO_HOME").filter(|h| !h.is_empty()) {
        return PathBuf::from(home);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/"), PathBuf::from);
    home.join(".cargo")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_this_workspaces_crates_in_overlay_registries_are_removed() {
        let src = std::env::temp_dir().join(format!("xtask-overlay-{}", std::process::id()));
        let version = env!("CARGO_PKG_VERSION");
        let stale = src.join("-abc").join(format!("batch-core-{version}"));
        let other_version = src.join("-abc").join("batch-core-0.0.1");
        let foreign = src.join("-abc").join(format!("serde-{version}"));
        let crates_io = src
            .join("index.crates.io-1949cf8c6b5b557f")
            .join(format!("batch-core-{version}"));
        for dir in [&stale, &other_version, &foreign, &crates_io] {
            std::fs::create_dir_all(dir.join("src")).expect("create");
        }
        let removed = forget_extracted_crates_in(&src).expect("remove");
        assert_eq!(removed, vec![stale.clone()]);
        assert!(!stale.exists());
        assert!(other_version.exists() && foreign.exists() && crates_io.exists());
        std::fs::remove_dir_all(&src).expect("clean up");
    }

    /// `PUBLISHED` is every workspace member whose manifest does not say
    /// `publish = false`, in the workspace's order.
    #[test]
    fn the_published_list_matches_the_workspace() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
        let members = manifest
            .split_once("members = [")
            .and_then(|(_, rest)| rest.split_once(']'))
            .expect("members")
            .0;
        let published: Vec<&str> = members
            .split(',')
            .map(|m| m.trim().trim_matches('"'))
            .filter(|m| !m.is_empty())
            .filter(|m| {
                let own = std::fs::read_to_string(root.join(m).join("Cargo.toml")).expect("member");
                !own.lines().any(|l| l.replace(' ', "") == "publish=false")
            })
            .collect();
        assert_eq!(published, PUBLISHED);
    }

    #[test]
    fn a_missing_cache_is_nothing_to_remove() {
        let removed = forget_extracted_crates_in(Path::new("/nonexistent/registry/src"));
        assert!(removed.expect("no error").is_empty());
    }
}

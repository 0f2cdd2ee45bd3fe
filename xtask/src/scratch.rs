//! `cargo xtask scratch`: the README's quick start, built the way a new user builds it
//! (issue 13). A crate made with `cargo new` outside the workspace, `cargo add smartcache
//! --path … --features …` and `cargo add tokio…` with the features the README's `toml` block
//! names, the README's `rust` block as `src/main.rs`, then `cargo check`. Both blocks are read
//! from README.md, so the check follows the README as it changes.
//!
//! The scratch crate starts from the workspace's `Cargo.lock` (the versions CI tests), so it
//! needs no network when the registry cache holds them (`--offline` is tried first). It builds
//! into the workspace's own `target/`: with the same versions and features, the dependencies
//! the workspace's `check`/`clippy` built are fresh there, so only the workspace's own crates
//! are checked again for it, once (measured: 126 of 137 units fresh after `cargo clippy
//! --workspace`; the rest stay fresh from one run to the next). A separate target directory
//! would cost a full cold build of fred, tokio, rustls and moka in every fresh CI clone.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// The scratch crate's package name.
const PACKAGE: &str = "smartcache-scratch";

/// The README's quick start: its dependencies and its program.
#[derive(Debug, PartialEq)]
struct QuickStart {
    /// `(crate, version requirement, features)` from the `toml` block, in order.
    dependencies: Vec<(String, String, Vec<String>)>,
    /// The `rust` block.
    program: String,
}

pub fn run(root: &Path) -> Result<(), String> {
    println!("\n==> scratch: the README's quick start in a new crate outside the workspace");
    let started = Instant::now();
    let readme = std::fs::read_to_string(root.join("README.md"))
        .map_err(|e| format!("cannot read README.md: {e}"))?;
    let quick_start = quick_start(&readme)?;
    let dir = std::env::temp_dir().join(format!("smartcache-scratch-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = build(root, &dir, &quick_start);
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "<== scratch: {} in {:.0?}",
        if result.is_ok() { "ok" } else { "FAILED" },
        started.elapsed()
    );
    result
}

fn build(root: &Path, dir: &Path, quick_start: &QuickStart) -> Result<(), String> {
    let parent = dir.parent().unwrap_or(dir);
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("scratch");
    // One package name for every run, so its build is reused.
    let new = [
        "new", "--quiet", "--vcs", "none", "--bin", "--name", PACKAGE, name,
    ];
    cargo(parent, &new)?;
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock"))
        .map_err(|e| format!("cannot copy Cargo.lock: {e}"))?;
    std::fs::write(dir.join("src/main.rs"), &quick_start.program)
        .map_err(|e| format!("cannot write src/main.rs: {e}"))?;
    let adds: Vec<Vec<String>> = quick_start
        .dependencies
        .iter()
        .map(|(name, version, features)| {
            let mut add = vec!["add".to_owned()];
            if name == "smartcache" {
                // The repository's crate, as a path dependency, instead of the registry's.
                let path = root.join("smartcache");
                add.extend([name.clone(), "--path".into(), path.display().to_string()]);
            } else {
                add.push(format!("{name}@{version}"));
            }
            if !features.is_empty() {
                add.extend(["--features".into(), features.join(",")]);
            }
            add
        })
        .collect();
    // Offline when the registry cache holds every version the lock names; else online.
    let offline = adds
        .iter()
        .all(|add| cargo(dir, &with(add, "--offline")).is_ok());
    if !offline {
        println!("    (the registry cache lacks something: resolving online)");
        for add in &adds {
            cargo(dir, &add.iter().map(String::as_str).collect::<Vec<_>>())?;
        }
    }
    let target = root.join("target");
    let mut check = vec!["check".to_owned(), "--quiet".into()];
    if offline {
        check.push("--offline".into());
    }
    let status = Command::new(env!("CARGO"))
        .args(&check)
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(dir)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "the README's quick start does not build in a new crate with `cargo add {}`",
            quick_start
                .dependencies
                .iter()
                .map(|(name, _, features)| format!("{name} --features {}", features.join(",")))
                .collect::<Vec<_>>()
                .join("`, `cargo add ")
        ))
    }
}

fn with<'a>(args: &'a [String], flag: &'a str) -> Vec<&'a str> {
    args.iter().map(String::as_str).chain([flag]).collect()
}

fn cargo(dir: &Path, args: &[&str]) -> Result<(), String> {
    let output = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`cargo {}` failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The `toml` and `rust` blocks of the README's "Quick start" section.
fn quick_start(readme: &str) -> Result<QuickStart, String> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Quick start"))
        .ok_or("README.md has no `## Quick start` section")?;
    let toml = fenced(section, "toml").ok_or("the quick start has no ```toml block")?;
    let program = fenced(section, "rust").ok_or("the quick start has no ```rust block")?;
    let dependencies = toml.lines().filter_map(dependency).collect::<Vec<_>>();
    if !dependencies.iter().any(|(name, _, _)| name == "smartcache") {
        return Err("the quick start's toml block does not add smartcache".into());
    }
    Ok(QuickStart {
        dependencies,
        program: program.to_owned(),
    })
}

/// The body of the first block fenced as ```lang in `text`.
fn fenced<'t>(text: &'t str, lang: &str) -> Option<&'t str> {
    let open = format!("```{lang}\n");
    let start = text.find(&open)? + open.len();
    let len = text[start..].find("```")?;
    Some(&text[start..start + len])
}

/// `name = { version = "v", features = ["a", "b"] }` or `name = "v"`; `None` for other lines
/// (the `[dependencies]` header, blank lines).
fn dependency(line: &str) -> Option<(String, String, Vec<String>)> {
    let (name, spec) = line.split_once('=')?;
    let (name, spec) = (name.trim(), spec.trim());
    if name.is_empty() || name.starts_with('[') {
        return None;
    }
    let quoted = |field: &str| -> Option<&str> {
        let rest = &spec[spec.find(field)? + field.len()..];
        let rest = rest.trim_start().strip_prefix('=')?.trim_start();
        Some(rest)
    };
    let version = match quoted("version") {
        Some(rest) => rest.strip_prefix('"')?.split('"').next()?,
        None => spec.strip_prefix('"')?.split('"').next()?,
    };
    let features = match quoted("features") {
        Some(rest) => rest
            .strip_prefix('[')?
            .split(']')
            .next()?
            .split(',')
            .map(|f| f.trim().trim_matches('"').to_owned())
            .filter(|f| !f.is_empty())
            .collect(),
        None => Vec::new(),
    };
    Some((name.to_owned(), version.to_owned(), features))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quick_start_is_read_from_the_readme() {
        let readme = "# x\n\n## Quick start\n\ntext\n\n```toml\n[dependencies]\n\
            smartcache = { version = \"0.1\", features = [\"redis\"] }\n\
            tokio = { version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }\n\
            serde = \"1.0\"\n```\n\n```rust\nfn main() {}\n```\n\n## Next\n\n```rust\nother\n```\n";
        let found = quick_start(readme).unwrap();
        assert_eq!(found.program, "fn main() {}\n");
        assert_eq!(
            found.dependencies,
            vec![
                ("smartcache".into(), "0.1".into(), vec!["redis".into()]),
                (
                    "tokio".into(),
                    "1".into(),
                    vec!["macros".into(), "rt-multi-thread".into()]
                ),
                ("serde".into(), "1.0".into(), vec![]),
            ]
        );
    }

    #[test]
    fn a_readme_without_the_quick_start_is_an_error() {
        assert!(quick_start("# x\n\n## Usage\n```rust\n```\n").is_err());
        let no_smartcache = "## Quick start\n```toml\ntokio = \"1\"\n```\n```rust\n```\n";
        assert!(quick_start(no_smartcache).is_err());
    }

    /// The repository's own README has the blocks the check needs.
    #[test]
    fn the_repository_readme_has_a_quick_start() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        let found = quick_start(&readme).unwrap();
        assert!(found.program.contains("fn main"));
        let smartcache = found.dependencies.iter().find(|d| d.0 == "smartcache");
        assert!(smartcache.is_some_and(|d| d.2.contains(&"redis".to_owned())));
    }
}

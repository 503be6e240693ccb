//! Embeds the build version and makes Cargo rebuild when assets change (assets are pulled into the
//! binary with `include_bytes!`/`include_str!`, so the binary is self-contained).
use std::process::Command;

// Card template validation (owned by cards): the same checks the library runs at load time.
#[path = "src/cards/template_check.rs"]
#[allow(dead_code)]
mod template_check;

/// The build date when git cannot say (a source tarball): the day this line was last edited.
const FALLBACK_BUILD_DATE: &str = "2026-12-04";

fn main() {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let version = if commit.is_empty() {
        env!("CARGO_PKG_VERSION").to_string()
    } else {
        format!("{} ({commit})", env!("CARGO_PKG_VERSION"))
    };
    println!("cargo:rustc-env=KADI_BUILD_VERSION={version}");
    // The date of the commit built (reproducible, unlike the build machine's clock): no date kadi
    // stores for good may lie before it, whatever a box without a real-time clock believes.
    let build_date = Command::new("git")
        .args(["log", "-1", "--format=%cs"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|d| d.len() == 10)
        .unwrap_or_else(|| FALLBACK_BUILD_DATE.to_string());
    println!("cargo:rustc-env=KADI_BUILD_DATE={build_date}");
    println!("cargo:rerun-if-changed=assets");
    check_card_templates();
    println!("cargo:rerun-if-changed=.git/HEAD");
}

/// Refuses to build when a card template in `assets/templates/` is malformed (see
/// `src/cards/template_check.rs` for what is checked).
fn check_card_templates() {
    println!("cargo:rerun-if-changed=assets/templates");
    println!("cargo:rerun-if-changed=src/cards/template_check.rs");
    let Ok(dir) = std::fs::read_dir("assets/templates") else {
        return;
    };
    let mut errors = Vec::new();
    for entry in dir.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("")
            .to_string();
        match std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
        {
            Ok(v) => errors.extend(template_check::check_template(&name, &v)),
            Err(e) => errors.push(format!("template {name}: {e}")),
        }
    }
    if !errors.is_empty() {
        panic!("card templates are invalid:\n  {}", errors.join("\n  "));
    }
}

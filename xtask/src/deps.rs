//! The dependency rule: each library crate depends on `ociregistry-core` and on no other crate of
//! this workspace, so users pick only the crates they need and each is released on its own.

use std::process::Command;

use serde_json::Value;

/// The library crates the rule covers. `ociregistry-core` itself depends on none of ours.
const CORE: &str = "ociregistry-core";

/// A violation of the rule.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Violation {
    pub(crate) krate: String,
    pub(crate) problem: String,
}

/// Checks the rule over `cargo metadata` output.
pub(crate) fn check(metadata: &Value) -> Result<Vec<Violation>, String> {
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("metadata has no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = metadata["packages"]
        .as_array()
        .ok_or("metadata has no packages")?;
    let ours: Vec<&Value> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(&id)))
        .collect();
    let names: Vec<&str> = ours.iter().filter_map(|p| p["name"].as_str()).collect();
    let mut violations = Vec::new();
    for p in &ours {
        let name = p["name"].as_str().unwrap_or_default();
        let is_library = name.starts_with("ociregistry-")
            && p["targets"].as_array().is_some_and(|ts| {
                ts.iter().any(|t| {
                    t["kind"]
                        .as_array()
                        .is_some_and(|k| k.iter().any(|k| k == "lib"))
                })
            });
        if !is_library {
            continue;
        }
        let deps = p["dependencies"].as_array().cloned().unwrap_or_default();
        let mut has_core = false;
        for d in &deps {
            let dep = d["name"].as_str().unwrap_or_default();
            let is_dev = d["kind"].as_str() == Some("dev");
            if !names.contains(&dep) {
                continue;
            }
            if dep == CORE {
                has_core |= !is_dev;
                if d["req"].as_str().is_none_or(|r| r == "*") {
                    violations.push(Violation {
                        krate: name.into(),
                        problem: format!("depends on {dep} without a version requirement"),
                    });
                }
            } else if !is_dev {
                violations.push(Violation {
                    krate: name.into(),
                    problem: format!("depends on {dep}; library crates may depend only on {CORE}"),
                });
            }
        }
        if name != CORE && !has_core {
            violations.push(Violation {
                krate: name.into(),
                problem: format!("does not depend on {CORE}"),
            });
        }
        if name == CORE
            && deps.iter().any(|d| {
                matches!(
                    d["name"].as_str(),
                    Some("hyper" | "tokio" | "rustls" | "hyper-util")
                ) && d["kind"].as_str() != Some("dev")
            })
        {
            violations.push(Violation {
                krate: name.into(),
                problem: "core must not depend on hyper, tokio or TLS".into(),
            });
        }
    }
    Ok(violations)
}

pub(crate) fn metadata() -> Result<Value, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .map_err(|e| format!("running cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("parsing cargo metadata: {e}"))
}

pub(crate) fn run() -> Result<(), String> {
    let violations = check(&metadata()?)?;
    if violations.is_empty() {
        println!("deps: every library crate depends on {CORE} and on no other crate of ours");
        return Ok(());
    }
    for v in &violations {
        eprintln!("deps: {}: {}", v.krate, v.problem);
    }
    Err(format!("{} dependency rule violation(s)", violations.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(name: &str, deps: &[(&str, &str)]) -> Value {
        serde_json::json!({
            "id": name, "name": name,
            "targets": [{"kind": ["lib"]}],
            "dependencies": deps.iter().map(|(n, k)| serde_json::json!({"name": n, "kind": if k.is_empty() { Value::Null } else { Value::from(*k) }, "req": "^0.1.0"})).collect::<Vec<_>>(),
        })
    }

    fn meta(pkgs: Vec<Value>) -> Value {
        let ids: Vec<Value> = pkgs.iter().map(|p| p["id"].clone()).collect();
        serde_json::json!({"workspace_members": ids, "packages": pkgs})
    }

    #[test]
    fn the_workspace_follows_the_rule() {
        let v = check(&metadata().unwrap()).unwrap();
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn catches_a_library_depending_on_a_sibling() {
        let m = meta(vec![
            pkg("ociregistry-core", &[]),
            pkg("ociregistry-mem", &[("ociregistry-core", "")]),
            pkg(
                "ociregistry-filter",
                &[("ociregistry-core", ""), ("ociregistry-mem", "")],
            ),
            pkg(
                "ociregistry-unify",
                &[("ociregistry-core", ""), ("ociregistry-mem", "dev")],
            ),
            pkg("ociregistry-client", &[]),
        ]);
        let v = check(&m).unwrap();
        let krates: Vec<&str> = v.iter().map(|v| v.krate.as_str()).collect();
        assert_eq!(
            krates,
            ["ociregistry-filter", "ociregistry-client"],
            "{v:?}"
        );
    }
}

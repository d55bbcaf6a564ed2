//! A real third-party client against `ocisrv`: skopeo copies an image and a multi-platform index
//! in with `--preserve-digests`, pulls them back into a fresh OCI layout, and every digest checks.
//!
//! skopeo comes from Debian (`apt-get install skopeo`; `.ci/run` installs it). Where it is
//! missing the test is skipped, except under CI (`CI` set), where that is a failure.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::Ocisrv;
use ociregistry_core::Digest;

fn start_ocisrv() -> Ocisrv {
    start_ocisrv_with(&[])
}

fn start_ocisrv_with(extra: &[&str]) -> Ocisrv {
    common::start(extra)
}

fn skopeo_available() -> bool {
    match Command::new("skopeo").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ if std::env::var_os("CI").is_some() => panic!("skopeo is required under CI"),
        _ => {
            eprintln!("skopeo not installed (apt-get install skopeo): skipping");
            false
        }
    }
}

fn skopeo(args: &[&str]) {
    let (ok, output) = try_skopeo(args);
    assert!(ok, "skopeo {args:?} failed:\n{output}");
}

fn try_skopeo(args: &[&str]) -> (bool, String) {
    let out = Command::new("skopeo")
        .args(["--insecure-policy"])
        .args(args)
        .output()
        .expect("run skopeo");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A minimal OCI image layout writer.
struct Layout {
    dir: PathBuf,
    manifests: Vec<serde_json::Value>,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_owned(),
            manifests: Vec::new(),
        }
    }

    fn blob(&self, data: &[u8]) -> (Digest, usize) {
        let d = Digest::sha256(data);
        std::fs::write(self.dir.join("blobs/sha256").join(d.hex()), data).unwrap();
        (d, data.len())
    }

    fn desc(mt: &str, (d, size): (Digest, usize)) -> serde_json::Value {
        serde_json::json!({"mediaType": mt, "digest": d, "size": size})
    }

    /// An image with a config for `arch` and one tar layer; returns its manifest descriptor.
    fn image(&self, arch: &str, scratch: &Path) -> serde_json::Value {
        let content = scratch.join(format!("content-{arch}"));
        std::fs::create_dir_all(&content).unwrap();
        std::fs::write(content.join("hello.txt"), format!("hello from {arch}\n")).unwrap();
        let tar = scratch.join(format!("layer-{arch}.tar"));
        let ok = Command::new("tar")
            .arg("-cf")
            .arg(&tar)
            .arg("-C")
            .arg(&content)
            .arg("hello.txt")
            .status()
            .unwrap();
        assert!(ok.success());
        let layer_bytes = std::fs::read(&tar).unwrap();
        let diff_id = Digest::sha256(&layer_bytes);
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "config": {}
        });
        let config = self.blob(config.to_string().as_bytes());
        let layer = self.blob(&layer_bytes);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": Self::desc("application/vnd.oci.image.config.v1+json", config),
            "layers": [Self::desc("application/vnd.oci.image.layer.v1.tar", layer)],
        });
        let mut desc = Self::desc(
            "application/vnd.oci.image.manifest.v1+json",
            self.blob(manifest.to_string().as_bytes()),
        );
        desc["platform"] = serde_json::json!({"architecture": arch, "os": "linux"});
        desc
    }

    fn tag(&mut self, mut desc: serde_json::Value, tag: &str) {
        desc["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
        self.manifests.push(desc);
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": self.manifests});
        std::fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}

/// The digest `tag` names in the layout at `dir`, and a check that every blob matches its name.
fn check_layout(dir: &Path, tag: &str) -> String {
    for entry in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(Digest::sha256(&data).hex(), name, "blob {name} is corrupt");
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
        .unwrap_or_else(|| panic!("no {tag} in {index}"))["digest"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn skopeo_round_trip_preserves_digests() {
    if !skopeo_available() {
        return;
    }
    let server = start_ocisrv();
    let scratch = std::env::temp_dir().join(format!("ocisrv-skopeo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let src = scratch.join("src");
    let mut layout = Layout::new(&src);
    let single = layout.image("amd64", &scratch);
    let single_digest = single["digest"].as_str().unwrap().to_owned();
    layout.tag(single, "single");
    let amd = layout.image("amd64", &scratch);
    let arm = layout.image("arm64", &scratch);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [amd, arm],
    });
    let index_desc = Layout::desc(
        "application/vnd.oci.image.index.v1+json",
        layout.blob(index.to_string().as_bytes()),
    );
    let index_digest = index_desc["digest"].as_str().unwrap().to_owned();
    layout.tag(index_desc, "multi");

    let registry = &server.addr;
    let src_ref = |tag: &str| format!("oci:{}:{tag}", src.display());
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &src_ref("single"),
        &format!("docker://{registry}/skopeo/app:single"),
    ]);
    skopeo(&[
        "copy",
        "--all",
        "--preserve-digests",
        "--dest-tls-verify=false",
        &src_ref("multi"),
        &format!("docker://{registry}/skopeo/app:multi"),
    ]);

    let dst = scratch.join("dst");
    for tag in ["single", "multi"] {
        skopeo(&[
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            &format!("docker://{registry}/skopeo/app:{tag}"),
            &format!("oci:{}:{tag}", dst.display()),
        ]);
    }
    assert_eq!(check_layout(&dst, "single"), single_digest);
    assert_eq!(check_layout(&dst, "multi"), index_digest);
    // Both platforms came back.
    let pulled: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            dst.join("blobs/sha256")
                .join(&index_digest["sha256:".len()..]),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(pulled["manifests"].as_array().unwrap().len(), 2);
    let _ = std::fs::remove_dir_all(&scratch);
}

#[test]
fn skopeo_signs_in_and_users_without_push_rights_are_refused() {
    if !skopeo_available() {
        return;
    }
    let scratch = std::env::temp_dir().join(format!("ocisrv-skopeo-auth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let alice = bcrypt::hash("alice-pw", 4).unwrap();
    let bob = bcrypt::hash("bob-pw", 4).unwrap();
    let config = scratch.join("ocisrv.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[auth]
service = "skopeo-test"
[auth.users]
alice = "{alice}"
bob = "{bob}"
[[auth.rules]]
users = ["alice"]
repositories = ["team/*"]
actions = ["pull", "push", "delete"]
[[auth.rules]]
users = ["bob"]
repositories = ["team/*"]
actions = ["pull"]
"#
        ),
    )
    .unwrap();
    let server = start_ocisrv_with(&["--config", config.to_str().unwrap()]);
    let src = scratch.join("src");
    let mut layout = Layout::new(&src);
    let image = layout.image("amd64", &scratch);
    let digest = image["digest"].as_str().unwrap().to_owned();
    layout.tag(image, "v1");
    let src_ref = format!("oci:{}:v1", src.display());
    let dest = |repo: &str| format!("docker://{}/{repo}:v1", server.addr);

    // alice may push to team/*.
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:alice-pw",
        &src_ref,
        &dest("team/app"),
    ]);
    // bob may only pull: his push is refused, and nothing changes.
    let (ok, out) = try_skopeo(&[
        "copy",
        "--preserve-digests",
        "--dest-tls-verify=false",
        "--dest-creds",
        "bob:bob-pw",
        &src_ref,
        &dest("team/other"),
    ]);
    assert!(!ok, "bob pushed:\n{out}");
    assert!(
        out.to_lowercase().contains("denied")
            || out.contains("403")
            || out.contains("unauthorized"),
        "{out}"
    );
    // Wrong passwords and anonymous callers are refused too.
    let (ok, _) = try_skopeo(&[
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "alice:wrong",
        &src_ref,
        &dest("team/x"),
    ]);
    assert!(!ok);
    let (ok, _) = try_skopeo(&["copy", "--dest-tls-verify=false", &src_ref, &dest("team/y")]);
    assert!(!ok);
    // bob can pull what alice pushed, digests intact.
    let dst = scratch.join("dst");
    skopeo(&[
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--src-creds",
        "bob:bob-pw",
        &dest("team/app"),
        &format!("oci:{}:v1", dst.display()),
    ]);
    assert_eq!(check_layout(&dst, "v1"), digest);
    // Outside his rules bob sees nothing, not even whether the repository exists.
    let (ok, out) = try_skopeo(&[
        "inspect",
        "--tls-verify=false",
        "--creds",
        "bob:bob-pw",
        &format!("docker://{}/elsewhere/app:v1", server.addr),
    ]);
    assert!(!ok, "{out}");
    let _ = std::fs::remove_dir_all(&scratch);
}

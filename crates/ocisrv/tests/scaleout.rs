//! Scale-out: two `ocisrv` processes share one S3 bucket (moto on loopback, started by
//! `scripts/start-moto.sh`), and everything is checked over plain HTTP: an upload started on
//! one server finishes on the other, a tag pushed through one is read through the other, and
//! concurrent updates of one tag through both end in one state both agree on.
//!
//! Needs the `s3` feature: `cargo test -p ocisrv --features s3 --test scaleout`. Without moto
//! (and with `CI` unset) each test returns early with a note instead of failing.

#![cfg(feature = "s3")]
#![allow(clippy::unwrap_used)]

mod common;

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use common::{Ocisrv, data};
use ociregistry_core::Digest;

const BUCKET: &str = "ociregistry-scaleout";
const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// A child process, killed when dropped: with its whole process group when it leads one
/// (the moto script, which starts moto in the background).
struct KillOnDrop {
    child: Child,
    group: bool,
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.group {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The moto server this test process started (kept, with its endpoint), if it could.
fn moto() -> Option<&'static str> {
    static MOTO: OnceLock<Option<(KillOnDrop, String)>> = OnceLock::new();
    MOTO.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .ok()?
            .port();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/start-moto.sh");
        // The script stops moto when this process exits; statics are never dropped.
        let child = Command::new(script)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()
            .ok()?;
        let guard = KillOnDrop { child, group: true };
        let create = format!("PUT /{BUCKET} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let mut buf = [0u8; 12];
                if s.write_all(create.as_bytes()).is_ok()
                    && s.read_exact(&mut buf).is_ok()
                    && buf.starts_with(b"HTTP/1.1 2")
                {
                    return Some((guard, format!("http://127.0.0.1:{port}")));
                }
            }
            thread::sleep(Duration::from_millis(200));
        }
        None
    })
    .as_ref()
    .map(|(_, endpoint)| endpoint.as_str())
}

/// The endpoint, or `None` with a note when moto cannot run here (a failure in CI).
fn moto_or_skip() -> Option<&'static str> {
    let e = moto();
    if e.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "moto_server is required in CI (scripts/start-moto.sh)"
        );
        eprintln!("note: moto_server unavailable; scale-out tests skipped");
    }
    e
}

/// Writes a config that stores into `prefix` of the moto bucket; returns its path.
fn config(endpoint: &str, prefix: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ocisrv-scaleout-{}-{prefix}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ocisrv.toml");
    std::fs::write(
        &path,
        format!(
            r#"[server]
addr = "127.0.0.1:0"

[registry]
type = "s3"
endpoint = "{endpoint}"
allow_http = true
bucket = "{BUCKET}"
prefix = "{prefix}"
access_key_id = "test"
secret_access_key = "test"
"#
        ),
    )
    .unwrap();
    path
}

/// Starts `ocisrv --addr 127.0.0.1:0 --config CONFIG` (the config is the whole S3 setting:
/// `AWS_*` variables are removed).
fn start(config: &std::path::Path) -> Ocisrv {
    common::start_with([OsStr::new("--config"), config.as_os_str()], |cmd| {
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(&key);
            }
        }
    })
}

/// Two servers on one bucket and prefix.
fn pair(endpoint: &str, prefix: &str) -> (Ocisrv, Ocisrv) {
    let config = config(endpoint, prefix);
    (start(&config), start(&config))
}

/// An HTTP response.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path (and query) of the `Location` header, without scheme and host.
    fn location_path(&self) -> String {
        let loc = self
            .header("Location")
            .unwrap_or_else(|| panic!("no Location in {self:?}"));
        match loc
            .strip_prefix("http://")
            .or_else(|| loc.strip_prefix("https://"))
        {
            Some(rest) => rest[rest.find('/').unwrap()..].to_owned(),
            None => loc.to_owned(),
        }
    }
}

/// One HTTP/1.1 request (`Connection: close`) to `addr`.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head from {method} {path}"));
    let head = String::from_utf8(raw[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if method != "HEAD" && chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body,
    }
}

/// Decodes a chunked body.
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n").unwrap();
        let size_text = std::str::from_utf8(&data[..eol]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        data = &data[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

fn expect(resp: &Response, status: u16, what: &str) {
    assert_eq!(
        resp.status,
        status,
        "{what}: {}",
        String::from_utf8_lossy(&resp.body)
    );
}

/// Pushes a blob in one POST; returns its digest.
fn push_blob(addr: &str, repo: &str, content: &[u8]) -> Digest {
    let d = Digest::sha256(content);
    let resp = http(
        addr,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/?digest={d}"),
        &[("Content-Type", "application/octet-stream")],
        content,
    );
    expect(&resp, 201, "monolithic blob push");
    d
}

/// Pushes a config and a layer and returns a manifest over them (not pushed), annotated with
/// `note` so that each note gives a different manifest.
fn image(addr: &str, repo: &str, seed: u64, note: &str) -> Vec<u8> {
    let config = format!("{{\"seed\":{seed}}}").into_bytes();
    let layer = data(seed, 4096);
    let (cd, ld) = (
        push_blob(addr, repo, &config),
        push_blob(addr, repo, &layer),
    );
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": cd.to_string(), "size": config.len()},
        "layers": [{"mediaType": OCI_LAYER, "digest": ld.to_string(), "size": layer.len()}],
        "annotations": {"note": note},
    }))
    .unwrap()
}

fn put_manifest(addr: &str, repo: &str, reference: &str, manifest: &[u8]) -> Response {
    http(
        addr,
        "PUT",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Content-Type", OCI_MANIFEST)],
        manifest,
    )
}

fn get_manifest(addr: &str, repo: &str, reference: &str) -> Response {
    http(
        addr,
        "GET",
        &format!("/v2/{repo}/manifests/{reference}"),
        &[("Accept", OCI_MANIFEST)],
        b"",
    )
}

#[test]
fn an_upload_started_on_one_server_finishes_on_the_other() {
    let Some(endpoint) = moto_or_skip() else {
        return;
    };
    let (a, b) = pair(endpoint, "upload");
    let repo = "scaleout/upload";
    let content = data(7, 300_000);
    let digest = Digest::sha256(&content);
    let (first, second) = content.split_at(100_000);

    // Started on A: POST, then a first chunk.
    let resp = http(
        &a.addr,
        "POST",
        &format!("/v2/{repo}/blobs/uploads/"),
        &[],
        b"",
    );
    expect(&resp, 202, "POST on A");
    let resp = http(
        &a.addr,
        "PATCH",
        &resp.location_path(),
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &format!("0-{}", first.len() - 1)),
        ],
        first,
    );
    expect(&resp, 202, "first PATCH on A");
    assert_eq!(resp.header("Range"), Some("0-99999"));
    let location = resp.location_path();

    // B knows the session A started, at the Location A gave.
    let resp = http(&b.addr, "GET", &location, &[], b"");
    expect(&resp, 204, "upload status on B");
    assert_eq!(resp.header("Range"), Some("0-99999"));

    // Finished on B: the rest, then the PUT with the digest.
    let resp = http(
        &b.addr,
        "PATCH",
        &location,
        &[
            ("Content-Type", "application/octet-stream"),
            (
                "Content-Range",
                &format!("{}-{}", first.len(), content.len() - 1),
            ),
        ],
        second,
    );
    expect(&resp, 202, "second PATCH on B");
    assert_eq!(resp.header("Range"), Some("0-299999"));
    let location = resp.location_path();
    let sep = if location.contains('?') { '&' } else { '?' };
    let resp = http(
        &b.addr,
        "PUT",
        &format!("{location}{sep}digest={digest}"),
        &[],
        b"",
    );
    expect(&resp, 201, "PUT ?digest= on B");
    assert_eq!(resp.header("Docker-Content-Digest"), Some(digest.as_str()));

    // The blob is whole through both servers.
    for (name, server) in [("A", &a), ("B", &b)] {
        let resp = http(
            &server.addr,
            "GET",
            &format!("/v2/{repo}/blobs/{digest}"),
            &[],
            b"",
        );
        expect(&resp, 200, &format!("blob GET on {name}"));
        assert_eq!(resp.body.len(), content.len(), "blob size through {name}");
        assert!(
            digest.verify(&resp.body),
            "blob through {name} does not verify"
        );
        assert_eq!(resp.header("Docker-Content-Digest"), Some(digest.as_str()));
    }
    // The session is gone on both once committed.
    for server in [&a, &b] {
        assert_eq!(http(&server.addr, "GET", &location, &[], b"").status, 404);
    }
}

#[test]
fn a_tag_pushed_through_one_server_is_read_through_the_other() {
    let Some(endpoint) = moto_or_skip() else {
        return;
    };
    let (a, b) = pair(endpoint, "tag");
    let repo = "scaleout/tag";
    let manifest = image(&a.addr, repo, 1, "v1");
    let resp = put_manifest(&a.addr, repo, "v1", &manifest);
    expect(&resp, 201, "manifest PUT on A");
    let digest = Digest::sha256(&manifest);
    assert_eq!(resp.header("Docker-Content-Digest"), Some(digest.as_str()));

    let resp = get_manifest(&b.addr, repo, "v1");
    expect(&resp, 200, "GET by tag on B");
    assert_eq!(resp.body, manifest, "B serves the bytes A accepted");
    assert_eq!(resp.header("Docker-Content-Digest"), Some(digest.as_str()));
    assert_eq!(resp.header("Content-Type"), Some(OCI_MANIFEST));
    let resp = http(&b.addr, "GET", &format!("/v2/{repo}/tags/list"), &[], b"");
    expect(&resp, 200, "tag list on B");
    let tags: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(tags["tags"], serde_json::json!(["v1"]));
}

#[test]
fn concurrent_tag_updates_through_both_servers_agree() {
    let Some(endpoint) = moto_or_skip() else {
        return;
    };
    let (a, b) = pair(endpoint, "race");
    let repo = "scaleout/race";
    let started = Instant::now();
    let budget = Duration::from_secs(180);
    let rounds = 20;
    let mut winners = [0usize; 2];
    for round in 0..rounds {
        assert!(
            started.elapsed() < budget,
            "only {round} of {rounds} rounds within {}s",
            budget.as_secs()
        );
        let ma = image(
            &a.addr,
            repo,
            2 * round,
            &format!("round {round} through A"),
        );
        let mb = image(
            &b.addr,
            repo,
            2 * round + 1,
            &format!("round {round} through B"),
        );
        let (da, db) = (Digest::sha256(&ma), Digest::sha256(&mb));
        assert_ne!(da, db);
        // Both PUTs leave at the same moment.
        let barrier = Arc::new(Barrier::new(2));
        let pushes: Vec<_> = [(a.addr.clone(), ma), (b.addr.clone(), mb)]
            .into_iter()
            .map(|(addr, m)| {
                let barrier = barrier.clone();
                thread::spawn(move || {
                    barrier.wait();
                    put_manifest(&addr, repo, "latest", &m)
                })
            })
            .collect();
        for (push, d) in pushes.into_iter().zip([&da, &db]) {
            let resp = push.join().unwrap();
            expect(&resp, 201, &format!("round {round}: concurrent PUT"));
            assert_eq!(resp.header("Docker-Content-Digest"), Some(d.as_str()));
        }
        let via_a = get_manifest(&a.addr, repo, "latest");
        let via_b = get_manifest(&b.addr, repo, "latest");
        expect(&via_a, 200, "GET latest on A");
        expect(&via_b, 200, "GET latest on B");
        let got = via_a.header("Docker-Content-Digest").unwrap();
        assert_eq!(
            Some(got),
            via_b.header("Docker-Content-Digest"),
            "round {round}: A and B disagree on the tag"
        );
        assert_eq!(via_a.body, via_b.body, "round {round}: different bytes");
        let got = Digest::parse(got).unwrap();
        assert!(
            got.verify(&via_a.body),
            "round {round}: the bytes do not match the digest"
        );
        let winner = [&da, &db]
            .iter()
            .position(|d| **d == got)
            .unwrap_or_else(|| panic!("round {round}: the tag holds {got}, pushed neither"));
        winners[winner] += 1;
        // Both manifests stay reachable by digest through both servers.
        for d in [&da, &db] {
            for server in [&a, &b] {
                expect(
                    &get_manifest(&server.addr, repo, d.as_str()),
                    200,
                    "GET by digest",
                );
            }
        }
    }
    eprintln!(
        "{rounds} rounds in {:.1}s; the tag ended on A's manifest {} times, on B's {} times",
        started.elapsed().as_secs_f64(),
        winners[0],
        winners[1]
    );
}

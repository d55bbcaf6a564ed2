//! Loading docker and podman configuration, and credential helpers (a real
//! `docker-credential-test` shell script on an explicit `PATH`). Ported from the Go library's
//! `ociauth/authfile_test.go`, plus the sources and aliases it lacks.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ociregistry_client::auth::{
    AuthError, CredentialStore, Credentials, DockerConfig, ExecHelper, HelperRunner,
};

const HOST: &str = "someregistry.example.com";

fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

fn entry_with_user(user: &str) -> String {
    format!(r#"{{"auths": {{"{HOST}": {{"username": "{user}", "password": "somepassword"}}}}}}"#)
}

fn basic(user: &str, pass: &str) -> Credentials {
    Credentials::basic(user, pass)
}

/// Loads `config` as `$DOCKER_CONFIG/config.json`, in an otherwise empty environment.
fn load(config: &str) -> Result<DockerConfig, AuthError> {
    let d = tempfile::tempdir().unwrap();
    write(&d.path().join("config.json"), config);
    DockerConfig::load_with_env([("DOCKER_CONFIG", d.path().to_str().unwrap())])
}

fn entry(c: &DockerConfig, host: &str) -> Credentials {
    c.entry_for_registry(host).unwrap()
}

#[test]
fn load_with_no_config() {
    let home = tempfile::tempdir().unwrap();
    let c = DockerConfig::load_with_env([("HOME", home.path().to_str().unwrap())]).unwrap();
    assert!(c.sources().is_empty());
    assert_eq!(entry(&c, HOST), Credentials::default());
    let c = DockerConfig::load_with_env(Vec::<(String, String)>::new()).unwrap();
    assert_eq!(entry(&c, HOST), Credentials::default());
}

#[test]
fn load_precedence_of_every_source() {
    let d = tempfile::tempdir().unwrap();
    let p = |s: &str| d.path().join(s);
    // One file per source, each naming itself as the user.
    let files: Vec<(&str, PathBuf)> = vec![
        ("DOCKER_CONFIG", p("dockerconfig/config.json")),
        ("REGISTRY_AUTH_FILE", p("registry-auth.json")),
        ("XDG_RUNTIME_DIR", p("xdg-runtime/containers/auth.json")),
        ("XDG_CONFIG_HOME", p("xdg-config/containers/auth.json")),
    ];
    for (name, path) in &files {
        write(path, &entry_with_user(name));
    }
    let env = vec![
        (
            "DOCKER_AUTH_CONFIG".to_owned(),
            entry_with_user("DOCKER_AUTH_CONFIG"),
        ),
        (
            "DOCKER_CONFIG".to_owned(),
            p("dockerconfig").display().to_string(),
        ),
        (
            "REGISTRY_AUTH_FILE".to_owned(),
            p("registry-auth.json").display().to_string(),
        ),
        (
            "XDG_RUNTIME_DIR".to_owned(),
            p("xdg-runtime").display().to_string(),
        ),
        (
            "XDG_CONFIG_HOME".to_owned(),
            p("xdg-config").display().to_string(),
        ),
    ];
    // All sources present: the inline config wins.
    let c = DockerConfig::load_with_env(env.clone()).unwrap();
    assert_eq!(c.sources().len(), 5, "{:?}", c.sources());
    assert_eq!(entry(&c, HOST), basic("DOCKER_AUTH_CONFIG", "somepassword"));
    // Remove sources one by one: the next one takes over.
    let env = env[1..].to_vec();
    for (name, path) in &files {
        let c = DockerConfig::load_with_env(env.clone()).unwrap();
        assert_eq!(entry(&c, HOST), basic(name, "somepassword"), "{name}");
        std::fs::remove_file(path).unwrap();
    }
    let c = DockerConfig::load_with_env(env.clone()).unwrap();
    assert_eq!(entry(&c, HOST), Credentials::default());
}

#[test]
fn sources_are_merged_per_host() {
    let d = tempfile::tempdir().unwrap();
    write(
        &d.path().join("home/.docker/config.json"),
        r#"{"auths": {"a.example": {"username": "docker", "password": "p"}}}"#,
    );
    write(
        &d.path().join("home/.config/containers/auth.json"),
        r#"{"auths": {"a.example": {"username": "podman", "password": "p"}, "b.example": {"username": "podman", "password": "p"}}}"#,
    );
    let c =
        DockerConfig::load_with_env([("HOME", d.path().join("home").to_str().unwrap())]).unwrap();
    assert_eq!(entry(&c, "a.example"), basic("docker", "p"));
    assert_eq!(entry(&c, "b.example"), basic("podman", "p"));
}

#[test]
fn docker_config_replaces_home_docker() {
    let d = tempfile::tempdir().unwrap();
    write(
        &d.path().join("home/.docker/config.json"),
        &entry_with_user("home"),
    );
    std::fs::create_dir_all(d.path().join("empty-docker-config")).unwrap();
    let home = d.path().join("home");
    let c = DockerConfig::load_with_env([
        ("HOME", home.to_str().unwrap()),
        (
            "DOCKER_CONFIG",
            d.path().join("empty-docker-config").to_str().unwrap(),
        ),
    ])
    .unwrap();
    assert_eq!(entry(&c, HOST), Credentials::default());
    let c = DockerConfig::load_with_env([("HOME", home.to_str().unwrap())]).unwrap();
    assert_eq!(entry(&c, HOST), basic("home", "somepassword"));
}

#[test]
fn unreadable_or_invalid_files_fail_the_load() {
    let d = tempfile::tempdir().unwrap();
    // A directory where the file should be cannot be read.
    std::fs::create_dir_all(d.path().join("config.json")).unwrap();
    let e =
        DockerConfig::load_with_env([("DOCKER_CONFIG", d.path().to_str().unwrap())]).unwrap_err();
    assert!(matches!(e, AuthError::ReadConfig { .. }), "{e:?}");
    let e = load("{not json").unwrap_err();
    assert!(e.to_string().starts_with("invalid config "), "{e}");
    let e = DockerConfig::load_with_env([("DOCKER_AUTH_CONFIG", "[1]")]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("invalid config $DOCKER_AUTH_CONFIG"),
        "{e}"
    );
}

#[test]
fn base64_auth() {
    let c = load(&format!(
        r#"{{"auths": {{"{HOST}": {{"auth": "dGVzdHVzZXI6cGFzc3dvcmQ="}}}}}}"#
    ))
    .unwrap();
    assert_eq!(entry(&c, HOST), basic("testuser", "password"));
}

#[test]
fn malformed_base64_auth() {
    let e = load(&format!(r#"{{"auths": {{"{HOST}": {{"auth": "!!!"}}}}}}"#)).unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("invalid config "), "{msg}");
    assert!(
        msg.ends_with(&format!(
            "cannot decode auth field for \"{HOST}\": invalid base64-encoded string"
        )),
        "{msg}"
    );
}

#[test]
fn auth_overrides_username_and_password() {
    let c = load(&format!(
        r#"{{"auths": {{"{HOST}": {{"auth": "dGVzdHVzZXI6cGFzc3dvcmQ=", "username": "foo", "password": "bar"}}}}}}"#
    ))
    .unwrap();
    assert_eq!(entry(&c, HOST), basic("testuser", "password"));
}

#[test]
fn tokens_from_the_config() {
    let c = load(
        r#"{"auths": {
            "a.example": {"identitytoken": "refresh"},
            "b.example": {"registrytoken": "access"},
            "c.example": {"identitytoken": "refresh", "username": "u", "password": "p"}
        }}"#,
    )
    .unwrap();
    assert_eq!(
        entry(&c, "a.example"),
        Credentials::identity_token("refresh")
    );
    assert_eq!(
        entry(&c, "b.example"),
        Credentials::registry_token("access")
    );
    let e = c.entry_for_registry("c.example").unwrap_err();
    assert!(matches!(e, AuthError::AmbiguousCredentials { .. }), "{e:?}");
}

#[test]
fn url_entry() {
    let c = load(
        r#"{"auths": {"https://someregistry.example.com/v1": {"username": "foo", "password": "bar"}}}"#,
    )
    .unwrap();
    assert_eq!(entry(&c, HOST), basic("foo", "bar"));
}

#[test]
fn url_entry_and_explicit_host() {
    let c = load(
        r#"{"auths": {
            "https://someregistry.example.com/v1": {"username": "foo", "password": "bar"},
            "someregistry.example.com": {"username": "baz", "password": "arble"}
        }}"#,
    )
    .unwrap();
    assert_eq!(entry(&c, HOST), basic("baz", "arble"));
    assert_eq!(
        entry(&c, "https://someregistry.example.com/v1"),
        basic("foo", "bar")
    );
}

#[test]
fn multiple_urls_and_same_host() {
    let c = load(
        r#"{"auths": {
            "https://someregistry.example.com/v1": {"username": "u1", "password": "p"},
            "http://someregistry.example.com/v1": {"username": "u2", "password": "p"},
            "http://someregistry.example.com/v2": {"username": "u3", "password": "p"}
        }}"#,
    )
    .unwrap();
    let e = c.entry_for_registry(HOST).unwrap_err();
    assert_eq!(
        e.to_string(),
        "more than one auths entry for \"someregistry.example.com\" (http://someregistry.example.com/v1, http://someregistry.example.com/v2, https://someregistry.example.com/v1)"
    );
}

#[test]
fn docker_hub_names_are_one_registry() {
    let c = load(r#"{"auths": {"https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="}}}"#)
        .unwrap();
    for host in [
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "REGISTRY-1.docker.io",
    ] {
        assert_eq!(entry(&c, host), basic("hub", "secret"), "{host}");
    }
    assert_eq!(entry(&c, "quay.io"), Credentials::default());
    // A podman-style key works too, and an exact key beats an alias.
    let c = load(
        r#"{"auths": {
            "docker.io": {"username": "podman", "password": "p"},
            "registry-1.docker.io": {"username": "exact", "password": "p"}
        }}"#,
    )
    .unwrap();
    assert_eq!(entry(&c, "registry-1.docker.io"), basic("exact", "p"));
    assert_eq!(entry(&c, "index.docker.io"), basic("podman", "p"));
}

// ---- Credential helpers -------------------------------------------------------------------

const HELPER: &str = r#"#!/bin/sh
read -r host || true
case "$host" in
  registry-with-basic-auth.com) printf '{"Username":"someuser","Secret":"somesecret"}' ;;
  registry-with-token.com) printf '{\n "Username": "<token>",\n "Secret": "sometoken"\n}\n' ;;
  registry-with-error.com) echo "some error" >&2; exit 1 ;;
  registry-with-env.com) printf '{"Username":"envuser","Secret":"%s"}' "$TEST_HELPER_SECRET" ;;
  registry-with-garbage.com) printf 'not json' ;;
  https://index.docker.io/v1/) printf '{"Username":"hubuser","Secret":"hubsecret"}' ;;
  slow.example) exec sleep 10 ;;
  chatty.example) while :; do printf 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'; done ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
"#;

struct HelperEnv {
    dir: tempfile::TempDir,
}

impl HelperEnv {
    fn new() -> HelperEnv {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = bin.join("docker-credential-test");
        std::fs::write(&script, HELPER).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        HelperEnv { dir }
    }

    fn env(&self, config: &str) -> Vec<(String, String)> {
        let cfg = self.dir.path().join("docker");
        write(&cfg.join("config.json"), config);
        vec![
            (
                "PATH".into(),
                format!("{}:/usr/bin:/bin", self.dir.path().join("bin").display()),
            ),
            ("DOCKER_CONFIG".into(), cfg.display().to_string()),
            ("TEST_HELPER_SECRET".into(), "from-the-explicit-env".into()),
        ]
    }

    fn load(&self, config: &str) -> DockerConfig {
        DockerConfig::load_with_env(self.env(config)).unwrap()
    }
}

fn cred_helper_for(host: &str) -> String {
    format!(r#"{{"credHelpers": {{"{host}": "test"}}}}"#)
}

#[test]
fn helper_basic() {
    let h = HelperEnv::new();
    let c = h.load(&cred_helper_for("registry-with-basic-auth.com"));
    assert_eq!(
        entry(&c, "registry-with-basic-auth.com"),
        basic("someuser", "somesecret")
    );
}

#[test]
fn helper_token() {
    let h = HelperEnv::new();
    let c = h.load(&cred_helper_for("registry-with-token.com"));
    assert_eq!(
        entry(&c, "registry-with-token.com"),
        Credentials::identity_token("sometoken")
    );
}

#[test]
fn helper_registry_not_found() {
    let h = HelperEnv::new();
    let c = h.load(&cred_helper_for("other.com"));
    assert_eq!(entry(&c, "other.com"), Credentials::default());
}

#[test]
fn helper_registry_other_error() {
    let h = HelperEnv::new();
    let c = h.load(&cred_helper_for("registry-with-error.com"));
    let e = c.entry_for_registry("registry-with-error.com").unwrap_err();
    assert!(matches!(e, AuthError::Helper { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "error getting credentials from docker-credential-test: some error"
    );
}

#[test]
fn helper_with_garbage_output() {
    let h = HelperEnv::new();
    let c = h.load(&cred_helper_for("registry-with-garbage.com"));
    let e = c
        .entry_for_registry("registry-with-garbage.com")
        .unwrap_err();
    assert!(e.to_string().contains("invalid helper output"), "{e}");
}

#[test]
fn helper_and_explicit_env() {
    let h = HelperEnv::new();
    let c = h.load(&cred_helper_for("registry-with-env.com"));
    assert_eq!(
        entry(&c, "registry-with-env.com"),
        basic("envuser", "from-the-explicit-env")
    );
}

#[test]
fn default_helper() {
    let h = HelperEnv::new();
    let c = h.load(r#"{"credsStore": "test"}"#);
    assert_eq!(
        entry(&c, "registry-with-basic-auth.com"),
        basic("someuser", "somesecret")
    );
    assert_eq!(entry(&c, "other.com"), Credentials::default());
}

#[test]
fn default_helper_not_found_falls_back_to_auths() {
    let h = HelperEnv::new();
    let c = h.load(
        r#"{"credsStore": "desktop-not-installed", "auths": {"a.example": {"username": "u", "password": "p"}}}"#,
    );
    assert_eq!(entry(&c, "a.example"), basic("u", "p"));
    assert_eq!(entry(&c, "b.example"), Credentials::default());
}

#[test]
fn default_helper_with_nothing_falls_back_to_auths() {
    let h = HelperEnv::new();
    let c = h.load(
        r#"{"credsStore": "test", "auths": {"a.example": {"username": "u", "password": "p"}}}"#,
    );
    assert_eq!(entry(&c, "a.example"), basic("u", "p"));
}

#[test]
fn default_helper_other_error() {
    let h = HelperEnv::new();
    let c = h.load(r#"{"credsStore": "test"}"#);
    let e = c.entry_for_registry("registry-with-error.com").unwrap_err();
    assert!(e.to_string().ends_with("some error"), "{e}");
}

#[test]
fn specific_helper_not_found() {
    let h = HelperEnv::new();
    let c = h.load(r#"{"credHelpers": {"a.example": "not-installed"}, "credsStore": "test"}"#);
    let e = c.entry_for_registry("a.example").unwrap_err();
    assert!(matches!(e, AuthError::HelperNotFound { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "credential helper docker-credential-not-installed not found"
    );
}

#[test]
fn helper_is_asked_for_docker_hub_under_the_docker_cli_key() {
    let h = HelperEnv::new();
    let c = h.load(r#"{"credsStore": "test"}"#);
    for host in ["docker.io", "registry-1.docker.io", "index.docker.io"] {
        assert_eq!(entry(&c, host), basic("hubuser", "hubsecret"), "{host}");
    }
    let c = h.load(r#"{"credHelpers": {"https://index.docker.io/v1/": "test"}}"#);
    assert_eq!(
        entry(&c, "registry-1.docker.io"),
        basic("hubuser", "hubsecret")
    );
}

#[test]
fn slow_helper_is_killed() {
    let h = HelperEnv::new();
    let runner = ExecHelper::with_env(h.env("{}")).timeout(Duration::from_millis(300));
    let start = Instant::now();
    let e = runner.get("test", "slow.example").unwrap_err();
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn chatty_helper_is_cut_off() {
    let h = HelperEnv::new();
    let runner = ExecHelper::with_env(h.env("{}"))
        .max_output(4096)
        .timeout(Duration::from_secs(20));
    let start = Instant::now();
    let e = runner.get("test", "chatty.example").unwrap_err();
    assert!(
        e.to_string().contains("output larger than 4096 bytes"),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn injected_runner() {
    let c = load(r#"{"credHelpers": {"a.example": "fake"}}"#)
        .unwrap()
        .with_helper_runner(|helper: &str, server: &str| {
            assert_eq!((helper, server), ("fake", "a.example"));
            Ok(Credentials::basic("injected", "p"))
        });
    assert_eq!(entry(&c, "a.example"), basic("injected", "p"));
    assert!(!format!("{c:?}").contains("injected"));
}

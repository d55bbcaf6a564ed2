//! Docker and Podman credential configuration files.
//!
//! [`DockerConfig::load`] reads every source below and merges them per registry, an earlier
//! source winning over a later one:
//!
//! 1. `$DOCKER_AUTH_CONFIG`: the configuration JSON itself, inline (as CI systems set it).
//! 2. `$DOCKER_CONFIG/config.json` if `DOCKER_CONFIG` is set, which *replaces*
//!    `~/.docker/config.json`, as in the docker CLI; otherwise `$HOME/.docker/config.json`.
//! 3. `$REGISTRY_AUTH_FILE` (the containers tools' explicit auth file).
//! 4. `$XDG_RUNTIME_DIR/containers/auth.json` (podman's default).
//! 5. `$XDG_CONFIG_HOME/containers/auth.json`, by default `~/.config/containers/auth.json`.
//!
//! A missing file is skipped; a file that cannot be read or parsed fails the load.
//!
//! The format (`auths`, `credsStore`, `credHelpers`) is docker's. In `auths`, `auth` is the
//! base64 of `user:password` and overrides `username` and `password`; `identitytoken` is a
//! refresh token and `registrytoken` a bearer token. Keys that look like URLs
//! (`https://host/v1/`) also answer for their host, unless the host has an entry of its own;
//! several URL keys for one host make a lookup of that host fail rather than pick one at random.
//! Docker Hub's names (`docker.io`, `index.docker.io`, `registry-1.docker.io` and the docker
//! CLI's key `https://index.docker.io/v1/`) are one registry.
//!
//! A lookup tries `credHelpers[host]`, then `credsStore` (a default store whose program is not
//! installed is ignored, as desktop installs often leave `credsStore` behind), then `auths`; a
//! helper that has nothing for the host falls through to `auths`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use serde::Deserialize;

use super::{AuthError, CredentialStore, Credentials, ExecHelper, HelperRunner};

/// Docker Hub's host names, all naming one registry.
const DOCKER_HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];
/// The key under which the docker CLI stores Docker Hub credentials.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

/// Whether `host` is one of Docker Hub's names.
pub fn is_docker_hub(host: &str) -> bool {
    DOCKER_HUB_HOSTS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(host))
}

/// One `auths` entry, decoded.
#[derive(Clone, Default)]
struct AuthEntry {
    username: String,
    password: String,
    identity_token: String,
    registry_token: String,
    /// The URL keys this entry was derived from; empty if the key was present as is.
    derived_from: Vec<String>,
}

/// The merged configuration.
#[derive(Clone, Default)]
struct ConfigData {
    auths: HashMap<String, AuthEntry>,
    creds_store: String,
    cred_helpers: HashMap<String, String>,
}

#[derive(Deserialize, Default)]
struct WireConfig {
    #[serde(default)]
    auths: Option<BTreeMap<String, Option<WireAuth>>>,
    #[serde(default, rename = "credsStore")]
    creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    cred_helpers: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize, Default)]
struct WireAuth {
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
    #[serde(default)]
    registrytoken: Option<String>,
}

/// The host part of a URL-style key, like docker's `ConvertToHostname`.
fn url_host(key: &str) -> &str {
    let stripped = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    stripped.split('/').next().unwrap_or(stripped)
}

fn decode_auth(auth: &str) -> Result<(String, String), String> {
    let auth = auth.trim();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(auth))
        .map_err(|_| "invalid base64-encoded string".to_owned())?;
    let text = String::from_utf8(bytes).map_err(|_| "auth is not UTF-8".to_owned())?;
    match text.split_once(':') {
        Some((user, pass)) if !user.is_empty() => {
            // Mimics the docker CLI, which trims NUL padding from the password.
            Ok((user.to_owned(), pass.trim_matches('\0').to_owned()))
        }
        _ => Err("no username found".to_owned()),
    }
}

impl ConfigData {
    /// Decodes one source.
    fn decode(source_name: &str, data: &[u8]) -> Result<ConfigData, AuthError> {
        let invalid = |message: String| AuthError::InvalidConfig {
            source_name: source_name.to_owned(),
            message,
        };
        let value: serde_json::Value =
            serde_json::from_slice(data).map_err(|e| invalid(format!("decode failed: {e}")))?;
        if !value.is_object() {
            return Err(invalid("decode failed: not a JSON object".to_owned()));
        }
        let wire: WireConfig =
            serde_json::from_value(value).map_err(|e| invalid(format!("decode failed: {e}")))?;
        let mut out = ConfigData {
            creds_store: wire.creds_store.unwrap_or_default(),
            ..ConfigData::default()
        };
        let mut derived: BTreeMap<String, Vec<(String, AuthEntry)>> = BTreeMap::new();
        for (key, auth) in wire.auths.unwrap_or_default() {
            let auth = auth.unwrap_or_default();
            let mut entry = AuthEntry {
                username: auth.username.unwrap_or_default(),
                password: auth.password.unwrap_or_default(),
                identity_token: auth.identitytoken.unwrap_or_default(),
                registry_token: auth.registrytoken.unwrap_or_default(),
                derived_from: Vec::new(),
            };
            if let Some(a) = auth.auth.filter(|a| !a.trim().is_empty()) {
                let (u, p) = decode_auth(&a)
                    .map_err(|m| invalid(format!("cannot decode auth field for {key:?}: {m}")))?;
                entry.username = u;
                entry.password = p;
            }
            if key.contains("//") {
                let host = url_host(&key).to_ascii_lowercase();
                if !host.is_empty() && host != key {
                    derived
                        .entry(host)
                        .or_default()
                        .push((key.clone(), entry.clone()));
                }
            }
            out.auths.insert(key.to_ascii_lowercase(), entry);
        }
        for (host, mut entries) in derived {
            if out
                .auths
                .get(&host)
                .is_some_and(|e| e.derived_from.is_empty())
            {
                // An explicit entry for the host wins.
                continue;
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let keys: Vec<String> = entries.iter().map(|(k, _)| k.clone()).collect();
            let Some((_, mut entry)) = entries.into_iter().next() else {
                continue;
            };
            entry.derived_from = keys;
            out.auths.insert(host, entry);
        }
        for (key, helper) in wire.cred_helpers.unwrap_or_default() {
            let host = url_host(&key).to_ascii_lowercase();
            if host != key.to_ascii_lowercase() {
                out.cred_helpers
                    .entry(host)
                    .or_insert_with(|| helper.clone());
            }
            // Explicit keys overwrite derived ones.
            out.cred_helpers.insert(key.to_ascii_lowercase(), helper);
        }
        Ok(out)
    }

    /// Merges `later` into `self`, keeping what `self` already has.
    fn merge(&mut self, later: ConfigData) {
        for (k, v) in later.auths {
            self.auths.entry(k).or_insert(v);
        }
        for (k, v) in later.cred_helpers {
            self.cred_helpers.entry(k).or_insert(v);
        }
        if self.creds_store.is_empty() {
            self.creds_store = later.creds_store;
        }
    }
}

/// Credentials from docker/podman configuration files and credential helpers.
///
/// It implements [`CredentialStore`]. `Debug` shows which registries have entries, not their
/// secrets.
///
/// ```
/// use ociregistry_client::auth::{CredentialStore, DockerConfig};
/// let config = DockerConfig::from_json(r#"{"auths": {"https://index.docker.io/v1/": {"auth": "YWxpY2U6czNjcmV0"}}}"#)?;
/// let creds = config.entry_for_registry("registry-1.docker.io")?;
/// assert_eq!((creds.username.as_str(), creds.password.as_str()), ("alice", "s3cret"));
/// # Ok::<(), ociregistry_client::auth::AuthError>(())
/// ```
#[derive(Clone)]
pub struct DockerConfig {
    data: ConfigData,
    runner: Arc<dyn HelperRunner>,
    sources: Vec<String>,
}

impl fmt::Debug for DockerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut hosts: Vec<&String> = self.data.auths.keys().collect();
        hosts.sort();
        let helpers: BTreeMap<&String, &String> = self.data.cred_helpers.iter().collect();
        f.debug_struct("DockerConfig")
            .field("sources", &self.sources)
            .field("auths", &hosts)
            .field("creds_store", &self.data.creds_store)
            .field("cred_helpers", &helpers)
            .finish()
    }
}

/// A lookup of environment variables: the process's, or an explicit set.
struct Env(Option<HashMap<String, String>>);

impl Env {
    fn get(&self, key: &str) -> Option<String> {
        let v = match &self.0 {
            Some(map) => map.get(key).cloned(),
            None => std::env::var(key).ok(),
        };
        v.filter(|v| !v.is_empty())
    }

    fn home(&self) -> Option<PathBuf> {
        self.get("HOME")
            .or_else(|| self.get("USERPROFILE"))
            .map(PathBuf::from)
    }
}

impl DockerConfig {
    /// Loads the configuration of this process's environment (see the [module
    /// docs](self) for the sources), with helpers run by [`ExecHelper`].
    pub fn load() -> Result<DockerConfig, AuthError> {
        DockerConfig::load_from(&Env(None), Arc::new(ExecHelper::new()))
    }

    /// Loads the configuration as if the environment were exactly `env` (for `HOME`,
    /// `DOCKER_CONFIG`, ...), and runs helpers with that environment (so its `PATH` decides
    /// where they are found).
    pub fn load_with_env<K, V>(
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Result<DockerConfig, AuthError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let env: HashMap<String, String> =
            env.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let runner = ExecHelper::with_env(env.clone());
        DockerConfig::load_from(&Env(Some(env)), Arc::new(runner))
    }

    /// A configuration from one JSON document in docker's format, with helpers run by
    /// [`ExecHelper`].
    pub fn from_json(json: &str) -> Result<DockerConfig, AuthError> {
        Ok(DockerConfig {
            data: ConfigData::decode("<json>", json.as_bytes())?,
            runner: Arc::new(ExecHelper::new()),
            sources: vec!["<json>".into()],
        })
    }

    /// Replaces the credential helper runner.
    #[must_use]
    pub fn with_helper_runner(mut self, runner: impl HelperRunner + 'static) -> DockerConfig {
        self.runner = Arc::new(runner);
        self
    }

    /// The sources that were found and merged, in precedence order.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    fn load_from(env: &Env, runner: Arc<dyn HelperRunner>) -> Result<DockerConfig, AuthError> {
        let mut data = ConfigData::default();
        let mut sources = Vec::new();
        if let Some(inline) = env.get("DOCKER_AUTH_CONFIG") {
            let name = "$DOCKER_AUTH_CONFIG";
            data.merge(ConfigData::decode(name, inline.as_bytes())?);
            sources.push(name.to_owned());
        }
        let mut files = Vec::new();
        if let Some(dir) = env.get("DOCKER_CONFIG") {
            files.push(PathBuf::from(dir).join("config.json"));
        } else if let Some(home) = env.home() {
            files.push(home.join(".docker").join("config.json"));
        }
        if let Some(file) = env.get("REGISTRY_AUTH_FILE") {
            files.push(PathBuf::from(file));
        }
        if let Some(dir) = env.get("XDG_RUNTIME_DIR") {
            files.push(PathBuf::from(dir).join("containers").join("auth.json"));
        }
        if let Some(dir) = env.get("XDG_CONFIG_HOME") {
            files.push(PathBuf::from(dir).join("containers").join("auth.json"));
        } else if let Some(home) = env.home() {
            files.push(home.join(".config").join("containers").join("auth.json"));
        }
        for path in files {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(AuthError::ReadConfig {
                        path,
                        message: e.to_string(),
                    });
                }
            };
            let name = path.display().to_string();
            data.merge(ConfigData::decode(&name, &bytes)?);
            sources.push(name);
        }
        Ok(DockerConfig {
            data,
            runner,
            sources,
        })
    }

    /// The hosts to try for `host`: itself, then for Docker Hub its other names.
    fn candidates(host: &str) -> Vec<String> {
        let host = host.to_ascii_lowercase();
        let mut out = vec![host.clone()];
        if is_docker_hub(&host) {
            out.push(DOCKER_HUB_KEY.to_owned());
            out.extend(
                DOCKER_HUB_HOSTS
                    .iter()
                    .filter(|h| **h != host)
                    .map(|h| (*h).to_owned()),
            );
        }
        out
    }

    /// Asks a helper, for Docker Hub first under the docker CLI's key.
    fn run_helper(&self, helper: &str, host: &str) -> Result<Credentials, AuthError> {
        if is_docker_hub(host) {
            let creds = self.runner.get(helper, DOCKER_HUB_KEY)?;
            if !creds.is_empty() {
                return Ok(creds);
            }
        }
        self.runner.get(helper, host)
    }
}

impl CredentialStore for DockerConfig {
    fn entry_for_registry(&self, host: &str) -> Result<Credentials, AuthError> {
        let candidates = DockerConfig::candidates(host);
        if let Some(helper) = candidates
            .iter()
            .find_map(|c| self.data.cred_helpers.get(c))
            .filter(|h| !h.is_empty())
        {
            let creds = self.run_helper(helper, host)?;
            if !creds.is_empty() {
                return Ok(creds);
            }
        } else if !self.data.creds_store.is_empty() {
            match self.run_helper(&self.data.creds_store, host) {
                Ok(creds) if !creds.is_empty() => return Ok(creds),
                Ok(_) | Err(AuthError::HelperNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        let Some(entry) = candidates.iter().find_map(|c| self.data.auths.get(c)) else {
            return Ok(Credentials::default());
        };
        if entry.derived_from.len() > 1 {
            return Err(AuthError::AmbiguousEntries {
                host: host.to_owned(),
                keys: entry.derived_from.clone(),
            });
        }
        if !entry.identity_token.is_empty() && !entry.username.is_empty() {
            return Err(AuthError::AmbiguousCredentials {
                host: host.to_owned(),
            });
        }
        Ok(Credentials {
            username: entry.username.clone(),
            password: entry.password.clone(),
            identity_token: entry.identity_token.clone(),
            registry_token: entry.registry_token.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_host_strips_scheme_and_path() {
        assert_eq!(url_host("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(url_host("http://h:5000/v2"), "h:5000");
        assert_eq!(url_host("h"), "h");
    }

    #[test]
    fn decode_auth_cases() {
        assert_eq!(
            decode_auth("dGVzdHVzZXI6cGFzc3dvcmQ=").unwrap(),
            ("testuser".into(), "password".into())
        );
        // Without padding, and with NUL padding inside the password.
        assert_eq!(
            decode_auth("dGVzdHVzZXI6cGFzc3dvcmQ").unwrap(),
            ("testuser".into(), "password".into())
        );
        let nul = base64::engine::general_purpose::STANDARD.encode("u:p\0\0");
        assert_eq!(decode_auth(&nul).unwrap(), ("u".into(), "p".into()));
        assert!(decode_auth("!!!").is_err());
        let no_user = base64::engine::general_purpose::STANDARD.encode(":p");
        assert_eq!(decode_auth(&no_user).unwrap_err(), "no username found");
        let no_colon = base64::engine::general_purpose::STANDARD.encode("up");
        assert_eq!(decode_auth(&no_colon).unwrap_err(), "no username found");
    }

    #[test]
    fn merge_keeps_earlier_entries() {
        let mut a = ConfigData::decode(
            "a",
            br#"{"auths":{"x":{"username":"a","password":"p"}},"credHelpers":{"h":"one"}}"#,
        )
        .unwrap();
        let b = ConfigData::decode(
            "b",
            br#"{"auths":{"x":{"username":"b","password":"p"},"y":{"username":"b","password":"p"}},"credsStore":"st","credHelpers":{"h":"two","k":"three"}}"#,
        )
        .unwrap();
        a.merge(b);
        assert_eq!(a.auths["x"].username, "a");
        assert_eq!(a.auths["y"].username, "b");
        assert_eq!(a.cred_helpers["h"], "one");
        assert_eq!(a.cred_helpers["k"], "three");
        assert_eq!(a.creds_store, "st");
    }

    #[test]
    fn odd_but_valid_documents() {
        for doc in [
            "{}",
            r#"{"auths":null}"#,
            r#"{"auths":{"x":null}}"#,
            r#"{"auths":{"x":{}}, "other": [1,2]}"#,
            r#"{"auths":{"x":{"auth":""}}}"#,
        ] {
            ConfigData::decode("t", doc.as_bytes()).unwrap();
        }
        for doc in [
            "",
            "[]",
            r#"{"auths":[]}"#,
            r#"{"auths":{"x":{"auth":"!"}}}"#,
        ] {
            assert!(ConfigData::decode("t", doc.as_bytes()).is_err(), "{doc}");
        }
    }
}

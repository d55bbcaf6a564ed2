//! `WWW-Authenticate` challenges (RFC 7235), as sent with a 401 answer.
//!
//! A response may carry several challenges, in several headers or comma-separated in one
//! (`Bearer realm="https://auth.example/token",service="example", Basic realm="example"`).
//! Parameter names are case-insensitive (kept lower-case here); values may be tokens or quoted
//! strings with `\` escapes. Malformed input never fails: parsing keeps what it understood.

use std::collections::BTreeMap;

use http::HeaderMap;

/// One authentication challenge: a scheme and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lower-cased: `basic`, `bearer`, ...
    pub scheme: String,
    /// The parameters, by lower-cased name.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    /// Whether this is a `Basic` challenge.
    pub fn is_basic(&self) -> bool {
        self.scheme == "basic"
    }

    /// Whether this is a `Bearer` challenge.
    pub fn is_bearer(&self) -> bool {
        self.scheme == "bearer"
    }

    /// A parameter by (lower-case) name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Every challenge in one header value.
    ///
    /// ```
    /// use ociregistry_client::auth::challenge::Challenge;
    /// let cs = Challenge::parse_all(r#"Bearer realm="https://a.example/token",scope="repository:x:pull", Basic realm=x"#);
    /// assert_eq!(cs.len(), 2);
    /// assert_eq!(cs[0].param("scope"), Some("repository:x:pull"));
    /// assert!(cs[1].is_basic());
    /// ```
    pub fn parse_all(value: &str) -> Vec<Challenge> {
        Parser {
            s: value.as_bytes(),
            i: 0,
        }
        .challenges()
    }

    /// The challenge to answer among the `WWW-Authenticate` headers of a response: only
    /// `Basic` and `Bearer` are considered, and `Basic` is preferred when both are offered (as
    /// the Go library does). `None` when there is no usable challenge.
    pub fn from_headers(headers: &HeaderMap) -> Option<Challenge> {
        let mut chosen: Option<Challenge> = None;
        for value in headers.get_all(http::header::WWW_AUTHENTICATE) {
            let text = String::from_utf8_lossy(value.as_bytes());
            for c in Challenge::parse_all(&text) {
                if !c.is_basic() && !c.is_bearer() {
                    continue;
                }
                match &chosen {
                    None => chosen = Some(c),
                    Some(prev) if prev.is_bearer() && c.is_basic() => chosen = Some(c),
                    Some(_) => {}
                }
            }
        }
        chosen
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

fn is_token_byte(b: u8) -> bool {
    // RFC 7230 tchar.
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token68_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn skip_space_and_commas(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n' | b',')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> &str {
        let start = self.i;
        while self.peek().is_some_and(is_token_byte) {
            self.i += 1;
        }
        // Token bytes are ASCII, so this slice is valid UTF-8.
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or_default()
    }

    /// A quoted string, the opening quote being at the cursor. `None` if unterminated.
    fn quoted(&mut self) -> Option<String> {
        self.i += 1;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => return Some(String::from_utf8_lossy(&out).into_owned()),
                b'\\' => {
                    if let Some(next) = self.peek() {
                        out.push(next);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        None
    }

    /// Whether the cursor is at `name = value` (a parameter rather than a new scheme or a
    /// token68 blob such as `abc==`).
    fn at_param(&self) -> bool {
        let mut j = self.i;
        while self.s.get(j).copied().is_some_and(is_token_byte) {
            j += 1;
        }
        if j == self.i {
            return false;
        }
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        if self.s.get(j) != Some(&b'=') {
            return false;
        }
        j += 1;
        while matches!(self.s.get(j), Some(b' ' | b'\t')) {
            j += 1;
        }
        self.s
            .get(j)
            .is_some_and(|b| *b == b'"' || is_token_byte(*b))
    }

    fn challenges(&mut self) -> Vec<Challenge> {
        let mut out = Vec::new();
        loop {
            self.skip_space_and_commas();
            if self.peek().is_none() {
                return out;
            }
            let scheme = self.token().to_ascii_lowercase();
            if scheme.is_empty() {
                // Not a challenge: give up on the rest of this header.
                return out;
            }
            let mut challenge = Challenge {
                scheme,
                params: BTreeMap::new(),
            };
            self.skip_space();
            if !self.at_param() && self.peek().is_some_and(is_token68_byte) {
                while self.peek().is_some_and(|b| is_token68_byte(b) || b == b'=') {
                    self.i += 1;
                }
                out.push(challenge);
                continue;
            }
            // Parameters, separated by commas, until something that is not `name=`.
            loop {
                self.skip_space();
                if !self.at_param() {
                    break;
                }
                let name = self.token().to_ascii_lowercase();
                self.skip_space();
                self.i += 1; // '='
                self.skip_space();
                let value = if self.peek() == Some(b'"') {
                    match self.quoted() {
                        Some(v) => v,
                        None => {
                            out.push(challenge);
                            return out;
                        }
                    }
                } else {
                    self.token().to_owned()
                };
                // The first occurrence of a parameter wins.
                challenge.params.entry(name).or_insert(value);
                self.skip_space();
                if self.peek() != Some(b',') {
                    break;
                }
                // Skip the commas; what follows is either another parameter or a new
                // challenge (a scheme not followed by '=').
                self.skip_space_and_commas();
            }
            out.push(challenge);
            self.skip_space();
            match self.peek() {
                None => return out,
                Some(b) if is_token_byte(b) || b == b',' => continue,
                Some(_) => return out,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn bearer_with_quoted_params() {
        let cs = Challenge::parse_all(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        );
        assert_eq!(cs.len(), 1);
        assert!(cs[0].is_bearer());
        assert_eq!(
            params(&cs[0]),
            vec![
                ("realm", "https://auth.docker.io/token"),
                ("scope", "repository:library/alpine:pull"),
                ("service", "registry.docker.io"),
            ]
        );
    }

    #[test]
    fn scheme_and_param_names_are_case_insensitive() {
        let cs = Challenge::parse_all(r#"BEARER Realm="r", SERVICE=svc"#);
        assert!(cs[0].is_bearer());
        assert_eq!(params(&cs[0]), vec![("realm", "r"), ("service", "svc")]);
    }

    #[test]
    fn escapes_and_spaces() {
        let cs = Challenge::parse_all(r#"Bearer  realm = "a\"b\\c" ,  scope="x y""#);
        assert_eq!(
            params(&cs[0]),
            vec![("realm", r#"a"b\c"#), ("scope", "x y")]
        );
    }

    #[test]
    fn several_challenges_in_one_header() {
        let cs = Challenge::parse_all(
            r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple", Bearer realm="r""#,
        );
        let schemes: Vec<&str> = cs.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, vec!["newauth", "basic", "bearer"]);
        assert_eq!(cs[0].param("title"), Some(r#"Login to "apps""#));
        assert_eq!(cs[1].param("realm"), Some("simple"));
    }

    #[test]
    fn schemes_without_params_and_token68() {
        let cs = Challenge::parse_all("Basic");
        assert_eq!(cs.len(), 1);
        assert!(cs[0].is_basic() && cs[0].params.is_empty());
        let cs = Challenge::parse_all("Negotiate abc+/=, Basic realm=x");
        let schemes: Vec<&str> = cs.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, vec!["negotiate", "basic"]);
        assert_eq!(cs[1].param("realm"), Some("x"));
        let cs = Challenge::parse_all("Basic service=someService");
        assert_eq!(cs[0].param("service"), Some("someService"));
    }

    #[test]
    fn empty_quoted_value_is_kept() {
        let cs = Challenge::parse_all(r#"Bearer realm="r",scope="""#);
        assert_eq!(cs[0].param("scope"), Some(""));
    }

    #[test]
    fn garbage_never_panics() {
        for s in [
            "",
            ",,,",
            "=",
            "\"",
            "Bearer realm=\"unterminated",
            "Bearer realm=",
            "Bearer ,,, realm=x",
            "Bearer realm=x,",
            "Basic é=ü",
            "Bearer realm=\"\\",
            "  \t ",
            "(weird)",
            "Bearer realm=\"x\" trailing junk ===",
        ] {
            let _ = Challenge::parse_all(s);
        }
    }

    #[test]
    fn basic_preferred_over_bearer_across_headers() {
        let mut h = HeaderMap::new();
        h.append(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Bearer realm="r""#),
        );
        h.append(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Digest nonce=1, Basic realm=\"b\""),
        );
        let c = Challenge::from_headers(&h).unwrap();
        assert!(c.is_basic());
        let mut h = HeaderMap::new();
        h.append(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static(r#"Digest nonce=1, Bearer realm="r""#),
        );
        assert!(Challenge::from_headers(&h).unwrap().is_bearer());
        let mut h = HeaderMap::new();
        h.append(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Digest nonce=1"),
        );
        assert_eq!(Challenge::from_headers(&h), None);
        assert_eq!(Challenge::from_headers(&HeaderMap::new()), None);
    }
}

//! Reading what the conformance suite writes into its results directory.
//!
//! The suite (`github.com/opencontainers/distribution-spec/conformance`) writes three files into
//! `OCI_RESULTS_DIR`:
//!
//! - `junit.xml`: one `<testcase>` per *leaf* of its result tree, with `status` one of `passed`,
//!   `skipped` (the suite's Skip and Disabled), `failure` or `error`, and the leaf's errors in
//!   `<system-out>`. This is what we count.
//! - `results.yaml`: the redacted configuration plus one status per API (`apis:`) and per data
//!   set (`data:`): `Pass`, `FAIL`, `Skip`, `Disabled` or `Error`. We use it for the list of
//!   failing categories.
//! - `report.html`: the same tree with every request and response, for people.
//!
//! The `tests`/`failures` attributes on `<testsuite>` are *not* leaf counts: they also count results
//! recorded on inner nodes of the tree, so they are larger than the number of `<testcase>`s.

/// The outcome of one leaf test case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Passed,
    Skipped,
    Failure,
    Error,
}

/// One leaf test case from `junit.xml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Case {
    /// The full name, e.g. `OCI Conformance Test/sha256 blobs/post cancel/blob-post-cancel`.
    pub(crate) name: String,
    pub(crate) status: Status,
    /// The errors the suite recorded for the leaf (from `<system-out>`), possibly empty.
    pub(crate) message: String,
}

impl Case {
    /// The name without the suite's root prefix `OCI Conformance Test/`.
    pub(crate) fn short_name(&self) -> &str {
        self.name
            .strip_prefix("OCI Conformance Test/")
            .unwrap_or(&self.name)
    }

    /// The first line of the message.
    pub(crate) fn first_message_line(&self) -> &str {
        self.message.lines().next().unwrap_or("").trim()
    }
}

/// Counts of leaf test cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) cases: Vec<Case>,
}

impl Summary {
    fn count(&self, status: Status) -> usize {
        self.cases.iter().filter(|c| c.status == status).count()
    }

    pub(crate) fn passed(&self) -> usize {
        self.count(Status::Passed)
    }

    /// Failures plus errors (an error is the suite failing to run a test, which counts against
    /// the registry all the same).
    pub(crate) fn failed(&self) -> usize {
        self.count(Status::Failure) + self.count(Status::Error)
    }

    pub(crate) fn skipped(&self) -> usize {
        self.count(Status::Skipped)
    }

    pub(crate) fn with_status(&self, status: Status) -> impl Iterator<Item = &Case> {
        self.cases.iter().filter(move |c| c.status == status)
    }

    pub(crate) fn failing(&self) -> impl Iterator<Item = &Case> {
        self.cases
            .iter()
            .filter(|c| matches!(c.status, Status::Failure | Status::Error))
    }
}

/// Parses `junit.xml` into its leaf test cases.
pub(crate) fn parse_junit(xml: &str) -> Result<Summary, String> {
    let mut cases = Vec::new();
    let mut current: Option<Case> = None;
    // Set while inside <system-out> of the current testcase.
    let mut in_system_out = false;
    let mut saw_root = false;
    for token in Tokenizer::new(xml) {
        match token? {
            Token::Start {
                name,
                attrs,
                self_closing,
            } => match name {
                "testsuites" | "testsuite" => saw_root = true,
                "testcase" => {
                    if current.is_some() {
                        return Err("nested <testcase> in junit.xml".into());
                    }
                    let attr = |key: &str| {
                        attrs
                            .iter()
                            .find(|(k, _)| *k == key)
                            .map(|(_, v)| v.clone())
                    };
                    let name = attr("name").ok_or("<testcase> without a name")?;
                    let status = match attr("status").as_deref() {
                        Some("passed") => Status::Passed,
                        Some("skipped") => Status::Skipped,
                        Some("failure") => Status::Failure,
                        Some("error") => Status::Error,
                        other => {
                            return Err(format!("testcase {name:?} has unknown status {other:?}"));
                        }
                    };
                    let case = Case {
                        name,
                        status,
                        message: String::new(),
                    };
                    if self_closing {
                        cases.push(case);
                    } else {
                        current = Some(case);
                    }
                }
                "system-out" if current.is_some() && !self_closing => in_system_out = true,
                // Other producers put the reason into <failure message=...> and friends.
                "failure" | "error" | "skipped" => {
                    if let Some(case) = current.as_mut()
                        && case.message.is_empty()
                        && let Some((_, m)) = attrs.iter().find(|(k, _)| *k == "message")
                    {
                        case.message.clone_from(m);
                    }
                }
                _ => {}
            },
            Token::End { name } => match name {
                "testcase" => {
                    let case = current
                        .take()
                        .ok_or("unbalanced </testcase> in junit.xml")?;
                    cases.push(case);
                }
                "system-out" => in_system_out = false,
                _ => {}
            },
            Token::Text(text) => {
                if in_system_out && let Some(case) = current.as_mut() {
                    case.message.push_str(&text);
                }
            }
        }
    }
    if !saw_root {
        return Err("no <testsuites>/<testsuite> element: not a junit report".into());
    }
    if current.is_some() {
        return Err("junit.xml ends inside a <testcase>".into());
    }
    Ok(Summary { cases })
}

/// The per-API and per-data-set statuses from `results.yaml`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Categories {
    /// `(API name, status)`, e.g. `("Blob upload cancel", "FAIL")`.
    pub(crate) apis: Vec<(String, String)>,
    /// `(data set name, status)`, e.g. `("Blobs sha512", "FAIL")`.
    pub(crate) data: Vec<(String, String)>,
}

impl Categories {
    /// The names whose status is neither `Pass` nor `Disabled`, with their status when it is
    /// not `FAIL`.
    pub(crate) fn not_passing(list: &[(String, String)]) -> Vec<String> {
        list.iter()
            .filter(|(_, s)| s != "Pass" && s != "Disabled")
            .map(|(n, s)| {
                if s == "FAIL" {
                    n.clone()
                } else {
                    format!("{n} ({s})")
                }
            })
            .collect()
    }
}

/// Parses the `apis:` and `data:` maps of `results.yaml`. Both are flat maps of
/// `name: status` at two spaces of indentation, which is all we need from YAML.
pub(crate) fn parse_results_yaml(yaml: &str) -> Result<Categories, String> {
    let mut cats = Categories::default();
    let mut section: Option<&mut Vec<(String, String)>> = None;
    let mut seen = (false, false);
    for line in yaml.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if !line.starts_with(' ') {
            section = match line.trim_end() {
                "apis:" => {
                    seen.0 = true;
                    Some(&mut cats.apis)
                }
                "data:" => {
                    seen.1 = true;
                    Some(&mut cats.data)
                }
                _ => None,
            };
            continue;
        }
        let Some(list) = section.as_deref_mut() else {
            continue;
        };
        let entry = line.trim();
        let (key, value) = if let Some(rest) = entry.strip_prefix('"') {
            let end = rest
                .find('"')
                .ok_or_else(|| format!("unterminated key in results.yaml: {line:?}"))?;
            let value = rest[end + 1..].trim_start().strip_prefix(':');
            (rest[..end].to_string(), value)
        } else {
            match entry.split_once(": ") {
                Some((k, v)) => (k.to_string(), Some(v)),
                None => (String::new(), None),
            }
        };
        let value = value.ok_or_else(|| format!("unexpected line in results.yaml: {line:?}"))?;
        list.push((key, value.trim().trim_matches('"').to_string()));
    }
    if !(seen.0 && seen.1) {
        return Err("results.yaml has no apis:/data: sections".into());
    }
    Ok(cats)
}

/// A token of the tiny XML subset the suite's `encoding/xml` output uses.
#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Start {
        name: &'a str,
        attrs: Vec<(&'a str, String)>,
        self_closing: bool,
    },
    End {
        name: &'a str,
    },
    Text(String),
}

/// A minimal XML tokenizer: elements, attributes, text, entities, comments, CDATA, and
/// `<?...?>`/`<!...>` declarations (skipped). No namespaces or DTDs.
struct Tokenizer<'a> {
    rest: &'a str,
    failed: bool,
}

impl<'a> Tokenizer<'a> {
    fn new(xml: &'a str) -> Self {
        Tokenizer {
            rest: xml,
            failed: false,
        }
    }

    fn next_token(&mut self) -> Result<Option<Token<'a>>, String> {
        loop {
            if self.rest.is_empty() {
                return Ok(None);
            }
            if !self.rest.starts_with('<') {
                let end = self.rest.find('<').unwrap_or(self.rest.len());
                let (text, rest) = self.rest.split_at(end);
                self.rest = rest;
                return Ok(Some(Token::Text(decode_entities(text))));
            }
            if let Some(body) = self.rest.strip_prefix("<!--") {
                let end = body.find("-->").ok_or("unterminated XML comment")?;
                self.rest = &body[end + 3..];
                continue;
            }
            if let Some(body) = self.rest.strip_prefix("<![CDATA[") {
                let end = body.find("]]>").ok_or("unterminated CDATA section")?;
                self.rest = &body[end + 3..];
                return Ok(Some(Token::Text(body[..end].to_string())));
            }
            if self.rest.starts_with("<?") || self.rest.starts_with("<!") {
                let end = self.rest.find('>').ok_or("unterminated XML declaration")?;
                self.rest = &self.rest[end + 1..];
                continue;
            }
            if let Some(body) = self.rest.strip_prefix("</") {
                let end = body.find('>').ok_or("unterminated end tag")?;
                self.rest = &body[end + 1..];
                return Ok(Some(Token::End {
                    name: body[..end].trim(),
                }));
            }
            return self.start_tag().map(Some);
        }
    }

    fn start_tag(&mut self) -> Result<Token<'a>, String> {
        let body = &self.rest[1..];
        let name_end = body
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .ok_or("unterminated start tag")?;
        let name = &body[..name_end];
        if name.is_empty() {
            return Err("empty element name".into());
        }
        let mut rest = &body[name_end..];
        let mut attrs = Vec::new();
        loop {
            rest = rest.trim_start();
            if let Some(r) = rest.strip_prefix("/>") {
                self.rest = r;
                return Ok(Token::Start {
                    name,
                    attrs,
                    self_closing: true,
                });
            }
            if let Some(r) = rest.strip_prefix('>') {
                self.rest = r;
                return Ok(Token::Start {
                    name,
                    attrs,
                    self_closing: false,
                });
            }
            let eq = rest
                .find('=')
                .ok_or_else(|| format!("malformed attribute in <{name}>"))?;
            let key = rest[..eq].trim();
            let after = rest[eq + 1..].trim_start();
            let quote = after
                .chars()
                .next()
                .filter(|c| *c == '"' || *c == '\'')
                .ok_or_else(|| format!("unquoted attribute {key:?} in <{name}>"))?;
            let value_end = after[1..]
                .find(quote)
                .ok_or_else(|| format!("unterminated attribute {key:?} in <{name}>"))?;
            attrs.push((key, decode_entities(&after[1..1 + value_end])));
            rest = &after[1 + value_end + 1..];
        }
    }
}

impl<'a> Iterator for Tokenizer<'a> {
    type Item = Result<Token<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let t = self.next_token().transpose();
        if matches!(t, Some(Err(_))) {
            self.failed = true;
        }
        t
    }
}

/// Decodes the five named entities and numeric character references. Anything else is kept as
/// written.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').and_then(|semi| {
            let c = match &rest[1..semi] {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                e => e
                    .strip_prefix("#x")
                    .or_else(|| e.strip_prefix("#X"))
                    .map(|h| u32::from_str_radix(h, 16))
                    .or_else(|| e.strip_prefix('#').map(str::parse::<u32>))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            }?;
            Some((c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const JUNIT: &str = include_str!("testdata/junit-excerpt.xml");
    const RESULTS: &str = include_str!("testdata/results.yaml");

    #[test]
    fn counts_leaf_cases_of_a_real_report() {
        let s = parse_junit(JUNIT).expect("fixture parses");
        assert_eq!(s.cases.len(), 6);
        assert_eq!((s.passed(), s.failed(), s.skipped()), (2, 3, 1));
        let names: Vec<&str> = s.failing().map(Case::short_name).collect();
        assert_eq!(
            names,
            [
                "empty/referrers",
                "sha256 blobs/mount missing/blob-mount",
                "sha256 blobs/post cancel/blob-post-cancel",
            ]
        );
    }

    #[test]
    fn decodes_messages() {
        let s = parse_junit(JUNIT).expect("fixture parses");
        let referrers = &s.cases[2];
        assert_eq!(referrers.status, Status::Failure);
        assert_eq!(
            referrers.first_message_line(),
            r#"header value mismatch for "Content-Type", expected "application/vnd.oci.image.index.v1+json", received ["application/json"]"#
        );
        assert_eq!(
            referrers.message.lines().nth(1),
            Some("unexpected status code, expected one of [200], received 404")
        );
        let skipped: Vec<&Case> = s.with_status(Status::Skipped).collect();
        assert_eq!(
            skipped[0].short_name(),
            "sha256 blobs/mount anonymous/blob-mount-anonymous"
        );
        assert_eq!(
            skipped[0].message,
            "registry returned status 202, fell back to blob POST+PUT"
        );
        // Passing cases have no system-out; system-err (the request dump) is not the message.
        assert_eq!(s.cases[0].short_name(), "ping");
        assert_eq!(s.cases[0].message, "");
    }

    #[test]
    fn rejects_what_is_not_a_report() {
        assert!(parse_junit("").is_err());
        assert!(parse_junit("<html><body>oops</body></html>").is_err());
        assert!(
            parse_junit(
                r#"<testsuites><testcase name="a" status="weird"></testcase></testsuites>"#
            )
            .is_err()
        );
        assert!(parse_junit(r#"<testsuites><testcase name="a" status="passed">"#).is_err());
        assert!(
            parse_junit(r#"<testsuites><testcase name="a status="passed"></testsuites>"#).is_err()
        );
    }

    #[test]
    fn handles_other_junit_shapes() {
        let xml = r#"<?xml version="1.0"?>
<!-- <testcase name="commented out" status="passed"/> -->
<testsuites><testsuite name="s">
  <testcase name='a &amp; b' status="passed"/>
  <testcase name="c" status="failure"><failure message="boom &#x3C;here&#62;"/></testcase>
  <testcase name="d" status="error"><system-out><![CDATA[raw <text>]]></system-out></testcase>
</testsuite></testsuites>"#;
        let s = parse_junit(xml).expect("parses");
        assert_eq!(s.cases.len(), 3);
        assert_eq!(s.cases[0].name, "a & b");
        assert_eq!(s.cases[1].message, "boom <here>");
        assert_eq!(s.cases[2].message, "raw <text>");
        assert_eq!((s.passed(), s.failed(), s.skipped()), (1, 2, 0));
    }

    #[test]
    fn decodes_entities() {
        assert_eq!(decode_entities("a&lt;b&gt;&amp;&quot;&apos;"), "a<b>&\"'");
        assert_eq!(decode_entities("x&#xA;y&#9;z&#34;"), "x\ny\tz\"");
        assert_eq!(decode_entities("AT&T &bogus; &"), "AT&T &bogus; &");
    }

    #[test]
    fn reads_categories_of_a_real_results_file() {
        let c = parse_results_yaml(RESULTS).expect("fixture parses");
        assert_eq!(c.apis.len(), 28);
        assert_eq!(c.data.len(), 24);
        assert!(
            c.apis
                .contains(&("Blob upload cancel".into(), "FAIL".into()))
        );
        assert!(c.data.contains(&("Image".into(), "Pass".into())));
        let failing_data = Categories::not_passing(&c.data);
        assert_eq!(
            failing_data,
            [
                "Blobs sha256",
                "Blobs sha512",
                "Digest Algorithm sha512",
                "Invalid Manifest Digest",
                "Non-distributable Layers",
                "Sparse Manifests",
                "Tag Param sha512",
            ]
        );
    }

    #[test]
    fn reads_quoted_keys_and_other_statuses() {
        let yaml = "config:\n  registry: x\napis:\n  \"Odd: name\": Skip\n  Ping: Pass\ndata:\n  Image: Error\n";
        let c = parse_results_yaml(yaml).expect("parses");
        assert_eq!(
            c.apis,
            [
                ("Odd: name".into(), "Skip".into()),
                ("Ping".into(), "Pass".into())
            ]
        );
        assert_eq!(Categories::not_passing(&c.apis), ["Odd: name (Skip)"]);
        assert_eq!(Categories::not_passing(&c.data), ["Image (Error)"]);
        assert!(parse_results_yaml("config:\n  a: b\n").is_err());
    }
}

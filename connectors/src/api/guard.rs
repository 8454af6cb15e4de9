//! What keeps a hostile or broken peer from doing harm: caps on what one
//! resource may hold, page tokens that must never repeat, and credentials
//! that never travel over plain `http://` to another machine.

use std::collections::HashSet;

use reqwest::Url;

use super::http::{AuthSettings, HttpSettings, redact};
use crate::error::{ConfigError, SourceError};

/// Caps on the read of one resource: a server that pages forever, or
/// answers without end, ends the read with an error instead.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadLimits {
    pub max_pages: u64,
    pub max_entities: u64,
    pub max_response_bytes: u64,
}

/// The paging of one resource: counts against the caps, and every page
/// token seen (a server that hands out a token again would be read in a
/// loop forever).
pub(crate) struct Pager {
    limits: ReadLimits,
    pub pages: u64,
    pub entities: u64,
    pub bytes: u64,
    tokens: HashSet<String>,
}

impl Pager {
    pub(crate) fn new(limits: ReadLimits) -> Pager {
        Pager {
            limits,
            pages: 0,
            entities: 0,
            bytes: 0,
            tokens: HashSet::new(),
        }
    }

    /// Counts the page about to be read; `Err` past `max_pages`.
    pub(crate) fn next_page(&mut self, url: &Url) -> Result<(), SourceError> {
        if self.pages >= self.limits.max_pages {
            return Err(SourceError::Limit {
                url: redact(url),
                message: format!(
                    "the resource has more than {} pages (max_pages); stopping instead of \
                     reading on — raise max_pages if the source is really this large",
                    self.limits.max_pages
                ),
            });
        }
        self.pages += 1;
        Ok(())
    }

    /// What is left of `max_response_bytes` for the next answer.
    pub(crate) fn bytes_left(&self) -> u64 {
        self.limits.max_response_bytes.saturating_sub(self.bytes)
    }

    /// Counts the entities of a page; `Err` past `max_entities`.
    pub(crate) fn add_entities(&mut self, url: &Url, n: u64) -> Result<(), SourceError> {
        self.entities += n;
        if self.entities > self.limits.max_entities {
            return Err(SourceError::Limit {
                url: redact(url),
                message: format!(
                    "the resource has more than {} entities (max_entities); stopping instead of \
                     reading on — raise max_entities if the source is really this large",
                    self.limits.max_entities
                ),
            });
        }
        Ok(())
    }

    /// Notes a next-page token; `Err` if it came before.
    pub(crate) fn token(&mut self, url: &Url, token: &str) -> Result<(), SourceError> {
        if !self.tokens.insert(token.to_string()) {
            return Err(SourceError::Protocol {
                url: redact(url),
                message: format!(
                    "page {} sent a pageToken the server had already sent for this resource; \
                     stopping to avoid reading in a loop forever",
                    self.pages
                ),
            });
        }
        Ok(())
    }
}

/// Whether `url` points at this machine: 127.0.0.0/8, ::1 or `localhost`.
fn is_loopback(url: &Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => {
            let d = host.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
    }
}

/// Credentials never travel over plain `http://` to another machine unless
/// `allow_insecure_http` says so. Every such problem is listed.
pub(crate) fn insecure_http_check(base_url: &Url, http: &HttpSettings) -> Result<(), ConfigError> {
    if http.allow_insecure_http {
        return Ok(());
    }
    let plain = |url: &Url| url.scheme() == "http" && !is_loopback(url);
    let mut problems: Vec<(&str, String)> = Vec::new();
    let token_sent = match &http.auth {
        AuthSettings::None => None,
        AuthSettings::Bearer(_) => Some("the bearer token"),
        AuthSettings::OAuth2 { token_url, .. } => {
            if let Ok(url) = Url::parse(token_url)
                && plain(&url)
            {
                problems.push((
                    "token_url",
                    format!(
                        "`{}` is plain http:// and the client secret would be sent over it",
                        redact(&url)
                    ),
                ));
            }
            Some("the access token")
        }
    };
    if let Some(what) = token_sent
        && plain(base_url)
    {
        problems.push((
            "base_url",
            format!(
                "`{}` is plain http:// and {what} would be sent over it",
                redact(base_url)
            ),
        ));
    }
    let Some((field, _)) = problems.first() else {
        return Ok(());
    };
    let list: Vec<String> = problems.iter().map(|(f, m)| format!("{f}: {m}")).collect();
    Err(ConfigError::invalid(
        *field,
        format!(
            "credentials would travel unencrypted — {}; use https://, or set \
             allow_insecure_http = true if this network is trusted",
            list.join("; ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> ReadLimits {
        ReadLimits {
            max_pages: 2,
            max_entities: 10,
            max_response_bytes: 100,
        }
    }

    #[test]
    fn pages_entities_and_tokens_are_capped() {
        let url = Url::parse("https://x/v2.0/persons").unwrap();
        let mut p = Pager::new(limits());
        p.next_page(&url).unwrap();
        p.token(&url, "a").unwrap();
        p.next_page(&url).unwrap();
        assert!(
            p.next_page(&url)
                .unwrap_err()
                .to_string()
                .contains("max_pages")
        );
        assert!(
            p.token(&url, "a")
                .unwrap_err()
                .to_string()
                .contains("already sent")
        );
        p.add_entities(&url, 10).unwrap();
        assert!(
            p.add_entities(&url, 1)
                .unwrap_err()
                .to_string()
                .contains("max_entities")
        );
        p.bytes = 150;
        assert_eq!(p.bytes_left(), 0);
    }

    #[test]
    fn only_loopback_counts_as_this_machine() {
        for (url, local) in [
            ("http://127.0.0.1:8080/x", true),
            ("http://127.9.9.9/x", true),
            ("http://[::1]:80/x", true),
            ("http://localhost/x", true),
            ("http://LOCALHOST./x", true),
            ("http://10.0.0.1/x", false),
            ("http://localhost.evil.example/x", false),
            ("http://skola.example/x", false),
        ] {
            assert_eq!(is_loopback(&Url::parse(url).unwrap()), local, "{url}");
        }
    }
}

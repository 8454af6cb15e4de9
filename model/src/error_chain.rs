//! An error and its causes on one line — the one formatter every crate uses
//! for messages a person reads (reports, logs, the command line).
//!
//! Library errors wrap their causes (`reqwest` → `hyper` → `io` → `rustls`),
//! and the useful part is often at the bottom; `Display` of the top shows
//! only the first link. Causes whose text the line already holds are not
//! repeated (many errors include their source's message in their own).

use std::error::Error;

/// `error`'s message followed by each cause's, joined by `": "`.
pub fn error_chain(error: &dyn Error) -> String {
    with_causes(error.to_string(), error.source())
}

/// `text` followed by the messages of `cause` and its own causes, joined by
/// `": "`: for callers that word the top of the chain themselves.
pub fn with_causes(mut text: String, mut cause: Option<&dyn Error>) -> String {
    while let Some(current) = cause {
        let more = current.to_string();
        if !more.is_empty() && !text.contains(&more) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&more);
        }
        cause = current.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Link {
        text: &'static str,
        #[source]
        source: Option<Box<Link>>,
    }

    fn link(text: &'static str, source: Option<Link>) -> Link {
        Link {
            text,
            source: source.map(Box::new),
        }
    }

    #[test]
    fn joins_causes_and_skips_those_already_said() {
        let inner = link("certificate expired", None);
        let middle = link("tls handshake: certificate expired", Some(inner));
        let top = link("could not connect", Some(middle));
        assert_eq!(
            error_chain(&top),
            "could not connect: tls handshake: certificate expired"
        );
        let bottom = link("connection refused", None);
        assert_eq!(
            with_causes("timed out".into(), Some(&bottom)),
            "timed out: connection refused"
        );
    }
}

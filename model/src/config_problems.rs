//! Every problem of a config section at once, each naming its key.
//!
//! A pipeline file with three mistakes in `[source]` should say all three
//! in one go, not one per attempt. The source, transform and sink
//! constructors collect what they find into a [`ConfigProblems`] of their
//! own problem type (which names the key and the section) and fail once,
//! at the end. `From<E>` keeps `?` working for a check whose failure stops
//! the others (an unreadable certificate, say).

use std::fmt;

/// One or more problems of one config section, in the order they were
/// found.
#[derive(Debug)]
pub struct ConfigProblems<E> {
    problems: Vec<E>,
}

impl<E> Default for ConfigProblems<E> {
    fn default() -> Self {
        ConfigProblems {
            problems: Vec::new(),
        }
    }
}

impl<E> ConfigProblems<E> {
    /// None yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a problem.
    pub fn push(&mut self, problem: impl Into<E>) {
        self.problems.push(problem.into());
    }

    /// The value of `result`, or `None` with its problem recorded (so the
    /// next checks still run).
    pub fn take<T>(&mut self, result: Result<T, impl Into<ConfigProblems<E>>>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(problems) => {
                self.problems.extend(problems.into().problems);
                None
            }
        }
    }

    /// `Ok(value)` when nothing was recorded, else every problem.
    pub fn finish<T>(self, value: T) -> Result<T, Self> {
        if self.problems.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }

    /// `Ok(())` when nothing was recorded, else every problem (for a
    /// constructor that cannot build its value with problems found).
    pub fn check(self) -> Result<(), Self> {
        self.finish(())
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Each problem rewritten by `f` (a component reusing another's checks
    /// under its own key names).
    pub fn map(self, f: impl FnMut(E) -> E) -> Self {
        ConfigProblems {
            problems: self.problems.into_iter().map(f).collect(),
        }
    }

    /// The problems, in the order found.
    pub fn iter(&self) -> std::slice::Iter<'_, E> {
        self.problems.iter()
    }
}

impl<E> From<E> for ConfigProblems<E> {
    fn from(problem: E) -> Self {
        ConfigProblems {
            problems: vec![problem],
        }
    }
}

impl<E: fmt::Display> fmt::Display for ConfigProblems<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.problems.as_slice() {
            [one] => one.fmt(f),
            many => {
                write!(f, "{} problems:", many.len())?;
                for problem in many {
                    write!(f, "\n  - {problem}")?;
                }
                Ok(())
            }
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for ConfigProblems<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // One problem: its causes are this error's causes. Several: each
        // is printed whole above, causes included by its own Display.
        match self.problems.as_slice() {
            [one] => one.source(),
            _ => None,
        }
    }
}

/// A problem that is only a key and a message, for sections whose problems
/// carry no cause (the transform's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{section}.{key}: {message}")]
pub struct KeyProblem {
    /// The section, e.g. `transform`.
    pub section: &'static str,
    /// The key within it, e.g. `school_types`.
    pub key: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(key: &str) -> KeyProblem {
        KeyProblem {
            section: "source",
            key: key.into(),
            message: "is empty".into(),
        }
    }

    #[test]
    fn collects_every_problem_and_names_each_key() {
        let mut problems = ConfigProblems::new();
        problems.push(problem("client_id"));
        let failed: Result<u32, KeyProblem> = Err(problem("client_secret"));
        assert_eq!(problems.take(failed), None);
        assert_eq!(problems.take(Ok::<_, KeyProblem>(7)), Some(7));
        let text = problems
            .finish(())
            .err()
            .map(|p| p.to_string())
            .unwrap_or_default();
        assert_eq!(
            text,
            "2 problems:\n  - source.client_id: is empty\n  - source.client_secret: is empty"
        );
    }

    #[test]
    fn one_problem_reads_as_itself() {
        let one: ConfigProblems<KeyProblem> = problem("dir").into();
        assert_eq!(one.to_string(), "source.dir: is empty");
        assert!(ConfigProblems::<KeyProblem>::new().check().is_ok());
    }
}

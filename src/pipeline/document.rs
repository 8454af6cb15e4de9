//! The span-aware document: a pipeline file parsed twice — once with spans
//! (to name lines) and once into a plain value tree that is changed
//! (sandbox endpoints, expansion) and then deserialized — with the
//! messages and suggestions built from the spans.
//!
//! Deserialization goes through the tree because expansion must happen per
//! string value, after parsing: a secret that contains a quote must not be
//! able to change the file's structure. `Expander` does that expansion,
//! naming the key and line of a reference it cannot expand.
//!
//! Apart from the loader because it is about words, not about what the
//! file means: turning serde's and the parser's messages into ones that
//! name the key, its line and the closest valid key.

use std::path::Path;

use toml::de::{DeTable, DeValue};
use toml::{Table, Value};

use super::error::{PipelineError, UnknownKey};
use super::expand;

/// Expands `${env:..}` and `${file:..}` in every string of a tree.
pub(super) struct Expander<'d, 'a> {
    /// The document, for lines in errors.
    pub(super) doc: &'d Document<'a>,
    /// Where `${file:..}` paths start.
    pub(super) base_dir: &'d Path,
    /// Unexpandable references become empty instead of an error…
    pub(super) lenient: bool,
    /// …except under this top-level section, when set.
    pub(super) strict_section: Option<&'static str>,
}

impl Expander<'_, '_> {
    /// Expands every string under `table`; `at` is its dotted path.
    pub(super) fn table(
        &mut self,
        table: &mut Table,
        at: &mut Vec<String>,
    ) -> Result<(), PipelineError> {
        for (key, value) in table.iter_mut() {
            at.push(key.clone());
            self.value(value, at)?;
            at.pop();
        }
        Ok(())
    }

    fn value(&mut self, value: &mut Value, at: &mut Vec<String>) -> Result<(), PipelineError> {
        match value {
            Value::String(s) if s.contains("${") => match expand::expand(s, self.base_dir) {
                Ok(expanded) => *s = expanded,
                Err(_) if self.lenient && at.first().map(String::as_str) != self.strict_section => {
                    s.clear()
                }
                Err(e) => {
                    let key_path: Vec<&str> = at.iter().map(String::as_str).collect();
                    return Err(PipelineError::Expand {
                        path: self.doc.path.to_path_buf(),
                        line: self.doc.line_of(&key_path),
                        key: at.join("."),
                        message: e.to_string(),
                    });
                }
            },
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    at.push(i.to_string());
                    self.value(item, at)?;
                    at.pop();
                }
            }
            Value::Table(t) => self.table(t, at)?,
            _ => {}
        }
        Ok(())
    }
}

/// The parsed file: a value tree to work on, and spans to name lines.
pub(super) struct Document<'a> {
    pub(super) path: &'a Path,
    text: &'a str,
    spanned: DeTable<'a>,
    pub(super) table: Table,
}

impl<'a> Document<'a> {
    pub(super) fn parse(path: &'a Path, text: &'a str) -> Result<Document<'a>, PipelineError> {
        let syntax = |e: toml::de::Error| {
            let (line, column) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            PipelineError::Syntax {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().trim().to_string(),
            }
        };
        let spanned = DeTable::parse(text).map_err(syntax)?.into_inner();
        let table: Table = text.parse().map_err(syntax)?;
        Ok(Document {
            path,
            text,
            spanned,
            table,
        })
    }

    /// The line of the key at `path` (dotted segments), if it is written.
    pub(super) fn line_of(&self, path: &[&str]) -> Option<usize> {
        let (last, parents) = path.split_last()?;
        let table = self.table_at(parents)?;
        let (key, _) = table.get_key_value(*last)?;
        Some(line_col(self.text, key.span().start).0)
    }

    /// The table at `path`, following array indices.
    fn table_at(&self, path: &[&str]) -> Option<&DeTable<'a>> {
        let mut table = &self.spanned;
        let mut value: Option<&DeValue<'a>> = None;
        for segment in path {
            let next = match value {
                Some(DeValue::Array(items)) => items.get(segment.parse::<usize>().ok()?)?,
                _ => table.get(*segment)?,
            };
            match next.get_ref() {
                DeValue::Table(t) => {
                    table = t;
                    value = None;
                }
                v @ DeValue::Array(_) => value = Some(v),
                _ => return None,
            }
        }
        if value.is_some() {
            return None;
        }
        Some(table)
    }

    /// Finds `key` anywhere under the table at `path` (breadth first):
    /// its dotted path and line.
    fn find_key(&self, path: &[&str], key: &str) -> Option<(Vec<String>, usize)> {
        let start = self.table_at(path)?;
        let mut queue: std::collections::VecDeque<(Vec<String>, &DeTable<'a>)> =
            [(path.iter().map(|s| s.to_string()).collect(), start)].into();
        while let Some((at, table)) = queue.pop_front() {
            for (k, v) in table.iter() {
                if k.get_ref() == key {
                    return Some((at.clone(), line_col(self.text, k.span().start).0));
                }
                let mut child = at.clone();
                child.push(k.get_ref().to_string());
                match v.get_ref() {
                    DeValue::Table(t) => queue.push_back((child, t)),
                    DeValue::Array(items) => {
                        for (i, item) in items.iter().enumerate() {
                            if let DeValue::Table(t) = item.get_ref() {
                                let mut c = child.clone();
                                c.push(i.to_string());
                                queue.push_back((c, t));
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        None
    }

    /// Finds a key under `path` whose value is the string `value`.
    fn find_string_value(&self, path: &[&str], value: &str) -> Option<(String, usize)> {
        let start = self.table_at(path)?;
        let mut queue: std::collections::VecDeque<&DeTable<'a>> = [start].into();
        while let Some(table) = queue.pop_front() {
            for (k, v) in table.iter() {
                match v.get_ref() {
                    DeValue::String(s) if s.as_ref() == value => {
                        return Some((
                            k.get_ref().to_string(),
                            line_col(self.text, k.span().start).0,
                        ));
                    }
                    DeValue::Table(t) => queue.push_back(t),
                    _ => {}
                }
            }
        }
        None
    }

    /// Deserializes `value`, turning serde's message into one that names
    /// the key, its line and, for a typo, the closest valid key.
    pub(super) fn deserialize<T: serde::de::DeserializeOwned>(
        &self,
        value: Value,
    ) -> Result<T, PipelineError> {
        serde_path_to_error::deserialize(value).map_err(|e| self.explain(e))
    }

    fn explain(&self, error: serde_path_to_error::Error<toml::de::Error>) -> PipelineError {
        let segments: Vec<String> = error
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                _ => None,
            })
            .collect();
        let message = error.inner().message().trim().to_string();
        let at: Vec<&str> = segments.iter().map(String::as_str).collect();
        let path = self.path.to_path_buf();

        if let Some(key) = between(&message, "unknown field `", "`") {
            // The path ends at the unknown key, or (inside an internally
            // tagged section such as [sink]) at the section.
            let parent: &[&str] = match at.split_last() {
                Some((last, parents)) if *last == key => parents,
                _ => &at,
            };
            let (table_path, line) = match self.find_key(parent, key) {
                Some((p, line)) => (p, Some(line)),
                None => (parent.iter().map(|s| s.to_string()).collect(), None),
            };
            let valid = backticked(message.split_once("expected").map_or("", |(_, r)| r));
            let suggestion = closest(key, &valid);
            let table = if table_path.is_empty() {
                "the top level".to_string()
            } else {
                table_name(&table_path)
            };
            return PipelineError::UnknownKey(Box::new(UnknownKey {
                path,
                line,
                key: key.to_string(),
                table,
                suggestion,
                valid,
            }));
        }
        if let Some(variant) = between(&message, "unknown variant `", "`") {
            let found = self.find_string_value(&at, variant);
            let key = match (&found, at.is_empty()) {
                (Some((k, _)), false) => format!("{}.{k}", dotted(&at)),
                (Some((k, _)), true) => k.clone(),
                (None, _) => dotted(&at),
            };
            let valid = backticked(message.split_once("expected").map_or("", |(_, r)| r));
            let hint = closest(variant, &valid)
                .map(|s| format!("; did you mean `{s}`?"))
                .unwrap_or_default();
            return PipelineError::Invalid {
                path,
                line: found.map(|(_, l)| l).or_else(|| self.line_of(&at)),
                key,
                message: format!(
                    "unknown value `{variant}`, expected one of {}{hint}",
                    valid
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
        }
        if let Some(field) = between(&message, "missing field `", "`") {
            let key = if at.is_empty() {
                field.to_string()
            } else {
                format!("{}.{field}", dotted(&at))
            };
            let table = if at.is_empty() {
                "the top level".to_string()
            } else {
                table_name(&at)
            };
            return PipelineError::Invalid {
                path,
                line: self.line_of(&at),
                key,
                message: format!("missing; {table} needs `{field}`"),
            };
        }
        PipelineError::Invalid {
            path,
            line: self.line_of(&at),
            key: if at.is_empty() {
                "(file)".to_string()
            } else {
                dotted(&at)
            },
            message,
        }
    }
}

/// A key path as people write it: array items counted from 1 in brackets
/// (`sink[2].client_cert`, as the second `[[sink]]` table).
fn dotted<S: AsRef<str>>(path: &[S]) -> String {
    let mut out = String::new();
    for segment in path {
        let segment = segment.as_ref();
        match segment.parse::<usize>() {
            Ok(index) => out.push_str(&format!("[{}]", index + 1)),
            Err(_) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(segment);
            }
        }
    }
    out
}

/// A table's name for messages: `[transform.mapping]`, or `[[sink]] #2`
/// for the second of an array of tables.
fn table_name<S: AsRef<str>>(path: &[S]) -> String {
    if let Some((last, parents)) = path.split_last()
        && let Ok(index) = last.as_ref().parse::<usize>()
    {
        return format!("[[{}]] #{}", dotted(parents), index + 1);
    }
    format!("[{}]", dotted(path))
}

/// 1-based line and column of byte `offset`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rsplit('\n')
        .next()
        .map_or(1, |l| l.chars().count() + 1);
    (line, column)
}

/// The text between `start` and the next `end`.
fn between<'t>(text: &'t str, start: &str, end: &str) -> Option<&'t str> {
    let rest = &text[text.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

/// Every `…` quoted name in `text`.
fn backticked(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The valid name closest to `typo`, if any is close enough to be the
/// likely intent.
fn closest(typo: &str, valid: &[String]) -> Option<String> {
    let typo_l = typo.to_lowercase();
    valid
        .iter()
        .map(|v| {
            let distance = strsim::damerau_levenshtein(&typo_l, &v.to_lowercase());
            let similarity = strsim::jaro_winkler(&typo_l, &v.to_lowercase());
            (v, distance, similarity)
        })
        .filter(|(v, distance, similarity)| {
            *distance <= (v.len().max(typo.len()) / 3).max(2) || *similarity >= 0.85
        })
        .min_by(|a, b| {
            a.1.cmp(&b.1)
                .then(b.2.partial_cmp(&a.2).unwrap_or(std::cmp::Ordering::Equal))
        })
        .map(|(v, _, _)| v.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_items_are_named_as_people_count_them() {
        assert_eq!(dotted(&["sink", "1", "client_cert"]), "sink[2].client_cert");
        assert_eq!(table_name(&["sink", "0"]), "[[sink]] #1");
        assert_eq!(table_name(&["transform", "mapping"]), "[transform.mapping]");
    }

    #[test]
    fn suggestions_find_the_intended_key() {
        let valid: Vec<String> = ["environment", "auth_url", "client_cert"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            closest("enviroment", &valid).as_deref(),
            Some("environment")
        );
        assert_eq!(
            closest("clientcert", &valid).as_deref(),
            Some("client_cert")
        );
        assert_eq!(closest("zzzzzz", &valid), None);
    }

    #[test]
    fn lines_and_columns_are_one_based() {
        assert_eq!(line_col("a\nbc\n", 0), (1, 1));
        assert_eq!(line_col("a\nbc\n", 3), (2, 2));
    }
}

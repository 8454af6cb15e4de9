//! `${env:NAME}` and `${file:PATH}` in the string values of pipeline files,
//! so secrets stay out of them.
//!
//! - `${env:NAME}` is the environment variable `NAME`;
//! - `${file:PATH}` is the content of the file, without its final line
//!   break (secret files usually end with one); a relative `PATH` is
//!   relative to the pipeline file's folder;
//! - `$${` is a literal `${`.
//!
//! Anything else inside `${…}` is an error, as is an unset variable or an
//! unreadable file; [`expand_tree`] names the key where it happened. Values
//! are never part of an error message: they may be secrets.

use std::path::Path;

/// Why a value could not be expanded (without the value itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExpandError(String);

/// [`ExpandError`] at a key of the file, e.g. `source.client_secret`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {error}")]
pub struct KeyedExpandError {
    /// The dotted key (array items by index), e.g. `source.school_units.0`.
    pub key: String,
    /// What went wrong.
    pub error: ExpandError,
}

/// Expands the references in one string; relative file paths resolve
/// against `base_dir`.
pub fn expand(value: &str, base_dir: &Path) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
            continue;
        }
        let Some(reference) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = reference.find('}') else {
            return Err(ExpandError(
                "`${` without a closing `}` (write `$${` for a literal `${`)".to_string(),
            ));
        };
        out.push_str(&resolve(&reference[..end], base_dir)?);
        rest = &reference[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of one `${…}` reference.
fn resolve(inner: &str, base_dir: &Path) -> Result<String, ExpandError> {
    let (kind, name) = inner.split_once(':').unwrap_or((inner, ""));
    let name = name.trim();
    match kind.trim() {
        "env" => {
            if name.is_empty() {
                return Err(ExpandError("`${env:}` names no variable".to_string()));
            }
            std::env::var(name).map_err(|err| match err {
                std::env::VarError::NotPresent => {
                    ExpandError(format!("environment variable `{name}` is not set"))
                }
                std::env::VarError::NotUnicode(_) => {
                    ExpandError(format!("environment variable `{name}` is not valid text"))
                }
            })
        }
        "file" => {
            if name.is_empty() {
                return Err(ExpandError("`${file:}` names no file".to_string()));
            }
            let path = base_dir.join(name);
            let text = std::fs::read_to_string(&path)
                .map_err(|err| ExpandError(format!("cannot read {}: {err}", path.display())))?;
            let trimmed = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            Ok(trimmed.to_string())
        }
        other => Err(ExpandError(format!(
            "unknown reference `${{{other}:…}}`: use `${{env:NAME}}` or `${{file:PATH}}`"
        ))),
    }
}

/// Expands every string in `value` (tables and arrays included); `key` is
/// the dotted key of `value` itself, for errors.
pub fn expand_tree(
    value: &mut toml::Value,
    base_dir: &Path,
    key: &str,
) -> Result<(), KeyedExpandError> {
    match value {
        toml::Value::String(s) if s.contains('$') => {
            *s = expand(s, base_dir).map_err(|error| KeyedExpandError {
                key: key.to_string(),
                error,
            })?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_tree(item, base_dir, &format!("{key}.{i}"))?;
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                let child = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                expand_tree(v, base_dir, &child)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_and_file_references_expand() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.txt"), "s3cret\r\n").unwrap();
        // SAFETY: the variable is unique to this test, nothing else reads it.
        unsafe { std::env::set_var("SKOLSYNC_EXPAND_TEST_ID", "client-1") };
        assert_eq!(
            expand(
                "${env:SKOLSYNC_EXPAND_TEST_ID}/${file:secret.txt}",
                dir.path()
            )
            .unwrap(),
            "client-1/s3cret"
        );
        assert_eq!(
            expand("plain $5 and $${env:X}", dir.path()).unwrap(),
            "plain $5 and ${env:X}"
        );
    }

    #[test]
    fn bad_references_are_errors_without_values() {
        let dir = tempfile::tempdir().unwrap();
        let err = |v: &str| expand(v, dir.path()).unwrap_err().to_string();
        assert!(err("${env:SKOLSYNC_SURELY_UNSET}").contains("SKOLSYNC_SURELY_UNSET` is not set"));
        assert!(err("${file:missing.txt}").contains("missing.txt"));
        assert!(err("${vault:x}").contains("unknown reference `${vault:…}`"));
        assert!(err("${env:X").contains("closing"));
    }

    #[test]
    fn trees_name_the_key_that_failed() {
        let dir = tempfile::tempdir().unwrap();
        let mut value: toml::Value = toml::from_str(
            "kind = \"educloud\"\nschool_units = [\"1\", \"${env:SKOLSYNC_SURELY_UNSET}\"]",
        )
        .unwrap();
        let err = expand_tree(&mut value, dir.path(), "source").unwrap_err();
        assert_eq!(err.key, "source.school_units.1");
        assert!(
            err.to_string()
                .starts_with("source.school_units.1: environment variable")
        );
    }
}

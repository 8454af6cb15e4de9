//! The JSON Schema of the pipeline format, generated from the config types
//! (`skolsync schema`), so editors can check and complete pipeline files and
//! the format's documentation can be checked against it.

use std::collections::BTreeSet;

use serde_json::Value;

use super::config::PipelineFile;

/// The JSON Schema (draft 2020-12) of a pipeline file.
pub fn json_schema() -> Value {
    let schema = schemars::schema_for!(PipelineFile);
    serde_json::to_value(schema).unwrap_or(Value::Null)
}

/// Every key name the schema allows anywhere (the `properties` of every
/// object, including the tags `kind`, `layout` and `type`).
pub fn keys(schema: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    collect(schema, &mut found);
    found
}

fn collect(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                found.extend(props.keys().cloned());
            }
            for v in map.values() {
                collect(v, found);
            }
        }
        Value::Array(items) => {
            for v in items {
                collect(v, found);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_covers_every_section() {
        let keys = keys(&json_schema());
        for key in [
            "name",
            "source",
            "transform",
            "sink",
            "state",
            "guards",
            "report",
            "sandbox",
            "kind",
            "max_deletes",
            "max_changes_ratio",
            "open_data_url",
            "client_cert",
        ] {
            assert!(keys.contains(key), "{key} missing from the schema");
        }
    }
}

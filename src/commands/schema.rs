//! `skolsync schema`: the JSON Schema of pipeline files.

use std::process::ExitCode;

use anyhow::Context;

/// Prints the schema.
pub fn run() -> anyhow::Result<ExitCode> {
    let schema = skolsync::pipeline::schema::json_schema();
    let text = serde_json::to_string_pretty(&schema).context("could not print the schema")?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

//! The pipeline file's sinks: one `[sink]`, or a list of `[[sink]]`
//! tables that one read of the source delivers to — push and pull (and the
//! file method) from the same pipeline file.
//!
//! Each sink keeps its own state (the state store keys everything by the
//! sink's identity) and gets its own run and report; only the read and the
//! transform are shared. See [`Pipeline::views`](super::Pipeline::views).

use std::fmt;

use schemars::JsonSchema;
use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use skolsync_sink::{Delivery, SinkConfig};

/// One `[sink]`, or several `[[sink]]`s (never none).
#[derive(Debug, Clone, PartialEq)]
pub struct Sinks(Vec<SinkConfig>);

/// The shape of [`Sinks`] for the JSON Schema (deserialising goes through
/// [`Sinks`]'s own visitor, whose errors name the key that is wrong rather
/// than "no variant matched").
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // only its schema is used
enum SinksSchema {
    /// One sink.
    One(SinkConfig),
    /// Several sinks the same read delivers to (`[[sink]]`).
    Many(Vec<SinkConfig>),
}

impl JsonSchema for Sinks {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        SinksSchema::schema_name()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        SinksSchema::json_schema(generator)
    }
}

impl Sinks {
    /// One sink.
    pub fn one(sink: SinkConfig) -> Sinks {
        Sinks(vec![sink])
    }

    /// Every sink, in the file's order.
    pub fn all(&self) -> &[SinkConfig] {
        &self.0
    }

    /// The first (for a file with one `[sink]`, the sink).
    pub fn first(&self) -> &SinkConfig {
        // Never empty: the only constructors take one or refuse none.
        &self.0[0]
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true (a pipeline has at least one sink); for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key of sink `index` in the file, for messages: `sink`, or
    /// `sink[2]` (counted from 1, as people count tables) in a list.
    pub fn key(&self, index: usize) -> String {
        if self.0.len() == 1 {
            "sink".to_string()
        } else {
            format!("sink[{}]", index + 1)
        }
    }

    /// The open-data API the sinks' environment implies, if any does (they
    /// agree, or the transform names its own: see [`Sinks::problems`]).
    pub fn open_data_url(&self) -> Option<String> {
        self.0.iter().find_map(SinkConfig::open_data_url)
    }

    /// What is wrong with a list of sinks that each sink alone cannot say:
    /// a raw SS 12000 export among others (it has no plan to share), and
    /// two sinks that imply different open-data APIs while the transform
    /// names none (the transform reads open-data once, for all of them).
    /// Each problem is the index of the sink it is about and the message.
    pub fn problems(&self, transform_names_open_data: bool) -> Vec<(usize, String)> {
        let mut problems = Vec::new();
        if self.0.len() < 2 {
            return problems;
        }
        for (i, sink) in self.0.iter().enumerate() {
            if sink.delivery() == Delivery::Snapshot {
                problems.push((
                    i,
                    "a raw SS 12000 export (`content = \"ss12000\"`) cannot share a read with \
                     other sinks: give it a pipeline file of its own"
                        .to_string(),
                ));
            }
        }
        if !transform_names_open_data {
            let urls: Vec<(usize, String)> = self
                .0
                .iter()
                .enumerate()
                .filter_map(|(i, s)| Some((i, s.open_data_url()?)))
                .collect();
            if let Some((first, url)) = urls.first()
                && let Some((other, differs)) = urls.iter().find(|(_, u)| u != url)
            {
                problems.push((
                    *other,
                    format!(
                        "its environment's open-data ({differs}) is not {}'s ({url}); the \
                         transform reads open-data once for every sink, so set \
                         `[transform] open_data_url` or point the sinks at one environment",
                        self.key(*first)
                    ),
                ));
            }
        }
        problems
    }
}

impl Serialize for Sinks {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => one.serialize(serializer),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Sinks {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Sinks, D::Error> {
        struct SinksVisitor;

        impl<'de> Visitor<'de> for SinksVisitor {
            type Value = Sinks;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a [sink] table, or [[sink]] tables for several sinks")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Sinks, A::Error> {
                SinkConfig::deserialize(MapAccessDeserializer::new(map)).map(Sinks::one)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Sinks, A::Error> {
                let list = Vec::<SinkConfig>::deserialize(SeqAccessDeserializer::new(seq))?;
                if list.is_empty() {
                    return Err(de::Error::custom(
                        "a pipeline needs at least one sink: add a [sink] table",
                    ));
                }
                Ok(Sinks(list))
            }
        }

        deserializer.deserialize_any(SinksVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Sinks, String> {
        #[derive(Deserialize)]
        struct File {
            sink: Sinks,
        }
        toml::from_str::<File>(text)
            .map(|f| f.sink)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn one_table_or_a_list_of_tables() {
        let one = parse("[sink]\nkind = \"jsonl\"\ndir = \"out\"\n").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one.key(0), "sink");
        let two = parse(
            "[[sink]]\nkind = \"jsonl\"\ndir = \"out\"\n\n[[sink]]\nkind = \"ss12000-pull\"\n",
        )
        .unwrap();
        assert_eq!(
            two.all().iter().map(SinkConfig::kind).collect::<Vec<_>>(),
            ["jsonl", "ss12000-pull"]
        );
        assert_eq!(two.key(1), "sink[2]");
    }

    #[test]
    fn a_mistake_inside_a_listed_sink_is_named() {
        let err = parse("[[sink]]\nkind = \"jsonl\"\ndir = \"out\"\n\n[[sink]]\nkind = \"nope\"\n")
            .unwrap_err();
        assert!(err.contains("nope"), "{err}");
        let err = parse("sink = []\n").unwrap_err();
        assert!(err.contains("at least one sink"), "{err}");
        let err = parse("sink = 3\n").unwrap_err();
        assert!(err.contains("[[sink]]"), "{err}");
    }

    #[test]
    fn a_raw_export_cannot_share_and_open_data_must_agree() {
        let two = parse(
            "[[sink]]\nkind = \"jsonl\"\ndir = \"out\"\ncontent = \"ss12000\"\n\n\
             [[sink]]\nkind = \"skolverket\"\nenvironment = \"verifieringstest\"\n\
             client_cert = \"c\"\nclient_key = \"k\"\n\n\
             [[sink]]\nkind = \"ss12000-pull\"\nenvironment = \"production\"\n",
        )
        .unwrap();
        let problems = two.problems(false);
        let about: Vec<usize> = problems.iter().map(|(i, _)| *i).collect();
        assert_eq!(about, [0, 2], "{problems:?}");
        assert!(problems[1].1.contains("open_data_url"), "{problems:?}");
        // With the transform naming open-data, the environments may differ.
        assert_eq!(two.problems(true).len(), 1);
    }
}

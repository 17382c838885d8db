//! `GATEHOUSE_<SECTION>__<KEY>` environment overrides. The keys a variable may set are read from
//! the `Config` struct itself, so a section added later is overridable without touching a list,
//! and a `GATEHOUSE_…` variable that is neither configuration nor on the documented allow-list
//! below stops start-up naming it (a typo must not be silently ignored). It knows no section:
//! the loader (`config`) passes the key list, so this file depends on nothing of the crate.

use serde::de::{self, DeserializeOwned, Deserializer, Visitor};

/// The prefix of every configuration variable.
pub const PREFIX: &str = "GATEHOUSE_";

/// `GATEHOUSE_…` variables that are not configuration by design: the CLI's client settings
/// (clap `env`; a unit test in `cli` checks every one is listed here).
pub const NOT_CONFIGURATION: &[&str] = &["GATEHOUSE_TOKEN", "GATEHOUSE_URL", "GATEHOUSE_REGISTRY_TOKEN"];

/// Prefixes of `GATEHOUSE_…` variables that are not configuration by design: test settings
/// (`GATEHOUSE_TEST_DATABASE_URL`, `GATEHOUSE_CAPTURE_NOTIFICATIONS`), the benchmarks'
/// (`benches/*.rs`) and the load test's (`benches/load/run.sh`) knobs.
pub const NOT_CONFIGURATION_PREFIXES: &[&str] = &[
    "GATEHOUSE_TEST_",
    "GATEHOUSE_CAPTURE_",
    "GATEHOUSE_BENCH_",
    "GATEHOUSE_LOAD_",
];

/// Whether `name` is a `GATEHOUSE_…` variable that is not configuration (left alone).
pub fn is_not_configuration(name: &str) -> bool {
    NOT_CONFIGURATION.contains(&name) || NOT_CONFIGURATION_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// The top-level keys of a configuration struct (`listen`, `http`, `logging`, …), read from the
/// field list serde derives for it.
pub fn top_level_keys<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut names = FieldNames(&[]);
    // The introspecting deserializer always fails after noting the field list.
    let _ = T::deserialize(&mut names);
    names.0
}

/// A variable that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// A `GATEHOUSE_…` variable that names no configuration key.
    #[error(
        "environment variable `{variable}` is not a configuration key (expected GATEHOUSE_<SECTION>__<KEY>); \
         unset it or fix its name (variables that are not configuration: {allowed})"
    )]
    UnknownVariable {
        /// The variable.
        variable: String,
        /// The documented allow-list.
        allowed: String,
    },
    /// A variable sets a key below a value that is not a section.
    #[error("config key `{key}` (environment variable `{variable}`): `{segment}` is not a section")]
    NotASection {
        /// Dotted key path.
        key: String,
        /// The variable.
        variable: String,
        /// The path segment that is a value.
        segment: String,
    },
}

/// One variable's override, for naming the variable when its value is refused.
#[derive(Debug, Clone)]
pub struct Override {
    /// The dotted key it sets, e.g. `platform.download_max_bytes`.
    pub key: String,
    /// The variable, e.g. `GATEHOUSE_PLATFORM__DOWNLOAD_MAX_BYTES`.
    pub variable: String,
    /// The value as the environment gave it.
    raw: String,
    /// Whether the value was read as a TOML number, boolean, array or table rather than text.
    typed: bool,
}

impl Override {
    /// Puts the variable's value back into `table` as the text it was given, when it had been
    /// read as another TOML type: `GATEHOUSE_AUTH__SECRET=1234` sets a string key to "1234", not
    /// to a number the key refuses. False when there is nothing to retry (already text).
    pub fn retry_as_text(&self, table: &mut toml::Table) -> bool {
        if !self.typed {
            return false;
        }
        let path: Vec<&str> = self.key.split('.').collect();
        let Some((last, parents)) = path.split_last() else {
            return false;
        };
        let mut cursor = table;
        for segment in parents {
            match cursor.get_mut(*segment).and_then(toml::Value::as_table_mut) {
                Some(next) => cursor = next,
                None => return false,
            }
        }
        cursor.insert((*last).to_owned(), toml::Value::String(self.raw.clone()));
        true
    }
}

/// Sets every `GATEHOUSE_SECTION__KEY=value` into the table; a value that parses as a TOML
/// value (`true`, `8`, `["a"]`) keeps its type, anything else is a string. A variable naming no
/// top-level key of `keys`, and not allow-listed, is refused by name.
pub fn apply(
    table: &mut toml::Table,
    env: &[(String, String)],
    keys: &[&str],
) -> Result<Vec<Override>, EnvError> {
    let mut applied = Vec::new();
    let mut vars: Vec<&(String, String)> = env.iter().filter(|(n, _)| n.starts_with(PREFIX)).collect();
    // Deterministic: the first unknown variable named is the same on every run.
    vars.sort();
    for (name, raw) in vars {
        if is_not_configuration(name) {
            continue;
        }
        let rest = &name[PREFIX.len()..];
        let path: Vec<String> = rest.split("__").map(str::to_lowercase).collect();
        if !path.first().is_some_and(|k| keys.contains(&k.as_str())) || path.iter().any(String::is_empty) {
            return Err(unknown_variable(name));
        }
        let mut cursor = &mut *table;
        let (last, parents) = path.split_last().unwrap_or((&path[0], &[]));
        for segment in parents {
            let entry = cursor
                .entry(segment.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            cursor = entry.as_table_mut().ok_or_else(|| EnvError::NotASection {
                key: path.join("."),
                variable: name.clone(),
                segment: segment.clone(),
            })?;
        }
        let value = parse_value(raw);
        let typed = !value.is_str();
        cursor.insert(last.clone(), value);
        applied.push(Override {
            key: path.join("."),
            variable: name.clone(),
            raw: raw.clone(),
            typed,
        });
    }
    Ok(applied)
}

/// The variable that set `key` (or a section above it), if one did.
pub fn variable_for<'a>(overrides: &'a [Override], key: &str) -> Option<&'a str> {
    overrides
        .iter()
        .find(|o| {
            key == o.key || key.starts_with(&format!("{}.", o.key)) || key.starts_with(&format!("{}[", o.key))
        })
        .map(|o| o.variable.as_str())
}

fn unknown_variable(name: &str) -> EnvError {
    EnvError::UnknownVariable {
        variable: name.to_owned(),
        allowed: format!(
            "{}, and names starting {}",
            NOT_CONFIGURATION.join(", "),
            NOT_CONFIGURATION_PREFIXES.join(", ")
        ),
    }
}

fn parse_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

/// A deserializer that answers nothing and records the field list of the struct asked for.
struct FieldNames(&'static [&'static str]);

impl<'de> Deserializer<'de> for &mut FieldNames {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field names only"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = fields;
        Err(de::Error::custom("field names only"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_list_is_read_from_the_struct() {
        #[derive(serde::Deserialize)]
        #[expect(dead_code, reason = "only its field list is read")]
        struct Sections {
            listen: String,
            logging: toml::Table,
        }
        assert_eq!(top_level_keys::<Sections>(), ["listen", "logging"]);
    }

    #[test]
    fn allow_listed_variables_are_left_alone_and_others_are_named() {
        let mut table = toml::Table::new();
        let env = vec![
            ("GATEHOUSE_TEST_DATABASE_URL".to_owned(), "x".to_owned()),
            ("GATEHOUSE_TOKEN".to_owned(), "secret".to_owned()),
            ("GATEHOUSE_LOGGING__FORMAT".to_owned(), "json".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        let applied = apply(&mut table, &env, &["logging"]).unwrap();
        assert_eq!(applied.len(), 1);
        assert_eq!(table["logging"]["format"].as_str(), Some("json"));

        let env = vec![("GATEHOUSE_FOO".to_owned(), "1".to_owned())];
        let err = apply(&mut toml::Table::new(), &env, &["logging"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`GATEHOUSE_FOO`"), "{err}");
    }
}

//! A JSON value kept as its serialised text: a decision's request and entity slice are written
//! once, as text, by the policy engine, and stored as that text without a `serde_json::Value`
//! tree in between (building, serialising and dropping those trees was a share of every review).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

/// Valid JSON text, serialised as the JSON it holds (not as a string).
#[derive(Clone)]
pub struct JsonText(Text);

#[derive(Clone)]
enum Text {
    /// Written by serde_json (or read back through a `Value`).
    Serialized(Box<RawValue>),
    /// Written by this crate's own JSON writers (`written`), which serde_json cannot take as
    /// raw text without parsing it again: parsed only if it is ever serialised.
    Written(Box<str>),
}

impl JsonText {
    /// `value` serialised straight to text (no `Value` tree); fails only where `value` cannot be
    /// JSON (a map with non-string keys).
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(|raw| Self(Text::Serialized(raw)))
    }

    /// JSON text that a writer of this crate built (strings through
    /// [`super::push_json_string`]), taken without parsing it. Debug builds (the tests) parse
    /// it, so a writer that ever wrote invalid JSON fails there.
    pub(crate) fn written(text: String) -> Self {
        debug_assert!(
            serde_json::from_str::<&RawValue>(&text).is_ok(),
            "written JSON must be valid: {text}"
        );
        Self(Text::Written(text.into_boxed_str()))
    }

    /// The compact text of `value`: the bytes `serde_json::to_string(value)` gives.
    pub fn from_value(value: &Value) -> Self {
        // A `Value`'s keys are strings, so it always serialises.
        Self::of(value).unwrap_or_default()
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        match &self.0 {
            Text::Serialized(raw) => raw.get(),
            Text::Written(text) => text,
        }
    }

    /// The text parsed as a `Value` (the console, replay and break-glass read it so).
    pub fn to_value(&self) -> Value {
        // Valid JSON by construction; `Null` is unreachable short of a nesting-limit change.
        serde_json::from_str(self.get()).unwrap_or(Value::Null)
    }
}

impl Default for JsonText {
    /// `null`.
    fn default() -> Self {
        Self(Text::Serialized(RawValue::NULL.to_owned()))
    }
}

impl From<&Value> for JsonText {
    fn from(value: &Value) -> Self {
        Self::from_value(value)
    }
}

impl From<Value> for JsonText {
    fn from(value: Value) -> Self {
        Self::from_value(&value)
    }
}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl fmt::Display for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

/// Equal when they hold the same JSON value: PostgreSQL's `jsonb` reorders keys and adds spaces,
/// and a record read back must still equal the one written.
impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get() || self.to_value() == other.to_value()
    }
}

impl PartialEq<Value> for JsonText {
    fn eq(&self, other: &Value) -> bool {
        self.to_value() == *other
    }
}

impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Text::Serialized(raw) => raw.serialize(serializer),
            // Off the review's path (listings read records back as `Serialized`): borrowed as
            // a raw value, which serde_json only gives for text it has checked.
            Text::Written(text) => serde_json::from_str::<&RawValue>(text)
                .map_err(serde::ser::Error::custom)?
                .serialize(serializer),
        }
    }
}

/// Read through a `Value`, so any deserializer works (a raw value needs serde_json's own), and
/// the text is the compact form whatever the input's spacing.
impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(|value| Self::from_value(&value))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_text_is_what_the_value_serialises_to_and_serialises_as_json() {
        let value = json!({"b": [1, "two", {"__entity": {"type": "T", "id": "é\"\n"}}], "a": null});
        let text = JsonText::from_value(&value);
        assert_eq!(text.get(), serde_json::to_string(&value).unwrap());
        assert_eq!(text.to_value(), value);
        let wrapped = serde_json::to_string(&json!({"x": 1})).unwrap();
        let record = serde_json::to_string(&std::collections::BTreeMap::from([("x", &text)])).unwrap();
        assert_eq!(record, format!("{{\"x\":{}}}", text.get()));
        assert_ne!(record, wrapped);
        // Deserialised from a `Value` or from spaced text alike, compacted.
        let back: JsonText = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(back.get(), text.get());
        let spaced: JsonText = serde_json::from_str(
            "{\"b\": [1, \"two\", {\"__entity\": {\"type\": \"T\", \"id\": \"é\\\"\\n\"}}], \"a\": null}",
        )
        .unwrap();
        assert_eq!(spaced.get(), text.get());
        assert_eq!(JsonText::default().get(), "null");
    }

    /// Text a writer of this crate built reads, compares and serialises as the same text
    /// written by serde_json does.
    #[test]
    fn written_text_behaves_as_serialized_text() {
        let value = json!([{"uid": {"type": "T", "id": "é\"\n"}, "attrs": {}, "parents": []}]);
        let serialized = JsonText::from_value(&value);
        let written = JsonText::written(serialized.get().to_owned());
        assert_eq!(written.get(), serialized.get());
        assert_eq!(written, serialized);
        assert_eq!(written.to_value(), value);
        assert_eq!(written.to_string(), serialized.to_string());
        let in_record = |text: &JsonText| serde_json::to_string(&[text]).unwrap();
        assert_eq!(in_record(&written), in_record(&serialized));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "written JSON must be valid")]
    fn written_text_that_is_not_json_fails_in_debug_builds() {
        let _ = JsonText::written("{\"unclosed\": ".to_owned());
    }

    #[test]
    fn equality_is_of_the_values_not_the_spelling() {
        let a = JsonText::from_value(&json!({"a": 1, "b": 2}));
        let b: JsonText = serde_json::from_str("{\"b\": 2, \"a\": 1}").unwrap();
        assert_eq!(a, b);
        assert_ne!(a, JsonText::from_value(&json!({"a": 1})));
    }
}

//! The JSON Schema of `gateway.yaml`, generated from the raw structs above
//! (`hmac-gateway schema`), so editors complete and check what the gateway
//! reads. Derived where serde's shape is derived; written here where the
//! `Deserialize` is hand-made (durations, named maps, `verify:`/`sign:`).

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::transform::transform_subschemas;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};

use super::auth::{
    RawSign, RawVerify, SignRfc9421, SignSigV4, SignWebhook, VerifyCompat, VerifyRfc9421, VerifySigV4,
    VerifyTimedWebhook, VerifyUntimedWebhook,
};
use super::{DurationSpec, NamedMap, RawConfig, SchemeName};

/// The schema as pretty-printed JSON (draft-07, which both the
/// yaml-language-server and Python `jsonschema` handle fully), ending in a newline.
pub fn gateway_schema() -> String {
    let settings = SchemaSettings::draft07().with_transform(scalars_as_read);
    let mut schema = settings.into_generator().into_root_schema_for::<RawConfig>();
    schema.insert("title".into(), json!("hmac-gateway configuration (gateway.yaml)"));
    if let Some(object) = schema.as_object_mut() {
        require_non_empty_lists(object);
    }
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// `DurationSpec::parse`'s grammar: digits, optional blanks, an optional unit.
const DURATION_PATTERN: &str = r"^\s*[0-9]+\s*(ms|s|m|h)?\s*$";

/// YAML 1.1 booleans, which serde-saphyr also reads from a quoted string.
const BOOL_TEXT: &str =
    r"^[ \t]*([Yy]([Ee][Ss])?|[Nn][Oo]?|[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Oo]([Nn]|[Ff][Ff]))[ \t]*$";
/// Unsigned integers as serde-saphyr reads them from a quoted string.
const UINT_TEXT: &str = r"^[ \t]*\+?(0|[1-9][0-9_]*|0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+)[ \t]*$";

/// Widens scalar types to what serde-saphyr reads into them: a string field
/// takes any scalar (`keyid: 12345` is the text "12345"), and a boolean or
/// unsigned field also takes its value written in quotes (`"true"`, `"100"`).
fn scalars_as_read(schema: &mut Schema) {
    transform_subschemas(&mut scalars_as_read, schema);
    let Some(object) = schema.as_object_mut() else { return };
    if object.contains_key("enum") || object.contains_key("pattern") {
        return;
    }
    let types = match object.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
        _ => return,
    };
    let has = |t: &str| types.iter().any(|x| x == t);
    if has("string") {
        let mut widened = vec![json!("string"), json!("number"), json!("boolean")];
        if has("null") {
            widened.push(json!("null"));
        }
        object.insert("type".into(), Value::Array(widened));
    } else if has("boolean") || (has("integer") && object.get("format") == Some(&json!("uint64"))) {
        let pattern = if has("boolean") { BOOL_TEXT } else { UINT_TEXT };
        let mut typed = serde_json::Map::new();
        for key in ["type", "format", "minimum"] {
            if let Some(v) = object.remove(key) {
                typed.insert(key.into(), v);
            }
        }
        object.insert("anyOf".into(), json!([typed, { "type": "string", "pattern": pattern }]));
    }
}

impl JsonSchema for DurationSpec {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Whole seconds (`300`), or a string with a unit: `\"500ms\"`, `\"30s\"`, `\"5m\"`, `\"1h\"`.",
            "anyOf": [
                { "type": "integer", "minimum": 0 },
                { "type": "string", "pattern": DURATION_PATTERN }
            ]
        })
    }
}

/// A mapping of names to entries: any key, each value a `T`.
impl<T: JsonSchema> JsonSchema for NamedMap<T> {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", T::schema_name()).into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "object", "additionalProperties": generator.subschema_for::<T>() })
    }
}

impl JsonSchema for RawVerify {
    fn schema_name() -> Cow<'static, str> {
        "Verify".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let timed = |s: SchemeName| matches!(s, SchemeName::Webhook(p) if p.has_timestamp());
        let untimed = |s: SchemeName| matches!(s, SchemeName::Webhook(p) if !p.has_timestamp());
        let branches = vec![
            branch::<VerifyRfc9421>(generator, |s| s == SchemeName::Rfc9421),
            branch::<VerifySigV4>(generator, |s| s == SchemeName::AwsSigV4),
            branch::<VerifyCompat>(generator, |s| matches!(s, SchemeName::Compat(_))),
            branch::<VerifyTimedWebhook>(generator, timed),
            branch::<VerifyUntimedWebhook>(generator, untimed),
        ];
        by_scheme("Verifies incoming requests", |_| true, branches)
    }
}

impl JsonSchema for RawSign {
    fn schema_name() -> Cow<'static, str> {
        "Sign".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let branches = vec![
            branch::<SignRfc9421>(generator, |s| s == SchemeName::Rfc9421),
            branch::<SignSigV4>(generator, |s| s == SchemeName::AwsSigV4),
            branch::<SignWebhook>(generator, |s| matches!(s, SchemeName::Webhook(_))),
        ];
        by_scheme("Signs outgoing requests", SchemeName::signs, branches)
    }
}

/// `verify:` or `sign:`: one branch per scheme struct, told apart by `scheme`.
/// Every name the section takes is listed once more outside the branches, so
/// that editors complete them all and name them all for an unknown one.
fn by_scheme(what: &str, takes: impl Fn(SchemeName) -> bool, branches: Vec<Value>) -> Schema {
    json_schema!({
        "type": "object",
        "description": format!("{what}. `scheme` comes first and decides which keys may follow."),
        "properties": { "scheme": scheme_property(&names(takes)) },
        "required": ["scheme"],
        "oneOf": branches,
    })
}

/// The scheme names (from [`SchemeName::ALL`]) that `takes` picks.
fn names(takes: impl Fn(SchemeName) -> bool) -> Vec<&'static str> {
    SchemeName::ALL.into_iter().filter(|s| takes(*s)).map(SchemeName::name).collect()
}

fn scheme_property(names: &[&str]) -> Value {
    json!({ "description": "The signature scheme: it decides which keys the section takes.", "enum": names })
}

/// The schema of scheme struct `T` with `scheme:` added, naming the schemes
/// whose keys `T` holds.
fn branch<T: JsonSchema>(generator: &mut SchemaGenerator, takes: impl Fn(SchemeName) -> bool) -> Value {
    let names = names(takes);
    let mut schema = T::json_schema(generator).to_value();
    let scheme = scheme_property(&names);
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        properties.insert("scheme".into(), scheme);
    }
    match schema.get_mut("required").and_then(Value::as_array_mut) {
        Some(required) => required.insert(0, json!("scheme")),
        None => {
            schema["required"] = json!(["scheme"]);
        }
    }
    if let Some(object) = schema.as_object_mut() {
        require_non_empty_lists(object);
    }
    schema["title"] = json!(names.join(" | "));
    schema
}

/// A list that must not be empty (`minItems`) must be there too: serde
/// reads a missing one as empty, which `check` refuses (`listeners`, a
/// verify route's `consumers` or `secrets`), so the schema says so.
fn require_non_empty_lists(object: &mut serde_json::Map<String, Value>) {
    let Some(properties) = object.get("properties").and_then(Value::as_object) else { return };
    let lists: Vec<Value> = properties
        .iter()
        .filter(|(_, p)| p.get("minItems").and_then(Value::as_u64).is_some_and(|n| n > 0))
        .map(|(name, _)| json!(name))
        .collect();
    let required = object.entry("required").or_insert_with(|| json!([]));
    if let Some(required) = required.as_array_mut() {
        for name in lists {
            if !required.contains(&name) {
                required.push(name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        serde_json::from_str(&gateway_schema()).expect("the schema is JSON")
    }

    #[test]
    fn unknown_keys_are_refused_where_serde_refuses_them() {
        let schema = schema();
        assert_eq!(schema["additionalProperties"], json!(false));
        assert_eq!(schema["definitions"]["RawRoute"]["additionalProperties"], json!(false));
        for branch in schema["definitions"]["Verify"]["oneOf"].as_array().expect("branches") {
            assert_eq!(branch["additionalProperties"], json!(false), "{branch}");
        }
    }

    #[test]
    fn every_scheme_has_exactly_one_verify_branch() {
        let schema = schema();
        let mut named: Vec<String> = Vec::new();
        for branch in schema["definitions"]["Verify"]["oneOf"].as_array().expect("branches") {
            for name in branch["properties"]["scheme"]["enum"].as_array().expect("scheme enum") {
                named.push(name.as_str().expect("a name").to_owned());
            }
        }
        named.sort();
        let mut all: Vec<String> = SchemeName::ALL.iter().map(|s| s.name().to_owned()).collect();
        all.sort();
        assert_eq!(named, all);
    }

    #[test]
    fn what_check_requires_the_schema_requires() {
        let schema = schema();
        assert!(schema["required"].as_array().expect("root").contains(&json!("listeners")), "{}", schema["required"]);
        for branch in schema["definitions"]["Verify"]["oneOf"].as_array().expect("branches") {
            let required = branch["required"].as_array().expect("required");
            let list = if branch["properties"].get("consumers").is_some() { "consumers" } else { "secrets" };
            assert!(required.contains(&json!(list)), "{}: {required:?}", branch["title"]);
        }
        let replay = &schema["definitions"]["RawReplay"];
        assert!(replay.get("required").is_none(), "`store` defaults to memory: {replay}");
    }

    #[test]
    fn sign_branches_leave_out_the_verify_only_dialects() {
        let text = schema()["definitions"]["Sign"].to_string();
        assert!(text.contains("\"rfc9421\"") && text.contains("\"shopify\""), "{text}");
        assert!(!text.contains("\"kong\"") && !text.contains("\"apisix\""), "{text}");
    }
}

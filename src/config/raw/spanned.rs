//! A value with the place in the YAML file it was written: serde-saphyr's
//! `Spanned`, mirrored here so that the schema can see through it (a foreign
//! type cannot implement the foreign `JsonSchema` trait).

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Location;

/// A value with its source locations, for errors that name file:line:column.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Spanned<T> {
    /// The value as written.
    pub value: T,
    /// Where it is used (for an alias, the alias).
    pub referenced: Location,
    /// Where it is defined (for an alias, its anchor).
    pub defined: Location,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // serde-saphyr recognises its own type and fills in the locations.
        let spanned = serde_saphyr::Spanned::<T>::deserialize(deserializer)?;
        Ok(Self { value: spanned.value, referenced: spanned.referenced, defined: spanned.defined })
    }
}

/// Transparent: the file holds a plain `T`, so its schema is `T`'s.
impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn inline_schema() -> bool {
        T::inline_schema()
    }

    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

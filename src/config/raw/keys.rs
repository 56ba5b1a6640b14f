//! Reading the keys that follow `scheme:` into that scheme's own struct,
//! with locations kept: old names are recorded, unknown ones fail at the key.

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer, MapAccess, Visitor};

use super::Spanned;
use super::auth::Renamed;

/// How a section's keys are read: its scheme's name, the old key names
/// it reports, and where its `scheme:` value goes when met among them.
pub(super) struct Keys<'r> {
    pub scheme: &'r str,
    pub renames: &'static [(&'static str, &'static str)],
    pub slot: &'r mut Option<Spanned<String>>,
}

/// The keys other than `scheme`, handed to the scheme's struct. Old names
/// are recorded (and their values skipped) so that every problem is
/// reported together; an unknown key fails at its location, naming the
/// scheme; `scheme` itself, wherever it stands, is kept aside.
struct SchemeKeys<'m, 'r, A> {
    inner: &'m mut A,
    keys: Keys<'r>,
    fields: &'static [&'static str],
    renamed: &'r mut Vec<Renamed>,
}

/// Reads a section's keys into the scheme's struct `T`.
pub(super) fn read<'de, A: MapAccess<'de>, T: Deserialize<'de>>(
    map: &mut A,
    keys: Keys<'_>,
    renamed: &mut Vec<Renamed>,
) -> Result<T, A::Error> {
    let fields = fields_of::<T>();
    T::deserialize(MapAccessDeserializer::new(SchemeKeys { inner: map, keys, fields, renamed }))
}

/// The keys a derived struct takes, as serde's derive lists them: the
/// struct is the one source of truth for what a scheme accepts.
fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    let seen = std::cell::Cell::new(&[][..]);
    let _ = T::deserialize(FieldProbe(&seen));
    seen.get()
}

/// A deserializer that only records the field list it is asked for.
struct FieldProbe<'a>(&'a std::cell::Cell<&'static [&'static str]>);

impl<'de> Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("field probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(fields);
        Err(de::Error::custom("field probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SchemeKeys<'_, '_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.inner.next_key::<Spanned<String>>()? else { return Ok(None) };
            if key.value == "scheme" && self.keys.slot.is_none() {
                *self.keys.slot = Some(self.inner.next_value()?);
                continue;
            }
            if let Some((old, why)) = self.keys.renames.iter().find(|(old, _)| *old == key.value) {
                self.inner.next_value::<IgnoredAny>()?;
                self.renamed.push(Renamed { at: key.referenced, message: format!("`{old}` {why}") });
                continue;
            }
            if !self.fields.contains(&key.value.as_str()) {
                // Serde's own "invalid value" error: it carries the key's location.
                let what = format!("`{}` is not a key of scheme `{}`", key.value, self.keys.scheme);
                let expected = format!("one of {}", self.fields.join(", "));
                return Err(de::Error::invalid_value(de::Unexpected::Other(&what), &expected.as_str()));
            }
            return seed.deserialize(key.value.into_deserializer()).map(Some);
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.inner.next_value_seed(seed)
    }
}

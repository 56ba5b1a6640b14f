//! The first pass over a config's text: every `verify:` and `sign:`
//! section's scheme, in the order the main pass meets the sections, so that
//! `scheme` may stand anywhere in its section. It reads only what it needs
//! and takes anything else as it comes: one odd route (not a mapping, a
//! section that is a string, a `scheme` that is a list) costs only that
//! route, and the main pass reports it where it is.

use std::collections::VecDeque;
use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// What the first pass saw of one section's `scheme`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SchemeSeen {
    /// None was written.
    Missing,
    /// A scalar, as the main pass will read it (numbers and booleans as text).
    Text(String),
    /// A list, a mapping or null: the main pass says what is wrong with it.
    NotText,
}

/// The sections' schemes, one queue per kind, in document order. Only
/// sections that are mappings are queued: those are the ones the main pass
/// reads key by key.
#[derive(Debug, Default)]
pub(super) struct Schemes {
    pub verify: VecDeque<SchemeSeen>,
    pub sign: VecDeque<SchemeSeen>,
}

/// Reads `text` for its sections' schemes; `None` when it is not YAML at all.
pub(super) fn schemes(text: &str) -> Option<Schemes> {
    serde_saphyr::from_str::<Schemes>(text).ok()
}

/// Declares a seed that reads what it is given with `deserialize_any`.
macro_rules! tolerant_seed {
    ($name:ident) => {
        impl<'de> DeserializeSeed<'de> for $name<'_> {
            type Value = ();
            fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
                deserializer.deserialize_any(self)
            }
        }
    };
}

/// Visitor methods that take a scalar, or (`seq`, `map`) a collection, and
/// pass over it.
macro_rules! pass_over {
    (scalars) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
    };
    (seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(())
        }
    };
    (map) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(())
        }
    };
}

/// The whole document: only `routes` matters.
impl<'de> de::Deserialize<'de> for Schemes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut found = Self::default();
        deserializer.deserialize_any(Top(&mut found))?;
        Ok(found)
    }
}

struct Top<'a>(&'a mut Schemes);

impl<'de> Visitor<'de> for Top<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a config")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            match key.0.as_deref() {
                Some("routes") => map.next_value_seed(Routes(&mut *self.0))?,
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(())
    }
    pass_over!(scalars);
    pass_over!(seq);
}

/// `routes:`: each item that is a mapping.
struct Routes<'a>(&'a mut Schemes);
tolerant_seed!(Routes);

impl<'de> Visitor<'de> for Routes<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of routes")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Route(&mut *self.0))?.is_some() {}
        Ok(())
    }
    pass_over!(scalars);
    pass_over!(map);
}

/// One route: its `verify:` and `sign:`.
struct Route<'a>(&'a mut Schemes);
tolerant_seed!(Route);

impl<'de> Visitor<'de> for Route<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a route")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key>()? {
            let queue = match key.0.as_deref() {
                Some("verify") => &mut self.0.verify,
                Some("sign") => &mut self.0.sign,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            map.next_value_seed(Section(queue))?;
        }
        Ok(())
    }
    pass_over!(scalars);
    pass_over!(seq);
}

/// A section: queued when it is a mapping, with what its `scheme` is.
struct Section<'a>(&'a mut VecDeque<SchemeSeen>);
tolerant_seed!(Section);

impl<'de> Visitor<'de> for Section<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a verify or sign section")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = SchemeSeen::Missing;
        while let Some(key) = map.next_key::<Key>()? {
            if key.0.as_deref() == Some("scheme") && seen == SchemeSeen::Missing {
                seen = map.next_value::<Scalar>()?.0.map_or(SchemeSeen::NotText, SchemeSeen::Text);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        self.0.push_back(seen);
        Ok(())
    }
    pass_over!(scalars);
    pass_over!(seq);
}

/// A mapping key as text, if it is a scalar.
struct Key(Option<String>);

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Scalar::deserialize(deserializer).map(|s| Self(s.0))
    }
}

/// A scalar as text (as serde-saphyr reads one into a string), or `None`
/// for anything else, which is consumed.
struct Scalar(Option<String>);

impl<'de> de::Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl<'de> Visitor<'de> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("anything")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Scalar(None))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mapping_section_is_queued_whatever_the_other_routes_hold() {
        let text = "routes:\n  - verify: { consumers: [c], scheme: rfc9421 }\n  - plain text\n  - verify: rfc9421\n  \
                    - sign: { keyid: k, scheme: [x] }\n  - sign: { keyid: k }\n  - verify: { scheme: 9421 }\n";
        let found = schemes(text).expect("YAML");
        let text = |s: &str| SchemeSeen::Text(s.into());
        assert_eq!(Vec::from(found.verify), [text("rfc9421"), text("9421")]);
        assert_eq!(Vec::from(found.sign), [SchemeSeen::NotText, SchemeSeen::Missing]);
    }
}

//! Values of a table of named kinds (transforms, penalties) stored as a struct with one field
//! per name: a missing field is 0 (off), an unknown one is ignored, so files written before a
//! kind was added or after one was removed still read.

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserializer, Serializer};

/// Writes `values[i]` under `names[i]`.
pub(crate) fn serialize<S: Serializer>(
    s: S,
    kind: &'static str,
    names: &'static [&'static str],
    values: &[f64],
) -> Result<S::Ok, S::Error> {
    let mut st = s.serialize_struct(kind, names.len())?;
    for (name, v) in names.iter().zip(values) {
        st.serialize_field(name, v)?;
    }
    st.end()
}

/// Reads the values in `names`' order (0 where missing).
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    d: D,
    kind: &'static str,
    names: &'static [&'static str],
) -> Result<Vec<f64>, D::Error> {
    struct V(&'static [&'static str]);
    impl<'de> Visitor<'de> for V {
        type Value = Vec<f64>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a map of {} to numbers", self.0.join(", "))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<f64>, A::Error> {
            let mut values = vec![0.0; self.0.len()];
            while let Some(key) = map.next_key::<String>()? {
                match self.0.iter().position(|n| *n == key) {
                    Some(i) => values[i] = map.next_value()?,
                    None => {
                        let _: de::IgnoredAny = map.next_value()?;
                    }
                }
            }
            Ok(values)
        }
    }
    d.deserialize_struct(kind, names, V(names))
}

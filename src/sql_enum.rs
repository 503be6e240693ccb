//! States and kinds stored as text: one declaration gives an enum its SQL form, its JSON form and
//! its parser, so the strings a row holds and the strings the JSON shows cannot drift apart.
//!
//! `sql_enum!` declares the enum with each variant's string; it implements `as_str`, `FromStr`,
//! `Display`, rusqlite's `ToSql` / `FromSql` and serde's `Serialize` / `Deserialize` from those
//! strings. A stored or received value that is none of them is an error that names it, never a
//! silent default. `PartialEq<&str>` lets callers and tests compare with the stored form.

/// An unknown stored or received value of a state or kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    /// What the value was supposed to be (`review status`, `link method`, …).
    pub what: &'static str,
    /// The value found.
    pub value: String,
}

impl std::fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown {} {:?}", self.what, self.value)
    }
}

impl std::error::Error for UnknownValue {}

/// Declares a text-backed enum: `sql_enum! { /// doc  pub enum Name("what") { /// doc  A = "a", … } }`.
macro_rules! sql_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            #[allow(dead_code)]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The form stored in SQL and shown in JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text ),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::sql_enum::UnknownValue;
            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                match s {
                    $( $text => Ok($name::$variant), )+
                    other => Err($crate::sql_enum::UnknownValue {
                        what: $what,
                        value: other.to_string(),
                    }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl rusqlite::types::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let s = value.as_str()?;
                s.parse()
                    .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(
                &self,
                serializer: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> std::result::Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use sql_enum;

#[cfg(test)]
mod tests {
    sql_enum! {
        /// A test kind.
        enum Colour("colour") {
            /// Red.
            Red = "red",
            /// Dark blue.
            DarkBlue = "dark_blue",
        }
    }

    #[test]
    fn every_value_reads_back_from_its_sql_and_json_forms() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for c in Colour::ALL {
            let back: Colour = conn.query_row("SELECT ?1", [c], |r| r.get(0)).unwrap();
            assert_eq!(back, *c);
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Colour>(&json).unwrap(), *c);
        }
        assert_eq!(Colour::DarkBlue, "dark_blue");
    }

    #[test]
    fn an_unknown_value_is_an_error_naming_it() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let err = conn
            .query_row("SELECT 'green'", [], |r| r.get::<_, Colour>(0))
            .unwrap_err();
        assert!(
            err.to_string().contains("unknown colour \"green\""),
            "{err}"
        );
        let err = serde_json::from_str::<Colour>("\"green\"").unwrap_err();
        assert!(
            err.to_string().contains("unknown colour \"green\""),
            "{err}"
        );
    }
}

//! The canonical form of key parameters, and its byte encoding (the input of the digest).
//!
//! Parameters go through a serde `Serializer` of this crate (not `serde_json`, whose map order
//! and number handling depend on cargo features another crate may switch on). The data model is
//! JSON's, with these rules:
//!
//! | Rust / serde | canonical value |
//! |---|---|
//! | `bool` | bool |
//! | every integer type, `i128`/`u128` included | integer (sign and magnitude) |
//! | `f32`/`f64` with no fractional part and magnitude below 2^128 | that integer, so `1.0 == 1` and `-0.0 == 0` |
//! | other floats (fractional, ±∞, huge) | float by its IEEE-754 `f64` bits; every NaN is one NaN |
//! | `char`, `str`, unit variant | string (variant name) |
//! | `bytes`, sequence, tuple, tuple struct | array |
//! | map, struct | object |
//! | `None`, `()`, unit struct | null |
//! | `Some(x)`, newtype struct | `x` |
//! | newtype / tuple / struct variant | one-field object `{variant: content}` |
//!
//! Objects: fields are sorted by the bytes of their names, at every depth, so declaration and
//! iteration order never matter. A field whose value is null is removed, so a field skipped with
//! `#[serde(skip_serializing_if = "Option::is_none")]` and one written as `null` are the same.
//! (The one-field wrapper of an enum variant keeps a null content, so `E::A(None)` differs from
//! `E::B(None)`.) Map keys become strings: strings and chars as they are, integers in decimal,
//! bools as `true`/`false`; any other key type is an error. A field name that appears twice is an
//! error, as is nesting deeper than [`MAX_PARAMS_DEPTH`].
//!
//! Encoding (prefix-free, so distinct canonical values give distinct bytes):
//! `n` null · `t` / `f` bools · `i` [`-`] decimal magnitude `;` integers · `d` 16 lowercase hex
//! digits of the `f64` bits, floats · `s` byte length in decimal `:` UTF-8 bytes, strings ·
//! `[` items `]` arrays · `{` (string-encoded name, value)… `}` objects.
//! For example `{"b": [1, 2.5, null], "a": "x"}` encodes as
//! `{s1:as1:xs1:b[i1;d4004000000000000n]}`.

mod error;
mod map_key;
mod serializer;
mod value;

use serde::Serialize;

use crate::error::KeyError;

/// Deepest nesting of arrays and objects accepted in parameters.
pub const MAX_PARAMS_DEPTH: usize = 128;

/// The canonical byte encoding of `params`, the exact input of the key's digest. Exposed so that
/// a key can be explained and reproduced outside this crate.
///
/// ```
/// # use std::collections::HashMap;
/// let mut params = HashMap::new();
/// params.insert("b", 1.0);
/// params.insert("a", 2.5);
/// let bytes = cache_keys::canonical_bytes(&params)?;
/// assert_eq!(bytes, b"{s1:ad4004000000000000s1:bi1;}");
/// # Ok::<(), cache_keys::KeyError>(())
/// ```
pub fn canonical_bytes<P: Serialize + ?Sized>(params: &P) -> Result<Vec<u8>, KeyError> {
    let value = params
        .serialize(serializer::CanonSerializer::root())
        .map_err(|e| KeyError::Params(e.0))?;
    let mut out = Vec::with_capacity(64);
    value.encode(&mut out);
    Ok(out)
}

//! A parameter value in canonical form and its byte encoding.

use std::collections::BTreeMap;

/// The bits every NaN is canonicalised to (the quiet NaN `f64::NAN` has on every platform).
const CANONICAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0000;

/// A parameter value in canonical form.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Canon {
    Null,
    Bool(bool),
    Int { negative: bool, magnitude: u128 },
    Float(u64),
    Str(String),
    Array(Vec<Canon>),
    Object(BTreeMap<String, Canon>),
}

impl Canon {
    pub(super) fn from_signed(v: i128) -> Self {
        Canon::Int {
            negative: v < 0,
            magnitude: v.unsigned_abs(),
        }
    }

    pub(super) fn from_unsigned(v: u128) -> Self {
        Canon::Int {
            negative: false,
            magnitude: v,
        }
    }

    pub(super) fn from_float(v: f64) -> Self {
        // 2^128: every integral float below it in magnitude converts to u128 exactly.
        const LIMIT: f64 = 340_282_366_920_938_463_463_374_607_431_768_211_456.0;
        if v.is_nan() {
            return Canon::Float(CANONICAL_NAN_BITS);
        }
        if v.is_finite() && v.fract() == 0.0 && v.abs() < LIMIT {
            // `as` is exact here: the value is integral and in range. -0.0 becomes 0.
            let magnitude = v.abs() as u128;
            return Canon::Int {
                negative: v < 0.0 && magnitude != 0,
                magnitude,
            };
        }
        Canon::Float(v.to_bits())
    }

    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Canon::Null => out.push(b'n'),
            Canon::Bool(true) => out.push(b't'),
            Canon::Bool(false) => out.push(b'f'),
            Canon::Int {
                negative,
                magnitude,
            } => {
                out.push(b'i');
                if *negative {
                    out.push(b'-');
                }
                out.extend_from_slice(magnitude.to_string().as_bytes());
                out.push(b';');
            }
            Canon::Float(bits) => {
                out.push(b'd');
                out.extend_from_slice(format!("{bits:016x}").as_bytes());
            }
            Canon::Str(s) => encode_str(s, out),
            Canon::Array(items) => {
                out.push(b'[');
                items.iter().for_each(|item| item.encode(out));
                out.push(b']');
            }
            Canon::Object(fields) => {
                out.push(b'{');
                for (name, value) in fields {
                    encode_str(name, out);
                    value.encode(out);
                }
                out.push(b'}');
            }
        }
    }
}

fn encode_str(s: &str, out: &mut Vec<u8>) {
    out.push(b's');
    out.extend_from_slice(s.len().to_string().as_bytes());
    out.push(b':');
    out.extend_from_slice(s.as_bytes());
}

//! Map keys become field names.

use std::fmt::Display;

use serde::ser::{self, Serialize};

use super::error::{CanonError, Result};

/// Turns a map key into a field name: strings, chars, integers, bools and unit variants.
pub(super) struct MapKeySerializer;

fn unsupported_key(kind: &str) -> CanonError {
    CanonError(format!(
        "map keys must be strings, chars, integers or booleans, found {kind}"
    ))
}

fn decimal(v: impl Display) -> Result<String> {
    Ok(v.to_string())
}

impl ser::Serializer for MapKeySerializer {
    type Ok = String;
    type Error = CanonError;
    type SerializeSeq = ser::Impossible<String, CanonError>;
    type SerializeTuple = ser::Impossible<String, CanonError>;
    type SerializeTupleStruct = ser::Impossible<String, CanonError>;
    type SerializeTupleVariant = ser::Impossible<String, CanonError>;
    type SerializeMap = ser::Impossible<String, CanonError>;
    type SerializeStruct = ser::Impossible<String, CanonError>;
    type SerializeStructVariant = ser::Impossible<String, CanonError>;

    fn serialize_bool(self, v: bool) -> Result<String> {
        decimal(v)
    }
    fn serialize_i8(self, v: i8) -> Result<String> {
        decimal(v)
    }
    fn serialize_i16(self, v: i16) -> Result<String> {
        decimal(v)
    }
    fn serialize_i32(self, v: i32) -> Result<String> {
        decimal(v)
    }
    fn serialize_i64(self, v: i64) -> Result<String> {
        decimal(v)
    }
    fn serialize_i128(self, v: i128) -> Result<String> {
        decimal(v)
    }
    fn serialize_u8(self, v: u8) -> Result<String> {
        decimal(v)
    }
    fn serialize_u16(self, v: u16) -> Result<String> {
        decimal(v)
    }
    fn serialize_u32(self, v: u32) -> Result<String> {
        decimal(v)
    }
    fn serialize_u64(self, v: u64) -> Result<String> {
        decimal(v)
    }
    fn serialize_u128(self, v: u128) -> Result<String> {
        decimal(v)
    }
    fn serialize_f32(self, _v: f32) -> Result<String> {
        Err(unsupported_key("a float"))
    }
    fn serialize_f64(self, _v: f64) -> Result<String> {
        Err(unsupported_key("a float"))
    }
    fn serialize_char(self, v: char) -> Result<String> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String> {
        Err(unsupported_key("bytes"))
    }
    fn serialize_none(self) -> Result<String> {
        Err(unsupported_key("None"))
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String> {
        Err(unsupported_key("an Option"))
    }
    fn serialize_unit(self) -> Result<String> {
        Err(unsupported_key("()"))
    }
    fn serialize_unit_struct(self, name: &'static str) -> Result<String> {
        Err(unsupported_key(name))
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _value: &T,
    ) -> Result<String> {
        Err(unsupported_key(variant))
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq> {
        Err(unsupported_key("a sequence"))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple> {
        Err(unsupported_key("a tuple"))
    }
    fn serialize_tuple_struct(
        self,
        name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct> {
        Err(unsupported_key(name))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant> {
        Err(unsupported_key(variant))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap> {
        Err(unsupported_key("a map"))
    }
    fn serialize_struct(self, name: &'static str, _len: usize) -> Result<Self::SerializeStruct> {
        Err(unsupported_key(name))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant> {
        Err(unsupported_key(variant))
    }
}

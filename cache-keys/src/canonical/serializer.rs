//! The serde `Serializer` that builds a [`Canon`] value.

use std::collections::BTreeMap;

use serde::ser::{self, Serialize};

use super::MAX_PARAMS_DEPTH;
use super::error::{CanonError, Result};
use super::map_key::MapKeySerializer;
use super::value::Canon;

/// Builds a [`Canon`] value; `depth` counts the arrays and objects around it.
#[derive(Clone, Copy)]
pub(super) struct CanonSerializer {
    depth: usize,
}

impl CanonSerializer {
    /// The serializer for the top-level value.
    pub(super) fn root() -> Self {
        CanonSerializer { depth: 0 }
    }

    /// The serializer for the items of a new array or object.
    fn nested(self) -> Result<CanonSerializer> {
        if self.depth >= MAX_PARAMS_DEPTH {
            return Err(CanonError(format!(
                "parameters nest deeper than {MAX_PARAMS_DEPTH} levels"
            )));
        }
        Ok(CanonSerializer {
            depth: self.depth + 1,
        })
    }

    fn array(self, len: Option<usize>) -> Result<ArrayBuilder> {
        Ok(ArrayBuilder {
            inner: self.nested()?,
            // The length is a hint from user code: never trust it for a large allocation.
            items: Vec::with_capacity(len.unwrap_or(0).min(64)),
        })
    }

    fn object(self) -> Result<ObjectBuilder> {
        Ok(ObjectBuilder {
            inner: self.nested()?,
            fields: BTreeMap::new(),
            pending_key: None,
        })
    }

    /// `{variant: content}` for a variant with content; kept as is, null content included.
    fn wrap_variant(variant: &str, content: Canon) -> Canon {
        Canon::Object(BTreeMap::from([(variant.to_owned(), content)]))
    }
}

impl ser::Serializer for CanonSerializer {
    type Ok = Canon;
    type Error = CanonError;
    type SerializeSeq = ArrayBuilder;
    type SerializeTuple = ArrayBuilder;
    type SerializeTupleStruct = ArrayBuilder;
    type SerializeTupleVariant = VariantBuilder<ArrayBuilder>;
    type SerializeMap = ObjectBuilder;
    type SerializeStruct = ObjectBuilder;
    type SerializeStructVariant = VariantBuilder<ObjectBuilder>;

    fn serialize_bool(self, v: bool) -> Result<Canon> {
        Ok(Canon::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Canon> {
        Ok(Canon::from_signed(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<Canon> {
        Ok(Canon::from_signed(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<Canon> {
        Ok(Canon::from_signed(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<Canon> {
        Ok(Canon::from_signed(v.into()))
    }
    fn serialize_i128(self, v: i128) -> Result<Canon> {
        Ok(Canon::from_signed(v))
    }
    fn serialize_u8(self, v: u8) -> Result<Canon> {
        Ok(Canon::from_unsigned(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Canon> {
        Ok(Canon::from_unsigned(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Canon> {
        Ok(Canon::from_unsigned(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Canon> {
        Ok(Canon::from_unsigned(v.into()))
    }
    fn serialize_u128(self, v: u128) -> Result<Canon> {
        Ok(Canon::from_unsigned(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Canon> {
        Ok(Canon::from_float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Canon> {
        Ok(Canon::from_float(v))
    }
    fn serialize_char(self, v: char) -> Result<Canon> {
        Ok(Canon::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Canon> {
        Ok(Canon::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Canon> {
        self.nested()?;
        Ok(Canon::Array(
            v.iter().map(|&b| Canon::from_unsigned(b.into())).collect(),
        ))
    }
    fn serialize_none(self) -> Result<Canon> {
        Ok(Canon::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Canon> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Canon> {
        Ok(Canon::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Canon> {
        Ok(Canon::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Canon> {
        Ok(Canon::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Canon> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Canon> {
        let content = value.serialize(self.nested()?)?;
        Ok(Self::wrap_variant(variant, content))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<ArrayBuilder> {
        self.array(len)
    }
    fn serialize_tuple(self, len: usize) -> Result<ArrayBuilder> {
        self.array(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<ArrayBuilder> {
        self.array(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantBuilder<ArrayBuilder>> {
        Ok(VariantBuilder {
            variant,
            inner: self.nested()?.array(Some(len))?,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<ObjectBuilder> {
        self.object()
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<ObjectBuilder> {
        self.object()
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantBuilder<ObjectBuilder>> {
        Ok(VariantBuilder {
            variant,
            inner: self.nested()?.object()?,
        })
    }
}

/// Collects the items of an array.
pub(super) struct ArrayBuilder {
    inner: CanonSerializer,
    items: Vec<Canon>,
}

impl ArrayBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.items.push(value.serialize(self.inner)?);
        Ok(())
    }
}

impl ser::SerializeSeq for ArrayBuilder {
    type Ok = Canon;
    type Error = CanonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Canon> {
        Ok(Canon::Array(self.items))
    }
}

impl ser::SerializeTuple for ArrayBuilder {
    type Ok = Canon;
    type Error = CanonError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Canon> {
        Ok(Canon::Array(self.items))
    }
}

impl ser::SerializeTupleStruct for ArrayBuilder {
    type Ok = Canon;
    type Error = CanonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<Canon> {
        Ok(Canon::Array(self.items))
    }
}

/// Collects the fields of an object; drops null fields at the end.
pub(super) struct ObjectBuilder {
    inner: CanonSerializer,
    fields: BTreeMap<String, Canon>,
    pending_key: Option<String>,
}

impl ObjectBuilder {
    fn insert<T: Serialize + ?Sized>(&mut self, name: String, value: &T) -> Result<()> {
        let value = value.serialize(self.inner)?;
        // Nulls are kept until `finish` so that a repeated name is caught even when one of its
        // values is null.
        if self.fields.contains_key(&name) {
            return Err(CanonError(format!("field {name:?} appears more than once")));
        }
        self.fields.insert(name, value);
        Ok(())
    }

    fn finish(mut self) -> Canon {
        self.fields.retain(|_, value| *value != Canon::Null);
        Canon::Object(self.fields)
    }
}

impl ser::SerializeMap for ObjectBuilder {
    type Ok = Canon;
    type Error = CanonError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.pending_key = Some(key.serialize(MapKeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        match self.pending_key.take() {
            Some(name) => self.insert(name, value),
            None => Err(CanonError("map value serialized before its key".to_owned())),
        }
    }
    fn end(self) -> Result<Canon> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for ObjectBuilder {
    type Ok = Canon;
    type Error = CanonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.insert(key.to_owned(), value)
    }
    fn end(self) -> Result<Canon> {
        Ok(self.finish())
    }
}

/// Builds the content of a tuple or struct variant, then wraps it as `{variant: content}`.
pub(super) struct VariantBuilder<B> {
    variant: &'static str,
    inner: B,
}

impl ser::SerializeTupleVariant for VariantBuilder<ArrayBuilder> {
    type Ok = Canon;
    type Error = CanonError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.inner.push(value)
    }
    fn end(self) -> Result<Canon> {
        Ok(CanonSerializer::wrap_variant(
            self.variant,
            Canon::Array(self.inner.items),
        ))
    }
}

impl ser::SerializeStructVariant for VariantBuilder<ObjectBuilder> {
    type Ok = Canon;
    type Error = CanonError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.inner.insert(key.to_owned(), value)
    }
    fn end(self) -> Result<Canon> {
        Ok(CanonSerializer::wrap_variant(
            self.variant,
            self.inner.finish(),
        ))
    }
}

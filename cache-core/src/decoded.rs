//! Decoding a cached value straight into the `Arc` a hit hands out.
//!
//! serde's `Arc<T>` deserializes a `Box<T>` and moves it into a new `Arc`: two allocations and a
//! copy of `T` per decoded entry. The cache decodes its values (always `Arc<T>`) through
//! [`Decoded`] instead: `T` in place, then one `Arc::new`.

use std::any::Any;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

use crate::codec::Codec;
use crate::envelope::Envelope;
use crate::error::{CacheError, Result};

/// An in-process store's object, type-erased.
pub(crate) type Object = Arc<dyn Any + Send + Sync>;

/// A value type an in-process store keeps as an object (see
/// [`ObjectPayload`](crate::ObjectPayload)): the cache's values are `Arc<T>`, kept as they are.
pub(crate) trait Shared: Clone {
    /// `self` as an in-process store keeps it: the value's own allocation.
    fn into_object(self) -> Object;

    /// The value an in-process store keeps as `object`, when it is of this type: one type
    /// check and one reference count.
    fn from_object(object: &Object) -> Option<Self>;
}

impl<T: Send + Sync + 'static> Shared for Arc<T> {
    fn into_object(self) -> Object {
        self
    }

    fn from_object(object: &Object) -> Option<Self> {
        Arc::clone(object).downcast().ok()
    }
}

/// A value type the cache decodes from stored bytes, or finds as an object.
pub(crate) trait Decoded: Shared {
    /// The envelope `codec` finds in `bytes`.
    fn decode_envelope<C: Codec>(codec: &C, bytes: &[u8]) -> Result<Envelope<Self>>;
}

impl<T: serde::de::DeserializeOwned + Send + Sync + 'static> Decoded for Arc<T> {
    fn decode_envelope<C: Codec>(codec: &C, bytes: &[u8]) -> Result<Envelope<Self>> {
        match codec.decode::<InArc<T>>(bytes) {
            Ok(env) => Ok(env.map_value(|value| value.0)),
            // Name the type the cache holds (as the other read paths do), not this wrapper.
            Err(CacheError::TypeMismatch { .. }) => Err(CacheError::TypeMismatch {
                expected: std::any::type_name::<Arc<T>>(),
            }),
            Err(err) => Err(err),
        }
    }
}

/// `T`, deserialized in place and then shared.
struct InArc<T>(Arc<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for InArc<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        T::deserialize(deserializer).map(|value| InArc(Arc::new(value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::JsonCodec;
    use std::time::Duration;

    #[test]
    fn decodes_what_serdes_arc_decodes() {
        let env = Envelope::new(
            Arc::new(vec![1u32, 2, 3]),
            Duration::from_secs(60),
            Duration::from_secs(5),
            Duration::from_millis(3),
        );
        let bytes = JsonCodec.encode(&env).unwrap();
        let ours = <Arc<Vec<u32>> as Decoded>::decode_envelope(&JsonCodec, &bytes).unwrap();
        assert_eq!(ours, JsonCodec.decode::<Arc<Vec<u32>>>(&bytes).unwrap());
        match <Arc<String> as Decoded>::decode_envelope(&JsonCodec, &bytes) {
            Err(CacheError::TypeMismatch { expected }) => {
                assert_eq!(expected, std::any::type_name::<Arc<String>>())
            }
            other => panic!("expected a type mismatch, got {other:?}"),
        }
    }
}

//! [`Value`]: what a read hands out — the value, shared, never copied.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use crate::backend::ObjectPayload;

/// A cached value, shared and read-only: it derefs to `T`, and cloning it moves one reference
/// count. Nothing is copied on a hit, whatever `T` is.
///
/// A hit of an in-process store (the memory backend, the L1) hands out the store's own entry —
/// the value and its metadata behind one reference count — so such a hit moves exactly one
/// reference count, as a raw moka hit of an `Arc` does. (Handing out the value's own `Arc`
/// took a second one, on a second cache line: measured with 64 tasks on two workers, that
/// cost a memory hit about a tenth of its throughput.) A value decoded from a remote store or
/// just computed is its own `Arc`.
///
/// ```
/// use std::sync::Arc;
/// use cache_core::{EntryOptions, SmartCache, Value};
/// use cache_memory::MemoryBackend;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), cache_core::CacheError> {
/// let cache = SmartCache::new(MemoryBackend::new(100));
/// let options = EntryOptions::new();
/// let odds: Value<Vec<f64>> = cache.get_with("odds", &options, || async { vec![0.5, 0.5] }).await?;
/// assert_eq!(odds.len(), 2); // a `Value<T>` is used as a `&T`
///
/// let again = cache.get_with("odds", &options, || async { vec![] }).await?;
/// assert!(Value::ptr_eq(&odds, &again)); // the same allocation: a hit copies nothing
///
/// let shared: Arc<Vec<f64>> = again.into_arc(); // for an API that wants an `Arc`: no copy either
/// assert_eq!(*shared, vec![0.5, 0.5]);
/// # Ok(())
/// # }
/// ```
pub struct Value<T>(Repr<T>);

enum Repr<T> {
    /// The value's own allocation (computed, or decoded from bytes).
    Own(Arc<T>),
    /// An in-process store's entry whose value is a `T` (checked when the entry was taken).
    Stored(Arc<ObjectPayload>),
}

impl<T: 'static> Value<T> {
    /// The store's entry `object` as a value, when its value is a `T`: no reference count moves.
    #[inline]
    pub(crate) fn stored(object: Arc<ObjectPayload>) -> Result<Self, Arc<ObjectPayload>> {
        if object.value.is::<T>() {
            Ok(Value(Repr::Stored(object)))
        } else {
            Err(object)
        }
    }

    /// Whether both are the same allocation (as [`Arc::ptr_eq`]).
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        std::ptr::eq::<T>(&**this, &**other)
    }
}

impl<T: Send + Sync + 'static> Value<T> {
    /// The value as an `Arc` of its own: no copy, and at most one more reference count.
    pub fn into_arc(self) -> Arc<T> {
        match self.0 {
            Repr::Own(value) => value,
            Repr::Stored(object) => match Arc::clone(&object.value).downcast() {
                Ok(value) => value,
                Err(_) => unreachable!("a stored value's type is checked when it is taken"),
            },
        }
    }
}

/// The `T` a stored entry holds; only called on entries checked by [`Value::stored`].
#[inline]
fn stored_value<T: 'static>(object: &ObjectPayload) -> &T {
    match object.value.downcast_ref::<T>() {
        Some(value) => value,
        None => unreachable!("a stored value's type is checked when it is taken"),
    }
}

impl<T: 'static> Deref for Value<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match &self.0 {
            Repr::Own(value) => value,
            Repr::Stored(object) => stored_value(object),
        }
    }
}

impl<T> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value(match &self.0 {
            Repr::Own(value) => Repr::Own(Arc::clone(value)),
            Repr::Stored(object) => Repr::Stored(Arc::clone(object)),
        })
    }
}

impl<T> From<Arc<T>> for Value<T> {
    fn from(value: Arc<T>) -> Self {
        Value(Repr::Own(value))
    }
}

impl<T> From<T> for Value<T> {
    fn from(value: T) -> Self {
        Value(Repr::Own(Arc::new(value)))
    }
}

impl<T: 'static> AsRef<T> for Value<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: 'static> std::borrow::Borrow<T> for Value<T> {
    fn borrow(&self) -> &T {
        self
    }
}

impl<T: fmt::Debug + 'static> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt(self, f)
    }
}

impl<T: fmt::Display + 'static> fmt::Display for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        T::fmt(self, f)
    }
}

impl<T: PartialEq + 'static> PartialEq for Value<T> {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl<T: Eq + 'static> Eq for Value<T> {}

/// Serialized as the `T` it holds.
impl<T: Serialize + 'static> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        T::serialize(self, serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Envelope;
    use std::any::Any;
    use std::time::Duration;

    fn object(value: Arc<dyn Any + Send + Sync>) -> Arc<ObjectPayload> {
        let header = Envelope::new((), Duration::from_secs(1), Duration::ZERO, Duration::ZERO);
        Arc::new(ObjectPayload::new(header, value, 0))
    }

    #[test]
    fn a_stored_value_is_the_stores_allocation_and_only_of_its_type() {
        let inner = Arc::new(vec![1u8, 2]);
        let entry = object(inner.clone());
        let Ok(value) = Value::<Vec<u8>>::stored(entry.clone()) else {
            panic!("a Vec<u8> entry")
        };
        assert_eq!(*value, vec![1, 2]);
        assert!(std::ptr::eq(&*value, &*inner));
        // Taking it moved no reference count of the value; handing it out as an `Arc` moves one.
        assert_eq!(Arc::strong_count(&inner), 2);
        let arc = value.clone().into_arc();
        assert!(Arc::ptr_eq(&arc, &inner));
        assert!(Value::ptr_eq(&value, &Value::from(arc)));
        // Another type is refused, and the entry handed back.
        let Err(refused) = Value::<String>::stored(entry.clone()) else {
            panic!("not a String entry")
        };
        assert!(Arc::ptr_eq(&refused, &entry));
    }

    #[test]
    fn compares_formats_and_serializes_as_its_value() {
        let own = Value::from("odds".to_owned());
        let Ok(stored) = Value::<String>::stored(object(Arc::new("odds".to_owned()))) else {
            panic!("a String entry")
        };
        assert_eq!(own, stored);
        assert!(!Value::ptr_eq(&own, &stored));
        assert_eq!(format!("{own:?} {stored}"), "\"odds\" odds");
        assert_eq!(serde_json::to_string(&stored).unwrap(), "\"odds\"");
    }
}

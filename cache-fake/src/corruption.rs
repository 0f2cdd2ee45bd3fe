//! Ways to corrupt a stored entry, as a bad deploy, a bit flip or a key shared by two types would.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use cache_core::envelope::TAGGED_ENVELOPE_VERSION;
use cache_core::{Codec, ENVELOPE_VERSION, Envelope, JsonCodec, ObjectPayload, Payload};

/// What [`FakeBackend::corrupt`](crate::FakeBackend::corrupt) puts in place of an entry.
///
/// Every variant except [`ForeignObject`](Corruption::ForeignObject) replaces the entry with
/// bytes, also when it held an object: that is what an in-process store shows when it reads bytes
/// it cannot use. The envelope variants are written with the default [`JsonCodec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Corruption {
    /// Bytes no codec reads (not JSON, not UTF-8).
    Garbage,
    /// A well-formed envelope of a format version this build does not know (one above the
    /// newest it reads, [`TAGGED_ENVELOPE_VERSION`]).
    UnknownVersion,
    /// A well-formed current envelope whose value has another type: the JSON array
    /// `[true, "wrong type", null]`, which numbers, strings, maps, homogeneous sequences and
    /// structs with other field types all fail to decode.
    WrongType,
    /// An object payload holding an `Arc` of a type private to this crate, so a downcast to
    /// any caller's type fails (two types sharing a key in an in-process store).
    ForeignObject,
    /// These exact bytes.
    Bytes(Vec<u8>),
}

/// The value of a [`Corruption::ForeignObject`] entry: no caller can name this type.
#[derive(Debug)]
struct Foreign;

/// The value of a [`Corruption::WrongType`] entry; serializes as `[true, "wrong type", null]`.
#[derive(Serialize)]
struct WrongValue(bool, &'static str, Option<()>);

impl Corruption {
    /// The payload that replaces the entry.
    pub(crate) fn payload(&self) -> Payload {
        match self {
            Corruption::Garbage => bytes(b"\xff\xfe\x00 not an envelope \x80".to_vec()),
            Corruption::UnknownVersion => {
                json_envelope(TAGGED_ENVELOPE_VERSION.wrapping_add(1), "from the future")
            }
            Corruption::WrongType => {
                json_envelope(ENVELOPE_VERSION, WrongValue(true, "wrong type", None))
            }
            Corruption::ForeignObject => {
                let header =
                    Envelope::new((), Duration::from_secs(60), Duration::ZERO, Duration::ZERO);
                let value: Arc<dyn Any + Send + Sync> = Arc::new(Foreign);
                Payload::Object(Arc::new(ObjectPayload::new(header, value, 64)))
            }
            Corruption::Bytes(raw) => bytes(raw.clone()),
        }
    }
}

fn bytes(raw: Vec<u8>) -> Payload {
    Payload::Bytes(raw.into())
}

/// An envelope with the given format version holding `value`, as the default codec writes it.
fn json_envelope<T: Serialize>(version: u32, value: T) -> Payload {
    let mut envelope = Envelope::new(
        value,
        Duration::from_secs(60),
        Duration::from_secs(30),
        Duration::ZERO,
    );
    envelope.version = version;
    match JsonCodec.encode(&envelope) {
        Ok(encoded) => bytes(encoded),
        // Unreachable for the plain values used here; still a corrupt entry if it ever happens.
        Err(err) => bytes(format!("unencodable corruption: {err}").into_bytes()),
    }
}

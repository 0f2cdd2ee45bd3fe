//! The backend conformance suite (feature `testing`): one async function per contract of
//! [`CacheBackend`](crate::CacheBackend). Every backend's tests call [`run_all`].

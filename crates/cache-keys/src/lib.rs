//! Key factory.

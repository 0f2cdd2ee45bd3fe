//! A fake backend for tests.

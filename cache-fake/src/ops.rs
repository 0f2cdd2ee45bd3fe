//! The operation log: what the code under test asked the backend to do.

/// The kind of a backend operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// [`CacheBackend::get`](cache_core::CacheBackend::get).
    Get,
    /// [`CacheBackend::set`](cache_core::CacheBackend::set).
    Set,
    /// [`CacheBackend::delete`](cache_core::CacheBackend::delete).
    Delete,
    /// [`CacheBackend::invalidate_pattern`](cache_core::CacheBackend::invalidate_pattern).
    InvalidatePattern,
    /// [`CacheBackend::ping`](cache_core::CacheBackend::ping).
    Ping,
    /// [`CacheBackend::get_many`](cache_core::CacheBackend::get_many).
    GetMany,
    /// [`CacheBackend::set_many`](cache_core::CacheBackend::set_many).
    SetMany,
    /// [`CacheBackend::try_lock`](cache_core::CacheBackend::try_lock).
    TryLock,
    /// [`CacheBackend::unlock`](cache_core::CacheBackend::unlock).
    Unlock,
    /// [`CacheBackend::wait_for_value`](cache_core::CacheBackend::wait_for_value).
    WaitForValue,
    /// [`ConditionalWrites::compare_and_set`](cache_core::ConditionalWrites::compare_and_set).
    CompareAndSet,
    /// [`ConditionalWrites::compare_and_delete`](cache_core::ConditionalWrites::compare_and_delete).
    CompareAndDelete,
}

impl OpKind {
    /// Every kind, in declaration order.
    pub const ALL: [OpKind; 12] = [
        OpKind::Get,
        OpKind::Set,
        OpKind::Delete,
        OpKind::InvalidatePattern,
        OpKind::Ping,
        OpKind::GetMany,
        OpKind::SetMany,
        OpKind::TryLock,
        OpKind::Unlock,
        OpKind::WaitForValue,
        OpKind::CompareAndSet,
        OpKind::CompareAndDelete,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// One logged operation.
///
/// A batch (`get_many`, `set_many`) is one call and logs one `Op` per key, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// What was asked.
    pub kind: OpKind,
    /// The key, the pattern for `invalidate_pattern`, or `""` for `ping` and empty batches.
    pub key: String,
    /// Whether an injected fault made this call fail.
    pub failed: bool,
}

/// The log and the per-kind call counts.
#[derive(Debug, Default)]
pub(crate) struct OpLog {
    ops: Vec<Op>,
    calls: [u64; OpKind::ALL.len()],
}

impl OpLog {
    /// Records one call touching `keys` (an empty slice logs one entry with key `""`).
    pub(crate) fn record(&mut self, kind: OpKind, keys: &[&str], failed: bool) {
        self.calls[kind.index()] += 1;
        if keys.is_empty() {
            self.ops.push(Op {
                kind,
                key: String::new(),
                failed,
            });
        }
        for key in keys {
            self.ops.push(Op {
                kind,
                key: (*key).to_owned(),
                failed,
            });
        }
    }

    pub(crate) fn ops(&self) -> Vec<Op> {
        self.ops.clone()
    }

    pub(crate) fn calls(&self, kind: OpKind) -> u64 {
        self.calls[kind.index()]
    }

    pub(crate) fn total_calls(&self) -> u64 {
        self.calls.iter().sum()
    }

    pub(crate) fn clear(&mut self) {
        *self = OpLog::default();
    }
}

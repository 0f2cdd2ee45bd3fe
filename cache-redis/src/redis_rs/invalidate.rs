//! Pattern invalidation: `SCAN … MATCH … COUNT` on every primary, `UNLINK` page by page.
//! Never `KEYS`, which blocks the server for the whole keyspace.

use cache_core::Result;
use futures_util::future::try_join_all;
use redis::{RedisResult, Value};

use super::RedisRsBackend;
use super::connection::Node;
use super::topology::{self, protocol_error};

/// Removes every key matching `pattern`; returns how many `UNLINK` removed.
pub(crate) async fn invalidate_pattern(backend: &RedisRsBackend, pattern: &str) -> Result<u64> {
    let fail = |e: redis::RedisError| backend.failure("invalidate_pattern", &e);
    if !backend.connection().is_cluster() {
        return scan_and_unlink(backend, None, pattern).await.map_err(fail);
    }
    // Asked afresh: a primary added since the last clock sync must be scanned too.
    let layout = topology::cluster_layout(backend.connection())
        .await
        .map_err(fail)?;
    let counts = try_join_all(
        layout
            .primaries
            .iter()
            .map(|node| scan_and_unlink(backend, Some(node), pattern)),
    )
    .await
    .map_err(fail)?;
    Ok(counts.into_iter().sum())
}

/// Scans one server to the end of its cursor, unlinking each page's keys before the next page.
async fn scan_and_unlink(
    backend: &RedisRsBackend,
    node: Option<&Node>,
    pattern: &str,
) -> RedisResult<u64> {
    let count = backend.options().scan_count.max(1);
    let mut cursor = String::from("0");
    let mut removed = 0u64;
    loop {
        let mut scan = redis::cmd("SCAN");
        scan.arg(&cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count);
        let page: Value = backend.connection().query_on(scan, node).await?;
        let (next, keys) = parse_page(page)?;
        if !keys.is_empty() {
            // UNLINK of several keys needs them in one slot on a cluster.
            let groups = backend.group_by_slot(keys.iter().map(Vec::as_slice));
            let counts = try_join_all(groups.into_iter().map(|group| {
                let mut unlink = redis::cmd("UNLINK");
                for i in group {
                    unlink.arg(&keys[i]);
                }
                async move { backend.connection().query::<u64>(&unlink).await }
            }))
            .await?;
            removed += counts.into_iter().sum::<u64>();
        }
        if next == "0" {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// `[cursor, [key, …]]` → the next cursor and the keys (kept as bytes: keys may be binary).
fn parse_page(page: Value) -> RedisResult<(String, Vec<Vec<u8>>)> {
    let malformed = || protocol_error("malformed SCAN reply");
    let Value::Array(parts) = page else {
        return Err(malformed());
    };
    let mut parts = parts.into_iter();
    let (Some(cursor), Some(Value::Array(keys)), None) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let cursor = match cursor {
        Value::BulkString(bytes) => String::from_utf8(bytes).map_err(|_| malformed())?,
        Value::SimpleString(text) => text,
        _ => return Err(malformed()),
    };
    let keys = keys
        .into_iter()
        .map(|key| match key {
            Value::BulkString(bytes) => Ok(bytes),
            _ => Err(malformed()),
        })
        .collect::<RedisResult<_>>()?;
    Ok((cursor, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_pages_parse() {
        let page = Value::Array(vec![
            Value::BulkString(b"17".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"a".to_vec()),
                Value::BulkString(vec![0xff, 0x00]),
            ]),
        ]);
        let (cursor, keys) = parse_page(page).unwrap();
        assert_eq!(cursor, "17");
        assert_eq!(keys, vec![b"a".to_vec(), vec![0xff, 0]]);
        for bad in [
            Value::Nil,
            Value::Array(vec![Value::BulkString(b"0".to_vec())]),
            Value::Array(vec![Value::Int(0), Value::Array(vec![])]),
            Value::Array(vec![
                Value::BulkString(b"0".to_vec()),
                Value::Array(vec![Value::Int(1)]),
            ]),
        ] {
            assert!(parse_page(bad.clone()).is_err(), "{bad:?}");
        }
    }
}

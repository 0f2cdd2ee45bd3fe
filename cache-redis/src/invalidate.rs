//! Pattern invalidation: `SCAN … MATCH … COUNT` on every primary, `UNLINK` page by page.
//! Never `KEYS`, which blocks the server for the whole keyspace.

use cache_core::Result;
use fred::prelude::*;
use futures_util::future::try_join_all;

use crate::backend::RedisBackend;

/// Removes every key matching `pattern`; returns how many `UNLINK` removed.
///
/// Every command fails fast while a connection is down (like the data commands), so an
/// unreachable server answers at once instead of after the command timeout.
pub(crate) async fn invalidate_pattern(backend: &RedisBackend, pattern: &str) -> Result<u64> {
    let client = backend.client();
    let fail = |e: Error| backend.failure("invalidate_pattern", &e);
    if !backend.inner.clustered {
        return scan_and_unlink(backend, client, pattern)
            .await
            .map_err(fail);
    }
    let primaries = client
        .cached_cluster_state()
        .map(|routing| routing.unique_primary_nodes())
        .ok_or_else(|| fail(Error::new(ErrorKind::Cluster, "no cluster routing table")))?;
    let counts = try_join_all(primaries.into_iter().map(|server| {
        let node = client
            .with_cluster_node(server)
            .with_options(client.options());
        async move { scan_and_unlink(backend, &node, pattern).await }
    }))
    .await
    .map_err(fail)?;
    Ok(counts.into_iter().sum())
}

/// Scans one server to the end of its cursor, unlinking each page's keys before the next page.
async fn scan_and_unlink<C: KeysInterface + Sync>(
    backend: &RedisBackend,
    scanner: &C,
    pattern: &str,
) -> Result<u64, Error> {
    let count = Some(backend.inner.config.scan_count.max(1));
    let unlinker = backend.client();
    let mut cursor = String::from("0");
    let mut removed = 0u64;
    loop {
        let page: Value = scanner
            .scan_page(cursor.clone(), pattern, count, None)
            .await?;
        let (next, keys) = parse_page(page)?;
        if !keys.is_empty() {
            // UNLINK of several keys needs them in one slot on a cluster.
            let groups = backend.group_by_slot(keys.iter().map(|k| k.as_bytes()));
            let counts = try_join_all(groups.into_iter().map(|group| {
                let batch: Vec<Key> = group.into_iter().map(|i| keys[i].clone()).collect();
                async move { unlinker.unlink::<i64, _>(batch).await }
            }))
            .await?;
            removed += counts.into_iter().map(i64::unsigned_abs).sum::<u64>();
        }
        if next == "0" {
            return Ok(removed);
        }
        cursor = next;
    }
}

/// `[cursor, [key, …]]` → the next cursor and the keys (kept as bytes: keys may be binary).
fn parse_page(page: Value) -> Result<(String, Vec<Key>), Error> {
    let malformed = || Error::new(ErrorKind::Protocol, "malformed SCAN reply");
    let mut parts = page.into_array().into_iter();
    let (Some(cursor), Some(keys), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed());
    };
    let cursor = cursor
        .as_str()
        .map(|c| c.into_owned())
        .ok_or_else(malformed)?;
    let keys = keys
        .into_array()
        .into_iter()
        .map(|k| k.as_bytes().map(Key::from).ok_or_else(malformed))
        .collect::<Result<_, _>>()?;
    Ok((cursor, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_pages_parse() {
        let page = Value::Array(vec![
            Value::from("17"),
            Value::Array(vec![
                Value::from("a"),
                Value::Bytes(vec![0xff, 0x00].into()),
            ]),
        ]);
        let (cursor, keys) = parse_page(page).unwrap();
        assert_eq!(cursor, "17");
        assert_eq!(
            keys.iter()
                .map(|k| k.as_bytes().to_vec())
                .collect::<Vec<_>>(),
            vec![b"a".to_vec(), vec![0xff, 0]]
        );
        assert!(parse_page(Value::Array(vec![Value::from("0")])).is_err());
    }
}

//! What the adapter must know about the servers: which primaries a cluster has and which slots
//! each owns (for `SCAN` on every primary and per-primary clocks), and each primary's clock.

use std::time::Instant;

use redis::{RedisError, RedisResult, Value};

use super::connection::{Connection, Node};
use crate::clock::{self, ClockTable, PROBES, Sample};
use crate::slot::SLOTS;

/// The primaries of a cluster and, for each slot, the index of its owner in `primaries`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    pub(crate) primaries: Vec<Node>,
    pub(crate) slot_owner: Vec<u16>,
}

/// The cluster's layout from `CLUSTER SLOTS` (asked of any node).
pub(crate) async fn cluster_layout(connection: &Connection) -> RedisResult<Layout> {
    let reply: Value = connection.query(redis::cmd("CLUSTER").arg("SLOTS")).await?;
    parse_slots(reply).ok_or_else(|| protocol_error("malformed CLUSTER SLOTS reply"))
}

/// `[[start, end, [host, port, id, …], replicas…], …]` → the layout. `None` if malformed.
fn parse_slots(reply: Value) -> Option<Layout> {
    let Value::Array(ranges) = reply else {
        return None;
    };
    let mut layout = Layout {
        primaries: Vec::new(),
        slot_owner: vec![0; SLOTS],
    };
    for range in ranges {
        let Value::Array(parts) = range else {
            return None;
        };
        let mut parts = parts.into_iter();
        let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(primary))) =
            (parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let mut primary = primary.into_iter();
        let host = match primary.next()? {
            Value::BulkString(bytes) => String::from_utf8(bytes).ok()?,
            Value::SimpleString(text) => text,
            _ => return None,
        };
        let Some(Value::Int(port)) = primary.next() else {
            return None;
        };
        let node = Node {
            host,
            port: u16::try_from(port).ok()?,
        };
        let index = match layout.primaries.iter().position(|p| *p == node) {
            Some(index) => index,
            None => {
                layout.primaries.push(node);
                layout.primaries.len() - 1
            }
        };
        let index = u16::try_from(index).ok()?;
        let start = usize::try_from(start).ok()?;
        let end = usize::try_from(end).ok()?.min(SLOTS - 1);
        for owner in layout.slot_owner.get_mut(start..=end)? {
            *owner = index;
        }
    }
    (!layout.primaries.is_empty()).then_some(layout)
}

/// Measures every primary's clock (on a cluster, with the slot table that says whose clock
/// judges which key).
pub(crate) async fn measure_clocks(connection: &Connection) -> RedisResult<ClockTable> {
    if !connection.is_cluster() {
        return Ok(ClockTable {
            slot_owner: Vec::new(),
            samples: vec![measure(connection, None).await?],
        });
    }
    let layout = cluster_layout(connection).await?;
    let samples = futures_util::future::try_join_all(
        layout
            .primaries
            .iter()
            .map(|node| measure(connection, Some(node))),
    )
    .await?;
    Ok(ClockTable {
        slot_owner: layout.slot_owner,
        samples,
    })
}

/// The fastest of [`PROBES`] `TIME` round trips to `node` (NTP-style, see [`crate::clock`]).
async fn measure(connection: &Connection, node: Option<&Node>) -> RedisResult<Sample> {
    let mut samples = Vec::with_capacity(PROBES);
    for _ in 0..PROBES {
        let sent = Instant::now();
        let reply: Vec<String> = connection.query_on(redis::cmd("TIME"), node).await?;
        let rtt = sent.elapsed();
        let parse = |i: usize| reply.get(i).and_then(|s| s.parse::<u64>().ok());
        let (Some(secs), Some(micros)) = (parse(0), parse(1)) else {
            return Err(protocol_error("malformed TIME reply"));
        };
        samples.push(clock::time_sample(sent, rtt, secs, micros));
    }
    clock::fastest(samples).ok_or_else(|| protocol_error("no TIME sample"))
}

pub(crate) fn protocol_error(what: &'static str) -> RedisError {
    RedisError::from((redis::ErrorKind::Parse, what))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn cluster_slots_parse_into_owners() {
        let node = |port: i64| Value::Array(vec![bulk("127.0.0.1"), Value::Int(port), bulk("id")]);
        let reply = Value::Array(vec![
            Value::Array(vec![
                Value::Int(0),
                Value::Int(5460),
                node(7000),
                node(7100),
            ]),
            Value::Array(vec![Value::Int(5461), Value::Int(10922), node(7001)]),
            Value::Array(vec![Value::Int(10923), Value::Int(16383), node(7002)]),
            // A second range of the first primary.
            Value::Array(vec![Value::Int(100), Value::Int(100), node(7000)]),
        ]);
        let layout = parse_slots(reply).unwrap();
        let ports: Vec<u16> = layout.primaries.iter().map(|n| n.port).collect();
        assert_eq!(ports, [7000, 7001, 7002]);
        assert_eq!(layout.slot_owner[0], 0);
        assert_eq!(layout.slot_owner[5461], 1);
        assert_eq!(layout.slot_owner[16383], 2);
    }

    #[test]
    fn malformed_cluster_slots_are_rejected_not_panicked_on() {
        let range = |start: i64, end: i64, port: i64| {
            Value::Array(vec![
                Value::Int(start),
                Value::Int(end),
                Value::Array(vec![bulk("h"), Value::Int(port)]),
            ])
        };
        for reply in [
            Value::Nil,
            Value::Array(vec![]),
            Value::Array(vec![Value::Int(3)]),
            Value::Array(vec![Value::Array(vec![Value::Int(0), Value::Int(5)])]),
            Value::Array(vec![range(20, 10, 1)]),
            Value::Array(vec![range(-1, 10, 1)]),
            Value::Array(vec![range(0, 10, 70_000)]),
            Value::Array(vec![range(20_000, 20_001, 1)]),
        ] {
            assert!(parse_slots(reply.clone()).is_none(), "{reply:?}");
        }
        // A range running past the last slot is clipped.
        let layout = parse_slots(Value::Array(vec![range(10, 99_999_999, 1)])).unwrap();
        assert_eq!(layout.slot_owner.len(), SLOTS);
    }
}

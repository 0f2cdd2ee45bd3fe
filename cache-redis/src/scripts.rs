//! The Lua scripts this backend runs, as plain text so that any Redis client can load them
//! (`EVALSHA`, falling back to `EVAL` on `NOSCRIPT`).
//!
//! Each script touches exactly one key, `KEYS[1]`, so in a cluster it runs on that key's node
//! and never needs several keys to share a slot.

/// Lua: `body(stored)` is the envelope bytes of a stored value: what follows its header — the
/// 19-byte binary one (`\xFDsc` and two 8-byte numbers), or the `@sc exp=<ms> px=<ms>\n` text
/// one of earlier builds (1 to 19 digits each, the grammar of the crate's frame parser) — or
/// the whole value when it has neither (see [`crate::frame`]).
macro_rules! body_function {
    () => {
        r#"
local function body(stored)
  if #stored >= 19 and string.sub(stored, 1, 3) == '\253sc' then
    return string.sub(stored, 20)
  end
  local exp, px = string.match(stored, '^@sc exp=(%d+) px=(%d+)\n')
  if exp and #exp <= 19 and #px <= 19 then
    return string.sub(stored, #exp + #px + 14)
  end
  return stored
end
"#
    };
}

/// Compare-and-set on the write identity. `KEYS[1]`: the key; `ARGV[1]`: the envelope bytes
/// expected; `ARGV[2]`: the new stored value (framed); `ARGV[3]`: its lifetime in
/// milliseconds. Writes `ARGV[2]` with `PX ARGV[3]` only if the key holds a value whose
/// envelope bytes are exactly `ARGV[1]`; returns 1 if it wrote, else 0. An absent or expired
/// key never matches.
pub const COMPARE_AND_SET: &str = concat!(
    body_function!(),
    r#"
local stored = redis.call('GET', KEYS[1])
if not stored or body(stored) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
"#
);

/// Compare-and-delete on the write identity. `KEYS[1]`: the key; `ARGV[1]`: the envelope
/// bytes expected. Unlinks the key only if its value's envelope bytes are exactly `ARGV[1]`;
/// returns 1 if it did, else 0.
pub const COMPARE_AND_DELETE: &str = concat!(
    body_function!(),
    r#"
local stored = redis.call('GET', KEYS[1])
if not stored or body(stored) ~= ARGV[1] then
  return 0
end
redis.call('UNLINK', KEYS[1])
return 1
"#
);

/// Releases a fleet lock. `KEYS[1]`: the lock key; `ARGV[1]`: the holder's token;
/// `ARGV[2]`: the notification channel; `ARGV[3]`: the cache key. Deletes the lock only if it
/// still holds the token (a holder whose lock expired never releases someone else's); always
/// publishes the cache key, so waiters look again (for the value, or for a free lock) at once.
/// Returns 1 if it released the lock, else 0.
pub const UNLOCK: &str = r#"
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  released = 1
end
-- Best effort: a user without channel permission still releases (pcall traps NOPERM).
redis.pcall('PUBLISH', ARGV[2], ARGV[3])
return released
"#;

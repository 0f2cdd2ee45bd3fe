//! The Redis Cluster hash tag of a key.

/// The part of `key` Redis Cluster hashes to choose a slot, by the cluster specification's rule:
/// the text between the first `{` and the first `}` after it, when that text is not empty.
/// `None` means Redis hashes the whole key.
///
/// ```
/// assert_eq!(cache_keys::hash_tag("app:v1:user:{42}:00ff"), Some("42"));
/// assert_eq!(cache_keys::hash_tag("a{}b{c}"), None);
/// assert_eq!(cache_keys::hash_tag("plain"), None);
/// ```
pub fn hash_tag(key: &str) -> Option<&str> {
    let open = key.find('{')?;
    let rest = &key[open + 1..];
    let close = rest.find('}')?;
    (close > 0).then(|| &rest[..close])
}

#[cfg(test)]
mod tests {
    use super::hash_tag;

    #[test]
    fn follows_the_cluster_spec_examples() {
        // Examples from the Redis Cluster specification.
        assert_eq!(hash_tag("{user1000}.following"), Some("user1000"));
        assert_eq!(hash_tag("foo{{bar}}zap"), Some("{bar"));
        assert_eq!(hash_tag("foo{bar}{zap}"), Some("bar"));
        assert_eq!(hash_tag("foo{}{bar}"), None);
        assert_eq!(hash_tag("foo{bar"), None);
    }
}

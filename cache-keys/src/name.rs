//! Validation of namespaces and entity names: the fixed, developer-chosen parts of a key.

use crate::error::{KeyError, NameKind};

/// Longest namespace or entity name, in bytes.
pub const MAX_NAME_LEN: usize = 64;

/// Accepts `[A-Za-z0-9_.-]{1,64}`. These names come from code, not from users, so they are
/// rejected rather than escaped: a name can then never hold a separator, a brace or a glob
/// character, which is what keeps namespaces and entities apart inside a key and a pattern.
pub(crate) fn validate(kind: NameKind, name: &str) -> Result<(), KeyError> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > MAX_NAME_LEN {
        Some("must be at most 64 bytes long")
    } else if !name.bytes().all(is_name_byte) {
        Some("may only contain ASCII letters, digits, '_', '-' and '.'")
    } else {
        None
    };
    match reason {
        None => Ok(()),
        Some(reason) => Err(KeyError::InvalidName {
            kind,
            name: name.chars().take(MAX_NAME_LEN).collect(),
            reason,
        }),
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for name in [
            "brain",
            "user-profile",
            "predictions.v2",
            "A_1",
            &"x".repeat(64),
        ] {
            assert_eq!(validate(NameKind::Entity, name), Ok(()), "{name}");
        }
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        let too_long = "x".repeat(65);
        for name in [
            "", "a:b", "a{b", "a}b", "a*", "a?", "a[b]", "a\\b", "a b", "a\n", "é", &too_long,
        ] {
            match validate(NameKind::Namespace, name) {
                Err(KeyError::InvalidName {
                    kind: NameKind::Namespace,
                    reason,
                    ..
                }) => {
                    assert!(!reason.is_empty());
                }
                other => panic!("{name:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn error_names_are_cut() {
        let err = validate(NameKind::Entity, &"é".repeat(1000));
        match err {
            Err(KeyError::InvalidName { name, .. }) => assert_eq!(name.chars().count(), 64),
            other => panic!("{other:?}"),
        }
    }
}

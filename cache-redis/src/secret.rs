//! Keeping passwords out of `Debug` output, error messages and logs.

use std::fmt;

/// A password. `Debug` and `Display` print `***`; [`expose`](Self::expose) gives the text to
/// the driver and nowhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(text: impl Into<String>) -> Self {
        Password(text.into())
    }

    /// The password itself, for the driver.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Removes known secrets from text that may echo them (driver errors can quote a URL).
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for `password` in its raw and percent-encoded spellings.
    pub(crate) fn for_password(password: Option<&Password>) -> Self {
        let mut secrets = Vec::new();
        if let Some(p) = password.map(Password::expose).filter(|p| !p.is_empty()) {
            secrets.push(p.to_owned());
            let encoded = crate::url::percent_encode(p);
            if encoded != p {
                secrets.push(encoded);
            }
        }
        // Longest first, so a secret that contains another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Redactor { secrets }
    }

    /// `text` with every secret replaced by `***`.
    pub(crate) fn clean(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_never_prints() {
        let p = Password::new("hunter2");
        assert_eq!(format!("{p:?} {p}"), "*** ***");
        assert_eq!(p.expose(), "hunter2");
    }

    #[test]
    fn redactor_removes_raw_and_encoded_spellings() {
        let r = Redactor::for_password(Some(&Password::new("p@ss word")));
        let cleaned = r.clean("auth p@ss word failed for redis://u:p%40ss%20word@h:1");
        assert!(
            !cleaned.contains("p@ss") && !cleaned.contains("p%40ss"),
            "{cleaned}"
        );
        assert_eq!(cleaned, "auth *** failed for redis://u:***@h:1");
        assert_eq!(Redactor::for_password(None).clean("x"), "x");
        assert_eq!(
            Redactor::for_password(Some(&Password::new(""))).clean("x"),
            "x"
        );
    }
}

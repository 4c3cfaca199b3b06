//! A resolved secret: the only type that ever holds a credential's value.
//!
//! `Debug` and `Display` print `***`, it has no `Serialize`, and its memory is
//! zeroed on drop, so a secret cannot reach a log line, an error message, a
//! page or the database by accident: reading it takes an explicit `expose()`.

use std::fmt;
use zeroize::Zeroizing;

/// A credential value resolved from a reference. Prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a value read from Vault, the environment or a file.
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The value itself; call it only where the value is handed to the
    /// service that needs it (an HTTP header, a database handshake).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }
}

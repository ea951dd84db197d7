//! The bot token, as a value that cannot be printed by accident. The config reads it; the
//! Telegram client puts it into request URLs and scrubs it out of errors.
//!
//! **Architecture Invariant:** Debug and Display print `***`; the secret comes out only through
//! [`Token::expose`], which only the request URL uses.

use std::fmt;

/// The bot token. Debug and Display print `***`; the only way out is [`Token::expose`], used when
/// building a URL.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(s: String) -> Token {
        Token(s)
    }

    /// The secret itself. Only the request URL may contain it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Replaces every occurrence of the token in `text` with `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_owned();
        }
        text.replace(&self.0, "***")
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "123456789:AAE-secret_TOKEN-value";

    #[test]
    fn never_printed() {
        let t = Token::new(TOKEN.to_owned());
        assert_eq!(format!("{t}"), "***");
        assert_eq!(format!("{t:?}"), "***");
        assert_eq!(t.expose(), TOKEN);
    }

    #[test]
    fn scrubbing() {
        let t = Token::new(TOKEN.to_owned());
        assert_eq!(
            t.scrub(&format!("GET /bot{TOKEN}/sendMessage and {TOKEN} again")),
            "GET /bot***/sendMessage and *** again"
        );
        assert_eq!(Token::new(String::new()).scrub("abc"), "abc");
    }
}

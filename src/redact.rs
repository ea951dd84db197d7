//! A last line of defence for the bot token: anything shaped like a token is masked.
//!
//! The token itself never leaves [`crate::token::Token`] except into a request URL; this
//! catches tokens that arrive by other ways, such as a config file quoted in an error.

/// Masks every substring shaped like a bot token (`123456789:AA…`, at least 30 characters of
/// letters, digits, `_` and `-` after the colon).
pub fn redact(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            let mut j = i;
            while j < bytes.len() && bytes[j].is_ascii_digit() {
                j += 1;
            }
            if j - start >= 5 && j < bytes.len() && bytes[j] == b':' {
                let mut k = j + 1;
                while k < bytes.len()
                    && (bytes[k].is_ascii_alphanumeric() || bytes[k] == b'_' || bytes[k] == b'-')
                {
                    k += 1;
                }
                if k - (j + 1) >= 30 {
                    out.push_str(&s[copied..start]);
                    out.push_str("***");
                    copied = k;
                    i = k;
                    continue;
                }
            }
            i = j;
            continue;
        }
        i += 1;
    }
    out.push_str(&s[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn masks_tokens_only() {
        let t = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
        assert_eq!(
            redact(&format!("url /bot{t}/getMe failed")),
            "url /bot***/getMe failed"
        );
        assert_eq!(redact(t), "***");
        assert_eq!(redact("at 12:30 the 2026-11-27"), "at 12:30 the 2026-11-27");
        assert_eq!(redact("id -1001234567890"), "id -1001234567890");
        assert_eq!(redact("ünïcode 123456:short"), "ünïcode 123456:short");
    }
}

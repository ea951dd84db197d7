//! Naming a post to change: a link as the receipt gives it or as Telegram's "Copy link" does, or
//! the bundle's file name as it stands in the archive (see PRODUCT.md, "Changing a post after it
//! went out"). Pure parsing: which post of the journal it is, is the journal's business.

/// What a clerk wrote after `edit:`, `delete:` or `unpin:`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PostRef {
    /// `https://t.me/NAME/ID`: a public channel by its name (current or old).
    Public { username: String, message_id: i64 },
    /// `https://t.me/c/INTERNAL/ID`: a channel by its id without the `-100` prefix.
    Private { chat_id: i64, message_id: i64 },
    /// `notice.pdf`, `notice (2).pdf`: the bundle posted under that name in the archive.
    File(String),
}

/// Why a value does not name a post, in words a clerk understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAPost(pub String);

/// Reads a post link or a file name. Links may start with `https://`, `http://` or nothing,
/// name `t.me` or `telegram.me`, and end with `?single` or any other query (ignored).
pub fn parse(value: &str) -> Result<PostRef, NotAPost> {
    let value = value.trim();
    if value.is_empty() {
        return Err(NotAPost("it is empty".into()));
    }
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .unwrap_or(value);
    let host_and_path = rest
        .strip_prefix("www.")
        .unwrap_or(rest)
        .split(['?', '#'])
        .next()
        .unwrap_or("");
    let path = host_and_path
        .strip_prefix("t.me/")
        .or_else(|| host_and_path.strip_prefix("telegram.me/"));
    let Some(path) = path else {
        if rest != value || value.contains("t.me") || value.contains("telegram.me") {
            return Err(NotAPost(format!(
                "`{value}` is not a link to a post in a channel"
            )));
        }
        return file_name(value);
    };
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let message_id = |s: &str| -> Result<i64, NotAPost> {
        s.parse::<i64>()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| NotAPost(format!("`{s}` in `{value}` is not the number of a post")))
    };
    match parts.as_slice() {
        // A post in a private channel; `c/INTERNAL/THREAD/ID` names one in a topic.
        ["c", internal, .., id] if parts.len() <= 4 => {
            let internal: i64 = internal.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                NotAPost(format!(
                    "`{internal}` in `{value}` is not a channel's number"
                ))
            })?;
            let chat_id = format!("-100{internal}")
                .parse()
                .map_err(|_| NotAPost(format!("`{value}` names no channel")))?;
            Ok(PostRef::Private {
                chat_id,
                message_id: message_id(id)?,
            })
        }
        [name, id] if is_username(name) => Ok(PostRef::Public {
            username: (*name).to_string(),
            message_id: message_id(id)?,
        }),
        [name] if is_username(name) => Err(NotAPost(format!(
            "`{value}` is a link to the channel, not to one of its posts: open the post in \
             Telegram and use \"Copy link\""
        ))),
        _ => Err(NotAPost(format!(
            "`{value}` is not a link to a post in a channel"
        ))),
    }
}

fn file_name(value: &str) -> Result<PostRef, NotAPost> {
    if value.contains('/') || value.contains('\\') || value.starts_with('.') {
        return Err(NotAPost(format!(
            "`{value}` is neither a link to a post nor a file name from the archive"
        )));
    }
    Ok(PostRef::File(value.to_string()))
}

/// Telegram's public names: 4 to 32 letters, digits and underscores, starting with a letter.
fn is_username(s: &str) -> bool {
    (4..=32).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(name: &str, id: i64) -> PostRef {
        PostRef::Public {
            username: name.into(),
            message_id: id,
        }
    }

    #[test]
    fn links_as_receipts_and_copy_link_give_them() {
        for link in [
            "https://t.me/town_news/123",
            "http://t.me/town_news/123",
            "t.me/town_news/123",
            "https://t.me/town_news/123?single",
            "https://telegram.me/town_news/123",
            "https://www.t.me/town_news/123/",
            "  https://t.me/town_news/123  ",
        ] {
            assert_eq!(parse(link), Ok(public("town_news", 123)), "{link}");
        }
        assert_eq!(
            parse("https://t.me/c/1234567890/45"),
            Ok(PostRef::Private {
                chat_id: -1001234567890,
                message_id: 45
            })
        );
        assert_eq!(
            parse("https://t.me/c/1234567890/7/45?thread=7"),
            Ok(PostRef::Private {
                chat_id: -1001234567890,
                message_id: 45
            })
        );
    }

    #[test]
    fn file_names_name_archived_bundles() {
        assert_eq!(parse("notice.pdf"), Ok(PostRef::File("notice.pdf".into())));
        assert_eq!(
            parse("notice (2).pdf"),
            Ok(PostRef::File("notice (2).pdf".into()))
        );
    }

    #[test]
    fn what_names_no_post_says_why() {
        for (value, says) in [
            ("https://t.me/town_news", "not to one of its posts"),
            ("https://t.me/town_news/abc", "not the number of a post"),
            ("https://t.me/town_news/0", "not the number of a post"),
            ("https://example.com/town_news/12", "not a link to a post"),
            ("https://t.me/+AbCdEf", "not a link to a post"),
            ("../etc/passwd", "neither a link"),
            ("", "empty"),
        ] {
            let Err(NotAPost(why)) = parse(value) else {
                panic!("{value} accepted")
            };
            assert!(why.contains(says), "{value}: {why}");
        }
    }
}

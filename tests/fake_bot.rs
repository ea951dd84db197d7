//! Proves the fake Bot API server the integration tests run against is strict: it answers like
//! Telegram, records what it saw, and flags every request that breaks the published spec.

#[path = "common/fake_bot.rs"]
mod fake_bot;

use std::future::Future;
use std::time::{Duration, Instant};

use fake_bot::{FakeBot, Fault, MessageKind};
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TOKEN: &str = "123456:TEST-token";
const NEWS: i64 = -1001234567890;
const ALERTS: i64 = -1001111111111;
/// Telegram's flood windows at this scale: 1 per 50 ms and 20 per 3 s per chat, 30 per 50 ms.
const SCALE: f64 = 0.05;
const SECOND: Duration = Duration::from_millis(50);
const MINUTE: Duration = Duration::from_secs(3);

/// Talks to the fake the ways a Bot API client can: form, JSON, multipart.
struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    fn new(bot: &FakeBot) -> Api {
        Api::with_token(bot, TOKEN)
    }

    fn with_token(bot: &FakeBot, token: &str) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: format!("{}/bot{token}", bot.url()),
        }
    }

    async fn form(&self, method: &str, params: &[(&str, &str)]) -> (u16, Value) {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let request = self
            .http
            .post(format!("{}/{method}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        answer(request).await
    }

    async fn json(&self, method: &str, body: Value) -> (u16, Value) {
        answer(
            self.http
                .post(format!("{}/{method}", self.base))
                .json(&body),
        )
        .await
    }

    async fn multipart(&self, method: &str, form: Form) -> (u16, Value) {
        answer(
            self.http
                .post(format!("{}/{method}", self.base))
                .multipart(form),
        )
        .await
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("the fake answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn description(body: &Value) -> &str {
    body["description"].as_str().unwrap_or("")
}

/// Just the header of a PNG: the fake reads dimensions from IHDR and nothing more.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bytes.extend(width.to_be_bytes());
    bytes.extend(height.to_be_bytes());
    bytes.extend([8, 2, 0, 0, 0, 0, 0, 0, 0]);
    bytes
}

/// A JPEG whose frame header comes after an APP segment, as in camera files.
fn jpeg(width: u16, height: u16) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
    bytes.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
    bytes.extend([0xFF, 0xC0, 0x00, 0x11, 0x08]);
    bytes.extend(height.to_be_bytes());
    bytes.extend(width.to_be_bytes());
    bytes.extend([3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1, 0xFF, 0xD9]);
    bytes
}

fn file(bytes: Vec<u8>, name: &str) -> Part {
    Part::bytes(bytes).file_name(name.to_owned())
}

/// Deterministic bytes that do not compress, so the upload is a real few-MB stream.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Several clients at once (two dropcasts on one share): each one's requests say whose they are.
#[tokio::test]
async fn a_client_named_in_its_root_url_is_told_apart_and_answered_alike() {
    let bot = FakeBot::start(TOKEN);
    let named = Api {
        http: reqwest::Client::new(),
        base: format!("{}/bot{TOKEN}", bot.url_via("standby-3")),
    };
    let (status, body) = named
        .form("sendMessage", &[("chat_id", "@town_news"), ("text", "hi")])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["message_id"], 1);
    let (status, _) = Api::new(&bot)
        .form("sendMessage", &[("chat_id", "@town_news"), ("text", "hi")])
        .await;
    assert_eq!(status, 200);
    let requests = bot.requests();
    assert_eq!(requests[0].via.as_deref(), Some("standby-3"));
    assert_eq!(requests[0].method, "sendMessage");
    assert!(requests[0].token_ok);
    assert_eq!(requests[1].via, None);
    bot.assert_clean();
}

#[tokio::test]
async fn a_valid_post_is_accepted_recorded_and_answered_like_telegram() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);

    let (status, body) = api
        .form(
            "sendMessage",
            &[
                ("chat_id", "@town_news"),
                ("text", "  <b>Hello</b> &amp; welcome  "),
                ("parse_mode", "HTML"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["message_id"], 1);
    assert_eq!(body["result"]["text"], "Hello & welcome");
    assert_eq!(
        body["result"]["entities"],
        json!([{"type": "bold", "offset": 0, "length": 5}])
    );
    assert_eq!(body["result"]["chat"]["id"], NEWS);

    let (status, body) = api
        .json(
            "sendMessage",
            json!({"chat_id": NEWS, "text": "second", "disable_notification": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["message_id"], 2);

    let (_, me) = api.form("getMe", &[]).await;
    assert_eq!(me["result"]["username"], "dropcast_test_bot");
    assert_eq!(me["result"]["id"], 123456);
    let (_, chat) = api.form("getChat", &[("chat_id", "@Town_News")]).await;
    assert_eq!(chat["result"]["type"], "channel");
    assert_eq!(chat["result"]["username"], "town_news");
    let (_, member) = api
        .form(
            "getChatMember",
            &[("chat_id", "@town_news"), ("user_id", "123456")],
        )
        .await;
    assert_eq!(member["result"]["status"], "administrator");
    assert_eq!(member["result"]["can_post_messages"], true);

    let (status, body) = api
        .form(
            "pinChatMessage",
            &[("chat_id", "@town_news"), ("message_id", "2")],
        )
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)));
    let (status, body) = api
        .form(
            "pinChatMessage",
            &[("chat_id", "@town_news"), ("message_id", "99")],
        )
        .await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message to pin not found")
    );
    let (status, body) = api
        .form("sendMessage", &[("chat_id", "@elsewhere"), ("text", "hi")])
        .await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: chat not found")
    );

    let posts = bot.posts();
    assert_eq!(posts.len(), 2);
    assert_eq!(posts[0].chat_id.as_deref(), Some("@town_news"));
    assert_eq!(posts[0].field("parse_mode"), Some("HTML"));
    assert_eq!(posts[0].message_ids, [1]);
    // JSON bodies are recorded as text, numbers as their JSON spelling.
    assert_eq!(posts[1].chat_id_sent.as_deref(), Some("-1001234567890"));
    // The chat as the test named it, however it was addressed.
    assert_eq!(posts[1].chat_id.as_deref(), Some("@town_news"));
    assert_eq!(posts[1].field("disable_notification"), Some("true"));
    assert_eq!(bot.requests().len(), 8);
    // A missing chat or message is the world's answer, not dropcast breaking the spec; the
    // fake's own answers above were also checked against the spec.
    bot.assert_clean();
}

#[tokio::test]
async fn requests_that_break_the_spec_are_refused_and_flagged() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let long_text = "x".repeat(4097);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("text", "hi"), ("colour", "red")],
            "unknown parameter \"colour\"",
        ),
        (&[], "Bad Request: message text is empty"),
        (&[("text", "   ")], "Bad Request: message text is empty"),
        (&[("text", &long_text)], "Bad Request: message is too long"),
        (
            &[("text", "hi"), ("disable_notification", "maybe")],
            "\"disable_notification\" must be Boolean, got \"maybe\"",
        ),
        (
            &[("text", "hi"), ("message_thread_id", "1.5")],
            "must be Integer",
        ),
        (
            &[
                ("text", "hi"),
                ("reply_parameters", r#"{"message_id":"1"}"#),
            ],
            "reply_parameters.message_id must be Integer",
        ),
        (
            &[
                ("text", "hi"),
                ("link_preview_options", r#"{"is_disabled":true,"colour":1}"#),
            ],
            "link_preview_options.colour is not a field of LinkPreviewOptions",
        ),
        (
            &[("text", "hi"), ("parse_mode", "html")],
            "Bad Request: unsupported parse_mode",
        ),
        (
            &[("text", "<b>x"), ("parse_mode", "HTML")],
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
        ),
        (
            &[("text", "a < b"), ("parse_mode", "HTML")],
            "Bad Request: can't parse entities: Unsupported start tag \"\" at byte offset 2",
        ),
        (
            &[
                ("text", "<script>alert(1)</script>"),
                ("parse_mode", "HTML"),
            ],
            "Bad Request: can't parse entities: Unsupported start tag \"script\" at byte offset 0",
        ),
        (
            &[("text", "<b><i>x</b></i>"), ("parse_mode", "HTML")],
            "Unmatched end tag at byte offset 7, expected \"</i>\", found \"</b>\"",
        ),
        (
            &[("text", "AT&T"), ("parse_mode", "HTML")],
            "starts no HTML entity",
        ),
        (
            &[
                ("text", "<a href=\"https://x.org\" target=\"_blank\">x</a>"),
                ("parse_mode", "HTML"),
            ],
            "Unsupported attribute \"target\"",
        ),
    ];
    for (index, (params, expected)) in cases.iter().enumerate() {
        let mut params = params.to_vec();
        params.push(("chat_id", "@town_news"));
        let (status, body) = api.form("sendMessage", &params).await;
        assert_eq!(status, 400, "case {index}: {body}");
        assert!(
            description(&body).contains(expected),
            "case {index}: {body}"
        );
        assert_eq!(
            bot.violations().len(),
            index + 1,
            "case {index}: {:?}",
            bot.violations()
        );
    }

    let albums: &[(Value, &str)] = &[
        (
            json!([{"type": "photo", "media": "attach://p1"}, {"type": "photo", "media": "attach://p2"}]),
            "can't parse InputMedia: media not found",
        ),
        (
            json!([{"type": "sticker", "media": "x"}, {"type": "photo", "media": "y"}]),
            "media[0].type must be one of",
        ),
        (
            json!([{"type": "photo", "media": "https://example.org/a.jpg", "caption": null}]),
            "media[0].caption is null",
        ),
    ];
    for (media, expected) in albums {
        let before = bot.violations().len();
        let (status, body) = api
            .form(
                "sendMediaGroup",
                &[("chat_id", "@town_news"), ("media", &media.to_string())],
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(description(&body).contains(expected), "{body}");
        assert!(bot.violations().len() > before, "{media}");
    }

    let before = bot.violations().len();
    let (status, body) = api
        .form("sendCarrierPigeon", &[("chat_id", "@town_news")])
        .await;
    assert_eq!((status, description(&body)), (404, "Not Found"));
    let (status, _) = api
        .form("SENDMESSAGE", &[("chat_id", "@town_news"), ("text", "hi")])
        .await;
    assert_eq!(
        status, 200,
        "Telegram forgives the case, so the fake answers"
    );
    let violations = bot.violations();
    assert_eq!(violations.len(), before + 2, "{violations:?}");
    assert!(violations[before].contains("no method \"sendCarrierPigeon\""));
    assert!(violations[before + 1].contains("\"SENDMESSAGE\" instead of \"sendMessage\""));

    // A wrong token is a configuration the tests may set up on purpose: answered, not flagged.
    let (status, body) = Api::with_token(&bot, "123456:wrong")
        .form("getMe", &[])
        .await;
    assert_eq!(
        (status, body),
        (
            401,
            json!({"ok": false, "error_code": 401, "description": "Unauthorized"})
        )
    );
    assert!(!bot.requests().last().unwrap().token_ok);
    assert_eq!(bot.violations().len(), before + 2);

    let flagged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bot.assert_clean()))
        .expect_err("assert_clean panics");
    let message = flagged.downcast_ref::<String>().unwrap();
    assert!(message.contains("colour"), "{message}");
}

#[tokio::test]
async fn captions_are_counted_in_utf16_after_entities_parsing() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let send = |caption: String, parse_mode: Option<&'static str>| {
        let mut form = Form::new()
            .text("chat_id", "@town_news")
            .text("caption", caption)
            .part(
                "document",
                file(b"%PDF-1.7 minutes".to_vec(), "minutes.pdf"),
            );
        if let Some(mode) = parse_mode {
            form = form.text("parse_mode", mode);
        }
        api.multipart("sendDocument", form)
    };

    let (status, body) = send("x".repeat(1025), None).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message caption is too long")
    );
    // 513 emoji are 1026 UTF-16 code units.
    let (status, body) = send("😀".repeat(513), None).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message caption is too long")
    );
    assert_eq!(bot.violations().len(), 2);

    // Tags are not counted and an entity counts as the one character it stands for.
    let fits = format!("<b>{}</b>{}", "x".repeat(1000), "&amp;".repeat(24));
    let (status, body) = send(fits, Some("HTML")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["caption"].as_str().unwrap().len(), 1024);
    assert_eq!(body["result"]["document"]["file_name"], "minutes.pdf");
    assert_eq!(body["result"]["document"]["mime_type"], "application/pdf");
    let (status, body) = send("😀".repeat(512), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(bot.violations().len(), 2, "{:#?}", bot.violations());
}

#[tokio::test]
async fn photos_and_albums_are_checked_like_telegram_checks_them() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let photo = |bytes: Vec<u8>, name: &str| {
        let form = Form::new()
            .text("chat_id", "@town_news")
            .part("photo", file(bytes, name));
        api.multipart("sendPhoto", form)
    };

    let (status, body) = photo(png(9000, 2000), "wide.png").await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    );
    let (status, body) = photo(png(4200, 200), "strip.png").await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
    );
    assert_eq!(
        bot.violations().len(),
        2,
        "the spec states the photo limits"
    );
    // Whether bytes are an image is Telegram's finding, not a rule dropcast broke.
    let (status, body) = photo(b"not an image".to_vec(), "fake.png").await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: IMAGE_PROCESS_FAILED")
    );
    assert_eq!(bot.violations().len(), 2);

    let (status, body) = photo(png(1280, 720), "ok.png").await;
    assert_eq!(status, 200, "{body}");
    let sizes = body["result"]["photo"].as_array().unwrap();
    assert_eq!(sizes.last().unwrap()["width"], 1280);
    let (status, body) = photo(jpeg(800, 600), "camera.jpg").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["photo"].as_array().unwrap().last().unwrap()["height"],
        600
    );

    let album = |media: Value| {
        Form::new()
            .text("chat_id", "@town_news")
            .text("media", media.to_string())
            .part("a", file(png(640, 480), "a.png"))
            .part("b", file(png(480, 640), "b.png"))
    };
    let (status, body) = api
        .multipart(
            "sendMediaGroup",
            album(json!([
                {"type": "photo", "media": "attach://a", "caption": "<i>first</i>", "parse_mode": "HTML"},
                {"type": "document", "media": "attach://b"},
            ])),
        )
        .await;
    assert_eq!(
        (status, description(&body)),
        (
            400,
            "Bad Request: document can't be mixed with other media types"
        )
    );
    let (status, body) = api
        .multipart(
            "sendMediaGroup",
            album(json!([
                {"type": "photo", "media": "attach://a", "caption": "<i>first</i>", "parse_mode": "HTML"},
                {"type": "photo", "media": "attach://b"},
            ])),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let messages = body["result"].as_array().unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0]["caption"], "first");
    assert_eq!(messages[0]["media_group_id"], messages[1]["media_group_id"]);
    assert_eq!(bot.posts().last().unwrap().message_ids, [3, 4]);

    let before = bot.violations().len();
    let (status, _) = api
        .multipart(
            "sendDocument",
            Form::new()
                .text("chat_id", "@town_news")
                .part("document", file(b"x".to_vec(), "x.txt"))
                .part("stray", file(b"y".to_vec(), "y.txt")),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = api
        .multipart(
            "sendDocument",
            Form::new()
                .text("chat_id", "@town_news")
                .part("document", Part::bytes(vec![0xFF, 0xFE, 0x00, 0x9F])),
        )
        .await;
    assert_eq!(status, 400);
    let violations = bot.violations();
    assert!(
        violations[before].contains("\"stray\" is not a parameter of sendDocument"),
        "{violations:?}"
    );
    assert!(
        violations[before + 1].contains("no filename"),
        "{violations:?}"
    );
}

#[tokio::test]
async fn uploads_are_hashed_as_they_stream_and_can_be_sent_again_by_file_id() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let bytes = noise(3 * 1024 * 1024 + 17);
    let expected = hex::encode(Sha256::digest(&bytes));
    let form = Form::new()
        .text("chat_id", "-1001234567890")
        .part("document", file(bytes, "big.bin"));
    let (status, body) = api.multipart("sendDocument", form).await;
    assert_eq!(status, 200, "{body}");

    let post = bot.wait_for_posts(1, Duration::from_secs(5)).remove(0);
    let upload = post.file("document").expect("the upload is recorded");
    assert_eq!(upload.sha256, expected);
    assert_eq!(upload.size, 3 * 1024 * 1024 + 17);
    assert_eq!(upload.file_name.as_deref(), Some("big.bin"));

    let file_id = body["result"]["document"]["file_id"].as_str().unwrap();
    let (status, again) = api
        .form(
            "sendDocument",
            &[("chat_id", "@town_news"), ("document", file_id)],
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["result"]["document"]["file_unique_id"],
        body["result"]["document"]["file_unique_id"]
    );
    let (status, body) = api
        .form(
            "sendDocument",
            &[("chat_id", "@town_news"), ("document", "no-such-id")],
        )
        .await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: wrong file identifier/HTTP URL specified")
    );
    bot.assert_clean();
}

#[tokio::test]
async fn queued_faults_are_answered_once_each_before_the_real_answer() {
    let bot = FakeBot::builder(TOKEN)
        .channel("@town_news", NEWS)
        .channel_private(-1009876543210)
        .bot_username("other_bot")
        .start();
    let api = Api::new(&bot);
    let message = [("chat_id", "-1009876543210"), ("text", "hi")];

    bot.fail_next("sendMessage", Fault::RetryAfter(7));
    let (status, body) = api.form("sendMessage", &message).await;
    assert_eq!(
        (status, body),
        (
            429,
            json!({
                "ok": false,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            })
        )
    );
    let (status, body) = api.form("sendMessage", &message).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["chat"]["title"],
        "Private channel -1009876543210"
    );

    bot.fail_next(
        "*",
        Fault::Status(400, "Bad Request: chat not found".into()),
    );
    let (status, body) = api.form("getMe", &[]).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: chat not found")
    );
    let (_, me) = api.form("getMe", &[]).await;
    assert_eq!(me["result"]["username"], "other_bot");

    // api.telegram.org's gateway errors come from nginx, as HTML.
    bot.fail_next("getMe", Fault::Status(502, "Bad Gateway".into()));
    let response = reqwest::get(format!("{}/bot{TOKEN}/getMe", bot.url()))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 502);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("<title>502 Bad Gateway</title>")
    );

    bot.fail_next("sendMessage", Fault::Hang);
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let hung = impatient
        .post(format!("{}/bot{TOKEN}/sendMessage", bot.url()))
        .json(&json!({"chat_id": NEWS, "text": "never answered"}))
        .send()
        .await;
    assert!(hung.is_err_and(|e| e.is_timeout()));
    bot.wait_until(Duration::from_secs(2), "the hanging request", |requests| {
        requests
            .iter()
            .any(|r| r.field("text") == Some("never answered") && r.status == 0)
    });
    assert_eq!(bot.posts().len(), 1);
    bot.assert_clean();
}

#[test]
#[should_panic(expected = "timed out after 50ms waiting for 1 successful post(s)")]
fn waiting_in_vain_says_what_the_fake_saw() {
    let bot = FakeBot::start(TOKEN);
    bot.wait_for_posts(1, Duration::from_millis(50));
}

fn retry_after(body: &Value) -> u64 {
    body["parameters"]["retry_after"].as_u64().unwrap_or(0)
}

/// Busy-waits until `gap` has passed since `since`: the wait is the condition under test.
fn wait_past(since: Instant, gap: Duration) {
    while since.elapsed() < gap {
        std::thread::yield_now();
    }
}

/// Runs an `attempt` whose assertions need its requests to fall within a flood window, until
/// one does: an attempt returns `None` when the machine was too slow for that, and is tried
/// again on a fresh fake rather than failing or passing by luck.
async fn timely<T, F: Future<Output = Option<T>>>(what: &str, attempt: impl Fn() -> F) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(done) = attempt().await {
            return done;
        }
        assert!(
            Instant::now() < deadline,
            "the machine never kept up for: {what}"
        );
    }
}

fn limited() -> FakeBot {
    FakeBot::builder(TOKEN)
        .channel("@town_news", NEWS)
        .channel("@town_alerts", ALERTS)
        .rate_limits(SCALE)
        .start()
}

fn message(text: &str) -> [(&'static str, &str); 2] {
    [("chat_id", "@town_news"), ("text", text)]
}

/// An album of photos Telegram fetches by URL, so no upload slows the requests down.
fn url_album(chat: &str, items: usize) -> [(&'static str, String); 2] {
    let media: Vec<Value> = (0..items)
        .map(|i| json!({"type": "photo", "media": format!("https://example.org/{i}.jpg")}))
        .collect();
    [
        ("chat_id", chat.to_owned()),
        ("media", Value::from(media).to_string()),
    ]
}

async fn form_owned(api: &Api, method: &str, params: &[(&'static str, String)]) -> (u16, Value) {
    let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    api.form(method, &params).await
}

#[tokio::test]
async fn flood_limits_refuse_a_second_message_to_a_chat_within_the_scaled_second() {
    let (bot, first, second, answered) = timely("two messages within 50 ms", || async {
        let bot = limited();
        let api = Api::new(&bot);
        let start = Instant::now();
        let first = api.form("sendMessage", &message("one")).await;
        let second = api.form("sendMessage", &message("two")).await;
        (start.elapsed() < SECOND).then(|| (bot, first, second, Instant::now()))
    })
    .await;
    assert_eq!(first.0, 200, "{}", first.1);
    // The slot frees within 50 ms, but Telegram's retry_after is whole seconds.
    assert_eq!(
        second,
        (
            429,
            json!({
                "ok": false,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            })
        )
    );
    assert_eq!(bot.count_429(), 1);
    assert_eq!(bot.requests().last().unwrap().status, 429);

    // Methods that send nothing are neither limited nor counted: spaced from the first
    // message alone, the next one is accepted.
    let api = Api::new(&bot);
    let chat = [("chat_id", "@town_news")];
    for (method, params) in [
        ("getMe", &[][..]),
        ("getChat", &chat[..]),
        (
            "getChatMember",
            &[("chat_id", "@town_news"), ("user_id", "123456")][..],
        ),
        (
            "pinChatMessage",
            &[("chat_id", "@town_news"), ("message_id", "1")][..],
        ),
    ] {
        let (status, body) = api.form(method, params).await;
        assert_eq!(status, 200, "{method}: {body}");
    }
    wait_past(answered, SECOND);
    let (status, body) = api.form("sendMessage", &message("two")).await;
    assert_eq!(status, 200, "{body}");
    let shown: Vec<Option<String>> = bot
        .chat_messages(NEWS)
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(shown, [Some("one".to_owned()), Some("two".to_owned())]);
    assert_eq!(bot.count_429(), 1);
    // Refusals are Telegram answering, not dropcast breaking the spec.
    bot.assert_clean();
}

#[tokio::test]
async fn flood_limits_count_every_album_item_against_twenty_a_scaled_minute() {
    let (bot, album, refused) = timely("21 messages within 3 s", || async {
        let bot = limited();
        let api = Api::new(&bot);
        let start = Instant::now();
        let mut answered = start;
        for n in 0..17 {
            wait_past(answered, SECOND);
            let (status, body) = api.form("sendMessage", &message(&format!("#{n}"))).await;
            assert_eq!(status, 200, "message {n}: {body}");
            answered = Instant::now();
        }
        // 17 + 3 fit the 20; had the album counted as one, a 21st message would fit too.
        wait_past(answered, SECOND);
        let album = form_owned(&api, "sendMediaGroup", &url_album("@town_news", 3)).await;
        let answered = Instant::now();
        wait_past(answered, SECOND);
        let refused = api.form("sendMessage", &message("21st")).await;
        (start.elapsed() < MINUTE).then_some((bot, album, refused))
    })
    .await;
    assert_eq!(album.0, 200, "{}", album.1);
    assert_eq!(album.1["result"].as_array().map(Vec::len), Some(3));
    let (status, body) = refused;
    assert_eq!(status, 429, "{body}");
    assert!((1..=3).contains(&retry_after(&body)), "{body}");
    assert_eq!(
        description(&body),
        format!("Too Many Requests: retry after {}", retry_after(&body))
    );
    assert_eq!(bot.count_429(), 1);
    assert_eq!(bot.chat_messages(NEWS).len(), 20);

    // The minute is the chat's: another chat still takes a message.
    let (status, body) = Api::new(&bot)
        .form(
            "sendMessage",
            &[("chat_id", "@town_alerts"), ("text", "elsewhere")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    bot.assert_clean();
}

#[tokio::test]
async fn flood_limits_allow_thirty_messages_a_scaled_second_across_chats() {
    let (bot, albums, refused) = timely("31 messages within 50 ms", || async {
        let bot = FakeBot::builder(TOKEN)
            .channel("@town_news", NEWS)
            .channel("@town_alerts", ALERTS)
            .channel("@town_sports", -1002222222222)
            .channel("@town_events", -1003333333333)
            .rate_limits(SCALE)
            .start();
        let api = Api::new(&bot);
        let start = Instant::now();
        let mut albums = Vec::new();
        for chat in ["@town_news", "@town_alerts", "@town_sports"] {
            albums.push(form_owned(&api, "sendMediaGroup", &url_album(chat, 10)).await);
        }
        let refused = api
            .form(
                "sendMessage",
                &[("chat_id", "@town_events"), ("text", "31st")],
            )
            .await;
        (start.elapsed() < SECOND).then_some((bot, albums, refused))
    })
    .await;
    for (status, body) in &albums {
        assert_eq!(*status, 200, "{body}");
    }
    assert_eq!(refused.0, 429, "{}", refused.1);
    assert_eq!(retry_after(&refused.1), 1);
    assert_eq!(bot.count_429(), 1);
    assert!(bot.chat_messages(-1003333333333).is_empty());
    bot.assert_clean();
}

#[tokio::test]
async fn a_partial_album_leaves_its_first_items_in_the_chat_and_asks_to_retry() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let (status, body) = api.form("sendMessage", &message("before")).await;
    assert_eq!(status, 200, "{body}");

    let images = [png(640, 480), png(480, 640), png(800, 600)];
    let hashes: Vec<String> = images
        .iter()
        .map(|bytes| hex::encode(Sha256::digest(bytes)))
        .collect();
    let album = || {
        let media = json!([
            {"type": "photo", "media": "attach://a", "caption": "<b>Fair</b>", "parse_mode": "HTML"},
            {"type": "photo", "media": "attach://b"},
            {"type": "photo", "media": "attach://c"},
        ]);
        Form::new()
            .text("chat_id", "@town_news")
            .text("media", media.to_string())
            .part("a", file(images[0].clone(), "a.png"))
            .part("b", file(images[1].clone(), "b.png"))
            .part("c", file(images[2].clone(), "c.png"))
    };
    bot.fail_next(
        "sendMediaGroup",
        Fault::AlbumPartial {
            sent: 2,
            retry_after: 9,
        },
    );
    let (status, body) = api.multipart("sendMediaGroup", album()).await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({
                "ok": false,
                "error_code": 400,
                "description": "Bad Request: Too Many Requests: retry after 9",
                "parameters": {"retry_after": 9},
            })
        )
    );
    let recorded = bot.requests().pop().unwrap();
    assert_eq!(
        (recorded.status, &recorded.message_ids[..]),
        (400, &[2, 3][..])
    );
    assert_eq!(
        bot.posts().len(),
        1,
        "a refused album is no successful post"
    );

    let messages = bot.chat_messages(NEWS);
    assert_eq!(messages.len(), 3, "{messages:#?}");
    assert_eq!(messages[0].kind, MessageKind::Text);
    let partial = &messages[1..];
    assert!(partial.iter().all(|m| m.kind == MessageKind::Photo));
    assert_eq!(partial[0].text.as_deref(), Some("Fair"));
    assert_eq!(partial[0].sha256.as_deref(), Some(hashes[0].as_str()));
    assert_eq!(partial[1].sha256.as_deref(), Some(hashes[1].as_str()));
    assert!(partial[0].media_group_id.is_some());
    assert_eq!(partial[0].media_group_id, partial[1].media_group_id);

    // Sending the whole album again duplicates the first two, which chat_messages shows.
    let (status, body) = api.multipart("sendMediaGroup", album()).await;
    assert_eq!(status, 200, "{body}");
    let hashes_in_chat: Vec<String> = bot
        .chat_messages(NEWS)
        .into_iter()
        .filter_map(|m| m.sha256)
        .collect();
    assert_eq!(hashes_in_chat, [0, 1, 0, 1, 2].map(|i| hashes[i].clone()));

    // Another method meets only the answer, and nothing is posted.
    bot.fail_next(
        "*",
        Fault::AlbumPartial {
            sent: 1,
            retry_after: 2,
        },
    );
    let (status, body) = api.form("sendMessage", &message("after")).await;
    assert_eq!(
        (status, description(&body), retry_after(&body)),
        (400, "Bad Request: Too Many Requests: retry after 2", 2)
    );
    assert_eq!(bot.chat_messages(NEWS).len(), 6);
    assert_eq!(
        bot.count_429(),
        0,
        "faults are not the flood limits refusing"
    );
    bot.assert_clean();
}

#[tokio::test]
async fn animations_are_posts_and_pinning_can_be_refused() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let mut gif = b"GIF89a".to_vec();
    gif.extend(320u16.to_le_bytes());
    gif.extend(240u16.to_le_bytes());
    gif.extend([0u8; 32]);
    let hash = hex::encode(Sha256::digest(&gif));
    let form = Form::new()
        .text("chat_id", "@town_news")
        .text("caption", "Parade")
        .part("animation", file(gif, "parade.gif"));
    let (status, body) = api.multipart("sendAnimation", form).await;
    assert_eq!(status, 200, "{body}");
    let animation = &body["result"]["animation"];
    assert_eq!(
        (&animation["width"], &animation["height"]),
        (&json!(320), &json!(240))
    );
    assert_eq!(animation["file_name"], "parade.gif");
    assert_eq!(body["result"]["caption"], "Parade");
    let file_id = animation["file_id"].as_str().unwrap().to_owned();
    let (status, body) = api
        .form(
            "sendAnimation",
            &[("chat_id", "@town_news"), ("animation", &file_id)],
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let posts = bot.posts();
    assert_eq!(posts.len(), 2);
    assert!(posts.iter().all(|p| p.method == "sendAnimation"));
    let messages = bot.chat_messages(NEWS);
    assert!(messages.iter().all(|m| m.kind == MessageKind::Animation));
    assert!(
        messages
            .iter()
            .all(|m| m.sha256.as_deref() == Some(hash.as_str()))
    );
    assert_eq!(messages[0].text.as_deref(), Some("Parade"));

    let no_rights = "Bad Request: not enough rights to manage pinned messages in the chat";
    bot.fail_next("pinChatMessage", Fault::Status(400, no_rights.into()));
    let pin = [("chat_id", "@town_news"), ("message_id", "1")];
    let (status, body) = api.form("pinChatMessage", &pin).await;
    assert_eq!((status, description(&body)), (400, no_rights));
    let (status, body) = api.form("pinChatMessage", &pin).await;
    assert_eq!((status, &body["result"]), (200, &json!(true)));
    bot.assert_clean();
}

/// `path` as a Local Bot API server takes it: `file://` and the path with every byte but
/// letters, digits and `/-._~` percent-encoded.
fn file_uri(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file://");
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            uri.push(char::from(byte));
        } else {
            uri.push_str(&format!("%{byte:02X}"));
        }
    }
    uri
}

/// sendDocument in JSON, with `document` as given.
async fn send_document(api: &Api, document: String) -> (u16, Value) {
    api.json(
        "sendDocument",
        json!({"chat_id": "@town_news", "document": document}),
    )
    .await
}

/// A directory under /tmp whose name has a space, so its `file://` URIs need `%20`.
fn spaced_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fake bot ")
        .tempdir_in("/tmp")
        .expect("a temporary directory")
}

#[tokio::test]
async fn a_local_server_reads_files_named_by_file_uri() {
    let bot = FakeBot::builder(TOKEN).local_server().start();
    let api = Api::new(&bot);
    let dir = spaced_dir();
    let pdf = dir.path().join("minutes of march.pdf");
    let bytes = noise(300 * 1024);
    std::fs::write(&pdf, &bytes).unwrap();
    let uri = file_uri(&pdf);
    assert!(uri.starts_with("file:///tmp/fake%20bot%20"), "{uri}");

    let (status, body) = api
        .json(
            "sendDocument",
            json!({"chat_id": "@town_news", "document": uri, "caption": "Minutes"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["result"]["document"]["file_name"],
        "minutes of march.pdf"
    );
    assert_eq!(body["result"]["document"]["file_size"], bytes.len());
    let post = bot.posts().remove(0);
    let read = post.file("document").expect("the file is recorded");
    assert_eq!(read.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(read.size, bytes.len() as u64);
    assert_eq!(read.file_name.as_deref(), Some("minutes of march.pdf"));
    assert_eq!(read.local_path.as_deref(), pdf.to_str());
    assert_eq!(post.field("document"), Some(uri.as_str()));
    assert_eq!(
        bot.chat_messages(NEWS)[0].sha256.as_deref(),
        Some(read.sha256.as_str())
    );

    // Uploads are still taken, and recorded without a path.
    let form = Form::new()
        .text("chat_id", "@town_news")
        .part("document", file(b"%PDF-1.7 x".to_vec(), "x.pdf"));
    let (status, body) = api.multipart("sendDocument", form).await;
    assert_eq!(status, 200, "{body}");
    let upload = bot.posts().pop().unwrap().files.remove(0);
    assert_eq!(
        (upload.field.as_str(), upload.local_path),
        ("document", None)
    );

    // An album in JSON: every item's file read from disk, the photos' headers checked.
    let images = [png(640, 480), jpeg(480, 640)];
    let paths = [dir.path().join("fair 1.png"), dir.path().join("fair 2.jpg")];
    for (path, image) in paths.iter().zip(&images) {
        std::fs::write(path, image).unwrap();
    }
    let (status, body) = api
        .json(
            "sendMediaGroup",
            json!({
                "chat_id": NEWS,
                "media": [
                    {"type": "photo", "media": file_uri(&paths[0]), "caption": "Fair"},
                    {"type": "photo", "media": file_uri(&paths[1])},
                ],
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sizes = body["result"][1]["photo"].as_array().unwrap();
    assert_eq!(sizes.last().unwrap()["height"], 640);
    let album = bot.posts().pop().unwrap();
    let recorded: Vec<(&str, Option<&str>, &str)> = album
        .files
        .iter()
        .map(|f| (f.field.as_str(), f.local_path.as_deref(), f.sha256.as_str()))
        .collect();
    let hashes: Vec<String> = images
        .iter()
        .map(|i| hex::encode(Sha256::digest(i)))
        .collect();
    assert_eq!(
        recorded,
        [
            ("media[0]", paths[0].to_str(), hashes[0].as_str()),
            ("media[1]", paths[1].to_str(), hashes[1].as_str()),
        ]
    );
    assert_eq!(
        album.file("media[1]").unwrap().file_name.as_deref(),
        Some("fair 2.jpg")
    );
    bot.assert_clean();
}

#[tokio::test]
async fn file_uris_are_refused_by_the_public_api_and_bad_ones_by_a_local_server() {
    let dir = spaced_dir();
    let pdf = dir.path().join("minutes of march.pdf");
    std::fs::write(&pdf, b"%PDF-1.7 minutes").unwrap();

    // api.telegram.org reads no one's disk.
    let public = FakeBot::start(TOKEN);
    let (status, body) = send_document(&Api::new(&public), file_uri(&pdf)).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: wrong file identifier/HTTP URL specified")
    );
    let violations = public.violations();
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(
        violations[0].contains("only a Local Bot API server"),
        "{violations:?}"
    );
    assert!(public.posts().is_empty());

    let bot = FakeBot::builder(TOKEN).local_server().start();
    let api = Api::new(&bot);
    let missing = dir.path().join("gone.pdf");
    let (status, body) = send_document(&api, file_uri(&missing)).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: file not found")
    );
    assert!(
        bot.violations()[0].contains("gone.pdf"),
        "{:?}",
        bot.violations()
    );

    // Past 2000 MB; sparse, so it costs no disk, and refused from its size alone.
    let huge = dir.path().join("huge.bin");
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(2000 * 1024 * 1024 + 1)
        .unwrap();
    let (status, body) = send_document(&api, file_uri(&huge)).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: file is too big")
    );

    // A path left unencoded, or one that is not absolute, is dropcast's mistake too.
    for document in [
        format!("file://{}", pdf.display()),
        "file://tmp/minutes.pdf".to_owned(),
    ] {
        let (status, body) = send_document(&api, document.clone()).await;
        assert_eq!(
            (status, description(&body)),
            (400, "Bad Request: wrong file identifier/HTTP URL specified"),
            "{document}"
        );
    }
    let violations = bot.violations();
    assert_eq!(violations.len(), 4, "{violations:?}");
    assert!(violations[2].contains("raw ' '"), "{violations:?}");
    assert!(violations[3].contains("host \"tmp\""), "{violations:?}");
    assert!(bot.posts().is_empty());
    assert!(bot.requests().iter().all(|r| r.files.is_empty()));
}

// ---------------------------------------------------------------------------------------------
// Changing a post after it went out (issue 13): getChat, edits, deletions, pins
// ---------------------------------------------------------------------------------------------

const NOT_MODIFIED: &str = "Bad Request: message is not modified: specified new message content \
     and reply markup are exactly the same as a current content and reply markup of the message";

/// A keyboard of one URL button.
fn buttons(text: &str) -> Value {
    json!({"inline_keyboard": [[{"text": text, "url": "https://example.org/"}]]})
}

/// Posts a document (`name`, `bytes`) with `caption` to @town_news; returns its message id.
async fn post_document(api: &Api, name: &str, bytes: &[u8], caption: &str) -> i64 {
    let form = Form::new()
        .text("chat_id", "@town_news")
        .text("caption", caption.to_owned())
        .part("document", file(bytes.to_vec(), name));
    let (status, body) = api.multipart("sendDocument", form).await;
    assert_eq!(status, 200, "{body}");
    body["result"]["message_id"].as_i64().unwrap()
}

/// Posts a text to @town_news; returns its message id.
async fn post_text(api: &Api, text: &str) -> i64 {
    let (status, body) = api.form("sendMessage", &message(text)).await;
    assert_eq!(status, 200, "{body}");
    body["result"]["message_id"].as_i64().unwrap()
}

/// An album in @town_news of `kind` items ("photo" or "document"), two of them uploaded;
/// returns the message ids.
async fn post_album(api: &Api, kind: &str) -> Vec<i64> {
    let (a, b, names) = if kind == "photo" {
        (png(640, 480), png(480, 640), ["a.png", "b.png"])
    } else {
        (
            b"%PDF-1.7 a".to_vec(),
            b"%PDF-1.7 b".to_vec(),
            ["a.pdf", "b.pdf"],
        )
    };
    let media = json!([
        {"type": kind, "media": "attach://a", "caption": "first"},
        {"type": kind, "media": "attach://b"},
    ]);
    let form = Form::new()
        .text("chat_id", "@town_news")
        .text("media", media.to_string())
        .part("a", file(a, names[0]))
        .part("b", file(b, names[1]));
    let (status, body) = api.multipart("sendMediaGroup", form).await;
    assert_eq!(status, 200, "{body}");
    body["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_i64().unwrap())
        .collect()
}

/// editMessageMedia of message `id` in @town_news with one uploaded file.
async fn edit_media(api: &Api, id: i64, media: Value, bytes: Vec<u8>, name: &str) -> (u16, Value) {
    let form = Form::new()
        .text("chat_id", "@town_news")
        .text("message_id", id.to_string())
        .text("media", media.to_string())
        .part("new", file(bytes, name));
    api.multipart("editMessageMedia", form).await
}

#[tokio::test]
async fn get_chat_finds_a_channel_by_id_or_name_and_follows_a_rename() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    for chat_id in ["@town_news", "@TOWN_NEWS", "-1001234567890"] {
        let (status, body) = api.form("getChat", &[("chat_id", chat_id)]).await;
        assert_eq!(status, 200, "{chat_id}: {body}");
        let chat = &body["result"];
        assert_eq!(
            (
                &chat["id"],
                &chat["type"],
                &chat["title"],
                &chat["username"]
            ),
            (
                &json!(NEWS),
                &json!("channel"),
                &json!("Town News"),
                &json!("town_news")
            ),
            "{chat_id}"
        );
    }
    for unknown in ["@nobody_here", "-1009999999999"] {
        let (status, body) = api.form("getChat", &[("chat_id", unknown)]).await;
        assert_eq!(
            (status, description(&body)),
            (400, "Bad Request: chat not found"),
            "{unknown}"
        );
    }

    let before = post_text(&api, "before the rename").await;
    bot.rename_channel(NEWS, "@city_news");
    assert_eq!(bot.channel_username(NEWS).as_deref(), Some("city_news"));
    let (status, body) = api.form("getChat", &[("chat_id", "@town_news")]).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: chat not found"),
        "the old name is gone"
    );
    let (status, body) = api
        .form("sendMessage", &[("chat_id", "@town_news"), ("text", "x")])
        .await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: chat not found")
    );
    for chat_id in ["@city_news", "-1001234567890"] {
        let (status, body) = api.form("getChat", &[("chat_id", chat_id)]).await;
        assert_eq!(status, 200, "{chat_id}: {body}");
        assert_eq!(body["result"]["id"], NEWS);
        assert_eq!(body["result"]["username"], "city_news");
    }
    // Messages sent before the rename stay, and answers name the chat as it is now.
    let (status, body) = api
        .json(
            "editMessageText",
            json!({"chat_id": NEWS, "message_id": before, "text": "after the rename"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["chat"]["username"], "city_news");
    assert_eq!(body["result"]["sender_chat"]["username"], "city_news");
    let getchats = bot.requests_for("getChat");
    assert_eq!(getchats.len(), 8);
    assert_eq!(getchats[5].chat_id.as_deref(), Some("@town_news"));
    assert_eq!(getchats[5].status, 400);
    assert_eq!(getchats[6].chat_id_sent.as_deref(), Some("@city_news"));
    assert_eq!(getchats[6].chat_id.as_deref(), Some("@town_news"));
    bot.assert_clean();
}

#[tokio::test]
async fn edits_change_what_the_channel_shows_and_are_recorded() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let (status, body) = api
        .json(
            "sendMessage",
            json!({
                "chat_id": "@town_news",
                "text": "Waste collection on <b>Monday</b>",
                "parse_mode": "HTML",
                "reply_markup": buttons("Calendar"),
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["reply_markup"], buttons("Calendar"));
    let id = body["result"]["message_id"].as_i64().unwrap();
    let sent = bot.message(NEWS, id).expect("the message is kept");
    assert_eq!(sent.kind, MessageKind::Text);
    assert_eq!(sent.method, "sendMessage");
    assert_eq!(sent.text.as_deref(), Some("Waste collection on Monday"));
    assert_eq!(
        sent.entities,
        [json!({"type": "bold", "offset": 20, "length": 6})]
    );
    assert_eq!(sent.parse_mode.as_deref(), Some("HTML"));
    assert_eq!(
        sent.sent_text.as_deref(),
        Some("Waste collection on <b>Monday</b>")
    );
    assert_eq!(sent.reply_markup, Some(buttons("Calendar")));
    assert_eq!(
        (sent.edits, sent.edited_at, sent.pinned, sent.deleted),
        (0, None, false, false)
    );

    // A correction with entities given instead of a parse_mode, and the same keyboard.
    let (status, body) = api
        .json(
            "editMessageText",
            json!({
                "chat_id": "@town_news",
                "message_id": id,
                "text": "Waste collection on Tuesday",
                "entities": [{"type": "italic", "offset": 20, "length": 7}],
                "reply_markup": buttons("Calendar"),
            }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let result = &body["result"];
    assert_eq!(result["message_id"], id);
    assert_eq!(result["text"], "Waste collection on Tuesday");
    assert!(result["edit_date"].as_u64().is_some(), "{body}");
    let edited = bot.message(NEWS, id).unwrap();
    assert_eq!(edited.text.as_deref(), Some("Waste collection on Tuesday"));
    assert_eq!(
        edited.entities,
        [json!({"type": "italic", "offset": 20, "length": 7})]
    );
    assert_eq!(edited.parse_mode, None);
    assert_eq!(edited.reply_markup, Some(buttons("Calendar")));
    assert_eq!(edited.edits, 1);
    assert!(edited.edited_at.is_some());
    assert_eq!(
        edited.sent_at, sent.sent_at,
        "an edit does not change the date"
    );

    // New buttons only, then an edit without reply_markup, which removes the keyboard.
    let (status, body) = api
        .form(
            "editMessageReplyMarkup",
            &[
                ("chat_id", "-1001234567890"),
                ("message_id", &id.to_string()),
                ("reply_markup", &buttons("Map").to_string()),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bot.message(NEWS, id).unwrap().reply_markup,
        Some(buttons("Map"))
    );
    let (status, body) = api
        .json(
            "editMessageText",
            json!({"chat_id": NEWS, "message_id": id, "text": "Waste collection on Tuesday!"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"].get("reply_markup").is_none(), "{body}");
    let now = bot.message(NEWS, id).unwrap();
    assert_eq!((now.reply_markup, now.edits), (None, 3));
    assert_eq!(
        bot.chat_messages(NEWS)[0].text.as_deref(),
        Some("Waste collection on Tuesday!")
    );

    // Captions of a document.
    let doc = post_document(&api, "notice.pdf", b"%PDF-1.7 notice", "Notice").await;
    let (status, body) = api
        .form(
            "editMessageCaption",
            &[
                ("chat_id", "@town_news"),
                ("message_id", &doc.to_string()),
                ("caption", "<i>Corrected</i> notice"),
                ("parse_mode", "HTML"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["result"]["caption"], "Corrected notice");
    assert_eq!(body["result"]["document"]["file_name"], "notice.pdf");
    let doc_now = bot.message(NEWS, doc).unwrap();
    assert_eq!(doc_now.kind, MessageKind::Document);
    assert_eq!(doc_now.text.as_deref(), Some("Corrected notice"));
    assert_eq!(
        doc_now.entities,
        [json!({"type": "italic", "offset": 0, "length": 9})]
    );
    assert_eq!(
        doc_now.sha256.as_deref(),
        Some(hex::encode(Sha256::digest(b"%PDF-1.7 notice")).as_str())
    );
    // No caption removes the caption.
    let (status, body) = api
        .json(
            "editMessageCaption",
            json!({"chat_id": "@town_news", "message_id": doc}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"].get("caption").is_none(), "{body}");
    assert_eq!(bot.message(NEWS, doc).unwrap().text, None);

    // Every request was recorded as sent and as answered.
    let edits: Vec<(String, Option<String>, u16)> = bot
        .requests()
        .into_iter()
        .filter(|r| r.method.starts_with("edit"))
        .map(|r| (r.method, r.chat_id_sent, r.status))
        .collect();
    let expected: Vec<(String, Option<String>, u16)> = [
        ("editMessageText", "@town_news"),
        ("editMessageReplyMarkup", "-1001234567890"),
        ("editMessageText", "-1001234567890"),
        ("editMessageCaption", "@town_news"),
        ("editMessageCaption", "@town_news"),
    ]
    .into_iter()
    .map(|(m, c)| (m.to_owned(), Some(c.to_owned()), 200))
    .collect();
    assert_eq!(edits, expected);
    let caption_edit = &bot.requests_for("editMessageCaption")[0];
    assert_eq!(caption_edit.field("parse_mode"), Some("HTML"));
    assert_eq!(
        caption_edit.field("message_id"),
        Some(doc.to_string().as_str())
    );
    assert!(
        caption_edit.message_ids.is_empty(),
        "an edit creates no message"
    );
    assert_eq!(bot.posts().len(), 2, "edits are no posts");
    bot.assert_clean();
}

#[tokio::test]
async fn an_edit_that_changes_nothing_is_refused_as_not_modified() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let (status, body) = api
        .json(
            "sendMessage",
            json!({"chat_id": NEWS, "text": "<b>Alert</b> over", "parse_mode": "HTML",
                   "reply_markup": buttons("Info")}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["result"]["message_id"].as_i64().unwrap();

    // The same text, reached through other markup, and the same keyboard: not modified.
    let same = json!({"chat_id": NEWS, "message_id": id, "text": "  <strong>Alert</strong> over ",
                      "parse_mode": "HTML", "reply_markup": buttons("Info")});
    let (status, body) = api.json("editMessageText", same.clone()).await;
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 400, "description": NOT_MODIFIED})
    );
    assert_eq!(status, 400);
    // Plain text differs from bold text; no keyboard differs from one.
    let (status, body) = api
        .json(
            "editMessageText",
            json!({"chat_id": NEWS, "message_id": id, "text": "Alert over",
                   "reply_markup": buttons("Info")}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .json(
            "editMessageReplyMarkup",
            json!({"chat_id": NEWS, "message_id": id, "reply_markup": buttons("Info")}),
        )
        .await;
    assert_eq!((status, description(&body)), (400, NOT_MODIFIED));
    let (status, body) = api
        .json(
            "editMessageReplyMarkup",
            json!({"chat_id": NEWS, "message_id": id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api
        .json(
            "editMessageReplyMarkup",
            json!({"chat_id": NEWS, "message_id": id, "reply_markup": {"inline_keyboard": []}}),
        )
        .await;
    assert_eq!(
        (status, description(&body)),
        (400, NOT_MODIFIED),
        "an empty keyboard is no keyboard"
    );

    let doc = post_document(&api, "plan.pdf", b"%PDF-1.7 plan", "Plan").await;
    let (status, body) = api
        .form(
            "editMessageCaption",
            &[
                ("chat_id", "@town_news"),
                ("message_id", &doc.to_string()),
                ("caption", "Plan"),
            ],
        )
        .await;
    assert_eq!((status, description(&body)), (400, NOT_MODIFIED));
    let message = bot.message(NEWS, id).unwrap();
    assert_eq!(message.edits, 2, "refused edits are no edits");
    assert_eq!(bot.message(NEWS, doc).unwrap().edits, 0);
    assert_eq!(message.text.as_deref(), Some("Alert over"));
    // Telegram answering "not modified" is the world's answer, not dropcast breaking a rule.
    bot.assert_clean();
}

#[tokio::test]
async fn an_edit_needs_a_live_message_of_the_kind_it_edits() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let text = post_text(&api, "a text").await;
    let doc = post_document(&api, "a.pdf", b"%PDF-1.7 a", "a caption").await;
    let gone = post_text(&api, "deleted").await;
    let (status, _) = api
        .form(
            "deleteMessage",
            &[("chat_id", "@town_news"), ("message_id", &gone.to_string())],
        )
        .await;
    assert_eq!(status, 200);

    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "editMessageText",
            json!({"message_id": 99, "text": "x"}),
            "Bad Request: message to edit not found",
        ),
        (
            "editMessageText",
            json!({"message_id": gone, "text": "x"}),
            "Bad Request: message to edit not found",
        ),
        (
            "editMessageReplyMarkup",
            json!({"message_id": gone, "reply_markup": buttons("x")}),
            "Bad Request: message to edit not found",
        ),
        (
            "editMessageText",
            json!({"message_id": doc, "text": "x"}),
            "Bad Request: there is no text in the message to edit",
        ),
        (
            "editMessageCaption",
            json!({"message_id": text, "caption": "x"}),
            "Bad Request: there is no caption in the message to edit",
        ),
    ];
    for (method, mut params, expected) in cases {
        params["chat_id"] = json!("@town_news");
        let (status, body) = api.json(method, params.clone()).await;
        assert_eq!(
            (status, description(&body)),
            (400, expected),
            "{method} {params}"
        );
    }
    // The same message in another chat is another message.
    let (status, body) = api
        .json(
            "editMessageText",
            json!({"chat_id": "@town_alerts", "message_id": text, "text": "x"}),
        )
        .await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message to edit not found")
    );
    assert_eq!(
        bot.message(NEWS, text).unwrap().text.as_deref(),
        Some("a text")
    );
    assert_eq!(
        bot.message(NEWS, doc).unwrap().text.as_deref(),
        Some("a caption")
    );
    assert_eq!(
        bot.message(NEWS, gone).unwrap().text.as_deref(),
        Some("deleted")
    );
    bot.assert_clean();
}

#[tokio::test]
async fn edited_texts_and_captions_keep_telegrams_limits() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let text = post_text(&api, "short").await;
    let doc = post_document(&api, "a.pdf", b"%PDF-1.7 a", "short").await;
    let edit_caption = |caption: String, mode: Option<&'static str>| {
        let mut params = json!({"chat_id": NEWS, "message_id": doc, "caption": caption});
        if let Some(mode) = mode {
            params["parse_mode"] = json!(mode);
        }
        api.json("editMessageCaption", params)
    };
    let (status, body) = edit_caption("x".repeat(1025), None).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message caption is too long")
    );
    // Counted after entities parsing: tags are not characters.
    let (status, body) = edit_caption(format!("<b>{}</b>", "y".repeat(1024)), Some("HTML")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = edit_caption("<b>x".to_owned(), Some("HTML")).await;
    assert_eq!(status, 400);
    assert!(
        description(&body).starts_with("Bad Request: can't parse entities"),
        "{body}"
    );

    let (status, body) = api
        .json(
            "editMessageText",
            json!({"chat_id": NEWS, "message_id": text, "text": "z".repeat(4097)}),
        )
        .await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message is too long")
    );
    let (status, body) = api
        .json(
            "editMessageText",
            json!({"chat_id": NEWS, "message_id": text, "text": "   "}),
        )
        .await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message text is empty")
    );
    let (status, body) = api
        .json(
            "editMessageText",
            json!({"chat_id": NEWS, "message_id": text, "text": "z".repeat(4096)}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let violations = bot.violations();
    assert_eq!(violations.len(), 4, "{violations:#?}");
    assert!(violations[0].contains("editMessageCaption: message caption is too long"));
    assert!(violations[2].contains("editMessageText: message is too long"));
    assert_eq!(bot.message(NEWS, doc).unwrap().text, Some("y".repeat(1024)));
    assert_eq!(
        bot.message(NEWS, text).unwrap().text,
        Some("z".repeat(4096))
    );
}

#[tokio::test]
async fn edit_media_replaces_the_file_and_its_caption_as_the_album_rules_allow() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let pdf = b"%PDF-1.7 corrected".to_vec();
    let pdf_hash = hex::encode(Sha256::digest(&pdf));

    // Outside an album any kind may replace any: a document becomes a photo.
    let single = post_document(&api, "wrong.pdf", b"%PDF-1.7 wrong", "Wrong file").await;
    let (status, body) = edit_media(
        &api,
        single,
        json!({"type": "photo", "media": "attach://new", "caption": "<b>Right</b> one",
               "parse_mode": "HTML"}),
        png(800, 600),
        "right.png",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["result"]["photo"].is_array(), "{body}");
    assert!(body["result"].get("document").is_none(), "{body}");
    let now = bot.message(NEWS, single).unwrap();
    assert_eq!(now.kind, MessageKind::Photo);
    assert_eq!(now.text.as_deref(), Some("Right one"));
    assert_eq!(now.file_name.as_deref(), Some("right.png"));
    assert_eq!(now.sha256, Some(hex::encode(Sha256::digest(png(800, 600)))));
    assert_eq!(now.edits, 1);
    let upload = bot.requests_for("editMessageMedia")[0]
        .file("new")
        .cloned()
        .unwrap();
    assert_eq!(upload.file_name.as_deref(), Some("right.png"));

    // A text may become media too, as the spec of editMessageMedia says.
    let text = post_text(&api, "see the attachment").await;
    let (status, body) = edit_media(
        &api,
        text,
        json!({"type": "document", "media": "attach://new"}),
        pdf.clone(),
        "minutes.pdf",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let now = bot.message(NEWS, text).unwrap();
    assert_eq!((now.kind, now.text), (MessageKind::Document, None));

    // A document album: a document for a document only, and the media's caption (none here)
    // replaces the old one.
    let docs = post_album(&api, "document").await;
    let (status, body) = edit_media(
        &api,
        docs[0],
        json!({"type": "document", "media": "attach://new"}),
        pdf.clone(),
        "corrected.pdf",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let now = bot.message(NEWS, docs[0]).unwrap();
    assert_eq!(now.sha256.as_deref(), Some(pdf_hash.as_str()));
    assert_eq!(now.text, None, "the old caption went with the old file");
    assert!(now.media_group_id.is_some(), "it stays in its album");
    assert_eq!(
        now.media_group_id,
        bot.message(NEWS, docs[1]).unwrap().media_group_id
    );
    let (status, body) = edit_media(
        &api,
        docs[1],
        json!({"type": "photo", "media": "attach://new"}),
        png(640, 480),
        "x.png",
    )
    .await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: can't change media type in the album")
    );

    // A photo album: a photo or a video, never a document, nor what no album holds.
    let photos = post_album(&api, "photo").await;
    let (status, body) = edit_media(
        &api,
        photos[1],
        json!({"type": "video", "media": "attach://new", "caption": "now a video"}),
        b"\x00\x00\x00\x18ftypmp42".to_vec(),
        "clip.mp4",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        bot.message(NEWS, photos[1]).unwrap().kind,
        MessageKind::Video
    );
    for (kind, expected) in [
        (
            "document",
            "Bad Request: can't change media type in the album",
        ),
        (
            "animation",
            "Bad Request: message content type can't be used in an album",
        ),
    ] {
        let (status, body) = edit_media(
            &api,
            photos[0],
            json!({"type": kind, "media": "attach://new"}),
            b"GIF89a....".to_vec(),
            "x.gif",
        )
        .await;
        assert_eq!((status, description(&body)), (400, expected), "{kind}");
    }
    let untouched = bot.message(NEWS, photos[0]).unwrap();
    assert_eq!((untouched.kind, untouched.edits), (MessageKind::Photo, 0));
    assert_eq!(untouched.text.as_deref(), Some("first"));

    // The same file again, with the same caption and keyboard: not modified.
    let file_id = file_id_of(&bot, docs[0]);
    let (status, body) = api
        .json(
            "editMessageMedia",
            json!({"chat_id": NEWS, "message_id": docs[0],
                   "media": {"type": "document", "media": file_id}}),
        )
        .await;
    assert_eq!((status, description(&body)), (400, NOT_MODIFIED));
    bot.assert_clean();
}

async fn delete_message(api: &Api, id: i64) -> (u16, Value) {
    let id = id.to_string();
    api.form(
        "deleteMessage",
        &[("chat_id", "@town_news"), ("message_id", &id)],
    )
    .await
}

async fn pin_message(api: &Api, id: i64) -> (u16, Value) {
    let id = id.to_string();
    api.form(
        "pinChatMessage",
        &[("chat_id", "@town_news"), ("message_id", &id)],
    )
    .await
}

/// The `file_id` of the file message `id` of @town_news shows.
fn file_id_of(bot: &FakeBot, id: i64) -> String {
    bot.message(NEWS, id).unwrap().file_id.expect("a file")
}

#[tokio::test]
async fn deleting_is_refused_past_48_hours_and_unpins_what_it_deletes() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let young = post_text(&api, "young").await;
    let old = post_text(&api, "old").await;
    let delete = |id: i64| delete_message(&api, id);
    let (status, _) = api
        .form(
            "pinChatMessage",
            &[
                ("chat_id", "@town_news"),
                ("message_id", &young.to_string()),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(bot.pinned(NEWS), [young]);

    bot.age_messages(Duration::from_secs(47 * 3600));
    bot.age_message(NEWS, old, Duration::from_secs(3600));
    let (status, body) = delete(old).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message can't be deleted"),
        "48 hours old"
    );
    assert!(!bot.message(NEWS, old).unwrap().deleted);

    let (status, body) = delete(young).await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    let gone = bot
        .message(NEWS, young)
        .expect("a deleted message is remembered");
    assert!(gone.deleted);
    assert!(!gone.pinned, "deleting a pinned message unpins it");
    assert!(bot.pinned(NEWS).is_empty());
    assert_eq!(gone.text.as_deref(), Some("young"));
    let (status, body) = pin_message(&api, young).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message to pin not found"),
        "a deleted message cannot be pinned again"
    );
    let (status, body) = delete(young).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message to delete not found")
    );
    let (status, body) = delete(77).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message to delete not found")
    );
    let shown: Vec<i64> = bot
        .chat_messages(NEWS)
        .iter()
        .map(|m| m.message_id)
        .collect();
    assert_eq!(shown, [old]);
    assert_eq!(bot.messages(NEWS).len(), 2);
    let age = std::time::SystemTime::now()
        .duration_since(bot.message(NEWS, old).unwrap().sent_at)
        .unwrap();
    assert!(age >= Duration::from_secs(48 * 3600), "{age:?}");

    // deleteMessages: all or nothing when one is too old, missing ones skipped.
    let a = post_text(&api, "a").await;
    let b = post_text(&api, "b").await;
    let ids = json!([old, a, 99]).to_string();
    let (status, body) = api
        .form(
            "deleteMessages",
            &[("chat_id", "@town_news"), ("message_ids", &ids)],
        )
        .await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message can't be deleted")
    );
    assert!(!bot.message(NEWS, a).unwrap().deleted);
    let ids = json!([a, b, 99]).to_string();
    let (status, body) = api
        .form(
            "deleteMessages",
            &[("chat_id", "@town_news"), ("message_ids", &ids)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(bot.message(NEWS, a).unwrap().deleted && bot.message(NEWS, b).unwrap().deleted);
    assert_eq!(bot.requests_for("deleteMessage").len(), 4);
    bot.assert_clean();
}

#[tokio::test]
async fn pins_and_unpins_follow_telegram() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let first = post_text(&api, "first").await;
    let second = post_text(&api, "second").await;
    let third = post_text(&api, "third").await;
    let pin = |id: i64| pin_message(&api, id);
    assert_eq!(pin(second).await.0, 200);
    assert_eq!(pin(first).await.0, 200);
    assert_eq!(bot.pinned(NEWS), [first, second]);
    assert!(bot.message(NEWS, first).unwrap().pinned);
    // getChat shows the most recent pinned message by sending date.
    let (_, chat) = api.form("getChat", &[("chat_id", "@town_news")]).await;
    assert_eq!(chat["result"]["pinned_message"]["message_id"], second);

    // Without message_id: the most recent pinned message by sending date.
    let (status, body) = api
        .form("unpinChatMessage", &[("chat_id", "@town_news")])
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    assert_eq!(bot.pinned(NEWS), [first]);
    let (status, body) = api
        .form(
            "unpinChatMessage",
            &[
                ("chat_id", "@town_news"),
                ("message_id", &first.to_string()),
            ],
        )
        .await;
    assert_eq!((status, &body["result"]), (200, &json!(true)), "{body}");
    assert!(bot.pinned(NEWS).is_empty());
    let (_, chat) = api.form("getChat", &[("chat_id", "@town_news")]).await;
    assert!(chat["result"].get("pinned_message").is_none(), "{chat}");

    // Nothing left to unpin, a message that is not pinned, one that does not exist.
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[], "Bad Request: message to unpin not found"),
        (&[("message_id", "3")], "Bad Request: CHAT_NOT_MODIFIED"),
        (
            &[("message_id", "42")],
            "Bad Request: message to unpin not found",
        ),
    ];
    assert_eq!(third, 3);
    for (extra, expected) in cases {
        let mut params = vec![("chat_id", "@town_news")];
        params.extend_from_slice(extra);
        let (status, body) = api.form("unpinChatMessage", &params).await;
        assert_eq!((status, description(&body)), (400, expected), "{params:?}");
    }
    let (status, body) = pin(42).await;
    assert_eq!(
        (status, description(&body)),
        (400, "Bad Request: message to pin not found")
    );
    assert_eq!(pin(first).await.0, 200);
    assert_eq!(pin(third).await.0, 200);
    let (status, _) = api
        .form("unpinAllChatMessages", &[("chat_id", "@town_news")])
        .await;
    assert_eq!(status, 200);
    assert!(bot.pinned(NEWS).is_empty());
    bot.assert_clean();
}

#[tokio::test]
async fn edit_requests_that_break_the_spec_are_refused_and_flagged() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    let id = post_text(&api, "a text").await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "editMessageText",
            json!({"inline_message_id": "AAAAAQ", "text": "x"}),
            "Bad Request: MESSAGE_ID_INVALID",
        ),
        (
            "editMessageText",
            json!({"chat_id": NEWS, "text": "x"}),
            "Bad Request: message to edit not found",
        ),
        (
            "editMessageText",
            json!({"message_id": id, "text": "x"}),
            "Bad Request: chat_id is empty",
        ),
        (
            "editMessageText",
            json!({"chat_id": NEWS, "message_id": id}),
            "Bad Request: message text is empty",
        ),
        (
            "editMessageText",
            json!({"chat_id": NEWS, "message_id": id, "text": "x", "colour": "red"}),
            "unknown parameter \"colour\" for editMessageText",
        ),
        (
            "editMessageText",
            json!({"chat_id": NEWS, "message_id": "1st", "text": "x"}),
            "\"message_id\" must be Integer",
        ),
        (
            "editMessageReplyMarkup",
            json!({"chat_id": NEWS, "message_id": id,
                   "reply_markup": {"inline_keyboard": [[{"text": "x", "colour": 1}]]}}),
            "reply_markup.inline_keyboard[0][0].colour is not a field of InlineKeyboardButton",
        ),
        (
            "editMessageMedia",
            json!({"chat_id": NEWS, "message_id": id}),
            "parameter \"media\" is required",
        ),
        (
            "editMessageMedia",
            json!({"chat_id": NEWS, "message_id": id,
                   "media": {"type": "document", "media": "attach://missing"}}),
            "can't parse InputMedia: media not found",
        ),
        (
            "deleteMessage",
            json!({"chat_id": NEWS}),
            "parameter \"message_id\" is required",
        ),
        (
            "unpinChatMessage",
            json!({"chat_id": NEWS, "message_id": id, "disable_notification": true}),
            "unknown parameter \"disable_notification\" for unpinChatMessage",
        ),
    ];
    for (index, (method, params, expected)) in cases.iter().enumerate() {
        let (status, body) = api.json(method, params.clone()).await;
        assert_eq!(status, 400, "case {index}: {body}");
        assert!(
            description(&body).contains(expected),
            "case {index}: {body}"
        );
        assert_eq!(
            bot.violations().len(),
            index + 1,
            "case {index}: {:?}",
            bot.violations()
        );
    }
    assert!(
        bot.violations()[0].contains("inline"),
        "{:?}",
        bot.violations()
    );
    let message = bot.message(NEWS, id).unwrap();
    assert_eq!(
        (message.text.as_deref(), message.edits),
        (Some("a text"), 0)
    );
    assert_eq!(
        bot.requests().len(),
        cases.len() + 1,
        "every request is recorded"
    );
}

#[tokio::test]
async fn videos_and_audio_files_are_posts_of_their_kind() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    for (method, field, name) in [
        ("sendVideo", "video", "clip.mp4"),
        ("sendAudio", "audio", "tune.mp3"),
    ] {
        let form = Form::new()
            .text("chat_id", "@town_news")
            .text("caption", name)
            .part(field, file(noise(2048), name));
        let (status, body) = api.multipart(method, form).await;
        assert_eq!(status, 200, "{method}: {body}");
        assert_eq!(body["result"][field]["file_name"], name, "{body}");
    }
    let kinds: Vec<MessageKind> = bot.messages(NEWS).iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [MessageKind::Video, MessageKind::Audio]);
    assert_eq!(bot.messages(NEWS)[1].method, "sendAudio");
    bot.assert_clean();
}

/// A thumbnail Telegram would ignore without a word (not an upload, not a JPEG, over 320 px,
/// 200 kB or more) is a violation: the file would show as a bare icon. A good one is recorded.
#[tokio::test]
async fn thumbnails_are_checked_as_telegram_takes_them() {
    let bot = FakeBot::start(TOKEN);
    let api = Api::new(&bot);
    // The smallest JPEG header the fake reads: SOI, then SOF0 with the size.
    let jpeg = |w: u16, h: u16, pad: usize| {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x0B, 0x08];
        v.extend_from_slice(&h.to_be_bytes());
        v.extend_from_slice(&w.to_be_bytes());
        v.extend_from_slice(&[0x01, 0x01, 0x11, 0x00]);
        v.extend(std::iter::repeat_n(0u8, pad));
        v.extend_from_slice(&[0xFF, 0xD9]);
        v
    };
    let send = |thumb: Option<Vec<u8>>, value: &'static str| {
        let mut form = Form::new()
            .text("chat_id", "@town_news")
            .text("thumbnail", value)
            .part("document", file(b"%PDF-1.7 x".to_vec(), "x.pdf"));
        if let Some(t) = thumb {
            form = form.part("thumb", file(t, "thumb.jpg"));
        }
        api.multipart("sendDocument", form)
    };
    let (status, _) = send(Some(jpeg(226, 320, 0)), "attach://thumb").await;
    assert_eq!(status, 200);
    assert!(bot.violations().is_empty(), "{:?}", bot.violations());
    let requests = bot.requests();
    let t = &requests.last().unwrap().thumbnails[0];
    assert_eq!((t.of.as_str(), t.width, t.height), ("thumbnail", 226, 320));

    for (thumb, value, says) in [
        (Some(jpeg(400, 300, 0)), "attach://thumb", "over 320 px"),
        (
            Some(jpeg(300, 300, 200 * 1024)),
            "attach://thumb",
            "not under 200 kB",
        ),
        (
            Some(b"\x89PNG\r\n\x1a\n".to_vec()),
            "attach://thumb",
            "not a JPEG",
        ),
        (None, "https://example.org/t.jpg", "not an upload"),
    ] {
        let before = bot.violations().len();
        send(thumb, value).await;
        let v = bot.violations();
        assert_eq!(v.len(), before + 1, "{says}: {v:?}");
        assert!(v.last().unwrap().contains(says), "{says}: {v:?}");
    }
}

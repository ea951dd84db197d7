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
    assert_eq!(posts[1].chat_id.as_deref(), Some("-1001234567890"));
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

//! Fuzzes `preview::render` on the thumbnail path: whatever the bytes, it answers within
//! libFuzzer's `-timeout` and `-rss_limit_mb`, no panic escapes it, and a preview it gives is
//! within Telegram's thumbnail limits. The first byte chooses the source (even: PDF, odd: TIFF);
//! the rest is the file.
//!
//! A panic inside a renderer is caught by `render` (it becomes "the renderer failed"): that is
//! the contract, so libfuzzer-sys's abort-on-any-panic hook is replaced by one that counts them.

#![no_main]

use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};

use dropcast::preview::{Size, Source, render};
use libfuzzer_sys::fuzz_target;

static CAUGHT: AtomicU64 = AtomicU64::new(0);
static HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let n = CAUGHT.fetch_add(1, Ordering::Relaxed);
            // The first few, so that a run's log says where the renderers panic.
            if n < 20 {
                eprintln!("caught panic #{}: {info}", n + 1);
            }
        }));
    });
    let Some((&first, file)) = data.split_first() else {
        return;
    };
    let source = if first % 2 == 0 { Source::Pdf } else { Source::Tiff };
    if let Ok(p) = render(file, source, Size::Thumbnail) {
        assert!(p.jpeg.starts_with(&[0xFF, 0xD8, 0xFF]), "not a JPEG");
        assert!(p.width >= 1 && p.height >= 1);
        assert!(p.width.max(p.height) <= 320, "{}x{}", p.width, p.height);
        assert!(p.jpeg.len() < 200_000, "{} bytes", p.jpeg.len());
    }
});

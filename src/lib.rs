//! dropcast turns a shared office folder into a Telegram channel.
//!
//! # Layout
//!
//! The modules follow the way a file travels:
//!
//! - [`config`]: the IT person's `dropcast.yaml`, validated once at start.
//! - [`watch`]: native events and scans, turned into observations of paths.
//! - [`settle`]: decides when a file is complete (size, mtime, inode stable for `settle`).
//! - [`bundle`]: classifies files (media, sidecar, junk): rules over names.
//! - [`watcher`]: the watcher task: scans and events into the settle tracker, settled files
//!   paired and handed to the preparer.
//! - [`pairing`]: which settled files make a bundle; pure, shared by `run`, `check`, `status`.
//! - [`sidecar`]: parses and validates the clerk's YAML.
//! - [`render`]: turns the clerk's Markdown into Telegram's HTML subset; splits long texts.
//! - [`prepare`]: checks a bundle completely (content, size, hashes, channels, caption) and
//!   plans its requests; [`image_header`] reads an image's size for it.
//! - [`preview`]: the first page of a PDF, TIFF or image as a JPEG (thumbnail or photo), rendered
//!   in a child process of dropcast itself with a time limit and a memory cap.
//! - [`preparer`]: the preparer task: checks, duplicates, journal entry, work folders,
//!   recovery after a crash; starts the senders.
//! - [`schedule`]: releases scheduled bundles when their time comes; cancels removed ones.
//! - [`post`]: dropcast's own types for what gets posted.
//! - [`journal`]: the SQLite journal that makes restarts safe, and its read-only handle for the
//!   reports.
//! - [`deliver`]: one sender per channel: pacing, retries, the journal protocol per message.
//! - [`telegram`]: the only module that speaks the Bot API.
//! - [`token`]: the bot token, which prints as `***`.
//! - [`lease`]: one share, one poster: a lease per inbox; a second dropcast stands by and takes
//!   over when the lease stands still.
//! - [`share`]: the configured folders known by identity: a share that went away pauses the
//!   work that needs it instead of looking like removed files.
//! - [`sentlog`]: what a sender tells the share about each request, for a dropcast that adopts
//!   the work folder.
//! - [`spool`]: the only module that moves user files (work folder, archive, failed), writes
//!   receipts and reports.
//! - [`finisher`]: the finisher task: archives or fails bundles whose deliveries ended.
//! - [`messages`]: every clerk-facing sentence, in English and Italian.
//! - [`pipeline`]: wires the tasks together and shuts them down.
//! - [`cli`]: the command line; [`doctor`] and [`status`] are its two reports for the IT person.
//! - [`metrics`] and [`web`]: counters, and the optional read-only status page, `/metrics`,
//!   `/healthz`.
//! - [`redact`]: masks anything shaped like a bot token in text that leaves the process.

pub mod bundle;
pub mod change;
pub mod cli;
pub mod config;
pub mod deliver;
pub mod doctor;
pub mod finisher;
pub mod image_header;
pub mod journal;
pub mod lease;
pub mod messages;
pub mod metrics;
pub mod pairing;
pub mod pipeline;
pub mod post;
pub mod prepare;
pub mod preparer;
pub mod preview;
pub mod redact;
pub mod render;
pub mod schedule;
pub mod sentlog;
pub mod settle;
pub mod share;
pub mod sidecar;
pub mod spool;
pub mod status;
pub mod telegram;
pub mod token;
pub mod watch;
pub mod watcher;
pub mod web;

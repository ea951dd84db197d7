//! A few long-lived renderer processes for previews: dropcast itself (`__render-worker`), each
//! with its address space capped, rendering one file at a time under a time limit. Starting a
//! process per preview cost about as much CPU as the rendering itself (3.5 of 7 ms for a
//! one-page notice, BENCHMARKS.md "Previews"); a worker is started once and serves many. A
//! worker that overruns a request's time, dies (its memory cap, a crash), or has served
//! [`MAX_SERVED`] requests is killed and replaced: the request gets "no preview", never the
//! daemon.
//!
//! Big files go to `preview::render_isolated` instead (a process of their own): a worker maps
//! its files as that process does, but lives on, and one huge file should not set the size of a
//! long-lived process's address space.
//!
//! The protocol, on the worker's stdin and stdout: a request is one line,
//! `SOURCE SIZE HEXPATH\n` (the path hex-encoded: any bytes, no newline); an answer is one byte
//! (0: a preview, 1: none), a little-endian u32 length, then the payload: the width and height
//! (u32 LE each) and the JPEG, or the reason there is none, as UTF-8.

use std::io::{BufRead, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::preview::{Limits, NoPreview, Preview, Size, Source};

/// The hidden subcommand a worker runs.
pub const SUBCOMMAND: &str = "__render-worker";

/// A worker is replaced after this many requests, so that no slow leak or fragmentation of a
/// long life can reach its memory cap.
const MAX_SERVED: u32 = 500;

/// Files larger than this are rendered by a process of their own, which maps them.
pub const WORKER_MAX_FILE: u64 = 16 * 1024 * 1024;

/// The daemon's pool: workers of the dropcast executable, with the default limits.
pub fn global() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool::new(std::env::current_exe().ok(), Limits::default()))
}

/// Idle workers, taken by one request at a time.
pub struct Pool {
    exe: Option<PathBuf>,
    limits: Limits,
    idle: Mutex<Vec<Worker>>,
}

struct Worker {
    child: Child,
    /// `None` once closed, which ends the worker.
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    served: u32,
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Pool {
    /// A pool of workers of `exe` (for tests and benchmarks, whose own executable is not
    /// dropcast); `None`: the executable cannot be found, and there is never a preview.
    pub fn new(exe: Option<PathBuf>, limits: Limits) -> Pool {
        Pool {
            exe,
            limits,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Renders the preview of `path`: in an idle worker (one is started if none is idle), or,
    /// for a big file, in a process of its own. Blocking: run it off the async threads.
    pub fn render(&self, path: &Path, source: Source, size: Size) -> Result<Preview, NoPreview> {
        let Some(exe) = &self.exe else {
            return Err(NoPreview("the renderer could not start".into()));
        };
        if std::fs::metadata(path).is_ok_and(|m| m.len() > WORKER_MAX_FILE) {
            return crate::preview::render_isolated_with(exe, path, source, size, &self.limits);
        }
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut worker = match taken {
            Some(w) => w,
            None => self.start(exe)?,
        };
        match worker.ask(path, source, size, self.limits.time) {
            Ok(answer) => {
                worker.served += 1;
                if worker.served < MAX_SERVED {
                    self.idle
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(worker);
                }
                answer
            }
            // The worker is dropped, and so killed: the next request starts another.
            Err(why) => Err(why),
        }
    }

    /// Ends the idle workers (one that is rendering ends when its request is answered).
    pub fn close(&self) {
        let idle = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|p| p.into_inner()));
        for mut w in idle {
            // Its stdin closed, a worker ends by itself; waiting for it reaps it.
            w.stdin = None;
            let _ = w.child.wait();
        }
    }

    fn start(&self, exe: &Path) -> Result<Worker, NoPreview> {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(exe);
        command
            .arg(SUBCOMMAND)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("RUST_BACKTRACE", "0");
        let memory = self.limits.memory_bytes;
        // SAFETY: between fork and exec only setrlimit is called, which is async-signal-safe and
        // touches no memory of the parent's.
        unsafe {
            command.pre_exec(move || {
                let cap = |resource, bytes: u64| {
                    let limit = libc::rlimit {
                        rlim_cur: bytes as libc::rlim_t,
                        rlim_max: bytes as libc::rlim_t,
                    };
                    if libc::setrlimit(resource, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                };
                cap(libc::RLIMIT_AS, memory)?;
                cap(libc::RLIMIT_CORE, 0)
            });
        }
        let mut child = command
            .spawn()
            .map_err(|e| NoPreview(format!("the renderer could not start: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(NoPreview("the renderer could not start".into()));
        };
        Ok(Worker {
            child,
            stdin: Some(stdin),
            stdout,
            served: 0,
        })
    }
}

impl Worker {
    /// One request. `Ok` carries the worker's answer (a preview or the reason there is none);
    /// `Err` means the worker is of no more use (too slow, gone).
    fn ask(
        &mut self,
        path: &Path,
        source: Source,
        size: Size,
        time: Duration,
    ) -> Result<Result<Preview, NoPreview>, NoPreview> {
        use std::os::unix::ffi::OsStrExt;
        let line = format!(
            "{} {} {}\n",
            source.as_str(),
            size.as_str(),
            hex::encode(path.as_os_str().as_bytes())
        );
        let gone =
            |_| NoPreview("the renderer stopped (a damaged file, or over its memory cap)".into());
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| NoPreview("the renderer is closed".into()))?;
        stdin.write_all(line.as_bytes()).map_err(gone)?;
        stdin.flush().map_err(gone)?;
        let deadline = Instant::now() + time;
        let mut head = [0u8; 5];
        read_until(&mut self.stdout, &mut head, deadline)?;
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        if len > 64 * 1024 * 1024 {
            return Err(NoPreview("the renderer answered nonsense".into()));
        }
        let mut payload = vec![0u8; len];
        read_until(&mut self.stdout, &mut payload, deadline)?;
        Ok(match head[0] {
            0 if payload.len() >= 8 => Ok(Preview {
                width: u32::from_le_bytes(payload[0..4].try_into().unwrap_or_default()),
                height: u32::from_le_bytes(payload[4..8].try_into().unwrap_or_default()),
                jpeg: payload[8..].to_vec(),
            }),
            _ => Err(NoPreview(String::from_utf8_lossy(&payload).into_owned())),
        })
    }
}

/// Fills `buf` from the worker before `deadline`: a worker that says nothing in time has taken
/// too long (it is then killed), one that closed its end is gone.
fn read_until(out: &mut ChildStdout, buf: &mut [u8], deadline: Instant) -> Result<(), NoPreview> {
    let mut filled = 0;
    while filled < buf.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(NoPreview(format!(
                "rendering took longer than {} s",
                (left + Duration::from_millis(999)).as_secs().max(1)
            )));
        }
        let mut fds = libc::pollfd {
            fd: out.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, for the duration of the call.
        let ready =
            unsafe { libc::poll(&mut fds, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(NoPreview(format!("the renderer could not be read: {e}")));
        }
        if ready == 0 {
            continue;
        }
        match out.read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(NoPreview(
                    "the renderer stopped (a damaged file, or over its memory cap)".into(),
                ));
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(NoPreview(format!("the renderer could not be read: {e}"))),
        }
    }
    Ok(())
}

/// The worker's side: answers requests on stdin until it closes.
pub fn worker_main() -> ExitCode {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let mut parts = line.split(' ');
        let (Some(source), Some(size), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            break;
        };
        let answer = match (parse_source(source), parse_size(size), hex::decode(path)) {
            (Some(source), Some(size), Ok(path)) => {
                use std::os::unix::ffi::OsStrExt;
                let path = Path::new(std::ffi::OsStr::from_bytes(&path));
                crate::preview::render_file(path, source, size)
            }
            _ => Err(NoPreview(
                "the renderer got a request it does not understand".into(),
            )),
        };
        let (status, payload) = match answer {
            Ok(p) => {
                let mut v = Vec::with_capacity(8 + p.jpeg.len());
                v.extend_from_slice(&p.width.to_le_bytes());
                v.extend_from_slice(&p.height.to_le_bytes());
                v.extend_from_slice(&p.jpeg);
                (0u8, v)
            }
            Err(why) => (1u8, why.0.into_bytes()),
        };
        let mut frame = Vec::with_capacity(5 + payload.len());
        frame.push(status);
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&payload);
        if out.write_all(&frame).and_then(|()| out.flush()).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

fn parse_source(s: &str) -> Option<Source> {
    [Source::Pdf, Source::Tiff, Source::Image]
        .into_iter()
        .find(|x| x.as_str() == s)
}

fn parse_size(s: &str) -> Option<Size> {
    [Size::Thumbnail, Size::Page]
        .into_iter()
        .find(|x| x.as_str() == s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_on_the_wire_read_back() {
        for s in [Source::Pdf, Source::Tiff, Source::Image] {
            assert_eq!(parse_source(s.as_str()), Some(s));
        }
        for s in [Size::Thumbnail, Size::Page] {
            assert_eq!(parse_size(s.as_str()), Some(s));
        }
        assert_eq!(parse_source("exe"), None);
    }
}

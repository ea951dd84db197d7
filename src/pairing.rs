//! Which settled files make a bundle: a media file with its sidecar, a sidecar with the
//! attachments it names, a lone sidecar (a text post), a lone media file (waits, or posts with
//! the folder's defaults, or is refused). Pure: the watcher hands over what it knows (the
//! tracker, the claimed files) and a [`Folders`] view for what pairing needs to look up (the
//! names in a folder, a sidecar's `attachments:`), so the rules are tested without a disk.
//!
//! Architecture Invariant: `pair` does no IO of its own; `run`, `check` and `status` find the
//! inbox of a path with [`inbox_of`] and the sidecar of a media file with [`sidecar_of`].

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bundle::{self, Filter, Kind, Lone, MediaType};
use crate::config::{Config, SidecarPolicy};
use crate::messages::Problem;
use crate::prepare::Candidate;
use crate::settle::Tracker;
use crate::watch::Root;

/// The most specific inbox holding `path` (an inbox may live inside another), as an index into
/// `roots` (which are in the config's order, so also into `config.inboxes`).
pub fn inbox_of(roots: &[Root], path: &Path) -> Option<usize> {
    roots
        .iter()
        .enumerate()
        .filter(|(_, r)| path.starts_with(&r.path))
        .max_by_key(|(_, r)| r.path.as_os_str().len())
        .map(|(i, _)| i)
}

/// The sidecar of a media file among the names of its folder: the first of
/// [`bundle::sidecar_names`] that is there (`NAME.pdf.yaml` before `NAME.yaml`).
pub fn sidecar_of(media: &str, present: impl Fn(&str) -> bool) -> Option<String> {
    bundle::sidecar_names(media)
        .into_iter()
        .find(|n| present(n))
}

/// One name in a folder, as [`Folders::entries`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    /// A regular file (not a link, a FIFO, a device, a folder).
    pub regular: bool,
}

/// What pairing looks up outside the tracker.
pub trait Folders {
    /// The names (valid UTF-8 only) in a folder.
    fn entries(&mut self, dir: &Path) -> Vec<Entry>;
    /// The `attachments:` of a settled sidecar (none when it does not parse: the preparer
    /// reports its error).
    fn attachments(&mut self, sidecar: &Path) -> Vec<String>;
}

/// What the watcher knows, for one pass of the rules.
pub struct View<'a> {
    pub tracker: &'a Tracker,
    /// Files already handed to the preparer.
    pub claimed: &'a HashSet<PathBuf>,
    pub roots: &'a [Root],
    pub filter: &'a Filter,
    pub config: &'a Config,
    /// `once`: nothing waits for a later decision; a lone media file in a required folder stays.
    pub once: bool,
}

/// The outcome of one pass.
#[derive(Debug, Default)]
pub struct Paired {
    /// Bundles to prepare, oldest first.
    pub candidates: Vec<Candidate>,
    /// When the next waiting file needs a decision.
    pub wake: Option<Instant>,
}

/// Where a sidecar's attachments stand.
enum Attachments {
    Ready(Vec<(PathBuf, MediaType)>),
    /// Some are still being written.
    Settling,
    /// This one is not in the folder (yet).
    Missing(String),
    /// This one is not a file dropcast can post.
    NotMedia(String),
}

/// Where the sidecar of a media file stands.
enum MediaSidecar {
    /// Settled and free: the two make a bundle.
    Ready(PathBuf),
    /// Still being written, or taken by another bundle in this pass.
    NotYet,
    /// No sidecar: the lone-file rules apply.
    None,
}

/// One pass of the pairing rules over the settled, unclaimed files.
struct Pass<'v, 'a, F: Folders> {
    view: &'v View<'a>,
    folders: &'v mut F,
    now: Instant,
    taken: HashSet<PathBuf>,
    out: Paired,
}

/// Applies the pairing rules to the settled files.
pub fn pair(view: &View<'_>, folders: &mut impl Folders, now: Instant) -> Paired {
    let mut settled: Vec<(&PathBuf, _)> = view
        .tracker
        .settled()
        .filter(|(p, _)| !view.claimed.contains(*p))
        .collect();
    // Oldest first, so a channel gets posts in the order they completed.
    settled.sort_by_key(|(p, e)| (e.settled_at, (*p).clone()));
    let mut pass = Pass {
        view,
        folders,
        now,
        taken: HashSet::new(),
        out: Paired::default(),
    };
    let attached = pass.attached(settled.iter().map(|(p, _)| *p));
    for (path, entry) in settled {
        if pass.taken.contains(path) || attached.contains(path) {
            continue;
        }
        pass.one(path, entry);
    }
    pass.out
}

impl<F: Folders> Pass<'_, '_, F> {
    fn wait(&mut self, t: Instant) {
        self.out.wake = Some(self.out.wake.map_or(t, |n| n.min(t)));
    }

    fn push(&mut self, c: Candidate) {
        self.taken.extend(c.paths());
        self.out.candidates.push(c);
    }

    /// Files that a sidecar pulls into its album are never posted on their own.
    fn attached<'p>(&mut self, settled: impl Iterator<Item = &'p PathBuf>) -> HashSet<PathBuf> {
        let mut attached = HashSet::new();
        for path in settled {
            let roots = self.view.roots;
            if let Some(rel) = inbox_of(roots, path).and_then(|i| roots[i].relative(path))
                && self.view.filter.classify(&rel) == Kind::Sidecar
            {
                let dir = path.parent().unwrap_or(Path::new("/"));
                let sidecar_name = bundle::file_name_of(path);
                for name in self.folders.attachments(path) {
                    // A sidecar that lists its own media file among the attachments means it
                    // once.
                    if !bundle::sidecar_names(&name).contains(&sidecar_name) {
                        attached.insert(dir.join(name));
                    }
                }
            }
        }
        attached
    }

    /// The rules for one settled file, which may become (or complete) a bundle.
    fn one(&mut self, path: &Path, entry: &crate::settle::Entry) {
        let view = self.view;
        let Some(inbox) = inbox_of(view.roots, path) else {
            return;
        };
        let Some(rel) = view.roots[inbox].relative(path) else {
            return;
        };
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            // A name that is not UTF-8 cannot be paired reliably nor shown: refuse it alone.
            let refuse = Some(Problem::BadName {
                file: bundle::file_name_of(path),
            });
            let c = match view.filter.classify(&rel) {
                Kind::Media(ty) => Candidate::lone(inbox, Some((path.to_path_buf(), ty)), None),
                _ => Candidate::lone(inbox, None, Some(path.to_path_buf())),
            };
            self.push(Candidate { refuse, ..c });
            return;
        };
        let dir = path.parent().unwrap_or(Path::new("/"));
        let (media, sidecar) = match view.filter.classify(&rel) {
            Kind::Media(ty) => match self.media_sidecar(name, dir) {
                MediaSidecar::Ready(sidecar) => (Some((path.to_path_buf(), ty)), sidecar),
                MediaSidecar::NotYet => return,
                MediaSidecar::None => return self.lone_media(inbox, path, name, ty, entry),
            },
            Kind::Sidecar => {
                if !self.lone_sidecar(inbox, path, name, dir, entry) {
                    return;
                }
                (None, path.to_path_buf())
            }
            Kind::Ignored => return,
        };
        self.with_attachments(inbox, media, sidecar, dir);
    }

    /// Where the sidecar of a media file stands.
    fn media_sidecar(&self, name: &str, dir: &Path) -> MediaSidecar {
        let (tracker, claimed) = (self.view.tracker, self.view.claimed);
        let Some(sidecar) = sidecar_of(name, |n| {
            let p = dir.join(n);
            tracker.get(&p).is_some() || claimed.contains(&p)
        }) else {
            return MediaSidecar::None;
        };
        let s = dir.join(sidecar);
        if claimed.contains(&s) || self.taken.contains(&s) {
            // It went with another bundle: this file waits for a later pass.
            MediaSidecar::NotYet
        } else if tracker.get(&s).is_some_and(|e| e.settled_at.is_some()) {
            MediaSidecar::Ready(s)
        } else {
            MediaSidecar::NotYet
        }
    }

    /// A settled media file without a sidecar: waits, posts with the folder's defaults, or is
    /// refused (overdue sidecar).
    fn lone_media(
        &mut self,
        inbox: usize,
        path: &Path,
        name: &str,
        ty: MediaType,
        entry: &crate::settle::Entry,
    ) {
        let (once, now) = (self.view.once, self.now);
        let settings = &self.view.config.inboxes[inbox];
        let required = settings.sidecar == SidecarPolicy::Required;
        let rule = if once && !required {
            Lone::PostWithDefaults
        } else if once {
            Lone::Wait(now)
        } else {
            bundle::lone_media(
                required,
                settings.sidecar_wait,
                settings.sidecar_timeout,
                entry.first_seen,
                entry.settled_at.unwrap_or(now),
                now,
            )
        };
        let refuse = match rule {
            Lone::Wait(t) => {
                if !once {
                    self.wait(t)
                }
                return;
            }
            Lone::PostWithDefaults => None,
            Lone::Refuse => Some(Problem::SidecarMissing {
                file: name.to_string(),
                waited: humanize(settings.sidecar_timeout),
            }),
        };
        let c = Candidate::lone(inbox, Some((path.to_path_buf(), ty)), None);
        self.push(Candidate { refuse, ..c });
    }

    /// Whether a settled sidecar with no media file claiming it is a text post now. A media
    /// file whose sidecar it is ([`sidecar_of`]), arrived or arriving (a
    /// partial download), owns it; one that is not a regular file (a link, a FIFO, a device)
    /// makes the bundle refused.
    fn lone_sidecar(
        &mut self,
        inbox: usize,
        path: &Path,
        name: &str,
        dir: &Path,
        entry: &crate::settle::Entry,
    ) -> bool {
        let filter = self.view.filter;
        let entries = self.folders.entries(dir);
        let present: HashSet<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        // The media file would take this sidecar: it is the first of its names that is there.
        let owns =
            |media: &str| sidecar_of(media, |n| present.contains(n)).as_deref() == Some(name);
        let mut has_media = false;
        let mut not_regular = None;
        for e in &entries {
            let n = e.name.as_str();
            if n == name {
                continue;
            }
            if matches!(filter.classify(n), Kind::Media(_)) {
                if !owns(n) {
                    continue;
                }
                if e.regular {
                    has_media = true;
                } else {
                    not_regular = Some(e.name.clone());
                }
            } else if let Some(arriving) = bundle::partial_media(n, filter)
                && owns(arriving)
            {
                has_media = true;
            }
        }
        if has_media {
            return false;
        }
        if let Some(file) = not_regular {
            let c = Candidate::lone(inbox, None, Some(path.to_path_buf()));
            self.push(Candidate {
                refuse: Some(Problem::NotRegular { file }),
                ..c
            });
            return false;
        }
        let grace = entry.settled_at.unwrap_or(self.now) + self.view.config.watch.settle;
        if !self.view.once && self.now < grace {
            self.wait(grace);
            return false;
        }
        true
    }

    /// A sidecar (with its media file, if any) becomes a bundle once every attachment it
    /// names has settled; a missing one is refused after `sidecar_timeout`.
    fn with_attachments(
        &mut self,
        inbox: usize,
        media: Option<(PathBuf, MediaType)>,
        sidecar: PathBuf,
        dir: &Path,
    ) {
        let view = self.view;
        let mut names = self.folders.attachments(&sidecar);
        if let Some((m, _)) = &media {
            let own = bundle::file_name_of(m);
            names.retain(|n| *n != own);
        }
        let (attachments, refuse) = match self.attachments_of(&names, dir) {
            Attachments::Ready(a) => (a, None),
            Attachments::NotMedia(attachment) => (
                Vec::new(),
                Some(Problem::AttachmentNotMedia {
                    file: bundle::file_name_of(&sidecar),
                    attachment,
                }),
            ),
            Attachments::Settling => return,
            Attachments::Missing(attachment) => {
                let timeout = view.config.inboxes[inbox].sidecar_timeout;
                let deadline = view
                    .tracker
                    .get(&sidecar)
                    .map_or(self.now, |e| e.first_seen)
                    + timeout;
                if view.once || self.now < deadline {
                    if !view.once {
                        self.wait(deadline);
                    }
                    return;
                }
                (
                    Vec::new(),
                    Some(Problem::AttachmentMissing {
                        file: bundle::file_name_of(&sidecar),
                        attachment,
                    }),
                )
            }
        };
        self.push(Candidate {
            inbox,
            media,
            sidecar: Some(sidecar),
            attachments,
            refuse,
        });
    }

    fn attachments_of(&self, names: &[String], dir: &Path) -> Attachments {
        let view = self.view;
        let mut ready = Vec::new();
        for name in names {
            let path = dir.join(name);
            let ty = match view.filter.classify(name) {
                Kind::Media(ty) => ty,
                _ => return Attachments::NotMedia(name.clone()),
            };
            match view.tracker.get(&path) {
                Some(_) if view.claimed.contains(&path) || self.taken.contains(&path) => {
                    return Attachments::Missing(name.clone());
                }
                Some(e) if e.settled_at.is_some() => ready.push((path, ty)),
                Some(_) => return Attachments::Settling,
                None => return Attachments::Missing(name.clone()),
            }
        }
        Attachments::Ready(ready)
    }
}

/// A duration as a clerk reads it in a report: `1 h`, `30 min`.
pub fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86400 && s % 86400 == 0 => format!("{} d", s / 86400),
        s if s >= 3600 && s % 3600 == 0 => format!("{} h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::SystemTime;

    use super::*;
    use crate::settle::Stamp;

    const SETTLE: Duration = Duration::from_secs(3);

    /// An office with `/in` (sidecar required, 1 h timeout) and the nested scanner inbox
    /// `/in/scan` (sidecar optional after 30 s), as `dropcast init` and the tests set it up.
    fn config() -> Config {
        crate::config::parse(
            "telegram: {token: \"123456:ABCdefGHIjklMNOpqrSTUvwxYZ0123456789\"}\n\
             channels: {news: \"@town_news\", alerts: \"@town_alerts\"}\n\
             inboxes:\n  - {path: /in, channel: news}\n  - {path: /in/scan, channel: alerts, sidecar: optional, sidecar_wait: 30s}\n\
             archive: /srv/archive\nfailed: /srv/failed\nscheduled: /srv/scheduled\nstate_dir: /var/lib/dropcast\n",
            Path::new("/etc/dropcast/dropcast.yaml"),
            &|_| None,
        )
        .unwrap()
    }

    fn roots() -> Vec<Root> {
        let root = |path: &str, skip: &[&str]| Root {
            path: PathBuf::from(path),
            recursive: true,
            skip: skip.iter().map(PathBuf::from).collect(),
        };
        vec![
            root("/in", &["/in/.dropcast", "/in/scan"]),
            root("/in/scan", &["/in/scan/.dropcast"]),
        ]
    }

    /// The folders on a pretend disk: every file named in `files` (with `!` for one that is not
    /// a regular file), plus the attachments each sidecar names.
    #[derive(Default)]
    struct Fake {
        files: Vec<(PathBuf, bool)>,
        attachments: HashMap<PathBuf, Vec<String>>,
    }

    impl Folders for Fake {
        fn entries(&mut self, dir: &Path) -> Vec<Entry> {
            self.files
                .iter()
                .filter(|(p, _)| p.parent() == Some(dir))
                .map(|(p, regular)| Entry {
                    name: bundle::file_name_of(p),
                    regular: *regular,
                })
                .collect()
        }

        fn attachments(&mut self, sidecar: &Path) -> Vec<String> {
            self.attachments.get(sidecar).cloned().unwrap_or_default()
        }
    }

    /// What pairing makes of these files, `after` the last one settled. Each file in `settled`
    /// settled in the order given, one second apart; `arriving` are seen but still changing;
    /// `on_disk` are only in the folder listing (a link, a partial download).
    struct Case<'a> {
        settled: &'a [&'a str],
        arriving: &'a [&'a str],
        on_disk: &'a [&'a str],
        attachments: &'a [(&'a str, &'a [&'a str])],
        after: Duration,
        once: bool,
    }

    impl Default for Case<'_> {
        fn default() -> Self {
            Case {
                settled: &[],
                arriving: &[],
                on_disk: &[],
                attachments: &[],
                after: Duration::from_secs(10),
                once: false,
            }
        }
    }

    /// A bundle as text: `inbox: media + sidecar + attachments` or `inbox: file REFUSED`.
    fn check(case: Case<'_>, expected: &[&str]) {
        let t0 = Instant::now();
        let mut tracker = Tracker::default();
        let stamp = |i: u64| {
            Some(Stamp {
                size: 10 + i,
                mtime: SystemTime::UNIX_EPOCH,
                inode: i,
            })
        };
        let mut last = t0;
        for (i, p) in case.settled.iter().enumerate() {
            let seen = t0 + Duration::from_secs(i as u64);
            tracker.observe(Path::new(p), stamp(i as u64), seen);
            last = seen + SETTLE;
            assert!(tracker.confirm(Path::new(p), stamp(i as u64), last, SETTLE));
        }
        for (i, p) in case.arriving.iter().enumerate() {
            tracker.observe(Path::new(p), stamp(100 + i as u64), last);
        }
        let mut fake = Fake::default();
        for p in case.settled.iter().chain(case.arriving) {
            fake.files.push((PathBuf::from(p), true));
        }
        for p in case.on_disk {
            match p.strip_suffix('!') {
                Some(p) => fake.files.push((PathBuf::from(p), false)),
                None => fake.files.push((PathBuf::from(p), true)),
            }
        }
        for (sidecar, names) in case.attachments {
            fake.attachments.insert(
                PathBuf::from(sidecar),
                names.iter().map(|n| n.to_string()).collect(),
            );
        }
        let config = config();
        let filter = Filter::new(&[], &[]);
        let (claimed, roots) = (HashSet::new(), roots());
        let view = View {
            tracker: &tracker,
            claimed: &claimed,
            roots: &roots,
            filter: &filter,
            config: &config,
            once: case.once,
        };
        let paired = pair(&view, &mut fake, last + case.after);
        let got: Vec<String> = paired
            .candidates
            .iter()
            .map(|c| {
                let files: Vec<String> =
                    c.paths().iter().map(|p| p.display().to_string()).collect();
                let refused = if c.refuse.is_some() { " REFUSED" } else { "" };
                format!("{}: {}{refused}", c.inbox, files.join(" + "))
            })
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn a_media_file_and_its_sidecar_make_one_bundle_in_either_order() {
        let both = ["0: /in/a.pdf + /in/a.yaml"];
        check(
            Case {
                settled: &["/in/a.pdf", "/in/a.yaml"],
                ..Case::default()
            },
            &both,
        );
        check(
            Case {
                settled: &["/in/a.yaml", "/in/a.pdf"],
                ..Case::default()
            },
            &both,
        );
        check(
            Case {
                settled: &["/in/a.pdf", "/in/a.pdf.yaml"],
                ..Case::default()
            },
            &["0: /in/a.pdf + /in/a.pdf.yaml"],
        );
        // `x.pdf.yaml` belongs to `x.pdf` (it is its first choice), so `x.yaml` is a text post.
        check(
            Case {
                settled: &["/in/x.pdf", "/in/x.yaml", "/in/x.pdf.yaml"],
                ..Case::default()
            },
            &["0: /in/x.pdf + /in/x.pdf.yaml", "0: /in/x.yaml"],
        );
    }

    #[test]
    fn a_sidecar_waits_for_its_media_file_while_it_is_being_written() {
        check(
            Case {
                settled: &["/in/a.yaml"],
                arriving: &["/in/a.pdf"],
                ..Case::default()
            },
            &[],
        );
        check(
            Case {
                settled: &["/in/a.pdf"],
                arriving: &["/in/a.yaml"],
                ..Case::default()
            },
            &[],
        );
        // A download in progress, not yet seen as media.
        check(
            Case {
                settled: &["/in/a.yaml"],
                on_disk: &["/in/a.pdf.part"],
                ..Case::default()
            },
            &[],
        );
        // `x.pdf.yaml` is not the sidecar of `x.jpg`: it is a text post.
        check(
            Case {
                settled: &["/in/x.pdf.yaml"],
                on_disk: &["/in/x.jpg.crdownload"],
                ..Case::default()
            },
            &["0: /in/x.pdf.yaml"],
        );
    }

    #[test]
    fn a_lone_sidecar_is_a_text_post_once_it_has_been_quiet_for_settle() {
        check(
            Case {
                settled: &["/in/memo.yaml"],
                after: Duration::ZERO,
                ..Case::default()
            },
            &[],
        );
        check(
            Case {
                settled: &["/in/memo.yaml"],
                ..Case::default()
            },
            &["0: /in/memo.yaml"],
        );
        // A media name that is not a regular file (a link, a FIFO) makes it refused.
        check(
            Case {
                settled: &["/in/memo.yaml"],
                on_disk: &["/in/memo.pdf!"],
                ..Case::default()
            },
            &["0: /in/memo.yaml REFUSED"],
        );
    }

    #[test]
    fn lone_media_files_wait_post_with_defaults_or_are_refused_by_their_inbox() {
        let hour = Duration::from_secs(3600);
        check(
            Case {
                settled: &["/in/a.pdf"],
                ..Case::default()
            },
            &[],
        );
        check(
            Case {
                settled: &["/in/a.pdf"],
                after: hour,
                ..Case::default()
            },
            &["0: /in/a.pdf REFUSED"],
        );
        // The nested scanner inbox, not the outer one, decides for its files.
        check(
            Case {
                settled: &["/in/scan/s.pdf"],
                ..Case::default()
            },
            &[],
        );
        check(
            Case {
                settled: &["/in/scan/s.pdf"],
                after: Duration::from_secs(30),
                ..Case::default()
            },
            &["1: /in/scan/s.pdf"],
        );
        // `once`: a scan posts at once; a required sidecar keeps the file waiting.
        check(
            Case {
                settled: &["/in/a.pdf", "/in/scan/s.pdf"],
                after: Duration::ZERO,
                once: true,
                ..Case::default()
            },
            &["1: /in/scan/s.pdf"],
        );
    }

    #[test]
    fn attachments_join_their_sidecars_album_and_are_never_posted_alone() {
        let album: &[(&str, &[&str])] = &[("/in/a.yaml", &["p2.jpg", "p3.jpg"])];
        check(
            Case {
                settled: &["/in/p2.jpg", "/in/a.pdf", "/in/a.yaml", "/in/p3.jpg"],
                attachments: album,
                ..Case::default()
            },
            &["0: /in/a.pdf + /in/a.yaml + /in/p2.jpg + /in/p3.jpg"],
        );
        check(
            Case {
                settled: &["/in/a.pdf", "/in/a.yaml", "/in/p2.jpg"],
                arriving: &["/in/p3.jpg"],
                attachments: album,
                ..Case::default()
            },
            &[],
        );
        // Missing past the sidecar's timeout: refused; not media: refused at once.
        check(
            Case {
                settled: &["/in/a.pdf", "/in/a.yaml", "/in/p2.jpg"],
                attachments: album,
                after: Duration::from_secs(3600),
                ..Case::default()
            },
            &["0: /in/a.pdf + /in/a.yaml REFUSED"],
        );
        check(
            Case {
                settled: &["/in/a.pdf", "/in/a.yaml"],
                attachments: &[("/in/a.yaml", &["notes.txt"])],
                ..Case::default()
            },
            &["0: /in/a.pdf + /in/a.yaml REFUSED"],
        );
        // A sidecar that lists its own media file means it once.
        check(
            Case {
                settled: &["/in/a.pdf", "/in/a.yaml"],
                attachments: &[("/in/a.yaml", &["a.pdf"])],
                ..Case::default()
            },
            &["0: /in/a.pdf + /in/a.yaml"],
        );
    }

    #[test]
    fn a_path_belongs_to_its_most_specific_inbox() {
        let roots = roots();
        assert_eq!(inbox_of(&roots, Path::new("/in/a.pdf")), Some(0));
        assert_eq!(inbox_of(&roots, Path::new("/in/sub/a.pdf")), Some(0));
        assert_eq!(inbox_of(&roots, Path::new("/in/scan/a.pdf")), Some(1));
        assert_eq!(inbox_of(&roots, Path::new("/in/scanner/a.pdf")), Some(0));
        assert_eq!(inbox_of(&roots, Path::new("/out/a.pdf")), None);
    }
}

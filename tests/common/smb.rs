//! A real SMB share for the tests: `smbd` on 127.0.0.1 (its own config, port and state in a
//! temporary folder), mounted through `smbnetfs` (FUSE over libsmbclient, since the kernel here
//! has no CIFS client), and written to with `smbclient` as a clerk's PC would.
//!
//! Needs root and the Debian packages `samba`, `smbclient`, `smbnetfs` and `fuse3`. Where one is
//! missing, or the machine cannot mount FUSE, [`Smb::start`] says so loudly on stderr and
//! returns `None`; any other failure is the test's.
//!
//! Each `Smb` has its own port, so the tests run in parallel: `smbclient -p PORT`, and for
//! smbnetfs the host is written `127.0.0.1:PORT` in the path (libsmbclient takes the port from
//! the URL `smb://127.0.0.1:PORT/office`; it ignores `smb ports` and tries 445 and 139 alone).

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::takeover::Site;
use super::{Office, free_port};

/// The share's name on the server.
pub const SHARE: &str = "office";
/// The clerks' account on the server (a Samba password for the Unix user running the tests).
const PASSWORD: &str = "clerk-pass-1";
/// How long starting or stopping a piece may take on a loaded 2-core machine.
const STARTUP: Duration = Duration::from_secs(20);
const FUSE_SUPER_MAGIC: i64 = 0x6573_5546;

pub fn skip(why: &str) {
    super::skip(
        why,
        "root, FUSE and the Debian packages `samba smbclient smbnetfs fuse3`",
    );
}

/// A running SMB server with its share mounted. Dropping it unmounts the share and stops the
/// server, also when the test panics. Declare it before the `Office` and the `Daemon`, so that
/// dropcast stops before its folders go away.
pub struct Smb {
    dir: tempfile::TempDir,
    port: u16,
    tools: Tools,
    /// `smbd` in a process group of its own, which holds its per-connection children.
    server: Option<Child>,
    /// `smbnetfs` in the foreground; `auto_unmount` removes the mount should it die.
    client: Option<Child>,
    mount_point: PathBuf,
}

struct Tools {
    smbd: PathBuf,
    smbclient: PathBuf,
    smbpasswd: PathBuf,
    smbnetfs: PathBuf,
}

impl Smb {
    /// Starts the server, mounts the share, and returns once the share answers through the
    /// mount; `None` (after the SKIPPED message) where this machine cannot do that.
    pub fn start() -> Option<Smb> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            skip("not root: smbd needs root to serve files as the share's user");
            return None;
        }
        let tools = match Tools::find() {
            Ok(t) => t,
            Err(missing) => {
                skip(&format!("{missing} is not installed"));
                return None;
            }
        };
        if !Path::new("/dev/fuse").exists() {
            skip("no /dev/fuse on this machine");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        for sub in [
            "served",
            "lock",
            "state",
            "cache",
            "pid",
            "private",
            "ncalrpc",
            "log",
            "mnt",
            "home/.smb",
        ] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let mut smb = Smb {
            mount_point: dir.path().join("mnt"),
            dir,
            port: 0,
            tools,
            server: None,
            client: None,
        };
        smb.write_client_files();
        // A free port can be taken by another test between our look and smbd's bind: try again.
        for attempt in 1.. {
            smb.port = free_port();
            smb.write_server_config();
            if attempt == 1 {
                smb.add_user();
            }
            match smb.spawn_server() {
                Ok(()) => break,
                Err(log) if log.contains("Address already in use") && attempt < 5 => continue,
                Err(log) => panic!("smbd did not start:\n{log}"),
            }
        }
        if !smb.mount() {
            return None;
        }
        Some(smb)
    }

    /// The share as dropcast sees it: `MOUNT_POINT/127.0.0.1:PORT/office`.
    pub fn share(&self) -> PathBuf {
        self.mount_point
            .join(format!("127.0.0.1:{}", self.port))
            .join(SHARE)
    }

    /// The folder smbd serves, on the server's own disk: what the share really holds, with no
    /// client cache in between.
    pub fn served(&self) -> PathBuf {
        self.dir.path().join("served")
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Writes a file into the share as another PC does: `smbclient … -c 'put'`. `remote` is
    /// relative to the share, with `/` between folders, which must exist.
    pub fn put(&self, remote: &str, bytes: &[u8]) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let local = self
            .dir
            .path()
            .join(format!("upload-{}", N.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&local, bytes).unwrap();
        self.smbclient(&format!("put {} {}", quote(&local), quote_str(remote)));
    }

    /// Writes a file into the share the way copy tools that write a temporary name and rename it
    /// do: it appears whole under its name, never empty or half-written (see [`Smb::site`]).
    pub fn put_whole(&self, remote: &str, bytes: &[u8]) {
        static N: AtomicUsize = AtomicUsize::new(0);
        let local = self
            .dir
            .path()
            .join(format!("whole-{}", N.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&local, bytes).unwrap();
        let (folder, name) = remote.rsplit_once('/').unwrap_or(("", remote));
        let part = if folder.is_empty() {
            format!(".{name}.part")
        } else {
            format!("{folder}/.{name}.part")
        };
        self.smbclient(&format!(
            "put {} {}; rename {} {}",
            quote(&local),
            quote_str(&part),
            quote_str(&part),
            quote_str(remote)
        ));
    }

    /// Creates a folder on the share as another PC does (its parent must exist).
    pub fn mkdir(&self, remote: &str) {
        self.smbclient(&format!("mkdir {}", quote_str(remote)));
    }

    /// Runs `smbclient //127.0.0.1/office -c COMMANDS` as the clerk; panics unless it succeeds.
    pub fn smbclient(&self, commands: &str) -> Output {
        let out = Command::new(&self.tools.smbclient)
            .arg(format!("//127.0.0.1/{SHARE}"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-s")
            .arg(self.client_conf())
            .arg("-A")
            .arg(self.dir.path().join("smbclient.auth"))
            .arg("-c")
            .arg(commands)
            .env("HOME", self.dir.path().join("home"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // smbclient exits 0 after some failed commands; their NT_STATUS is the sign.
        assert!(
            out.status.success() && !text.contains("NT_STATUS_"),
            "smbclient -c {commands:?} failed:\n{text}"
        );
        out
    }

    /// An office (see [`Office::with`]) whose inbox (with its `scanner` subfolder inbox),
    /// archive, failed and scheduled folders live on the share, made there by a clerk's PC.
    /// Its config, token and journal stay on the local disk, as they should.
    pub fn office(&self, extra: &str) -> Office {
        for folder in ["inbox", "inbox/scanner", "archive", "failed", "scheduled"] {
            self.mkdir(folder);
        }
        let o = Office::with(extra);
        std::fs::remove_dir_all(o.path("inbox")).unwrap();
        let share = self.share();
        for (from, folder) in [
            ("path: inbox\n", "inbox"),
            ("path: inbox/scanner\n", "inbox/scanner"),
            ("archive: archive\n", "archive"),
            ("failed: failed\n", "failed"),
            ("scheduled: scheduled\n", "scheduled"),
        ] {
            let key = from.split(':').next().unwrap();
            o.edit_config(
                from,
                &format!("{key}: \"{}\"\n", share.join(folder).display()),
            );
        }
        // Where an IT person keeps them: readable by dropcast alone.
        for secret in [o.config.clone(), o.path("token")] {
            std::fs::set_permissions(secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        o
    }

    /// This share as the place a scenario of [`super::takeover`] drops its files (inbox,
    /// archive and failed made by [`Smb::office`]): put whole with `smbclient`
    /// ([`Smb::put_whole`]), looked at on the server's own disk. Whole, because smbnetfs caches
    /// a file's size for 1 s, longer than the tests' `settle`: a file seen at the moment it was
    /// created could settle as empty (tests/smb.rs and tests/share.rs cover files written in
    /// place).
    pub fn site(&self) -> Site<'_> {
        Site::new(
            "SMB",
            |rel, bytes| self.put_whole(&format!("inbox/{rel}"), bytes),
            self.share().join("inbox"),
            self.served().join("inbox"),
            self.served().join("archive"),
            self.served().join("failed"),
        )
    }

    /// Stops the server, as when the office's file server goes down: every smbd process of it
    /// ends and the port refuses connections. The mount stays; what goes through it fails.
    pub fn stop_server(&mut self) {
        let Some(mut server) = self.server.take() else {
            return;
        };
        let group = server.id() as i32;
        // SAFETY: kill(2) on the process group of the smbd this harness started.
        unsafe { libc::kill(-group, libc::SIGTERM) };
        let start = Instant::now();
        while server.try_wait().unwrap().is_none() || self.answers() {
            if start.elapsed() > Duration::from_secs(5) {
                // SAFETY: as above; smbd did not stop on SIGTERM in time.
                unsafe { libc::kill(-group, libc::SIGKILL) };
            }
            assert!(
                start.elapsed() < STARTUP,
                "smbd did not stop:\n{}",
                self.server_log()
            );
            // The poll interval of a wait with a deadline, not a pause to let things happen.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same port with the same share, and returns once the
    /// share answers through the mount again.
    pub fn start_server(&mut self) {
        if self.server.is_some() {
            return;
        }
        if let Err(log) = self.spawn_server() {
            panic!("smbd did not start again:\n{log}");
        }
        self.wait_share_answers();
    }

    /// Whether the server accepts connections.
    fn answers(&self) -> bool {
        TcpStream::connect_timeout(
            &SocketAddrV4::new(Ipv4Addr::LOCALHOST, self.port).into(),
            Duration::from_millis(200),
        )
        .is_ok()
    }

    fn client_conf(&self) -> PathBuf {
        self.dir.path().join("home/.smb/smb.conf")
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/smbd.out")).unwrap_or_default()
    }

    fn client_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log/smbnetfs.out")).unwrap_or_default()
    }

    fn write_server_config(&self) {
        let d = self.dir.path().display();
        // Every path smbd writes to is in the temporary folder, so that it neither needs nor
        // touches the machine's Samba; `force user` makes the files root's, like the tests' own.
        let conf = format!(
            "[global]\n\
             server role = standalone server\n\
             interfaces = 127.0.0.1\n\
             bind interfaces only = yes\n\
             smb ports = {port}\n\
             disable netbios = yes\n\
             lock directory = {d}/lock\n\
             state directory = {d}/state\n\
             cache directory = {d}/cache\n\
             pid directory = {d}/pid\n\
             private dir = {d}/private\n\
             ncalrpc dir = {d}/ncalrpc\n\
             passdb backend = tdbsam:{d}/private/passdb.tdb\n\
             usershare path =\n\
             log file = {d}/log/smbd.log\n\
             log level = 1\n\
             load printers = no\n\
             printing = bsd\n\
             printcap name = /dev/null\n\
             disable spoolss = yes\n\
             [{SHARE}]\n\
             path = {d}/served\n\
             read only = no\n\
             force user = root\n",
            port = self.port
        );
        std::fs::write(self.dir.path().join("smb.conf"), conf).unwrap();
    }

    fn write_client_files(&self) {
        let d = self.dir.path().display();
        // libsmbclient (in smbnetfs) and smbclient read this instead of /etc/samba/smb.conf.
        std::fs::write(
            self.client_conf(),
            format!(
                "[global]\n\
                 disable netbios = yes\n\
                 lock directory = {d}/lock/client\n\
                 state directory = {d}/state/client\n\
                 cache directory = {d}/cache/client\n"
            ),
        )
        .unwrap();
        // No network browsing (no broadcasts; the host is named in the path), no keyring.
        std::fs::write(
            self.dir.path().join("home/.smb/smbnetfs.conf"),
            "smb_query_browsers false\nuse_libsecret false\ninclude \"smbnetfs.auth\"\n",
        )
        .unwrap();
        let secret = |name: &str, text: String| {
            let p = self.dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        secret(
            "home/.smb/smbnetfs.auth",
            format!("auth \"root\" \"{PASSWORD}\"\n"),
        );
        secret(
            "smbclient.auth",
            format!("username = root\npassword = {PASSWORD}\n"),
        );
    }

    fn add_user(&self) {
        let mut child = Command::new(&self.tools.smbpasswd)
            .arg("-c")
            .arg(self.dir.path().join("smb.conf"))
            .args(["-a", "-s", "root"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSWORD}\n{PASSWORD}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "smbpasswd -a failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts smbd and waits until it accepts connections; `Err(its log)` if it exits first.
    fn spawn_server(&mut self) -> Result<(), String> {
        let log = std::fs::File::create(self.dir.path().join("log/smbd.out")).unwrap();
        let mut cmd = Command::new(&self.tools.smbd);
        cmd.args(["--foreground", "--no-process-group", "--debug-stdout", "-s"])
            .arg(self.dir.path().join("smb.conf"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            // Its own group, so that stopping it reaches the children it forks per connection.
            .process_group(0);
        // SAFETY: prctl is async-signal-safe; smbd ends with the test thread that started it,
        // even when the test binary is killed and no Drop runs.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut server = cmd.spawn().unwrap();
        let start = Instant::now();
        loop {
            if server.try_wait().unwrap().is_some() {
                return Err(self.server_log());
            }
            if self.answers() {
                break;
            }
            if start.elapsed() > STARTUP {
                // SAFETY: kill(2) on the process group of the smbd just started.
                unsafe { libc::kill(-(server.id() as i32), libc::SIGKILL) };
                let _ = server.wait();
                return Err(format!(
                    "not listening on {} after {STARTUP:?}\n{}",
                    self.port,
                    self.server_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.server = Some(server);
        Ok(())
    }

    /// Mounts the share with smbnetfs; `false` (after the SKIPPED message) where this machine
    /// cannot mount FUSE.
    fn mount(&mut self) -> bool {
        let log = std::fs::File::create(self.dir.path().join("log/smbnetfs.out")).unwrap();
        let mut cmd = Command::new(&self.tools.smbnetfs);
        cmd.arg(&self.mount_point)
            .arg("-f")
            .arg("-o")
            .arg("auto_unmount,smb_query_browsers=false,use_libsecret=false")
            .env("HOME", self.dir.path().join("home"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: as for smbd; auto_unmount then removes the mount.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let client = cmd.spawn().unwrap();
        self.client = Some(client);
        let start = Instant::now();
        while fs_type(&self.mount_point) != Some(FUSE_SUPER_MAGIC) {
            if let Some(status) = self.client.as_mut().unwrap().try_wait().unwrap() {
                self.client = None;
                let err = self.client_log();
                // A machine without FUSE or without the right to mount: say so. Anything else
                // is this harness's mistake.
                let machine = [
                    "fuse device",
                    "/dev/fuse",
                    "ermission denied",
                    "not permitted",
                ];
                assert!(
                    machine.iter().any(|m| err.contains(m)),
                    "smbnetfs exited ({status}) without mounting:\n{err}"
                );
                skip(&format!("smbnetfs cannot mount here: {}", err.trim()));
                return false;
            }
            assert!(
                start.elapsed() < STARTUP,
                "smbnetfs did not mount within {STARTUP:?}:\n{}",
                self.client_log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        self.wait_share_answers();
        true
    }

    /// Waits until the share can be listed through the mount.
    fn wait_share_answers(&self) {
        let share = self.share();
        let start = Instant::now();
        loop {
            match std::fs::read_dir(&share) {
                Ok(_) => return,
                Err(e) => assert!(
                    start.elapsed() < STARTUP,
                    "the share does not answer at {}: {e}\nsmbnetfs:\n{}\nsmbd:\n{}",
                    share.display(),
                    self.client_log(),
                    self.server_log()
                ),
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Smb {
    fn drop(&mut self) {
        if let Some(mut client) = self.client.take() {
            let p = std::ffi::CString::new(self.mount_point.as_os_str().as_bytes()).unwrap();
            // SAFETY: a valid path; a busy mount is detached instead, so none outlives the test.
            unsafe {
                if libc::umount2(p.as_ptr(), 0) != 0 {
                    libc::umount2(p.as_ptr(), libc::MNT_DETACH);
                }
            }
            // smbnetfs ends when its mount goes; a stuck one is killed.
            let start = Instant::now();
            while client.try_wait().ok().flatten().is_none() {
                if start.elapsed() > Duration::from_secs(5) {
                    let _ = client.kill();
                    let _ = client.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        if let Some(mut server) = self.server.take() {
            // SAFETY: kill(2) on the process group of the smbd this harness started.
            unsafe { libc::kill(-(server.id() as i32), libc::SIGKILL) };
            let _ = server.wait();
        }
    }
}

impl Tools {
    /// The Samba and smbnetfs programs, or the name of the package that is missing.
    fn find() -> Result<Tools, String> {
        let find = |name: &str, package: &str| {
            let path = std::env::var_os("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .chain(["/usr/sbin".into(), "/sbin".into()])
                .map(|d| d.join(name))
                .find(|p| p.is_file())
                .ok_or_else(|| format!("`{name}` (Debian package `{package}`)"))
        };
        Ok(Tools {
            smbd: find("smbd", "samba")?,
            smbclient: find("smbclient", "smbclient")?,
            smbpasswd: find("smbpasswd", "samba-common-bin")?,
            smbnetfs: find("smbnetfs", "smbnetfs")?,
        })
    }
}

fn fs_type(p: &Path) -> Option<i64> {
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid path and a zeroed out-parameter of the right type.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0).then_some(st.f_type as i64)
}

/// A name as one smbclient argument: in double quotes, which it cannot contain.
fn quote_str(s: &str) -> String {
    assert!(!s.contains('"'), "smbclient cannot quote {s:?}");
    format!("\"{s}\"")
}

fn quote(p: &Path) -> String {
    quote_str(p.to_str().unwrap())
}

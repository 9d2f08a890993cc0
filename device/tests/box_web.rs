//! The box's web page, against hostile clients (`[web]`, feature `web`):
//! path traversal in many encodings, a LAN bind without a token, missing
//! and wrong tokens, oversized requests and a slowloris client. Each test
//! fails when its guard is taken out; and scanning goes on meanwhile.

mod box_common;
mod cli_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use box_common::*;
use colorize_device::boxd::config::BoxConfig;
use colorize_device::boxd::monitor::{ModelInfo, Monitor};
use colorize_device::boxd::web::{Limits, Server};
use colorize_device::boxd::{run_monitored, Hardware, RunMode};
use colorize_device::Colorize;

const TOKEN: &str = "correct-horse-battery-staple";

/// A fake colourizer with a vividness control, so the page offers one.
struct Vivid {
    inner: TintColorizer<fn(usize)>,
    vividness: f32,
}

impl Colorize for Vivid {
    fn predict(
        &mut self,
        l: &[u16],
        w: usize,
        h: usize,
    ) -> anyhow::Result<colorize_device::shared::recombine::AbPlanes<'_>> {
        self.inner.predict(l, w, h)
    }
    fn provenance(&self) -> String {
        self.inner.provenance()
    }
    fn vividness(&self) -> Option<f32> {
        Some(self.vividness)
    }
    fn set_vividness(&mut self, v: f32) -> anyhow::Result<()> {
        self.vividness = v;
        Ok(())
    }
}

/// A box running with its page on a free loopback port.
struct WebBox {
    d: Dirs,
    config_path: PathBuf,
    server: Option<Server>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WebBox {
    /// On loopback; on every interface (a LAN bind) when a token is given.
    fn start(token: Option<&str>, limits: Limits) -> Self {
        let d = dirs();
        let mut cfg = config(&d);
        cfg.web.enabled = true;
        cfg.web.bind = if token.is_some() {
            "0.0.0.0:0"
        } else {
            "127.0.0.1:0"
        }
        .into();
        cfg.web.token = token.map(str::to_string);
        let config_path = d.out.parent().unwrap().join("box.toml");
        let mut toml = cfg.clone();
        toml.web.token = None; // to_toml hides it; the file needs none
        std::fs::write(&config_path, toml.to_toml()).unwrap();
        let info = ModelInfo {
            id: "test".into(),
            card: vec![],
            has_vividness: true,
        };
        let mut monitor = Monitor::new(&cfg, info, Some(0.5));
        let server =
            Server::start_with(&cfg, Some(&config_path), monitor.shared(), limits).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut c = Vivid {
                    inner: tint(),
                    vividness: 0.5,
                };
                let hw = Hardware {
                    camera: None,
                    button: None,
                    led: None,
                };
                run_monitored(&cfg, &mut c, hw, &stop, RunMode::Forever, &mut monitor).unwrap();
            })
        };
        WebBox {
            d,
            config_path,
            server: Some(server),
            stop,
            thread: Some(thread),
        }
    }

    /// Where to connect (loopback, also for a LAN bind).
    fn addr(&self) -> SocketAddr {
        let a = self.server.as_ref().unwrap().addr();
        SocketAddr::from(([127, 0, 0, 1], a.port()))
    }

    /// Drops `name` into the inbox and waits for its output and thumbnail
    /// (written just after the output).
    fn scan(&self, name: &str) -> PathBuf {
        write_gray_png(&self.d.inbox.join(name), 64, 48);
        let out = self.d.out.join(Path::new(name).with_extension("png"));
        // The record is written last, once the page lists the scan.
        let thumb = self.d.out.join(".thumbs").join(format!("{name}.jpg.json"));
        assert!(
            wait_for(Duration::from_secs(20), || out.exists() && thumb.exists()),
            "{name} was not colourized"
        );
        out
    }

    /// A raw request; the status and the body.
    fn raw(&self, request: &[u8]) -> (u16, Vec<u8>) {
        send(self.addr(), request)
    }

    fn get(&self, target: &str, extra: &str) -> (u16, Vec<u8>) {
        self.raw(format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n").as_bytes())
    }
}

impl Drop for WebBox {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.server.take();
    }
}

fn send(addr: SocketAddr, request: &[u8]) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may answer (and close) before reading all of a request it
    // refuses: a failed write is not the test's concern.
    let _ = s.write_all(request);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse(&buf)
}

fn parse(buf: &[u8]) -> (u16, Vec<u8>) {
    let text = String::from_utf8_lossy(buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = match buf.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => buf[i + 4..].to_vec(),
        None => Vec::new(),
    };
    (status, body)
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn short_limits() -> Limits {
    Limits {
        deadline: Duration::from_millis(800),
        ..Limits::DEFAULT
    }
}

#[test]
fn path_traversal_in_any_encoding_is_refused() {
    let b = WebBox::start(None, Limits::DEFAULT);
    b.scan("page.png");
    // A file beside the output folder, and a link to it inside.
    let parent = b.d.out.parent().unwrap();
    let secret = parent.join("secret.png");
    std::fs::write(&secret, b"SECRET-BYTES").unwrap();
    std::os::unix::fs::symlink(&secret, b.d.out.join("link.png")).unwrap();
    std::os::unix::fs::symlink(&secret, b.d.out.join(".thumbs/link.png.jpg")).unwrap();
    let abs = secret.display().to_string();
    let abs_enc = abs.replace('/', "%2F");
    let attempts = [
        "/files/../secret.png".to_string(),
        "/files/..%2fsecret.png".into(),
        "/files/..%2Fsecret.png".into(),
        "/files/%2e%2e%2fsecret.png".into(),
        "/files/%2E%2E/secret.png".into(),
        "/files/.%2e/secret.png".into(),
        "/files/..%5csecret.png".into(),
        "/files/..\\secret.png".into(),
        "/files/%252e%252e%252fsecret.png".into(),
        "/files/%c0%ae%c0%ae%2fsecret.png".into(),
        "/files/..%00/secret.png".into(),
        format!("/files/{abs_enc}"),
        format!("/files/{abs}"),
        format!("/files//{}", abs.trim_start_matches('/')),
        "/files/link.png".into(),
        "/thumbs/link.png.jpg".into(),
        "/thumbs/..%2f..%2fsecret.png".into(),
        "/thumbs/%2e%2e%2fpage.png".into(),
        "/files/.thumbs%2fpage.png.jpg".into(),
    ];
    for target in &attempts {
        let (status, body) = b.get(target, "");
        assert!(
            status == 404 || status == 400,
            "{target}: status {status}, body {:?}",
            String::from_utf8_lossy(&body)
        );
        assert!(
            !body.windows(6).any(|w| w == b"SECRET"),
            "{target} leaked the file outside the output folder"
        );
    }
    // The same routes do serve what is theirs.
    let (status, body) = b.get("/files/page.png", "");
    assert_eq!(status, 200);
    assert_eq!(body, std::fs::read(b.d.out.join("page.png")).unwrap());
    let (status, body) = b.get("/thumbs/page.png.jpg", "");
    assert_eq!(status, 200);
    assert!(
        image::load_from_memory(&body).is_ok(),
        "the thumbnail is a JPEG"
    );
}

#[test]
fn without_a_token_only_loopback_names_are_answered() {
    // DNS rebinding: a web site whose name now points at 127.0.0.1 sends its
    // own name as Host, and its own origin with its forms.
    let b = WebBox::start(None, Limits::DEFAULT);
    b.scan("private.png");
    let rebound = "Host: evil.example:8080\r\n";
    for target in [
        "/",
        "/api/status",
        "/files/private.png",
        "/thumbs/private.png.jpg",
    ] {
        let req = format!("GET {target} HTTP/1.1\r\n{rebound}\r\n");
        let (status, body) = b.raw(req.as_bytes());
        assert_eq!(status, 403, "{target}");
        assert!(!String::from_utf8_lossy(&body).contains("private"));
    }
    let form = "value=0.9";
    let post = format!(
        "POST /vividness HTTP/1.1\r\n{rebound}Origin: http://evil.example:8080\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    assert_eq!(b.raw(post.as_bytes()).0, 403);
    for host in ["127.0.0.1:8080", "localhost", "[::1]:80"] {
        let req = format!("GET /api/status HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(b.raw(req.as_bytes()).0, 200, "{host}");
    }
}

#[test]
fn a_lan_bind_needs_a_token() {
    let lan = "[web]\nenabled = true\nbind = \"0.0.0.0:8080\"\n";
    let e = BoxConfig::from_toml(lan).unwrap_err();
    assert!(format!("{e:#}").contains("set [web] token"), "{e:#}");
    let short = format!("{lan}token = \"short\"\n");
    assert!(
        BoxConfig::from_toml(&short).is_err(),
        "a short token passes"
    );
    let ok = format!("{lan}token = \"{TOKEN}\"\n");
    let cfg = BoxConfig::from_toml(&ok).unwrap();
    assert!(
        !cfg.to_toml().contains(TOKEN),
        "--check-config prints the token"
    );
    // Loopback needs none.
    BoxConfig::from_toml("[web]\nenabled = true\nbind = \"127.0.0.1:8080\"\n").unwrap();

    // And the binary says so at --check-config.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("box.toml");
    std::fs::write(&path, lan).unwrap();
    let out = cli_common::colorize() // through qemu-user on the ARM runs
        .args(["box", "--check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "a LAN bind without a token passed --check-config"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("token"));
}

#[test]
fn a_missing_or_wrong_token_is_refused() {
    let b = WebBox::start(Some(TOKEN), Limits::DEFAULT);
    b.scan("mine.png");
    let wrong = "definitely-not-the-token";
    for (target, extra) in [
        ("/api/status", String::new()),
        ("/api/status", format!("Authorization: Bearer {wrong}\r\n")),
        ("/api/status", format!("Cookie: colorize_token={wrong}\r\n")),
        (
            "/api/status",
            format!("Authorization: Bearer {}\r\n", &TOKEN[1..]),
        ),
        ("/files/mine.png", String::new()),
        (
            "/thumbs/mine.png.jpg",
            format!("Cookie: colorize_token={wrong}\r\n"),
        ),
    ] {
        let (status, body) = b.get(target, &extra);
        assert_eq!(status, 401, "{target} with {extra:?}");
        assert!(!String::from_utf8_lossy(&body).contains("mine.png"));
    }
    // The page itself sends a browser to the login form.
    let (status, _) = b.get("/", "");
    assert_eq!(status, 303);
    // No vividness write without the token.
    let before = std::fs::read_to_string(&b.config_path).unwrap();
    let form = "value=0.9";
    let post = format!(
        "POST /vividness HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    assert_eq!(b.raw(post.as_bytes()).0, 401);
    assert_eq!(std::fs::read_to_string(&b.config_path).unwrap(), before);

    // A wrong login is refused; the right one gives a cookie that works.
    let login = |token: &str| {
        let form = format!("token={token}");
        let req = format!(
            "POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        );
        let mut s = TcpStream::connect(b.addr()).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text
    };
    let refused = login(wrong);
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");
    assert!(header(&refused, "set-cookie").is_none());
    let accepted = login(TOKEN);
    assert!(accepted.starts_with("HTTP/1.1 303"), "{accepted}");
    let cookie = header(&accepted, "set-cookie").expect("a cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let (status, body) = b.get("/api/status", &format!("Cookie: {pair}\r\n"));
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["recent"][0]["output"], "mine.png");
    let (status, _) = b.get(
        "/files/mine.png",
        &format!("Authorization: Bearer {TOKEN}\r\n"),
    );
    assert_eq!(status, 200);
}

#[test]
fn oversized_requests_are_refused() {
    let b = WebBox::start(None, Limits::DEFAULT);
    let long = "x".repeat(Limits::DEFAULT.max_head + 1);
    assert_eq!(b.get("/", &format!("X-Long: {long}\r\n")).0, 431);
    let many: String = (0..40).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(b.get("/", &many).0, 431);
    let big = Limits::DEFAULT.max_body + 1;
    let req =
        format!("POST /vividness HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {big}\r\n\r\n");
    assert_eq!(b.raw(req.as_bytes()).0, 413);
    let req = "POST /vividness HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    assert_eq!(b.raw(req.as_bytes()).0, 400);
    assert_eq!(b.raw(b"NOT HTTP AT ALL\r\n\r\n").0, 400);
    // Still serving.
    assert_eq!(b.get("/api/status", "").0, 200);
}

#[test]
fn a_slowloris_client_is_cut_off_and_scanning_goes_on() {
    let limits = short_limits();
    let b = WebBox::start(None, limits);
    // As many slow clients as the server serves at once, never finishing
    // their heads: half send a byte every 50 ms, half send part of one at
    // once and fall silent.
    let started = Instant::now();
    let slow: Vec<_> = (0..limits.max_clients)
        .map(|i| {
            let addr = b.addr();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                let mut buf = [0u8; 256];
                let silent = i % 2 == 1;
                if silent {
                    s.write_all(b"GET / HTTP/1.1\r\nX-Silent: ").unwrap();
                }
                for c in b"GET / HTTP/1.1\r\nX-Slow: "
                    .iter()
                    .chain(std::iter::repeat(&b'a'))
                {
                    if !silent && s.write_all(&[*c]).is_err() {
                        break;
                    }
                    match s.read(&mut buf) {
                        Ok(_) => break, // answered (408) or closed
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => break,
                    }
                    if started.elapsed() > Duration::from_secs(15) {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                started.elapsed()
            })
        })
        .collect();
    // Scans go on while they hold every connection slot.
    let t = Instant::now();
    b.scan("during.png");
    assert!(t.elapsed() < Duration::from_secs(10));
    for h in slow {
        let held = h.join().unwrap();
        assert!(
            held < limits.deadline + Duration::from_secs(2),
            "a slow client held its connection {held:?} (deadline {:?})",
            limits.deadline
        );
    }
    // And the page answers again once they are gone.
    assert!(wait_for(Duration::from_secs(5), || b
        .get("/api/status", "")
        .0
        == 200));
}

#[test]
fn the_vividness_is_written_and_used_from_the_next_scan() {
    let b = WebBox::start(None, Limits::DEFAULT);
    b.scan("before.png");
    let post = |value: &str, origin: &str| {
        let form = format!("value={value}");
        let req = format!(
            "POST /vividness HTTP/1.1\r\nHost: 127.0.0.1\r\n{origin}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        );
        b.raw(req.as_bytes()).0
    };
    assert_eq!(post("1.5", ""), 400);
    assert_eq!(post("0.8", "Origin: http://evil.example\r\n"), 403);
    assert_eq!(post("0.8", "Origin: http://127.0.0.1\r\n"), 303);
    let toml = std::fs::read_to_string(&b.config_path).unwrap();
    assert_eq!(
        BoxConfig::from_toml(&toml).unwrap().model.vividness,
        Some(0.8),
        "{toml}"
    );
    b.scan("after.png");
    let (_, body) = b.get("/api/status", "");
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let recent = json["recent"].as_array().unwrap();
    let v = |name: &str| {
        recent.iter().find(|s| s["output"] == name).unwrap()["vividness"]
            .as_f64()
            .unwrap()
    };
    assert!((v("before.png") - 0.5).abs() < 1e-6);
    assert!((v("after.png") - 0.8).abs() < 1e-6);
    assert!((json["vividness"].as_f64().unwrap() - 0.8).abs() < 1e-6);
    let (status, page) = b.get("/", "");
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    assert!(page.contains("vividness 0.80") && page.contains("vividness 0.50"));
}

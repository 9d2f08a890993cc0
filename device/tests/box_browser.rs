//! The box's web page in a real browser (feature `web`): the box runs with
//! the embedded model and fakes for the camera, the button and the inbox;
//! Debian's headless chromium, driven over W3C WebDriver (chromium-driver),
//! loads the page, sees the thumbnails of the scans just made, sets the
//! vividness through the page's form, and sees the next scan made at the
//! new value. It saves a screenshot at phone size (390x844) in cargo's
//! target tmp folder; with `COLORIZE_UPDATE_SCREENSHOT=1` also as
//! docs/box-web.png.
//!
//! Needs `chromium` and `chromium-driver` (scripts/setup.sh installs them):
//! without them the test fails, it does not skip.

mod box_common;
use box_common::*;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use colorize_device::boxd::config::BoxConfig;
use colorize_device::boxd::monitor::{ModelInfo, Monitor};
use colorize_device::boxd::{self, Hardware, RunMode};
use colorize_device::camera::{FakeFrame, FakeSource, FrameSource, PixelFormat};
use colorize_device::gpio::FakeLine;
use colorize_device::Colorize;
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The phone: an iPhone 12, 13 or 14's viewport, in CSS pixels.
const PHONE: (u32, u32) = (390, 844);
/// Inputs and camera frames, this wide (the model's cost barely depends on
/// it; the thumbnails are 240 px).
const SCAN_W: u32 = 320;
const PHOTOS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/photos");
const SCREENSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/box-web.png");

#[test]
// The ARM test runs happen under qemu-user on the x86_64 host, whose
// chromium the test would drive: once, here, is enough.
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "drives the host's chromium: run on x86_64"
)]
fn page_shows_scans_and_sets_the_vividness_in_chromium() {
    let t0 = Instant::now();
    for (path, package) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")] {
        assert!(
            Path::new(path).is_file(),
            "{path} is missing: this test drives Debian's headless chromium; \
             run scripts/setup.sh (it installs the {package} package)"
        );
    }

    let d = dirs();
    let tmp = d._tmp.path().to_path_buf();
    let mut cfg = config(&d);
    cfg.camera.enabled = true;
    cfg.button.enabled = true;
    cfg.web.enabled = true;
    cfg.web.bind = "127.0.0.1:0".into();
    // The vividness the page sets goes into this file.
    let config_path = tmp.join("box.toml");
    std::fs::write(&config_path, cfg.to_toml()).unwrap();
    let cfg = BoxConfig::load(&config_path).unwrap();

    let model = colorize_device::default_model().unwrap();
    let mut session = model.session().unwrap();
    let old = session
        .vividness()
        .expect("the embedded model has a distribution head (a vividness)");
    let new: f32 = if (old - 0.75).abs() < 0.1 { 0.25 } else { 0.75 };
    let mut monitor = Monitor::new(&cfg, ModelInfo::of(&model), session.vividness());
    let shared = monitor.shared();
    let server = boxd::web::Server::start(&cfg, Some(&config_path), monitor.shared()).unwrap();
    let base = format!("http://{}", server.addr());

    let photos = Photos::load(PHOTOS);
    let staging = tmp.join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    let drop_in = |name: &str, i: usize| {
        // Written beside the inbox and renamed in: the inbox sees it whole.
        let p = staging.join(name);
        photos.gray(i).save(&p).unwrap();
        std::fs::rename(&p, d.inbox.join(name)).unwrap();
    };
    let camera_frame = photos.gray(2);
    let (fw, fh) = (
        camera_frame.width() as usize,
        camera_frame.height() as usize,
    );
    let frame_bytes = camera_frame.into_raw();
    let button = FakeLine::new();
    let hw = Hardware {
        camera: Some(Box::new(move || {
            let frame = FakeFrame::Data {
                bytes: frame_bytes.clone(),
                bytesused: frame_bytes.len(),
            };
            let cam = FakeSource::new(PixelFormat::Grey, fw, fh, fw, vec![frame]).repeating();
            Ok(Box::new(cam) as Box<dyn FrameSource + Send>)
        })),
        button: Some(Box::new(button.input())),
        led: None,
    };
    let stop = AtomicBool::new(false);

    std::thread::scope(|s| {
        let daemon = s.spawn(|| {
            boxd::run_monitored(
                &cfg,
                &mut session,
                hw,
                &stop,
                RunMode::Forever,
                &mut monitor,
            )
        });
        // A failed check below must still end the box, or the scope waits.
        let _stop_box = StopOnDrop(&stop);
        let scans = || shared.snapshot().recent.len();
        let wait_scans = |n: usize, what: &str| {
            let t = Instant::now();
            assert!(
                wait_for(Duration::from_secs(60), || scans() >= n),
                "{what}: the box made {} of {n} scans in 60 s (see its log above)",
                scans()
            );
            eprintln!("{what}: {:.1} s", t.elapsed().as_secs_f64());
        };

        // Two scans through the inbox, then one press of the button.
        drop_in("autumn.jpg", 0);
        drop_in("cups.jpg", 1);
        wait_scans(2, "two inbox scans");
        button.set(true);
        std::thread::sleep(Duration::from_millis(150));
        button.set(false);
        wait_scans(3, "one camera scan");

        let profile = tmp.join("chromium-profile");
        let mut wd = WebDriver::start(&tmp.join("chromedriver.log"));
        wd.new_session(&profile);
        wd.cmd("POST", "/url", json!({ "url": format!("{base}/") }))
            .unwrap();

        // One item per scan, newest first, each thumbnail loaded.
        let expected = thumb_srcs(&shared.snapshot());
        assert_eq!(expected.len(), 3);
        assert_eq!(shared.snapshot().recent[0].source, "camera", "newest first");
        assert_eq!(wd.srcs(), expected, "the page's thumbnails, newest first");
        wd.wait_images_loaded(3);
        let captions = wd.captions();
        assert!(
            captions[0].contains("camera"),
            "the newest is the camera's: {captions:?}"
        );

        // The vividness, through the form as a person would set it.
        let shown = wd
            .script(
                "const r=document.querySelector('form[action=\"/vividness\"] input[type=range][name=value]');\
                 r.value=arguments[0];r.dispatchEvent(new Event('input'));\
                 return document.getElementById('o').textContent;",
                json!([format!("{new}")]),
            )
            .unwrap();
        assert_eq!(shown, json!(format!("{new:.2}")), "the slider's readout");
        // A mark on this document: gone once the form's answer has loaded.
        wd.script("window.beforeSubmit = true", json!([])).unwrap();
        let button_el = wd.find("form[action=\"/vividness\"] button")[0].clone();
        wd.cmd("POST", &format!("/element/{button_el}/click"), json!({}))
            .unwrap();
        let back = wait_until(Duration::from_secs(10), || {
            let fresh = wd
                .script("return window.beforeSubmit === undefined", json!([]))
                .ok()?;
            let url = wd.cmd("GET", "/url", Value::Null).ok()?;
            (fresh == json!(true) && url == json!(format!("{base}/"))).then_some(())
        });
        assert!(
            back.is_some(),
            "the form did not lead back to the page: at {:?}, showing {:?}",
            wd.cmd("GET", "/url", Value::Null),
            wd.script("return document.body.innerText", json!([]))
        );
        assert!(
            wait_for(Duration::from_secs(10), || shared.snapshot().vividness
                == Some(new)),
            "the box did not take vividness {new}: status says {:?}",
            shared.snapshot().vividness
        );
        let toml = std::fs::read_to_string(&config_path).unwrap();
        assert!(
            toml.lines()
                .any(|l| l.trim() == format!("vividness = {new}")),
            "box.toml does not keep vividness = {new}:\n{toml}"
        );
        assert_eq!(
            BoxConfig::load(&config_path).unwrap().model.vividness,
            Some(new),
            "box.toml"
        );

        // One more scan, right after the page loaded: it reloads by itself
        // when the scan lands (its script starts from the counts the page
        // was made with, so even a scan before its first poll counts).
        drop_in("path.jpg", 3);
        wait_scans(4, "the scan after the change");
        let reloaded = wait_until(Duration::from_secs(15), || {
            let n = wd
                .script(
                    "return document.querySelectorAll('li img').length",
                    json!([]),
                )
                .ok()?;
            (n == json!(4)).then_some(())
        });
        assert!(
            reloaded.is_some(),
            "the page did not reload itself to show the 4th scan within 15 s: at {:?}, {:?} thumbnails",
            wd.cmd("GET", "/url", Value::Null),
            wd.script("return document.querySelectorAll('li img').length", json!([]))
        );
        assert_eq!(
            wd.srcs(),
            thumb_srcs(&shared.snapshot()),
            "after the reload"
        );
        wd.wait_images_loaded(4);
        let captions = wd.captions();
        let at = |v: f32| format!("vividness {v:.2}");
        assert!(
            captions[0].contains(&at(new)),
            "the newest scan shows the new vividness {}: {captions:?}",
            at(new)
        );
        for c in &captions[1..] {
            assert!(
                c.contains(&at(old)),
                "earlier scans keep {}: {captions:?}",
                at(old)
            );
        }
        let slider = wd
            .script(
                "return document.querySelector('input[name=value]').value",
                json!([]),
            )
            .unwrap();
        assert_eq!(
            slider,
            json!(format!("{new:.2}")),
            "the slider after reload"
        );

        // The page at phone size.
        let png = base64_decode(
            wd.cmd("GET", "/screenshot", Value::Null)
                .unwrap()
                .as_str()
                .unwrap(),
        );
        let img = image::load_from_memory(&png).expect("the screenshot is a PNG");
        assert_eq!(
            (img.width(), img.height()),
            PHONE,
            "the screenshot is the phone's viewport"
        );
        // Kept for a look (the temp dir goes); the checkout's copy only on demand.
        let keep = Path::new(env!("CARGO_TARGET_TMPDIR")).join("box-web.png");
        std::fs::write(&keep, &png).unwrap();
        eprintln!("screenshot: {}", keep.display());
        if std::env::var_os("COLORIZE_UPDATE_SCREENSHOT").is_some_and(|v| v == "1") {
            std::fs::write(SCREENSHOT, &png).unwrap();
            eprintln!("wrote {SCREENSHOT}");
        }
        drop(wd);

        stop.store(true, Ordering::SeqCst);
        let report = daemon.join().unwrap().unwrap();
        assert_eq!(
            (report.files_done, report.frames_done),
            (3, 1),
            "{report:?}"
        );
    });
    drop(server);
    eprintln!("whole test: {:.1} s", t0.elapsed().as_secs_f64());
}

/// Sets the box's stop flag when dropped (also while a panic unwinds).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The `src` of each thumbnail the page should show, newest first.
fn thumb_srcs(s: &colorize_device::boxd::monitor::Status) -> Vec<String> {
    s.recent
        .iter()
        .map(|r| format!("/thumbs/{}?t={}", r.thumb, r.time))
        .collect()
}

/// The photos the scans are made of: ../shared/data/photos, gray and
/// small, or generated gradients where that folder is missing.
struct Photos(Vec<image::GrayImage>);

impl Photos {
    fn load(dir: &str) -> Self {
        let names = [
            "Autumn-2560x1600.jpg",
            "ColorfulCups-2560x1600.jpg",
            "FallenLeaf-2560x1600.jpg",
            "Path-2560x1600.jpg",
        ];
        let photos: Option<Vec<_>> = names
            .iter()
            .map(|n| image::open(Path::new(dir).join(n)).ok())
            .collect();
        match photos {
            Some(p) => Photos(
                p.into_iter()
                    .map(|img| {
                        let h = img.height() * SCAN_W / img.width();
                        img.resize_exact(SCAN_W, h, image::imageops::FilterType::Triangle)
                            .to_luma8()
                    })
                    .collect(),
            ),
            None => {
                eprintln!("{dir} is missing: scanning generated gradients instead");
                Photos(
                    (0..names.len() as u32)
                        .map(|i| {
                            image::GrayImage::from_fn(SCAN_W, 200, |x, y| {
                                image::Luma([((x + y * (i + 1)) % 256) as u8])
                            })
                        })
                        .collect(),
                )
            }
        }
    }

    fn gray(&self, i: usize) -> image::GrayImage {
        self.0[i].clone()
    }
}

/// Polls `f` until it gives something or `timeout` passes.
fn wait_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A chromedriver process and its session: just the W3C WebDriver
/// commands this test needs, over HTTP/1.1 on std's TcpStream. Dropping it
/// ends the session (and so chromium) and kills chromedriver.
struct WebDriver {
    addr: SocketAddr,
    child: Child,
    log: PathBuf,
    session: Option<String>,
}

/// The key W3C WebDriver names an element by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

impl WebDriver {
    fn start(log: &Path) -> Self {
        // A free port: bound, read and released for chromedriver to take.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).unwrap())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {CHROMEDRIVER}: {e}; run scripts/setup.sh"));
        let wd = WebDriver {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            child,
            log: log.to_path_buf(),
            session: None,
        };
        let ready = wait_until(Duration::from_secs(20), || {
            let status = wd.call("GET", "/status", Value::Null).ok()?;
            status["ready"].as_bool().filter(|r| *r)
        });
        assert!(
            ready.is_some(),
            "chromedriver did not become ready in 20 s:\n{}",
            wd.log_text()
        );
        wd
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn new_session(&mut self, profile: &Path) {
        let (w, h) = PHONE;
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", "--hide-scrollbars",
                    format!("--window-size={w},{h}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
                "mobileEmulation": { "deviceMetrics": {
                    "width": w, "height": h, "pixelRatio": 1.0
                } }
            }
        } } });
        let v = self
            .call("POST", "/session", caps)
            .unwrap_or_else(|e| panic!("chromium did not start: {e}\n{}", self.log_text()));
        let id = v["sessionId"].as_str().expect("a session id").to_string();
        self.session = Some(id);
    }

    /// A command on the session: `path` after `/session/{id}`.
    fn cmd(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        let id = self.session.as_deref().expect("no session");
        self.call(method, &format!("/session/{id}{path}"), body)
    }

    fn script(&self, script: &str, args: Value) -> Result<Value, String> {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": args }),
        )
    }

    /// The ids of the elements matching a CSS selector.
    fn find(&self, css: &str) -> Vec<String> {
        let v = self
            .cmd(
                "POST",
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e[ELEMENT].as_str().unwrap().to_string())
            .collect()
    }

    fn text(&self, element: &str) -> String {
        let v = self
            .cmd("GET", &format!("/element/{element}/text"), Value::Null)
            .unwrap();
        v.as_str().unwrap().to_string()
    }

    /// The thumbnails' `src` attributes, as written (not resolved).
    fn srcs(&self) -> Vec<String> {
        self.find("li img")
            .iter()
            .map(|e| {
                let v = self
                    .cmd("GET", &format!("/element/{e}/attribute/src"), Value::Null)
                    .unwrap();
                v.as_str().unwrap_or_default().to_string()
            })
            .collect()
    }

    /// Each scan's caption, newest first.
    fn captions(&self) -> Vec<String> {
        self.find("li small").iter().map(|e| self.text(e)).collect()
    }

    fn wait_images_loaded(&self, n: usize) {
        let widths = || {
            self.script(
                "return Array.from(document.querySelectorAll('li img'))\
                 .map(i => i.complete ? i.naturalWidth : 0)",
                json!([]),
            )
        };
        let loaded = wait_until(Duration::from_secs(10), || {
            let w = widths().ok()?;
            let w = w.as_array()?;
            (w.len() == n && w.iter().all(|x| x.as_u64().unwrap_or(0) > 0)).then_some(())
        });
        assert!(
            loaded.is_some(),
            "thumbnails not all loaded (natural widths {:?}, {n} expected)",
            widths()
        );
    }

    /// One request (one connection); the response's `value`, or its error.
    fn call(&self, method: &str, path: &str, body: Value) -> Result<Value, String> {
        // Short for the readiness probe, long enough for a page load else.
        let timeout = Duration::from_secs(if path == "/status" { 2 } else { 60 });
        let mut stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(5))
            .map_err(|e| format!("connect: {e}"))?;
        stream.set_read_timeout(Some(timeout)).unwrap();
        let body = if body.is_null() {
            String::new()
        } else {
            body.to_string()
        };
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json; charset=utf-8\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream
            .write_all(req.as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        let (status, body) =
            read_response(&mut stream).map_err(|e| format!("{method} {path}: {e}"))?;
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| format!("{method} {path}: {e}"))?;
        if status == 200 {
            Ok(v["value"].clone())
        } else {
            Err(format!(
                "{method} {path}: {status} {}: {}",
                v["value"]["error"], v["value"]["message"]
            ))
        }
    }
}

/// Reads one HTTP/1.1 response: its status and body. The body ends at its
/// `Content-Length`, at the last chunk, or when the server closes (a
/// server may keep the connection open despite `Connection: close`).
fn read_response(stream: &mut TcpStream) -> Result<(u16, Vec<u8>), String> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 << 10];
    let mut head: Option<(usize, u16, Option<usize>, bool)> = None;
    loop {
        if head.is_none() {
            if let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                let text = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
                let status = text
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad status line in {text:?}"))?;
                let len = text.lines().find_map(|l| {
                    l.strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse().ok())
                });
                let chunked = text.contains("transfer-encoding: chunked");
                head = Some((split + 4, status, len, chunked));
            }
        }
        if let Some((start, status, len, chunked)) = head {
            let body = &raw[start..];
            match (len, chunked) {
                (Some(n), _) if body.len() >= n => return Ok((status, body[..n].to_vec())),
                (_, true) if body.ends_with(b"0\r\n\r\n") => return Ok((status, dechunk(body))),
                _ => {}
            }
        }
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return match head {
                Some((start, status, _, chunked)) => {
                    let body = &raw[start..];
                    Ok((
                        status,
                        if chunked {
                            dechunk(body)
                        } else {
                            body.to_vec()
                        },
                    ))
                }
                None => Err("the connection closed before a response".into()),
            };
        }
        raw.extend_from_slice(&buf[..n]);
    }
}

impl Drop for WebDriver {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            // Ends chromium; a chromedriver killed first would leave it running.
            let _ = self.call("DELETE", &format!("/session/{id}"), Value::Null);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A chunked HTTP/1.1 body, joined.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next()?.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

/// Standard base64 (the screenshot's encoding).
fn base64_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' => continue,
            _ => panic!("not base64: {c:#x}"),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

#[test]
fn base64_decodes() {
    assert_eq!(base64_decode("aGVsbG8gd29ybGQ="), b"hello world");
    assert_eq!(base64_decode("TWFu"), b"Man");
    assert_eq!(base64_decode("TWE="), b"Ma");
}

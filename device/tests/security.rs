//! Issue 8, security: no network listener, and the shipped systemd unit
//! runs the box daemon unprivileged, in the video and gpio groups only,
//! without network access (documented in docs/deploy.md and
//! docs/robustness.md).

mod cli_common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use cli_common::*;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn the_box_unit_is_unprivileged_and_offline() {
    let unit = fs::read_to_string(root().join("deploy/colorize-box.service")).unwrap();
    let values = |key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.trim().strip_prefix(&format!("{key}=")))
            .map(|v| v.trim().to_string())
            .collect()
    };
    for (key, want) in [
        ("User", "colorize"),
        ("Group", "colorize"),
        ("NoNewPrivileges", "yes"),
        ("PrivateNetwork", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("ProtectSystem", "strict"),
        ("ReadWritePaths", "/var/lib/colorize"),
        ("DevicePolicy", "closed"),
    ] {
        assert_eq!(values(key), [want], "{key}= in colorize-box.service");
    }
    // The device groups come with the user (User=): a group named here
    // that the system lacks (gpio, off the Raspberry Pi) fails the start.
    assert!(values("SupplementaryGroups").is_empty());
    assert_eq!(
        values("DeviceAllow"),
        ["char-video4linux rw", "char-gpiochip rw"]
    );
}

/// The web page's drop-in gives back the network and the config folder
/// (for the vividness), nothing else.
#[test]
fn the_web_drop_in_only_opens_the_network() {
    let conf = fs::read_to_string(root().join("deploy/colorize-box-web.conf")).unwrap();
    let settings: Vec<&str> = conf
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    assert_eq!(
        settings,
        [
            "[Service]",
            "PrivateNetwork=no",
            "RestrictAddressFamilies=AF_INET AF_INET6",
            "ReadWritePaths=/etc/colorize"
        ]
    );
}

/// Network code lives in one place: the box's web page (feature `web`,
/// off unless `[web] enabled`; device/tests/box_web.rs attacks it).
#[test]
fn no_network_code_in_the_sources_but_the_web_page() {
    let mut checked = 0;
    let web = root().join("device/src/boxd/web");
    for dir in ["device/src", "shared/src", "io/src"] {
        for entry in walkdir::WalkDir::new(root().join(dir)) {
            let entry = entry.unwrap();
            if entry.path().extension().is_none_or(|e| e != "rs") || entry.path().starts_with(&web)
            {
                continue;
            }
            let src = fs::read_to_string(entry.path()).unwrap();
            for word in [
                "std::net",
                "TcpListener",
                "TcpStream",
                "UdpSocket",
                "UnixListener",
            ] {
                assert!(
                    !src.contains(word),
                    "{}: uses {word}",
                    entry.path().display()
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} source files found");
}

/// The running box daemon holds no socket at all (a listener would be one).
#[test]
fn the_box_daemon_holds_no_socket() {
    let tmp = tempfile::tempdir().unwrap();
    let (inbox, out) = (tmp.path().join("inbox"), tmp.path().join("out"));
    fs::create_dir_all(&inbox).unwrap();
    let cfg = tmp.path().join("box.toml");
    fs::write(
        &cfg,
        format!(
            "[output]\ndir = {:?}\n[inbox]\ndir = {:?}\npoll_ms = 50\n",
            out.display().to_string(),
            inbox.display().to_string()
        ),
    )
    .unwrap();
    image::GrayImage::from_raw(16, 12, gray_pixels(16, 12, 2))
        .unwrap()
        .save(inbox.join("scan.png"))
        .unwrap();
    let mut child = colorize()
        .args(["box", "--config"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Up and working once the scan is colourized.
    let start = Instant::now();
    while !out.join("scan.png").exists() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the daemon exited: {status}");
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the daemon did not process the scan"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let fds: Vec<String> = fs::read_dir(format!("/proc/{}/fd", child.id()))
        .unwrap()
        .filter_map(|e| fs::read_link(e.unwrap().path()).ok())
        .map(|p| p.display().to_string())
        .collect();
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let status = child.wait().unwrap();
    assert!(fds.len() >= 3, "{fds:?}");
    let sockets: Vec<_> = fds.iter().filter(|f| f.starts_with("socket:")).collect();
    assert!(sockets.is_empty(), "the daemon holds sockets: {sockets:?}");
    assert!(
        status.success(),
        "SIGTERM ends the daemon cleanly: {status}"
    );
}

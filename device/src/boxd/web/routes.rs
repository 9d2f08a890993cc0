//! The routes, the login and the one guard every file goes through.
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /api/status` | the status as JSON |
//! | `GET /files/<name>` | an output, from the output folder |
//! | `GET /thumbs/<name>` | a thumbnail |
//! | `POST /vividness` | `value=0..1`: written into box.toml, used from the next scan |
//! | `GET, POST /login` | the token form (only with `[web] token`) |

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use super::http::{form_value, percent_decode, Body, Request, Response};
use super::{page, settings, Site};
use crate::boxd::monitor::plain_name;

const COOKIE: &str = "colorize_token";

/// Answers one request.
pub(super) fn handle(site: &Site, req: &Request) -> Response {
    let path = req.target.split('?').next().unwrap_or("");
    let read = matches!(req.method.as_str(), "GET" | "HEAD");
    let post = req.method == "POST";
    if !read && !post {
        return Response::text(405, "GET, HEAD or POST\n").with("Allow", "GET, HEAD, POST".into());
    }
    if site.token.is_none() && !loopback_host(req.header("host")) {
        // Without a token only this machine may ask, by its own name: a
        // web site whose name was rebound to 127.0.0.1 (DNS rebinding)
        // sends its own name as Host.
        return Response::text(
            403,
            "without [web] token, ask as 127.0.0.1, localhost or [::1]\n",
        );
    }
    if post && !same_origin(req) {
        return Response::text(403, "cross-site form refused\n");
    }
    if path == "/login" {
        return match (post, &site.token) {
            (_, None) => Response::see_other("/"),
            (false, Some(_)) => Response::html(page::login(false)),
            (true, Some(token)) => login(req, token),
        };
    }
    if !authorized(site, req) {
        // A browser opening the page goes to the form; anything else is refused.
        return if read && path == "/" {
            Response::see_other("/login")
        } else {
            Response::text(401, "log in first, or send Authorization: Bearer <token>\n")
                .with("WWW-Authenticate", "Bearer".into())
        };
    }
    match (path, post) {
        ("/", false) => {
            let status = site.shared.snapshot();
            Response::html(page::status_page(&status, site.token.is_some()))
        }
        ("/api/status", false) => {
            let json = serde_json::to_vec_pretty(&site.shared.snapshot()).unwrap_or_default();
            Response::bytes(200, "application/json", json)
        }
        ("/vividness", true) => set_vividness(site, req),
        (p, false) if p.starts_with("/files/") => send_file(
            &site.out_dir,
            &p["/files/".len()..],
            &["png", "jpg", "jpeg", "tif", "tiff"],
        ),
        (p, false) if p.starts_with("/thumbs/") => {
            // The page links each with its scan's time (`?t=`): a new scan
            // under the same name is a new URL, so browsers may keep them.
            send_file(&site.thumbs_dir, &p["/thumbs/".len()..], &["jpg"])
                .with("Cache-Control", "private, max-age=86400".into())
        }
        _ => Response::text(404, "no such page\n"),
    }
}

/// `Host` names this machine's loopback (any port).
fn loopback_host(host: Option<&str>) -> bool {
    let Some(host) = host else { return false };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A form posted from another site (a page the phone has open elsewhere)
/// is refused: browsers send `Origin` with every POST.
fn same_origin(req: &Request) -> bool {
    match (req.header("origin"), req.header("host")) {
        (None, _) => true, // a script (curl): nothing to forge
        (Some(origin), Some(host)) => origin
            .strip_prefix("http://")
            .is_some_and(|o| o.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

/// Whether the request carries the token (cookie or bearer header); always
/// when the config sets none (loopback only: the config refuses a LAN bind
/// without one).
fn authorized(site: &Site, req: &Request) -> bool {
    let Some(token) = &site.token else {
        return true;
    };
    let bearer = req
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    // Every cookie of that name: another service on this host could set
    // one of its own in front of ours.
    let cookies = req
        .headers
        .iter()
        .filter(|(k, _)| k == "cookie")
        .flat_map(|(_, c)| {
            c.split(';')
                .filter_map(|kv| kv.trim().split_once('='))
                .filter(|(k, _)| *k == COOKIE)
                .map(|(_, v)| v)
        });
    bearer
        .into_iter()
        .chain(cookies)
        .any(|given| same_secret(given.as_bytes(), token.as_bytes()))
}

/// Compares in time independent of where the first difference is.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn login(req: &Request, token: &str) -> Response {
    let given = form_value(&req.body, "token").unwrap_or_default();
    if same_secret(given.as_bytes(), token.as_bytes()) {
        // HttpOnly: no script reads it; SameSite=Strict: no other site sends it.
        Response::see_other("/").with(
            "Set-Cookie",
            format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000"),
        )
    } else {
        // Slows guessing down (this client's thread only).
        std::thread::sleep(Duration::from_millis(500));
        let mut r = Response::html(page::login(true));
        r.status = 401;
        r
    }
}

fn set_vividness(site: &Site, req: &Request) -> Response {
    let status = site.shared.snapshot();
    if !status.model.has_vividness {
        return Response::text(
            409,
            "this model predicts a*b* directly: it has no vividness\n",
        );
    }
    let Some(v) = form_value(&req.body, "value").and_then(|v| v.trim().parse::<f32>().ok()) else {
        return Response::text(400, "send value=<0..1>\n");
    };
    if !(0.0..=1.0).contains(&v) {
        return Response::text(400, "vividness must be between 0 and 1\n");
    }
    let v = (v * 100.0).round() / 100.0;
    // Under the lock, so that the file and the running value cannot part.
    let _one_writer = site.config_lock.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = &site.config_path {
        if let Err(e) = settings::write_vividness(path, v) {
            // Used anyway, until the box restarts; the page says why it
            // did not last.
            let msg = format!("vividness {v} is used until the box restarts: {e:#}");
            eprintln!("colorize box: web: {msg}");
            site.shared.error(&msg, false);
        }
    }
    site.shared.request_vividness(v);
    Response::see_other("/")
}

/// `raw` (from the URL) as a plain file name in `dir`, opened: refused
/// unless, decoded once, it is one path component that is not hidden,
/// has one of `exts`, and is a regular file (not a link) there. Every
/// traversal form ends here: `..`, `/` or `\` in any encoding, a NUL, an
/// absolute path, an overlong UTF-8 dot, a symlink out of the folder.
pub(super) fn open_in(dir: &Path, raw: &str, exts: &[&str]) -> Option<(File, u64, String)> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = percent_decode(raw, false)?;
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    if !plain_name(&name) || !ext.as_ref().is_some_and(|e| exts.contains(&e.as_str())) {
        return None;
    }
    // O_NOFOLLOW: a link in the folder is refused, not followed (the name
    // has no other component to follow).
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(dir.join(&name))
        .ok()?;
    let meta = file.metadata().ok()?;
    meta.is_file()
        .then_some((file, meta.len(), ext.unwrap_or_default()))
}

fn send_file(dir: &Path, raw: &str, exts: &[&str]) -> Response {
    let Some((file, len, ext)) = open_in(dir, raw, exts) else {
        return Response::text(404, "no such file\n");
    };
    let content_type = match ext.as_str() {
        "png" => "image/png",
        "tif" | "tiff" => "image/tiff",
        _ => "image/jpeg",
    };
    Response {
        status: 200,
        content_type,
        headers: Vec::new(),
        body: Body::File(file, len),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abcdefghijklmnop", b"abcdefghijklmnop"));
        assert!(!same_secret(b"abcdefghijklmnoq", b"abcdefghijklmnop"));
        assert!(!same_secret(b"abc", b"abcdefghijklmnop"));
    }

    #[test]
    fn loopback_hosts_are_this_machine() {
        for h in [
            "127.0.0.1:8080",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "127.0.0.2",
        ] {
            assert!(loopback_host(Some(h)), "{h}");
        }
        for h in [
            "evil.example:8080",
            "192.168.1.5:8080",
            "[::2]:80",
            "127.0.0.1.evil.example",
            "",
        ] {
            assert!(!loopback_host(Some(h)), "{h}");
        }
        assert!(!loopback_host(None));
    }

    #[test]
    fn only_plain_names_with_known_extensions_open() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("scan 1.png"), b"x").unwrap();
        std::fs::write(dir.path().join(".hidden.png"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        let ok = |raw: &str| open_in(dir.path(), raw, &["png"]).is_some();
        assert!(ok("scan%201.png"));
        assert!(!ok(".hidden.png"));
        assert!(!ok("notes.txt"));
        assert!(!ok("missing.png"));
    }
}

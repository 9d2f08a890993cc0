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

const COOKIE: &str = "colorize_token";

/// Answers one request.
pub(super) fn handle(site: &Site, req: &Request) -> Response {
    let path = req.target.split('?').next().unwrap_or("");
    let read = matches!(req.method.as_str(), "GET" | "HEAD");
    let post = req.method == "POST";
    if !read && !post {
        return Response::text(405, "GET, HEAD or POST\n").with("Allow", "GET, HEAD, POST".into());
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
            send_file(&site.thumbs_dir, &p["/thumbs/".len()..], &["jpg"])
        }
        _ => Response::text(404, "no such page\n"),
    }
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
    let cookie = req.header("cookie").and_then(|c| {
        c.split(';')
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v)
    });
    [bearer, cookie]
        .into_iter()
        .flatten()
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
    if let Some(path) = &site.config_path {
        let _one_writer = site.config_lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = settings::write_vividness(path, v) {
            eprintln!("colorize box: web: {e:#}");
            return Response::text(500, &format!("{e:#}\n"));
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
pub(super) fn open_in(dir: &Path, raw: &str, exts: &[&str]) -> Option<(File, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = percent_decode(raw, false)?;
    let plain = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with('.')
        && !name.contains(['/', '\\'])
        && !name.chars().any(char::is_control);
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    if !plain || !ext.is_some_and(|e| exts.contains(&e.as_str())) {
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
    meta.is_file().then_some((file, meta.len()))
}

fn send_file(dir: &Path, raw: &str, exts: &[&str]) -> Response {
    let Some((file, len)) = open_in(dir, raw, exts) else {
        return Response::text(404, "no such file\n");
    };
    let ext = raw.rsplit('.').next().unwrap_or("").to_ascii_lowercase();
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

//! The page itself: plain HTML and CSS sized for a phone, a few lines of
//! script that poll `/api/status` and reload when a scan lands. Nothing is
//! fetched from elsewhere: the box is offline.

use std::fmt::Write as _;

use super::http::percent_encode;
use crate::boxd::monitor::Status;

const STYLE: &str = "
:root{color-scheme:light dark;font-family:system-ui,sans-serif}
body{margin:0 auto;max-width:40rem;padding:.75rem}
h1{font-size:1.3rem;margin:.2rem 0 .6rem}
dl{display:grid;grid-template-columns:auto 1fr;gap:.2rem .8rem;margin:0 0 1rem}
dt{opacity:.7}dd{margin:0;font-variant-numeric:tabular-nums}
.err{color:#c33}
form{margin:0 0 1rem;display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
input[type=range]{flex:1;min-width:8rem}
button{font-size:1rem;padding:.4rem .9rem}
ul{list-style:none;padding:0;margin:0}
li{margin:0 0 .9rem}
li img{width:100%;height:auto;display:block;border-radius:4px;background:#888}
li small{opacity:.75}
.viv{white-space:nowrap}
";

/// What the script does: every 3 s, fetch the status; put each value in
/// the element with its `data-k`; reload when a scan was done or failed
/// since the page was made (`SEEN`: its counts then, filled in by
/// [`status_page`], so a scan that lands before the first poll counts too).
const SCRIPT: &str = "
const seen={n:'SEEN'};setInterval(async()=>{try{const s=await(await fetch('/api/status')).json();
for(const e of document.querySelectorAll('[data-k]'))e.textContent=show(e.dataset.k,s[e.dataset.k]);
const n=s.scans_total+'/'+s.failed_total;if(seen.n!==n)location.reload();}catch(e){}},3000);
function show(k,v){if(v===null||v===undefined)return'—';if(k==='free_disk_bytes')return(v/1073741824).toFixed(2)+' GiB';
if(k==='uptime_s')return Math.floor(v/3600)+' h '+Math.floor(v%3600/60)+' min';return String(v);}
";

/// `s` safe inside HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn head(title: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    )
}

fn gib(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// `t` in the box's local time, with its offset.
fn local(t: u64) -> String {
    civil(t, crate::boxd::monitor::utc_offset(t))
}

/// `t` shifted by `offset` seconds as a civil date and time, labelled
/// with the offset.
fn civil(t: u64, offset: i64) -> String {
    let shifted = t as i64 + offset;
    let (days, secs) = (shifted.div_euclid(86_400), shifted.rem_euclid(86_400));
    let (y, m, d) = colorize_io::xmp::civil_date(days);
    let zone = if offset == 0 {
        "UTC".to_string()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        format!(
            "UTC{sign}{:02}:{:02}",
            offset.abs() / 3600,
            offset.abs() % 3600 / 60
        )
    };
    format!(
        "{y}-{m:02}-{d:02} {:02}:{:02} {zone}",
        secs / 3600,
        secs % 3600 / 60
    )
}

/// The status page.
pub fn status_page(s: &Status, logged_in: bool) -> String {
    let mut h = head("colorize box");
    let _ = write!(h, "<h1>colorize box</h1><dl>");
    // `key`: the /api/status field the script keeps this value fresh from.
    let row = |h: &mut String, label: &str, key: &str, value: String| {
        let live = if key.is_empty() {
            String::new()
        } else {
            format!(" data-k={key}")
        };
        let _ = write!(
            h,
            "<dt>{}</dt><dd{live}>{}</dd>",
            escape(label),
            escape(&value)
        );
    };
    row(&mut h, "model", "", s.model.id.clone());
    for (k, v) in &s.model.card {
        row(&mut h, k, "", v.clone());
    }
    row(
        &mut h,
        "scans today",
        "scans_today",
        s.scans_today.to_string(),
    );
    row(
        &mut h,
        "failed today",
        "failed_today",
        s.failed_today.to_string(),
    );
    row(&mut h, "waiting", "queue", s.queue.to_string());
    row(
        &mut h,
        "free disk",
        "free_disk_bytes",
        s.free_disk_bytes.map(gib).unwrap_or_else(|| "—".into()),
    );
    row(&mut h, "camera", "camera", s.camera.into());
    row(&mut h, "button", "button", s.button.into());
    row(
        &mut h,
        "up",
        "uptime_s",
        format!("{} h {} min", s.uptime_s / 3600, s.uptime_s % 3600 / 60),
    );
    if let Some(e) = &s.last_error {
        let when = s.last_error_time.map(local).unwrap_or_default();
        let _ = write!(
            h,
            "<dt>last error</dt><dd class=err data-k=last_error>{}</dd><dt></dt><dd><small>{}</small></dd>",
            escape(e),
            escape(&when)
        );
    }
    if s.disk_low {
        let _ = write!(
            h,
            "<dt></dt><dd class=err>disk under its reserve: scanning paused</dd>"
        );
    }
    h.push_str("</dl>");

    if s.model.has_vividness {
        let v = s.vividness.unwrap_or(0.0);
        let _ = write!(
            h,
            "<form method=post action=/vividness><label for=v>vividness</label>\
             <input id=v type=range name=value min=0 max=1 step=0.05 value={v:.2} \
             oninput=\"o.value=(+this.value).toFixed(2)\">\
             <output id=o>{v:.2}</output><button>Set</button></form>"
        );
    }

    let _ = write!(h, "<h2>Last {} scans</h2><ul>", s.recent.len());
    for scan in &s.recent {
        let file = percent_encode(&scan.output);
        let thumb = percent_encode(&scan.thumb);
        let name = escape(&scan.output);
        let _ = write!(
            h,
            "<li><a href=\"/files/{file}\" download><img src=\"/thumbs/{thumb}?t={}\" \
             alt=\"{name}: gray and colourized\" loading=lazy></a>\
             <small>{name} · {} · {}",
            scan.time,
            escape(&scan.source),
            local(scan.time)
        );
        if let Some(v) = scan.vividness {
            let _ = write!(h, " · <span class=viv>vividness {v:.2}</span>");
        }
        h.push_str("</small></li>");
    }
    if s.recent.is_empty() {
        h.push_str("<li><small>No scan yet.</small></li>");
    }
    h.push_str("</ul>");
    if logged_in {
        h.push_str("<p><small>Logged in with the box's token.</small></p>");
    }
    let seen = format!("{}/{}", s.scans_total, s.failed_total);
    let _ = write!(
        h,
        "<script>{}</script></body></html>",
        SCRIPT.replace("SEEN", &seen)
    );
    h
}

/// The token form.
pub fn login(wrong: bool) -> String {
    let mut h = head("colorize box: log in");
    h.push_str("<h1>colorize box</h1>");
    if wrong {
        h.push_str("<p class=err>Wrong token.</p>");
    }
    h.push_str(
        "<form method=post action=/login><label for=t>token</label>\
         <input id=t name=token type=password autocomplete=current-password required>\
         <button>Log in</button></form>\
         <p><small>The token is <code>[web] token</code> in the box's box.toml.</small></p></body></html>",
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boxd::monitor::Scan;

    #[test]
    fn names_are_escaped_in_text_and_encoded_in_links() {
        let mut s = Status::default();
        s.recent.push_front(Scan {
            output: "<img src=x onerror=alert(1)>.png".into(),
            thumb: "<img src=x onerror=alert(1)>.png.jpg".into(),
            time: 0,
            source: "inbox".into(),
            vividness: Some(0.4),
        });
        let html = status_page(&s, false);
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;.png"));
        assert!(html.contains("/files/%3Cimg%20src%3Dx"));
        assert!(html.contains("vividness 0.40"));
    }

    #[test]
    fn dates_are_civil_with_their_offset() {
        assert_eq!(civil(0, 0), "1970-01-01 00:00 UTC");
        let t = 1_796_342_400 + 3 * 3600 + 5 * 60; // 2026-12-04 03:05 UTC
        assert_eq!(civil(t, 0), "2026-12-04 03:05 UTC");
        assert_eq!(civil(t, 3600), "2026-12-04 04:05 UTC+01:00");
        assert_eq!(civil(t, -5 * 3600), "2026-12-03 22:05 UTC-05:00");
    }

    #[test]
    fn the_script_knows_the_counts_the_page_was_made_with() {
        let mut s = Status::default();
        s.scans_total = 4;
        s.failed_total = 1;
        assert!(status_page(&s, false).contains("const seen={n:'4/1'}"));
    }
}

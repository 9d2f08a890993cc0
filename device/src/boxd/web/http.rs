//! One HTTP/1.1 request per connection, read within fixed bounds: the head's
//! size, its header count, the body's size and one deadline for all of it.
//! A client that sends slowly (slowloris) or too much is cut off at the
//! bound; its thread ends, and the scanner never waited on it anyway.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The bounds a request must fit.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Request line and headers, in bytes.
    pub max_head: usize,
    /// The body (only the login and vividness forms have one).
    pub max_body: usize,
    /// From the connection's first byte to the request's last.
    pub deadline: Duration,
    /// A response write that makes no progress for this long ends the
    /// connection (a client that stopped reading).
    pub write_stall: Duration,
    /// Connections served at once; more are answered 503 and closed.
    pub max_clients: usize,
    /// Of those, from one address (a browser opens about 6).
    pub max_per_client: usize,
}

impl Limits {
    pub const DEFAULT: Limits = Limits {
        max_head: 8 * 1024,
        max_body: 4 * 1024,
        deadline: Duration::from_secs(5),
        write_stall: Duration::from_secs(10),
        max_clients: 16,
        max_per_client: 6,
    };
}

/// Most headers in a request (a browser sends about 15).
pub const MAX_HEADERS: usize = 32;

/// A request that fit the bounds.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The request target as sent (path and query, still percent-encoded).
    pub target: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request came: each is answered with its status, then closed.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// 400
    Malformed,
    /// 408: the deadline passed first.
    Timeout,
    /// 413
    BodyTooLarge,
    /// 431: head over `max_head`, or more than [`MAX_HEADERS`] headers.
    HeadTooLarge,
    /// The client went away: nothing to answer.
    Closed,
}

impl ReadError {
    pub fn status(&self) -> Option<u16> {
        match self {
            ReadError::Malformed => Some(400),
            ReadError::Timeout => Some(408),
            ReadError::BodyTooLarge => Some(413),
            ReadError::HeadTooLarge => Some(431),
            ReadError::Closed => None,
        }
    }
}

/// Reads one request from `stream` within `limits`.
pub fn read_request(stream: &mut TcpStream, limits: &Limits) -> Result<Request, ReadError> {
    let deadline = Instant::now() + limits.deadline;
    let mut buf = vec![0u8; limits.max_head];
    let mut len = 0;
    let (head_len, mut request) = loop {
        if len == buf.len() {
            return Err(ReadError::HeadTooLarge);
        }
        len += read_some(stream, &mut buf[len..], deadline)?;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..len]) {
            Ok(httparse::Status::Complete(n)) => {
                let request = Request {
                    method: req.method.unwrap_or_default().to_string(),
                    target: req.path.unwrap_or_default().to_string(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect(),
                    body: Vec::new(),
                };
                break (n, request);
            }
            Ok(httparse::Status::Partial) => continue,
            Err(httparse::Error::TooManyHeaders) => return Err(ReadError::HeadTooLarge),
            Err(_) => return Err(ReadError::Malformed),
        }
    };
    if request.header("transfer-encoding").is_some() {
        return Err(ReadError::Malformed); // no chunked bodies: the forms are tiny
    }
    let body_len = match request.header("content-length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| ReadError::Malformed)?,
    };
    if body_len > limits.max_body {
        return Err(ReadError::BodyTooLarge);
    }
    let mut body = buf[head_len..len].to_vec();
    body.truncate(body_len);
    while body.len() < body_len {
        let mut chunk = [0u8; 1024];
        let want = (body_len - body.len()).min(chunk.len());
        let n = read_some(stream, &mut chunk[..want], deadline)?;
        body.extend_from_slice(&chunk[..n]);
    }
    request.body = body;
    Ok(request)
}

/// One read that ends by the deadline; at least one byte, or an error.
fn read_some(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<usize, ReadError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(ReadError::Timeout);
    }
    stream
        .set_read_timeout(Some(left))
        .map_err(|_| ReadError::Closed)?;
    match stream.read(buf) {
        Ok(0) => Err(ReadError::Closed),
        Ok(n) => Ok(n),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(ReadError::Timeout)
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
        Err(_) => Err(ReadError::Closed),
    }
}

/// A response's body.
pub enum Body {
    Bytes(Vec<u8>),
    /// A file and its length, streamed.
    File(File, u64),
}

/// A response: status, content type, extra headers, body.
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Response {
    pub fn bytes(status: u16, content_type: &'static str, body: Vec<u8>) -> Self {
        Response {
            status,
            content_type,
            headers: Vec::new(),
            body: Body::Bytes(body),
        }
    }

    pub fn text(status: u16, body: &str) -> Self {
        Self::bytes(
            status,
            "text/plain; charset=utf-8",
            body.as_bytes().to_vec(),
        )
    }

    pub fn html(body: String) -> Self {
        Self::bytes(200, "text/html; charset=utf-8", body.into_bytes())
    }

    /// 303 to `location` (after a form).
    pub fn see_other(location: &str) -> Self {
        let mut r = Self::text(303, "");
        r.headers.push(("Location", location.to_string()));
        r
    }

    pub fn with(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Writes `response` (headers only for HEAD) and closes: one request per
/// connection keeps every bound per connection.
pub fn write_response(
    stream: &mut TcpStream,
    response: Response,
    head_only: bool,
    limits: &Limits,
) -> io::Result<()> {
    stream.set_write_timeout(Some(limits.write_stall))?;
    let len = match &response.body {
        Body::Bytes(b) => b.len() as u64,
        Body::File(_, n) => *n,
    };
    // Referrer-Policy same-origin, not no-referrer: under no-referrer a
    // browser sends `Origin: null` with the page's own form posts, which the
    // cross-site guard (routes.rs) must refuse; same-origin still sends no
    // referrer to other sites.
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {len}\r\n\
         Connection: close\r\nX-Content-Type-Options: nosniff\r\n\
         Referrer-Policy: same-origin\r\nX-Frame-Options: DENY\r\n",
        response.status,
        reason(response.status),
        response.content_type,
    );
    if !response
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("cache-control"))
    {
        head.push_str("Cache-Control: no-store\r\n");
    }
    for (k, v) in &response.headers {
        // Values are ours (never a client's bytes), but a CR/LF must not split a header.
        let v: String = v.chars().filter(|c| !c.is_control()).collect();
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    if !head_only {
        match response.body {
            Body::Bytes(b) => stream.write_all(&b)?,
            Body::File(mut f, n) => {
                // A reader that trickles (each write progressing, so never
                // stalled) still ends: the whole file gets at least
                // 64 KiB/s, plus the request deadline.
                let budget = limits.deadline + Duration::from_secs(n / (64 * 1024));
                let end = Instant::now() + budget;
                let mut chunk = vec![0u8; 64 * 1024];
                let mut left = n;
                while left > 0 {
                    if Instant::now() > end {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "download too slow"));
                    }
                    let want = chunk.len().min(left as usize);
                    f.read_exact(&mut chunk[..want])?;
                    stream.write_all(&chunk[..want])?;
                    left -= want as u64;
                }
            }
        }
    }
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// `%XX` decoded once (`+` too, as a space, when `form`); `None` for a
/// broken escape or bytes that are not UTF-8 (an overlong `%c0%ae` dot, say).
pub fn percent_decode(s: &str, form: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if form => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// `name=value&...` of a form body, decoded.
pub fn form_value(body: &[u8], name: &str) -> Option<String> {
    let body = std::str::from_utf8(body).ok()?;
    body.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (percent_decode(k, true)? == name).then(|| percent_decode(v, true))?
    })
}

/// `s` percent-encoded for a URL path segment.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_once_and_refuses_broken_or_non_utf8_escapes() {
        assert_eq!(percent_decode("a%20b+c", false).unwrap(), "a b+c");
        assert_eq!(percent_decode("a%20b+c", true).unwrap(), "a b c");
        assert_eq!(percent_decode("%252e", false).unwrap(), "%2e");
        assert_eq!(percent_decode("%2", false), None);
        assert_eq!(percent_decode("%zz", false), None);
        assert_eq!(percent_decode("%c0%ae", false), None);
        assert_eq!(
            percent_decode(&percent_encode("scan 1/ü.png"), false).unwrap(),
            "scan 1/ü.png"
        );
    }

    #[test]
    fn reads_form_values() {
        assert_eq!(
            form_value(b"a=1&value=0.35", "value").as_deref(),
            Some("0.35")
        );
        assert_eq!(
            form_value(b"token=a%2Bb+c", "token").as_deref(),
            Some("a+b c")
        );
        assert_eq!(form_value(b"x=1", "value"), None);
    }
}

//! The box's web page for a phone (`[web]` in box.toml, feature `web`): a
//! status page, the last scans as gray | colour thumbnails linking to their
//! outputs, the vividness setting and `/api/status` for scripts.
//!
//! Built on `httparse` (hyper's request parser) over std's `TcpListener`
//! rather than a framework: the box needs a handful of routes, every bound
//! below is ours to set, and it adds tens of kilobytes to the binary, not
//! megabytes (docs/deploy.md, "The web page").
//!
//! It never blocks the colourizer: it runs on its own threads and reads
//! the [`Shared`] status by copy. One request per connection; each one is
//! bounded in size and time ([`Limits`]); at most [`Limits::max_clients`]
//! are served at once, [`Limits::max_per_client`] from one address (more
//! get 503). The only thing it writes is the vividness, into box.toml.

mod http;
mod page;
mod routes;
mod settings;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result};

use super::config::BoxConfig;
use super::monitor::{Shared, THUMBS_DIR};
pub use http::Limits;

/// What every request handler needs.
struct Site {
    shared: Arc<Shared>,
    out_dir: PathBuf,
    thumbs_dir: PathBuf,
    token: Option<String>,
    /// box.toml, where the vividness is written (`None`: not written, the
    /// change lasts until the box restarts).
    config_path: Option<PathBuf>,
    /// One vividness write at a time.
    config_lock: Mutex<()>,
    limits: Limits,
}

/// The running server; dropping it stops it.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `[web] bind` and serves on a thread of its own.
    pub fn start(cfg: &BoxConfig, config_path: Option<&Path>, shared: Arc<Shared>) -> Result<Self> {
        Self::start_with(cfg, config_path, shared, Limits::DEFAULT)
    }

    /// [`Server::start`] with other bounds (tests shorten the deadline).
    pub fn start_with(
        cfg: &BoxConfig,
        config_path: Option<&Path>,
        shared: Arc<Shared>,
        limits: Limits,
    ) -> Result<Self> {
        let addr = cfg.web.addr()?;
        let listener = TcpListener::bind(addr).with_context(|| {
            format!("[web] cannot listen on {addr} (in use? a port under 1024 needs privileges)")
        })?;
        let addr = listener.local_addr()?;
        let site = Arc::new(Site {
            shared,
            out_dir: cfg.output.dir.clone(),
            thumbs_dir: cfg.output.dir.join(THUMBS_DIR),
            token: cfg.web.token.clone(),
            config_path: config_path.map(Path::to_path_buf),
            config_lock: Mutex::new(()),
            limits,
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("web".into())
                .spawn(move || accept_loop(listener, site, &stop))
                .context("cannot start the web thread")?
        };
        eprintln!("colorize box: web page on http://{addr}/");
        Ok(Server {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// Where it listens (the port chosen when `bind` said 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept loop blocks in accept(): one connection wakes it to see
        // the flag. Should that fail, the thread is left to the process's end.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
                SocketAddr::V6(_) => IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            });
        }
        if TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }
}

/// Connections being served, in all and per address; a [`Slot`] holds one.
#[derive(Default)]
struct Clients {
    by_ip: Mutex<HashMap<IpAddr, usize>>,
    total: AtomicUsize,
}

/// One connection's place in [`Clients`], given back when dropped (also
/// when its thread unwinds).
struct Slot {
    clients: Arc<Clients>,
    ip: IpAddr,
}

impl Clients {
    /// A place for a connection from `ip`, if the limits leave one.
    fn take(self: &Arc<Self>, ip: IpAddr, limits: &Limits) -> Option<Slot> {
        let mut by_ip = self.by_ip.lock().unwrap_or_else(|e| e.into_inner());
        let mine = by_ip.entry(ip).or_insert(0);
        if *mine >= limits.max_per_client || self.total.load(Ordering::SeqCst) >= limits.max_clients
        {
            return None;
        }
        *mine += 1;
        self.total.fetch_add(1, Ordering::SeqCst);
        Some(Slot {
            clients: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by_ip = self.clients.by_ip.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = by_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&self.ip);
            }
        }
        self.clients.total.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Serves at a lower priority than the colourizer
/// ([`super::monitor::lower_priority`]): under load the scans get the CPU
/// first, so a client hammering the page slows its own answers, not the
/// scans (BENCHMARKS.md, "The box's web page under load").
fn accept_loop(listener: TcpListener, site: Arc<Site>, stop: &AtomicBool) {
    super::monitor::lower_priority(); // the client threads inherit it
    let clients = Arc::new(Clients::default());
    while !stop.load(Ordering::SeqCst) {
        let (stream, peer) = match listener.accept() {
            Ok(s) => s,
            Err(e) => {
                // Out of file descriptors, say: wait rather than spin.
                eprintln!("colorize box: web: accept: {e}");
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        if stop.load(Ordering::SeqCst) {
            break; // the wake-up from Server::drop
        }
        let Some(slot) = clients.take(peer.ip(), &site.limits) else {
            busy(stream);
            continue;
        };
        let site = site.clone();
        // A failed spawn drops the closure, and the slot with it.
        let _ = std::thread::Builder::new()
            .name("web-client".into())
            .spawn(move || {
                let _slot = slot;
                serve(stream, &site);
            });
    }
}

/// 503 to a connection over the limits, without waiting on it (short
/// timeouts); what it sent is read first where it is already there, so the
/// close does not turn the answer into a reset.
fn busy(mut stream: TcpStream) {
    use std::io::{Read, Write};
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = stream.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n\r\n",
    );
    let _ = stream.shutdown(std::net::Shutdown::Write);
    if stream.set_nonblocking(true).is_ok() {
        let mut sink = [0u8; 4096];
        let _ = stream.read(&mut sink);
    }
}

fn serve(mut stream: TcpStream, site: &Site) {
    let limits = site.limits;
    let (response, head_only) = match http::read_request(&mut stream, &limits) {
        Ok(req) => (routes::handle(site, &req), req.method == "HEAD"),
        Err(e) => match e.status() {
            Some(status) => (http::Response::text(status, "request refused\n"), false),
            None => return,
        },
    };
    let _ = http::write_response(&mut stream, response, head_only, &limits);
}

//! A fault-injection TCP proxy on loopback between Kafka clients and ONE broker.
//!
//! Clients connect to the brokers that Metadata (and FindCoordinator) responses advertise, so
//! the proxy rewrites, in every broker→client byte stream, the advertised endpoint: the host
//! bytes `127.0.0.1` immediately followed by the big-endian int32 upstream port become the same
//! host bytes followed by the proxy's port. Same length, so no frame changes size; it works for
//! classic and compact strings alike (the length prefix precedes the host bytes).
//!
//! [`Proxy::corrupt_after`] switches on a corruption rule: from then on, wherever `pattern`
//! occurs in broker→client data, its first byte is flipped (XOR 0xFF). A pattern inside a
//! record value thus breaks that record batch's CRC. [`Proxy::clear_faults`] switches it off.
//!
//! [`Proxy::stall_all`] makes the broker go silent without closing anything (nothing is
//! forwarded, new connections are held unconnected) until [`Proxy::resume`];
//! [`Proxy::drop_all`] closes every open connection at once. [`Proxy::hang_up_all`] plays a
//! broker that is down behind a proxy or load balancer (or starting, or stopping): every open
//! connection is closed and new ones are accepted and closed at once, before any byte, until
//! [`Proxy::answer_again`].
//!
//! [`Proxy::delay_responses`] makes the broker slow: every broker→client byte is forwarded a
//! fixed time after the proxy read it, so each response frame reaches the client that much
//! later. The delay is not cumulative (a frame that arrives while an earlier one is held waits
//! only its own delay, counted from its own arrival) and frames keep their order.
//! [`Proxy::cut_next_responses`] truncates the next `n` response frames (across all
//! connections): about half of each such frame is forwarded (always its size prefix and some
//! body bytes, never all of it), then both sides of its connection are closed.
//! [`Proxy::clear_faults`] switches off corruption, delay and pending cuts.
//!
//! [`Proxy::hold_requests`] holds every client→broker request frame of one API (say
//! OffsetCommit) where it is, and with it the rest of its connection, until
//! [`Proxy::release_requests`]: a coordinator that takes its time over one kind of request.
//! The client→broker stream is forwarded frame by frame for this.
//!
//! Matching works across TCP read boundaries: the proxy follows the Kafka framing (4-byte size
//! prefix) of the broker→client stream and, inside a frame, holds back the last
//! `longest pattern − 1` bytes until more of the frame arrives; the end of a frame is always
//! forwarded at once, so a complete response is never held back.
//!
//! Each connection has three threads: client→broker, a broker→client reader (framing, rules,
//! cuts) and a broker→client writer (delay, stall) fed through a queue of at most
//! [`QUEUE_CHUNKS`] read chunks; a full queue back-pressures the broker.
//!
//! Everything is bounded: at most [`MAX_CONNECTIONS`] connections over the proxy's life (more
//! are closed at once), fixed-size read buffers and queues, delays of at most [`MAX_DELAY`], a
//! 5 s upstream connect timeout. Dropping the proxy closes the listener and every connection.

use std::{
    io::{ErrorKind, Read, Write},
    net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering},
        mpsc::{Receiver, SyncSender, sync_channel},
    },
    thread::{self, JoinHandle},
    time::{Duration, Instant},
};

/// Connections accepted over a proxy's whole life; later ones are closed immediately.
pub const MAX_CONNECTIONS: u64 = 256;

/// The longest delay [`Proxy::delay_responses`] accepts.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// Read chunks queued per connection between the broker→client reader and writer.
pub const QUEUE_CHUNKS: usize = 64;

/// The host bytes of advertised endpoints that get their port rewritten.
const ADVERTISED_HOST: &[u8] = b"127.0.0.1";

const READ_BUFFER: usize = 64 * 1024;

/// The largest client→broker frame taken for a Kafka request; a larger size prefix means the
/// stream is not Kafka framing (e.g. TLS) and is forwarded as read.
const MAX_REQUEST: usize = 64 * 1024 * 1024;

/// Counters of what went through a [`Proxy`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Client connections accepted and connected upstream.
    pub connections: u64,
    /// Connections refused because [`MAX_CONNECTIONS`] was reached.
    pub rejected: u64,
    /// Bytes forwarded client→broker.
    pub bytes_to_broker: u64,
    /// Bytes forwarded broker→client.
    pub bytes_to_client: u64,
    /// Advertised endpoints rewritten to the proxy's port.
    pub endpoint_rewrites: u64,
    /// Occurrences of the corruption pattern that were flipped.
    pub corruptions: u64,
    /// Response frames whose end was held back by [`Proxy::delay_responses`].
    pub delayed: u64,
    /// Response frames cut off by [`Proxy::cut_next_responses`] (their connection closed).
    pub cuts: u64,
    /// Connections closed at once: by [`Proxy::hang_up_all`], or because the broker did not
    /// accept the proxy's connection.
    pub hung_up: u64,
    /// Request frames held by [`Proxy::hold_requests`] (counted when the hold starts).
    pub held: u64,
}

#[derive(Default)]
struct Counters {
    connections: AtomicU64,
    rejected: AtomicU64,
    bytes_to_broker: AtomicU64,
    bytes_to_client: AtomicU64,
    endpoint_rewrites: AtomicU64,
    corruptions: AtomicU64,
    delayed: AtomicU64,
    cuts: AtomicU64,
    hung_up: AtomicU64,
    held: AtomicU64,
}

struct Shared {
    upstream: SocketAddr,
    /// `127.0.0.1` + upstream port, and its replacement `127.0.0.1` + proxy port.
    endpoint_from: Vec<u8>,
    endpoint_to: Vec<u8>,
    /// More (from, to) endpoint rewrites, for proxies in front of the other brokers of a
    /// cluster (see [`Proxy::also_rewrite`]).
    more_rewrites: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
    corrupt: Mutex<Option<Vec<u8>>>,
    stop: AtomicBool,
    /// While set, nothing is forwarded in either direction and new connections are held
    /// without being connected upstream (see [`Proxy::stall_all`]).
    stalled: AtomicBool,
    /// While set, new connections are accepted and closed at once (see
    /// [`Proxy::hang_up_all`]).
    hanging_up: AtomicBool,
    /// Delay of broker→client data in nanoseconds (0: none); see [`Proxy::delay_responses`].
    delay_nanos: AtomicU64,
    /// Response frames still to be cut; see [`Proxy::cut_next_responses`].
    cuts_pending: AtomicU32,
    /// The API key whose request frames are held (−1: none); see [`Proxy::hold_requests`].
    hold_api: AtomicI32,
    counters: Counters,
    /// Clones of every socket, to shut them all down on drop.
    sockets: Mutex<Vec<TcpStream>>,
}

/// A running proxy; see the module documentation.
pub struct Proxy {
    address: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy on an ephemeral loopback port in front of `upstream` (`host:port` of one
    /// broker; the first entry if a comma-separated list is given).
    pub fn start(upstream: &str) -> Proxy {
        Proxy::start_on("127.0.0.1:0", upstream)
    }

    /// [`Proxy::start`], listening on `listen` (e.g. a port that refused connections until
    /// now: a broker that starts listening late).
    pub fn start_on(listen: &str, upstream: &str) -> Proxy {
        let first = upstream.split(',').next().unwrap_or(upstream).trim();
        let upstream = first
            .to_socket_addrs()
            .unwrap_or_else(|e| panic!("proxy upstream {first}: {e}"))
            .next()
            .unwrap_or_else(|| panic!("proxy upstream {first} resolves to nothing"));
        let listener =
            TcpListener::bind(listen).unwrap_or_else(|e| panic!("proxy bind {listen}: {e}"));
        let address = listener.local_addr().expect("proxy local addr");
        let endpoint = |port: u16| {
            let mut v = ADVERTISED_HOST.to_vec();
            v.extend_from_slice(&i32::from(port).to_be_bytes());
            v
        };
        let shared = Arc::new(Shared {
            upstream,
            endpoint_from: endpoint(upstream.port()),
            endpoint_to: endpoint(address.port()),
            more_rewrites: Mutex::new(Vec::new()),
            corrupt: Mutex::new(None),
            stop: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
            hanging_up: AtomicBool::new(false),
            delay_nanos: AtomicU64::new(0),
            cuts_pending: AtomicU32::new(0),
            hold_api: AtomicI32::new(-1),
            counters: Counters::default(),
            sockets: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            thread::spawn(move || accept_loop(listener, shared))
        };
        Proxy {
            address,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// Also rewrites the advertised endpoint of `other`'s upstream broker to `other`'s port, so
    /// that a client of a multi-broker cluster reaches every broker through its proxy (give
    /// each proxy of the set every other one).
    pub fn also_rewrite(&self, other: &Proxy) {
        let endpoint = |port: u16| {
            let mut v = ADVERTISED_HOST.to_vec();
            v.extend_from_slice(&i32::from(port).to_be_bytes());
            v
        };
        self.shared.more_rewrites.lock().unwrap().push((
            endpoint(other.shared.upstream.port()),
            endpoint(other.address.port()),
        ));
    }

    /// `127.0.0.1:<port>` of the proxy: give it to clients as their bootstrap address.
    pub fn address(&self) -> String {
        self.address.to_string()
    }

    /// From now on, flip the first byte (XOR 0xFF) of every occurrence of `pattern` in
    /// broker→client data. Replaces any earlier pattern.
    pub fn corrupt_after(&self, pattern: &[u8]) {
        assert!(!pattern.is_empty(), "empty corruption pattern");
        assert!(pattern.len() <= 4096, "corruption pattern too long");
        *self.shared.corrupt.lock().unwrap() = Some(pattern.to_vec());
    }

    /// Stops corrupting, delaying (frames already held keep their delay) and cutting
    /// (pending cuts are forgotten); endpoint rewriting goes on.
    pub fn clear_faults(&self) {
        *self.shared.corrupt.lock().unwrap() = None;
        self.shared.delay_nanos.store(0, Ordering::SeqCst);
        self.shared.cuts_pending.store(0, Ordering::SeqCst);
    }

    /// From now on, forward every broker→client byte `delay` after the proxy read it, like a
    /// slow broker or link: each response frame arrives `delay` late. Frames keep their order,
    /// and the delay is not cumulative: a frame read while an earlier one is held waits `delay`
    /// from its own arrival. [`Duration::ZERO`] (or [`Proxy::clear_faults`]) switches it off
    /// for data read from then on. At most [`MAX_DELAY`].
    pub fn delay_responses(&self, delay: Duration) {
        assert!(
            delay <= MAX_DELAY,
            "proxy delay {delay:?} above {MAX_DELAY:?}"
        );
        let nanos = u64::try_from(delay.as_nanos()).expect("bounded by MAX_DELAY");
        self.shared.delay_nanos.store(nanos, Ordering::SeqCst);
    }

    /// Cuts the next `n` broker→client frames (whatever connection they are on) mid-response:
    /// of each, only about half is forwarded (the 4-byte size prefix and at least one body
    /// byte, never the whole frame), then both sides of its connection are closed. Replaces
    /// any cuts still pending; `0` cancels them. [`ProxyStats::cuts`] counts completed cuts.
    pub fn cut_next_responses(&self, n: u32) {
        self.shared.cuts_pending.store(n, Ordering::SeqCst);
    }

    /// Stalls everything, like a broker that stopped answering without closing anything:
    /// from now on no byte is forwarded in either direction (what arrives is held, and sent on
    /// after [`Proxy::resume`]), and new connections are accepted but never connected upstream
    /// (they stay silent for good). Connections stay open.
    pub fn stall_all(&self) {
        self.shared.stalled.store(true, Ordering::SeqCst);
    }

    /// Ends [`Proxy::stall_all`] for the open connections (held data is forwarded); connections
    /// accepted while stalled stay silent.
    pub fn resume(&self) {
        self.shared.stalled.store(false, Ordering::SeqCst);
    }

    /// Plays a broker that is down behind a proxy: closes every open connection, and from now
    /// on accepts each new connection only to close it before any byte is exchanged, until
    /// [`Proxy::answer_again`]. To the client, a connect succeeds and the first request finds
    /// the connection closed.
    pub fn hang_up_all(&self) {
        self.shared.hanging_up.store(true, Ordering::SeqCst);
        self.drop_all();
    }

    /// Ends [`Proxy::hang_up_all`]: new connections are forwarded again.
    pub fn answer_again(&self) {
        self.shared.hanging_up.store(false, Ordering::SeqCst);
    }

    /// Closes every open connection (both sides) at once; new connections are accepted and
    /// forwarded as before (unless stalled).
    pub fn drop_all(&self) {
        for s in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// From now on, holds every request frame with API key `api_key` (e.g. 8, OffsetCommit)
    /// before it reaches the broker, and everything after it on the same connection, until
    /// [`Proxy::release_requests`]. [`ProxyStats::held`] counts the frames held.
    pub fn hold_requests(&self, api_key: i16) {
        self.shared
            .hold_api
            .store(i32::from(api_key), Ordering::SeqCst);
    }

    /// Ends [`Proxy::hold_requests`]: held frames go on to the broker.
    pub fn release_requests(&self) {
        self.shared.hold_api.store(-1, Ordering::SeqCst);
    }

    /// What went through the proxy so far.
    pub fn stats(&self) -> ProxyStats {
        let c = &self.shared.counters;
        ProxyStats {
            connections: c.connections.load(Ordering::SeqCst),
            rejected: c.rejected.load(Ordering::SeqCst),
            bytes_to_broker: c.bytes_to_broker.load(Ordering::SeqCst),
            bytes_to_client: c.bytes_to_client.load(Ordering::SeqCst),
            endpoint_rewrites: c.endpoint_rewrites.load(Ordering::SeqCst),
            corruptions: c.corruptions.load(Ordering::SeqCst),
            delayed: c.delayed.load(Ordering::SeqCst),
            cuts: c.cuts.load(Ordering::SeqCst),
            hung_up: c.hung_up.load(Ordering::SeqCst),
            held: c.held.load(Ordering::SeqCst),
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept; it sees the stop flag and returns, closing the listener.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for s in self.shared.sockets.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut accepted = 0u64;
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        if accepted >= MAX_CONNECTIONS {
            shared.counters.rejected.fetch_add(1, Ordering::SeqCst);
            drop(client);
            continue;
        }
        accepted += 1;
        if shared.hanging_up.load(Ordering::SeqCst) {
            shared.counters.hung_up.fetch_add(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        if shared.stalled.load(Ordering::SeqCst) {
            // Accepted and held open, never connected upstream: a silent broker.
            let mut sockets = shared.sockets.lock().unwrap();
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            sockets.push(client);
            continue;
        }
        let Ok(broker) = TcpStream::connect_timeout(&shared.upstream, Duration::from_secs(5))
        else {
            // The broker is down: the client sees its connection closed.
            shared.counters.hung_up.fetch_add(1, Ordering::SeqCst);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = broker.set_nodelay(true);
        let clones = (
            client.try_clone(),
            broker.try_clone(),
            client.try_clone(),
            broker.try_clone(),
            broker.try_clone(),
        );
        let (Ok(c2), Ok(b2), Ok(c3), Ok(b3), Ok(b4)) = clones else {
            continue;
        };
        {
            let mut sockets = shared.sockets.lock().unwrap();
            if shared.stop.load(Ordering::SeqCst) {
                return;
            }
            sockets.push(c3);
            sockets.push(b3);
        }
        shared.counters.connections.fetch_add(1, Ordering::SeqCst);
        let up = Arc::clone(&shared);
        thread::spawn(move || client_to_broker(client, broker, &up));
        let (queue, queued) = sync_channel(QUEUE_CHUNKS);
        let down = Arc::clone(&shared);
        thread::spawn(move || broker_to_client(b2, &queue, &down));
        let writer = Arc::clone(&shared);
        thread::spawn(move || write_to_client(&queued, c2, &b4, &writer));
    }
}

/// Waits while the proxy is stalled; false if it is being dropped.
fn wait_while_stalled(shared: &Shared) -> bool {
    while shared.stalled.load(Ordering::SeqCst) {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    !shared.stop.load(Ordering::SeqCst)
}

/// Sleeps until `due` (in short steps, to notice a drop); false if the proxy is being dropped.
fn sleep_until(due: Instant, shared: &Shared) -> bool {
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        let left = due.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        thread::sleep(left.min(Duration::from_millis(10)));
    }
}

fn close_both(a: &TcpStream, b: &TcpStream) {
    let _ = a.shutdown(Shutdown::Both);
    let _ = b.shutdown(Shutdown::Both);
}

/// Forwards request frames (size prefix, then API key) as they complete; a frame of the held
/// API waits, with its connection, until released.
fn client_to_broker(mut client: TcpStream, mut broker: TcpStream, shared: &Shared) {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut pending: Vec<u8> = Vec::new();
    // Bytes that are not Kafka frames (a TLS handshake, say) are forwarded as read.
    let mut framed = true;
    'read: loop {
        let n = match client.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        pending.extend_from_slice(&buf[..n]);
        while !pending.is_empty() {
            let mut frame = pending.len();
            if framed {
                if pending.len() < 4 {
                    break;
                }
                let size = i32::from_be_bytes(pending[..4].try_into().expect("4 bytes"));
                match usize::try_from(size) {
                    Ok(size) if (2..=MAX_REQUEST).contains(&size) => frame = 4 + size,
                    _ => framed = false,
                }
            }
            if pending.len() < frame {
                break;
            }
            let api_key = if framed {
                i16::from_be_bytes([pending[4], pending[5]])
            } else {
                -1
            };
            if !wait_while_held(api_key, shared)
                || !wait_while_stalled(shared)
                || broker.write_all(&pending[..frame]).is_err()
            {
                break 'read;
            }
            pending.drain(..frame);
            shared
                .counters
                .bytes_to_broker
                .fetch_add(frame as u64, Ordering::SeqCst);
        }
    }
    close_both(&client, &broker);
}

/// Waits while requests of `api_key` are held; false if the proxy is being dropped.
fn wait_while_held(api_key: i16, shared: &Shared) -> bool {
    if api_key < 0 || shared.hold_api.load(Ordering::SeqCst) != i32::from(api_key) {
        return true;
    }
    shared.counters.held.fetch_add(1, Ordering::SeqCst);
    while shared.hold_api.load(Ordering::SeqCst) == i32::from(api_key) {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
    !shared.stop.load(Ordering::SeqCst)
}

/// Applies the rules to `data` in place; returns the longest pattern length in force.
fn apply_rules(data: &mut [u8], shared: &Shared) -> usize {
    let mut rewrites = replace_all(data, &shared.endpoint_from, &shared.endpoint_to);
    for (from, to) in shared.more_rewrites.lock().unwrap().iter() {
        rewrites += replace_all(data, from, to);
    }
    if rewrites > 0 {
        shared
            .counters
            .endpoint_rewrites
            .fetch_add(rewrites, Ordering::SeqCst);
    }
    let mut longest = shared.endpoint_from.len();
    if let Some(pattern) = shared.corrupt.lock().unwrap().as_deref() {
        longest = longest.max(pattern.len());
        let mut flipped = 0;
        let mut i = 0;
        while i + pattern.len() <= data.len() {
            if &data[i..i + pattern.len()] == pattern {
                data[i] ^= 0xFF;
                flipped += 1;
                i += pattern.len();
            } else {
                i += 1;
            }
        }
        if flipped > 0 {
            shared
                .counters
                .corruptions
                .fetch_add(flipped, Ordering::SeqCst);
        }
    }
    longest
}

/// Replaces every occurrence of `from` with the same-length `to`; returns how many.
fn replace_all(data: &mut [u8], from: &[u8], to: &[u8]) -> u64 {
    debug_assert_eq!(from.len(), to.len());
    let mut count = 0;
    let mut i = 0;
    while i + from.len() <= data.len() {
        if &data[i..i + from.len()] == from {
            data[i..i + from.len()].copy_from_slice(to);
            count += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    count
}

/// What the broker→client reader hands its writer.
enum Chunk {
    /// Bytes to forward once `due` has come.
    Data { due: Instant, bytes: Vec<u8> },
    /// The bytes before were the front of a frame being cut: close the connection.
    Cut,
}

/// How many body bytes of a `size`-byte frame a cut forwards: about half, at least a few,
/// never all of it (`size` ≥ 2).
fn cut_point(size: usize) -> usize {
    (size / 2).max(4).min(size - 1)
}

/// Claims one pending cut, if any.
fn claim_cut(shared: &Shared) -> bool {
    shared
        .cuts_pending
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

/// Reads broker→client data and follows its framing: applies the rules to frame bodies, cuts
/// frames when asked, and queues what is to be forwarded, stamped with when it is due. Rewritten
/// bytes never match again (the port or the first byte changed), so re-scanning the held-back
/// tail together with the next bytes is harmless. Returning drops the queue: the writer
/// forwards what is queued, then closes both sides.
fn broker_to_client(mut broker: TcpStream, queue: &SyncSender<Chunk>, shared: &Shared) {
    let mut buf = vec![0u8; READ_BUFFER];
    let mut header = [0u8; 4];
    let mut header_len = 0usize;
    let mut remaining = 0usize; // body bytes of the current frame not yet read
    let mut cut_in: Option<usize> = None; // body bytes to forward before the current frame is cut
    let mut pending: Vec<u8> = Vec::new(); // body bytes read but not yet forwarded
    'conn: loop {
        let n = match broker.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let arrived = Instant::now();
        let delay = Duration::from_nanos(shared.delay_nanos.load(Ordering::SeqCst));
        let mut out: Vec<u8> = Vec::with_capacity(n + pending.len());
        let mut cut = false;
        let mut i = 0;
        while i < n {
            if remaining == 0 {
                let take = (4 - header_len).min(n - i);
                header[header_len..header_len + take].copy_from_slice(&buf[i..i + take]);
                out.extend_from_slice(&buf[i..i + take]);
                header_len += take;
                i += take;
                if header_len == 4 {
                    header_len = 0;
                    let size = i32::from_be_bytes(header);
                    if size < 0 {
                        break 'conn; // not Kafka framing: give up on the connection
                    }
                    remaining = size as usize;
                    if remaining >= 2 && claim_cut(shared) {
                        cut_in = Some(cut_point(remaining));
                    }
                }
                continue;
            }
            let mut take = remaining.min(n - i);
            if let Some(left) = cut_in {
                take = take.min(left);
            }
            pending.extend_from_slice(&buf[i..i + take]);
            remaining -= take;
            i += take;
            let longest = apply_rules(&mut pending, shared);
            if let Some(left) = cut_in.as_mut() {
                *left -= take;
                if *left == 0 {
                    out.append(&mut pending);
                    cut = true;
                    break;
                }
            }
            if remaining == 0 {
                out.append(&mut pending);
                if !delay.is_zero() {
                    shared.counters.delayed.fetch_add(1, Ordering::SeqCst);
                }
            } else {
                let keep = (longest - 1).min(pending.len());
                out.extend(pending.drain(..pending.len() - keep));
            }
        }
        let due = arrived + delay;
        if !out.is_empty() && queue.send(Chunk::Data { due, bytes: out }).is_err() {
            return;
        }
        if cut {
            let _ = queue.send(Chunk::Cut);
            return;
        }
    }
}

/// Forwards the queued broker→client chunks, each when it is due and the proxy is not stalled;
/// closes both sides when the reader ended (after the queue is drained) or cut a frame.
fn write_to_client(
    queue: &Receiver<Chunk>,
    mut client: TcpStream,
    broker: &TcpStream,
    shared: &Shared,
) {
    while let Ok(chunk) = queue.recv() {
        match chunk {
            Chunk::Data { due, bytes } => {
                if !sleep_until(due, shared)
                    || !wait_while_stalled(shared)
                    || client.write_all(&bytes).is_err()
                {
                    break;
                }
                shared
                    .counters
                    .bytes_to_client
                    .fetch_add(bytes.len() as u64, Ordering::SeqCst);
            }
            Chunk::Cut => {
                // Counted before the close, so a client that saw the cut sees it counted.
                shared.counters.cuts.fetch_add(1, Ordering::SeqCst);
                close_both(broker, &client);
                return;
            }
        }
    }
    close_both(broker, &client);
}

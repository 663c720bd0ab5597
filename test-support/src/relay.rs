//! A TCP relay on loopback in front of a real server: counts the
//! connections a client opens (a fatal error must not be retried: one
//! connection, not three) and the turns it takes (how many times the
//! client speaks after the server did: the round trips a protocol needs),
//! and can delay each direction by a fixed time,
//! in byte order, to put a network's round trip between client and server
//! (the kernel here has no netem). It can also cut a connection right
//! after the server answered a given request ([`Relay::cut_after_answer_to`]),
//! so that the client reads the answer and the end of the connection
//! together. Std only, a thread per direction.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// A running relay: `127.0.0.1:<port>` (or the address given) forwards to
/// the target. Stops
/// accepting when dropped; open connections end with their peers.
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    connections: Arc<AtomicU64>,
    turns: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    /// The request whose answer ends its connection, once; `None` when
    /// no cut is asked for (or it happened).
    cut: Arc<Mutex<Option<Vec<u8>>>>,
}

impl Relay {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to
    /// `target` (`host:port`), each direction delayed by `one_way` (half the
    /// round trip to add; zero forwards at once).
    ///
    /// # Errors
    /// If `target` does not resolve or no port can be bound.
    pub fn start(target: &str, one_way: Duration) -> io::Result<Relay> {
        Relay::start_on(std::net::Ipv4Addr::LOCALHOST.into(), target, one_way)
    }

    /// Like [`start`](Self::start), listening on `ip` (e.g. 127.0.0.2, a
    /// loopback address a test certificate does not name).
    ///
    /// # Errors
    /// If `target` does not resolve or no port can be bound.
    pub fn start_on(ip: std::net::IpAddr, target: &str, one_way: Duration) -> io::Result<Relay> {
        let target = target.to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{target}: no address"))
        })?;
        let listener = TcpListener::bind((ip, 0))?;
        let addr = listener.local_addr()?;
        let connections = Arc::new(AtomicU64::new(0));
        let turns = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(Mutex::new(None));
        let (count, stopped) = (Arc::clone(&connections), Arc::clone(&stop));
        let (all_turns, cut_pattern) = (Arc::clone(&turns), Arc::clone(&cut));
        thread::Builder::new()
            .name(format!("relay-{}", addr.port()))
            .spawn(move || {
                for client in listener.incoming() {
                    if stopped.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    count.fetch_add(1, Ordering::AcqRel);
                    // A target that refuses: close the client's side too.
                    let Ok(server) = TcpStream::connect_timeout(&target, Duration::from_secs(5))
                    else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    // Per connection: whether the client spoke last.
                    let client_spoke = Arc::new(AtomicBool::new(false));
                    let up = Turns::Count {
                        client_spoke: Arc::clone(&client_spoke),
                        turns: Arc::clone(&all_turns),
                    };
                    // Per connection: the request to cut after was seen.
                    let armed = Arc::new(AtomicBool::new(false));
                    let watch = Cut::Watch {
                        pattern: Arc::clone(&cut_pattern),
                        armed: Arc::clone(&armed),
                    };
                    pipe(&client, &server, one_way, up, watch);
                    let answer = Turns::Answer(client_spoke);
                    pipe(&server, &client, one_way, answer, Cut::After(armed));
                }
            })?;
        Ok(Relay {
            addr,
            connections,
            turns,
            stop,
            cut,
        })
    }

    /// Cuts the next connection whose client sends bytes holding
    /// `request`: the server's next chunk of bytes after it (its answer)
    /// still goes to the client, then the client's socket is shut down at
    /// once, so the client finds the answer and the end of the connection
    /// in one read. Once only; later connections are left alone.
    pub fn cut_after_answer_to(&self, request: &[u8]) {
        *self.cut.lock().unwrap_or_else(PoisonError::into_inner) = Some(request.to_vec());
    }

    /// Whether the cut asked for with [`cut_after_answer_to`](Self::cut_after_answer_to)
    /// found its request (and so happened, once the server answered).
    pub fn cut_done(&self) -> bool {
        self.cut
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// The relay's address, e.g. `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The relay's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Acquire)
    }

    /// Turns so far, over all connections: each time a client sent bytes
    /// after the server's answer (or first), however many reads they
    /// took. A request and its answer are one turn; requests pipelined in
    /// one write are one turn too, so this counts the round trips a
    /// protocol exchange costs.
    pub fn turns(&self) -> u64 {
        self.turns.load(Ordering::Acquire)
    }
}

impl Relay {
    /// Waits until `connections` connections were accepted and no client
    /// has spoken for `quiet` (their handshakes are over), for at most
    /// `timeout`. Returns the turns then, or the connections and turns
    /// seen when the time ran out.
    ///
    /// # Errors
    /// `(connections, turns)` at the timeout.
    pub fn settle(
        &self,
        connections: u64,
        quiet: Duration,
        timeout: Duration,
    ) -> Result<u64, (u64, u64)> {
        let deadline = Instant::now() + timeout;
        let mut last = (self.connections(), self.turns());
        loop {
            thread::sleep(quiet);
            let now = (self.connections(), self.turns());
            if now.0 == connections && now == last {
                return Ok(now.1);
            }
            if Instant::now() >= deadline {
                return Err(now);
            }
            last = now;
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// What a direction of one connection does to the turn count.
enum Turns {
    /// Client to server: a read after the server spoke is a new turn.
    Count {
        client_spoke: Arc<AtomicBool>,
        turns: Arc<AtomicU64>,
    },
    /// Server to client: the server spoke.
    Answer(Arc<AtomicBool>),
}

impl Turns {
    /// Bytes went this way.
    fn spoke(&self) {
        match self {
            Turns::Count {
                client_spoke,
                turns,
            } => {
                if !client_spoke.swap(true, Ordering::AcqRel) {
                    turns.fetch_add(1, Ordering::AcqRel);
                }
            }
            Turns::Answer(client_spoke) => client_spoke.store(false, Ordering::Release),
        }
    }
}

/// What a direction of one connection does about a cut.
enum Cut {
    /// Client to server: a chunk holding the pattern (taken, so once per
    /// relay) arms the cut.
    Watch {
        pattern: Arc<Mutex<Option<Vec<u8>>>>,
        armed: Arc<AtomicBool>,
    },
    /// Server to client: once armed, the chunk written is the last.
    After(Arc<AtomicBool>),
}

impl Cut {
    /// A chunk was read: arms the cut if it holds the pattern.
    fn read(&self, chunk: &[u8]) {
        if let Cut::Watch { pattern, armed } = self {
            let mut pattern = pattern.lock().unwrap_or_else(PoisonError::into_inner);
            if pattern
                .as_deref()
                .is_some_and(|p| !p.is_empty() && chunk.windows(p.len()).any(|w| w == p))
            {
                *pattern = None;
                armed.store(true, Ordering::Release);
            }
        }
    }

    /// A chunk was written: whether the connection ends here.
    fn ends_after_write(&self) -> bool {
        matches!(self, Cut::After(armed) if armed.load(Ordering::Acquire))
    }
}

/// Copies `from` to `to`: a reader stamps each chunk with when it may go
/// on, a writer sends it then, so bytes keep their order and every chunk
/// is late by `one_way`. The end of `from` shuts `to`'s write half; a cut
/// shuts `to` whole.
fn pipe(from: &TcpStream, to: &TcpStream, one_way: Duration, turns: Turns, cut: Cut) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let (chunks, due) = mpsc::channel::<(Instant, Vec<u8>)>();
    let cut = Arc::new(cut);
    let cut_read = Arc::clone(&cut);
    let _ = thread::Builder::new()
        .name("relay-read".into())
        .spawn(move || {
            let mut buf = vec![0_u8; 64 * 1024];
            loop {
                match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        turns.spoke();
                        cut_read.read(&buf[..n]);
                        if chunks
                            .send((Instant::now() + one_way, buf[..n].to_vec()))
                            .is_err()
                        {
                            break;
                        }
                    }
                }
            }
            let _ = from.shutdown(Shutdown::Read);
        });
    let _ = thread::Builder::new()
        .name("relay-write".into())
        .spawn(move || {
            for (when, chunk) in due {
                let wait = when.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    thread::sleep(wait);
                }
                if to.write_all(&chunk).is_err() {
                    break;
                }
                if cut.ends_after_write() {
                    let _ = to.shutdown(Shutdown::Both);
                    return;
                }
            }
            let _ = to.shutdown(Shutdown::Write);
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on loopback that sends back what it reads, a thread per
    /// connection; returns its address.
    fn echo_server() -> String {
        let echo = TcpListener::bind("127.0.0.1:0").expect("bind");
        let target = echo.local_addr().expect("addr").to_string();
        thread::spawn(move || {
            for s in echo.incoming().flatten() {
                thread::spawn(move || {
                    let mut r = s.try_clone().expect("clone");
                    let mut w = s;
                    let _ = io::copy(&mut r, &mut w);
                });
            }
        });
        target
    }

    #[test]
    fn forwards_in_order_counts_connections_and_delays() {
        let target = echo_server();
        let relay = Relay::start(&target, Duration::from_millis(20)).expect("relay");
        let mut c = TcpStream::connect(relay.addr()).expect("connect");
        let sent: Vec<u8> = (0..200_000_u32).map(|i| (i % 251) as u8).collect();
        let writer = {
            let mut c = c.try_clone().expect("clone");
            let sent = sent.clone();
            thread::spawn(move || {
                c.write_all(&sent).expect("write");
                c.shutdown(Shutdown::Write).expect("shutdown");
            })
        };
        let started = Instant::now();
        let mut got = Vec::new();
        c.read_to_end(&mut got).expect("read");
        writer.join().expect("writer");
        assert_eq!(got, sent, "bytes arrive whole and in order");
        // A lower bound only: the delay is added, never skipped.
        assert!(started.elapsed() >= Duration::from_millis(40));
        assert_eq!(relay.connections(), 1);
        // Counted at accept, before any byte goes on: an answer means counted.
        let mut second = TcpStream::connect(relay.addr()).expect("second");
        second.write_all(b"x").expect("write");
        let mut one = [0_u8; 1];
        second.read_exact(&mut one).expect("echo");
        assert_eq!(relay.connections(), 2);
    }

    #[test]
    fn a_cut_delivers_the_answer_then_ends_that_connection_only() {
        let target = echo_server();
        let relay = Relay::start(&target, Duration::ZERO).expect("relay");
        relay.cut_after_answer_to(b"PREPARE");
        let mut c = TcpStream::connect(relay.addr()).expect("connect");
        c.write_all(b"BEGIN").expect("write");
        let mut answer = [0_u8; 5];
        c.read_exact(&mut answer)
            .expect("untouched before the request");
        assert!(!relay.cut_done());
        c.write_all(b"PREPARE").expect("write");
        let mut rest = Vec::new();
        c.read_to_end(&mut rest).expect("the answer, then the end");
        assert_eq!(rest, b"PREPARE", "the answer arrives whole before the end");
        assert!(relay.cut_done());
        // Once only: the next connection carries the same request on.
        let mut next = TcpStream::connect(relay.addr()).expect("connect");
        next.write_all(b"PREPARE").expect("write");
        let mut again = [0_u8; 7];
        next.read_exact(&mut again).expect("echo");
        next.write_all(b"X").expect("still open");
        let mut one = [0_u8; 1];
        next.read_exact(&mut one).expect("still answered");
    }

    #[test]
    fn a_turn_is_a_request_and_its_answer_however_it_is_cut() {
        let target = echo_server();
        let relay = Relay::start(&target, Duration::ZERO).expect("relay");
        let mut c = TcpStream::connect(relay.addr()).expect("connect");
        let mut exchange = |request: &[u8]| {
            c.write_all(request).expect("write");
            let mut answer = vec![0_u8; request.len()];
            c.read_exact(&mut answer).expect("echo");
        };
        exchange(b"BEGIN");
        exchange(b"RUN");
        assert_eq!(relay.turns(), 2, "two requests, each answered");
        // Three messages in one write, as a pipelining client sends them.
        exchange(b"BEGIN RUN PULL");
        assert_eq!(relay.turns(), 3);
    }
}

//! [`AuthorizationProbe`]: a one-request HTTP server on loopback that
//! tells which `Authorization` header a client sent, for tests of the
//! credentials an HTTP backend puts on the wire (percent-decoded ones
//! among them) without a database server, whose shared configuration no
//! test may change.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::thread::JoinHandle;

/// Listens on a free loopback port, answers the first request with
/// `200 OK` and the JSON body `{}`, and keeps its `Authorization` header.
///
/// # Panics
/// When the port cannot be bound or the request cannot be read or
/// answered: this is test tooling.
pub struct AuthorizationProbe {
    addr: SocketAddr,
    server: JoinHandle<Option<String>>,
}

impl AuthorizationProbe {
    /// Starts listening.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("the probe's address");
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
            let mut authorization = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).expect("read") == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.eq_ignore_ascii_case("authorization")
                {
                    authorization = Some(value.trim().to_owned());
                }
            }
            let mut stream = stream;
            stream
                .write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                      Content-Length: 2\r\nConnection: close\r\n\r\n{}",
                )
                .expect("answer");
            authorization
        });
        Self { addr, server }
    }

    /// `http://<userinfo>@127.0.0.1:<port>`, the URL a client under test
    /// is given (`userinfo` as it should be written in a URL, e.g.
    /// `user:p%40ss`).
    pub fn url(&self, userinfo: &str) -> String {
        format!("http://{userinfo}@{}", self.addr)
    }

    /// The `Authorization` header of the request (`None` without one),
    /// once it has been answered.
    pub fn received(self) -> Option<String> {
        self.server.join().expect("the probe's thread")
    }
}

//! A minimal Bolt client: handshake, HELLO, RUN + PULL, for readiness and smoke checks.
//!
//! Offers Bolt 4.4, 4.0 and 3.0 (ArcadeDB's Bolt plugin speaks 3, 4.0, 4.4 and
//! 5.0-5.4; Neo4j 4.4 and 5.x speak 4.4). Messages are PackStream structures
//! sent in chunks of at most 65535 bytes, each message ended by a zero-length
//! chunk. Only what xtask needs: no transactions, no routing, no pooling.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// A PackStream value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// null
    Null,
    /// boolean
    Bool(bool),
    /// integer
    Int(i64),
    /// float
    Float(f64),
    /// byte array
    Bytes(Vec<u8>),
    /// string
    String(String),
    /// list
    List(Vec<Value>),
    /// map, in wire order
    Map(Vec<(String, Value)>),
    /// structure: signature and fields (nodes, relationships, messages)
    Struct(u8, Vec<Value>),
}

impl Value {
    /// The map entry `key`, if this is a map that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

const HELLO: u8 = 0x01;
const GOODBYE: u8 = 0x02;
const RUN: u8 = 0x10;
const PULL: u8 = 0x3F;
const SUCCESS: u8 = 0x70;
const RECORD: u8 = 0x71;
const IGNORED: u8 = 0x7E;
const FAILURE: u8 = 0x7F;

/// An open, authenticated Bolt connection.
pub struct Bolt {
    stream: TcpStream,
    major: u8,
}

impl Bolt {
    /// Connects, negotiates a version and authenticates with basic auth.
    pub fn connect(
        host: &str,
        port: u16,
        user: &str,
        password: &str,
        timeout: Duration,
    ) -> Result<Bolt, String> {
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {host}:{port}: {e}"))?;
        let mut last = format!("no address for {host}:{port}");
        let mut stream = None;
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = format!("cannot connect to {addr}: {e}"),
            }
        }
        let mut stream = stream.ok_or(last)?;
        let io = |e: std::io::Error| format!("bolt i/o: {e}");
        stream.set_read_timeout(Some(timeout)).map_err(io)?;
        stream.set_write_timeout(Some(timeout)).map_err(io)?;
        stream.set_nodelay(true).map_err(io)?;
        // Magic, then four versions (big-endian: range, minor, major): 4.4, 4.0, 3.0.
        let mut hs = vec![0x60, 0x60, 0xB0, 0x17];
        for v in [[0, 0, 4, 4], [0, 0, 0, 4], [0, 0, 0, 3], [0, 0, 0, 0]] {
            hs.extend_from_slice(&v);
        }
        stream.write_all(&hs).map_err(io)?;
        let mut chosen = [0u8; 4];
        stream.read_exact(&mut chosen).map_err(io)?;
        if chosen == [0, 0, 0, 0] {
            return Err("server accepts none of Bolt 4.4, 4.0, 3.0".into());
        }
        if chosen == *b"HTTP" {
            return Err("an HTTP server answered on the Bolt port".into());
        }
        let mut bolt = Bolt {
            stream,
            major: chosen[3],
        };
        let hello = Value::Map(vec![
            ("user_agent".into(), Value::String("uds3-xtask/0.1".into())),
            ("scheme".into(), Value::String("basic".into())),
            ("principal".into(), Value::String(user.into())),
            ("credentials".into(), Value::String(password.into())),
        ]);
        bolt.send(HELLO, vec![hello])?;
        bolt.expect_success("HELLO")?;
        Ok(bolt)
    }

    /// Runs one auto-commit query in the default database and returns its records.
    pub fn query(
        &mut self,
        cypher: &str,
        params: Vec<(String, Value)>,
    ) -> Result<Vec<Vec<Value>>, String> {
        // Bolt 3 and later: query, parameters, extra (empty: default database).
        let fields = vec![
            Value::String(cypher.into()),
            Value::Map(params),
            Value::Map(Vec::new()),
        ];
        self.send(RUN, fields)?;
        let pull = if self.major >= 4 {
            vec![Value::Map(vec![("n".into(), Value::Int(-1))])]
        } else {
            Vec::new()
        };
        self.send(PULL, pull)?;
        self.expect_success("RUN")?;
        let mut records = Vec::new();
        loop {
            let (sig, mut fields) = self.recv()?;
            match sig {
                RECORD => match fields.pop() {
                    Some(Value::List(values)) => records.push(values),
                    other => return Err(format!("bad RECORD: {other:?}")),
                },
                SUCCESS => return Ok(records),
                _ => return Err(describe_failure("PULL", sig, &fields)),
            }
        }
    }

    /// Says GOODBYE and closes the connection.
    pub fn close(mut self) {
        // Best effort: the server closes its side either way.
        let _ = self.send(GOODBYE, Vec::new());
    }

    fn expect_success(&mut self, what: &str) -> Result<(), String> {
        let (sig, fields) = self.recv()?;
        if sig == SUCCESS {
            Ok(())
        } else {
            Err(describe_failure(what, sig, &fields))
        }
    }

    fn send(&mut self, signature: u8, fields: Vec<Value>) -> Result<(), String> {
        let mut msg = Vec::new();
        encode(&mut msg, &Value::Struct(signature, fields));
        let mut wire = Vec::with_capacity(msg.len() + 8);
        for chunk in msg.chunks(0xFFFF) {
            wire.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
            wire.extend_from_slice(chunk);
        }
        wire.extend_from_slice(&[0, 0]);
        self.stream
            .write_all(&wire)
            .map_err(|e| format!("bolt write: {e}"))
    }

    fn recv(&mut self) -> Result<(u8, Vec<Value>), String> {
        let mut msg = Vec::new();
        loop {
            let mut len = [0u8; 2];
            self.stream
                .read_exact(&mut len)
                .map_err(|e| format!("bolt read: {e}"))?;
            let len = u16::from_be_bytes(len) as usize;
            if len == 0 {
                if msg.is_empty() {
                    continue; // NOOP keep-alive chunk
                }
                break;
            }
            let start = msg.len();
            msg.resize(start + len, 0);
            self.stream
                .read_exact(&mut msg[start..])
                .map_err(|e| format!("bolt read: {e}"))?;
        }
        let mut input = msg.as_slice();
        match decode(&mut input)? {
            Value::Struct(sig, fields) => Ok((sig, fields)),
            other => Err(format!("bolt: expected a message, got {other:?}")),
        }
    }
}

fn describe_failure(what: &str, sig: u8, fields: &[Value]) -> String {
    let meta = fields.first();
    let text = |k| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    match sig {
        FAILURE => format!(
            "{what} failed: {} {}",
            text("code").unwrap_or("?"),
            text("message").unwrap_or("")
        ),
        IGNORED => format!("{what} ignored"),
        _ => format!("{what}: unexpected message 0x{sig:02X}"),
    }
}

fn encode_len(out: &mut Vec<u8>, len: usize, tiny: u8, b8: u8) {
    if len < 16 && tiny != 0 {
        out.push(tiny | len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[b8, len as u8]);
    } else if len <= 0xFFFF {
        out.push(b8 + 1);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(b8 + 2);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

/// Appends the PackStream encoding of `v` to `out`.
pub fn encode(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Null => out.push(0xC0),
        Value::Bool(b) => out.push(if *b { 0xC3 } else { 0xC2 }),
        Value::Int(i) => {
            let i = *i;
            if (-16..=127).contains(&i) {
                out.push(i as i8 as u8);
            } else if let Ok(x) = i8::try_from(i) {
                out.extend_from_slice(&[0xC8, x as u8]);
            } else if let Ok(x) = i16::try_from(i) {
                out.push(0xC9);
                out.extend_from_slice(&x.to_be_bytes());
            } else if let Ok(x) = i32::try_from(i) {
                out.push(0xCA);
                out.extend_from_slice(&x.to_be_bytes());
            } else {
                out.push(0xCB);
                out.extend_from_slice(&i.to_be_bytes());
            }
        }
        Value::Float(f) => {
            out.push(0xC1);
            out.extend_from_slice(&f.to_be_bytes());
        }
        Value::Bytes(b) => {
            encode_len(out, b.len(), 0, 0xCC);
            out.extend_from_slice(b);
        }
        Value::String(s) => {
            encode_len(out, s.len(), 0x80, 0xD0);
            out.extend_from_slice(s.as_bytes());
        }
        Value::List(items) => {
            encode_len(out, items.len(), 0x90, 0xD4);
            for item in items {
                encode(out, item);
            }
        }
        Value::Map(entries) => {
            encode_len(out, entries.len(), 0xA0, 0xD8);
            for (k, val) in entries {
                encode(out, &Value::String(k.clone()));
                encode(out, val);
            }
        }
        Value::Struct(sig, fields) => {
            out.push(0xB0 | (fields.len() as u8 & 0x0F));
            out.push(*sig);
            for f in fields {
                encode(out, f);
            }
        }
    }
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if input.len() < n {
        return Err("bolt: truncated PackStream value".into());
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

fn take_uint(input: &mut &[u8], bytes: usize) -> Result<usize, String> {
    Ok(take(input, bytes)?
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | *b as usize))
}

/// Decodes one PackStream value from the front of `input`.
pub fn decode(input: &mut &[u8]) -> Result<Value, String> {
    let marker = take(input, 1)?[0];
    let hi = marker & 0xF0;
    let lo = (marker & 0x0F) as usize;
    let string = |input: &mut &[u8], n| -> Result<Value, String> {
        Ok(Value::String(
            String::from_utf8_lossy(take(input, n)?).into_owned(),
        ))
    };
    let list = |input: &mut &[u8], n| -> Result<Value, String> {
        (0..n)
            .map(|_| decode(input))
            .collect::<Result<_, _>>()
            .map(Value::List)
    };
    let map = |input: &mut &[u8], n| -> Result<Value, String> {
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let key = match decode(input)? {
                Value::String(s) => s,
                other => return Err(format!("bolt: map key {other:?}")),
            };
            entries.push((key, decode(input)?));
        }
        Ok(Value::Map(entries))
    };
    let structure = |input: &mut &[u8], n| -> Result<Value, String> {
        let sig = take(input, 1)?[0];
        let fields = (0..n).map(|_| decode(input)).collect::<Result<_, _>>()?;
        Ok(Value::Struct(sig, fields))
    };
    match marker {
        0x00..=0x7F => Ok(Value::Int(i64::from(marker))),
        0xF0..=0xFF => Ok(Value::Int(i64::from(marker as i8))),
        _ if hi == 0x80 => string(input, lo),
        _ if hi == 0x90 => list(input, lo),
        _ if hi == 0xA0 => map(input, lo),
        _ if hi == 0xB0 => structure(input, lo),
        0xC0 => Ok(Value::Null),
        0xC1 => {
            let b = take(input, 8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Ok(Value::Float(f64::from_be_bytes(a)))
        }
        0xC2 => Ok(Value::Bool(false)),
        0xC3 => Ok(Value::Bool(true)),
        0xC8 => Ok(Value::Int(i64::from(take(input, 1)?[0] as i8))),
        0xC9 => {
            let b = take(input, 2)?;
            Ok(Value::Int(i64::from(i16::from_be_bytes([b[0], b[1]]))))
        }
        0xCA => {
            let b = take(input, 4)?;
            Ok(Value::Int(i64::from(i32::from_be_bytes([
                b[0], b[1], b[2], b[3],
            ]))))
        }
        0xCB => {
            let b = take(input, 8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Ok(Value::Int(i64::from_be_bytes(a)))
        }
        0xCC..=0xCE => {
            let n = take_uint(input, 1 << (marker - 0xCC))?;
            Ok(Value::Bytes(take(input, n)?.to_vec()))
        }
        0xD0..=0xD2 => {
            let n = take_uint(input, 1 << (marker - 0xD0))?;
            string(input, n)
        }
        0xD4..=0xD6 => {
            let n = take_uint(input, 1 << (marker - 0xD4))?;
            list(input, n)
        }
        0xD8..=0xDA => {
            let n = take_uint(input, 1 << (marker - 0xD8))?;
            map(input, n)
        }
        0xDC | 0xDD => {
            let n = take_uint(input, 1 << (marker - 0xDC))?;
            structure(input, n)
        }
        _ => Err(format!("bolt: unknown PackStream marker 0x{marker:02X}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packstream_round_trip() {
        let long = "x".repeat(300);
        let v = Value::Struct(
            0x10,
            vec![
                Value::String("RETURN $a".into()),
                Value::Map(vec![
                    ("a".into(), Value::Int(-17)),
                    ("b".into(), Value::Int(200)),
                    ("c".into(), Value::Int(-40_000)),
                    ("d".into(), Value::Int(1 << 40)),
                    ("e".into(), Value::Float(1.5)),
                    ("f".into(), Value::String(long)),
                    ("g".into(), Value::List((0..20).map(Value::Int).collect())),
                    ("h".into(), Value::Bytes(vec![1, 2, 3])),
                    ("i".into(), Value::Null),
                    ("j".into(), Value::Bool(true)),
                ]),
            ],
        );
        let mut buf = Vec::new();
        encode(&mut buf, &v);
        let mut input = buf.as_slice();
        assert_eq!(decode(&mut input), Ok(v));
        assert!(input.is_empty());
    }

    #[test]
    fn tiny_ints() {
        for (i, byte) in [(0, 0x00), (127, 0x7F), (-1, 0xFF), (-16, 0xF0)] {
            let mut buf = Vec::new();
            encode(&mut buf, &Value::Int(i));
            assert_eq!(buf, vec![byte]);
        }
        let mut buf = Vec::new();
        encode(&mut buf, &Value::Int(-17));
        assert_eq!(buf, vec![0xC8, 0xEF]);
    }
}

//! A minimal HTTP/1.1 client over one keep-alive TCP connection: enough for a load generator
//! (`Content-Length` bodies, a JSON request body, the headers of interest). Buffers are reused,
//! so [`Connection::probe`] allocates nothing per request and the generator takes as little CPU
//! as possible from the service it measures.
//!
//! Kept by hand rather than hyper's client because it is measurably cheaper on the same load:
//! one keep-alive connection, sequential `GET`s of a 1.5 KB JSON body from an axum server on
//! another runtime, client thread CPU time (`CLOCK_THREAD_CPUTIME_ID`, release build, 30 000
//! requests, 3 rounds): **5.2–5.5 µs per request here, 7.7–9.4 µs with
//! `hyper::client::conn::http1`** (its connection task on the same thread, body collected with
//! `http-body-util`), i.e. hyper costs ~1.6× the client CPU, which the generator would take
//! from the service on a shared machine.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Largest response body accepted (the fixture list is ~60 KB).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// The `x-cache` values the service sends.
const SOURCES: [&str; 7] = [
    "hit",
    "miss",
    "stale",
    "early-refresh",
    "coalesced",
    "fail-safe",
    "bypass",
];

/// One response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names in lowercase, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `x-cache` header.
    pub fn x_cache(&self) -> Option<&str> {
        self.header("x-cache")
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Status and cache source of a response whose body was read and dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Status code.
    pub status: u16,
    /// The `x-cache` value (`"other"` for an unknown one), if present.
    pub x_cache: Option<&'static str>,
}

/// A keep-alive connection that reconnects when the server closes it.
#[derive(Debug)]
pub struct Connection {
    addr: SocketAddr,
    host: String,
    stream: Option<BufReader<TcpStream>>,
    request: Vec<u8>,
    line: String,
    scratch: Vec<u8>,
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl Connection {
    /// A connection to `addr` (opened on first use).
    pub fn new(addr: SocketAddr) -> Self {
        Connection {
            addr,
            host: addr.to_string(),
            stream: None,
            request: Vec::with_capacity(256),
            line: String::with_capacity(128),
            scratch: Vec::with_capacity(4096),
        }
    }

    /// `GET path` (path and query, e.g. `/v1/matches`).
    pub async fn get(&mut self, path: &str) -> io::Result<HttpResponse> {
        self.send("GET", path, None).await
    }

    /// Sends `method path` with an optional JSON body. On an I/O error the connection is
    /// dropped, and the next request opens a new one.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&[u8]>,
    ) -> io::Result<HttpResponse> {
        let mut headers = Vec::with_capacity(8);
        let mut body = Vec::new();
        let status = self
            .exchange(
                method,
                path,
                json,
                |name, value| headers.push((name.to_owned(), value.to_owned())),
                &mut body,
            )
            .await?;
        Ok(HttpResponse {
            status,
            headers,
            body,
        })
    }

    /// `GET path`, keeping only the status and the `x-cache` header (no allocation).
    pub async fn probe(&mut self, path: &str) -> io::Result<Probe> {
        let mut x_cache = None;
        let mut scratch = std::mem::take(&mut self.scratch);
        let on_header = |name: &str, value: &str| {
            if name == "x-cache" {
                x_cache = Some(SOURCES.into_iter().find(|s| *s == value).unwrap_or("other"));
            }
        };
        let status = self
            .exchange("GET", path, None, on_header, &mut scratch)
            .await;
        self.scratch = scratch;
        Ok(Probe {
            status: status?,
            x_cache,
        })
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&[u8]>,
        on_header: impl FnMut(&str, &str),
        body: &mut Vec<u8>,
    ) -> io::Result<u16> {
        let result = self
            .exchange_once(method, path, json, on_header, body)
            .await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange_once(
        &mut self,
        method: &str,
        path: &str,
        json: Option<&[u8]>,
        mut on_header: impl FnMut(&str, &str),
        body: &mut Vec<u8>,
    ) -> io::Result<u16> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::with_capacity(16 * 1024, stream));
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(bad("no connection"));
        };
        let request = &mut self.request;
        request.clear();
        for part in [method, " ", path, " HTTP/1.1\r\nHost: ", &self.host, "\r\n"] {
            request.extend_from_slice(part.as_bytes());
        }
        match json {
            Some(json) => {
                request.extend_from_slice(b"Content-Type: application/json\r\nContent-Length: ");
                request.extend_from_slice(json.len().to_string().as_bytes());
                request.extend_from_slice(b"\r\n\r\n");
                request.extend_from_slice(json);
            }
            None => request.extend_from_slice(b"\r\n"),
        }
        stream.get_mut().write_all(request).await?;

        let line = &mut self.line;
        line.clear();
        if stream.read_line(line).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed by the server",
            ));
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
        let (mut length, mut close) = (None, false);
        loop {
            line.clear();
            if stream.read_line(line).await? == 0 {
                return Err(bad("connection closed inside the headers"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                return Err(bad(format!("bad header line {header:?}")));
            };
            let (name, value) = (name.trim(), value.trim());
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| bad("bad content-length"))?,
                );
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close")
            {
                close = true;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(bad("chunked responses are not supported by this client"));
            }
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                on_header(&name.to_ascii_lowercase(), value);
            } else {
                on_header(name, value);
            }
        }
        let length = length.ok_or_else(|| bad("response without content-length"))?;
        if length > MAX_BODY {
            return Err(bad(format!("body of {length} bytes is too large")));
        }
        body.resize(length, 0);
        stream.read_exact(body).await?;
        if close {
            self.stream = None;
        }
        Ok(status)
    }
}

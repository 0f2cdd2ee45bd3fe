//! A minimal RESP2 client over a plain TCP socket, for the harness's own admin commands
//! (readiness, cluster setup). Not a general-purpose client.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::HarnessError;

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Status(String),
    /// `-ERR ...`
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$n` bulk string (`None`: nil).
    Bulk(Option<Vec<u8>>),
    /// `*n` array (`None`: nil).
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text (status or bulk), for logs and simple checks.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Reply::Status(s) => Some(s.clone()),
            Reply::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// One admin connection.
pub(crate) struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    /// Connects to `127.0.0.1:port` with short timeouts.
    pub(crate) fn open(port: u16, timeout: Duration) -> Result<Self, HarnessError> {
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command (binary-safe arguments) and reads its reply.
    pub(crate) fn call(&mut self, args: &[&[u8]]) -> Result<Reply, HarnessError> {
        let mut frame = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            frame.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            frame.extend_from_slice(arg);
            frame.extend_from_slice(b"\r\n");
        }
        self.reader.get_mut().write_all(&frame)?;
        read_reply(&mut self.reader)
    }
}

fn read_line(reader: &mut impl BufRead) -> Result<String, HarnessError> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(HarnessError::Command(
            "connection closed by the server".into(),
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

fn parse_len(text: &str) -> Result<i64, HarnessError> {
    text.parse()
        .map_err(|_| HarnessError::Command(format!("malformed RESP length {text:?}")))
}

fn read_reply(reader: &mut impl BufRead) -> Result<Reply, HarnessError> {
    let line = read_line(reader)?;
    let (kind, rest) = line.split_at(line.len().min(1));
    match kind {
        "+" => Ok(Reply::Status(rest.to_owned())),
        "-" => Ok(Reply::Error(rest.to_owned())),
        ":" => Ok(Reply::Integer(parse_len(rest)?)),
        "$" => {
            let Ok(len) = usize::try_from(parse_len(rest)?) else {
                return Ok(Reply::Bulk(None));
            };
            let mut buf = vec![0; len + 2];
            reader.read_exact(&mut buf)?;
            buf.truncate(len);
            Ok(Reply::Bulk(Some(buf)))
        }
        "*" => {
            let Ok(len) = usize::try_from(parse_len(rest)?) else {
                return Ok(Reply::Array(None));
            };
            let items = (0..len)
                .map(|_| read_reply(reader))
                .collect::<Result<_, _>>()?;
            Ok(Reply::Array(Some(items)))
        }
        _ => Err(HarnessError::Command(format!(
            "unexpected RESP line {line:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_replies() {
        let raw = b"*3\r\n+OK\r\n$3\r\nabc\r\n*2\r\n:7\r\n$-1\r\n".to_vec();
        let reply = read_reply(&mut &raw[..]).unwrap();
        assert_eq!(
            reply,
            Reply::Array(Some(vec![
                Reply::Status("OK".into()),
                Reply::Bulk(Some(b"abc".to_vec())),
                Reply::Array(Some(vec![Reply::Integer(7), Reply::Bulk(None)])),
            ]))
        );
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(read_reply(&mut &b"?what\r\n"[..]).is_err());
        assert!(read_reply(&mut &b"$x\r\n"[..]).is_err());
        assert!(read_reply(&mut &b""[..]).is_err());
    }
}

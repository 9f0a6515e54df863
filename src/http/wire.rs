//! What goes over the socket around hyper: the bytes of the answers hyper
//! writes by itself, and how a connection ends.
//!
//! - hyper answers a request it cannot parse (a bad request line, a
//!   request line of 64 KiB or more, too many or too large headers) with
//!   a bare status line and an empty body. [`Wire`] replaces that answer
//!   with the reference's (Go's net/http): the status, `Content-Type:
//!   text/plain; charset=utf-8`, `Connection: close`, and the status again
//!   as the body, so that the client learns why.
//! - A connection that closes while the client is still sending (a 413
//!   answered before the body was read, a parse error) would be reset by
//!   the kernel, and the reset can destroy the answer before the client
//!   reads it. [`Wire`] closes its side for writing first, then reads and
//!   discards what the client still sends, for at most [`LINGER`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// How long a closing connection keeps reading (and discarding) what the
/// client still sends, so that the client reads our answer.
pub(crate) const LINGER: Duration = Duration::from_secs(2);

/// The answer to a connection beyond `max_connections`.
pub(crate) const TOO_MANY_CONNECTIONS: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n503 Service Unavailable: too many connections";

/// A connection's byte stream, as hyper sees it.
pub(crate) struct Wire<S> {
    inner: S,
    /// Our replacement for an answer hyper wrote, not yet all sent.
    pending: Vec<u8>,
    sent: usize,
    closing: Closing,
}

enum Closing {
    Open,
    /// Write side shut; discarding input until EOF or the deadline.
    Lingering(Pin<Box<tokio::time::Sleep>>),
    Closed,
}

impl<S> Wire<S> {
    #[allow(clippy::new_ret_no_self)]
    pub(crate) fn new(inner: S) -> TokioIo<Wire<S>> {
        TokioIo::new(Wire {
            inner,
            pending: Vec::new(),
            sent: 0,
            closing: Closing::Open,
        })
    }
}

/// The reference's answer for hyper's own `head`, if `head` is one: a
/// whole response head alone in one write, status 400, 414 or 431, with
/// an empty body. The service answers those statuses without a body only
/// where it means the same (a request target it cannot route), so nothing
/// else it sends is mistaken for one.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    if head.len() > 256 || !head.starts_with(b"HTTP/1.1 ") || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let reason = match &head[9..12] {
        b"400" => "400 Bad Request",
        b"414" => "414 URI Too Long",
        b"431" => "431 Request Header Fields Too Large",
        _ => return None,
    };
    let empty = head
        .windows(21)
        .any(|w| w.eq_ignore_ascii_case(b"\r\ncontent-length: 0\r\n"));
    if !empty {
        return None;
    }
    Some(
        format!("HTTP/1.1 {reason}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{reason}")
            .into_bytes(),
    )
}

impl<S: AsyncWrite + Unpin> Wire<S> {
    /// Sends what is left of our replacement answer.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` in place of hyper's own answer, if it is one.
    fn replace(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Option<Poll<io::Result<usize>>> {
        let ours = replacement(buf)?;
        self.pending = ours;
        self.sent = 0;
        // Accepted whole; what the socket does not take now is sent on the
        // next write, flush or shutdown.
        Some(match self.poll_pending(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(buf.len())),
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Wire<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Wire<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some(done) = this.replace(cx, buf) {
            return done;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        let mut parts = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (parts.next(), parts.next()) {
            if let Some(done) = this.replace(cx, only) {
                return done;
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    /// Sends what is pending, shuts the write side, then lingers.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match &mut this.closing {
                Closing::Open => {
                    ready!(this.poll_pending(cx))?;
                    ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
                    this.closing = Closing::Lingering(Box::pin(tokio::time::sleep(LINGER)));
                }
                Closing::Lingering(deadline) => {
                    if deadline.as_mut().poll(cx).is_ready() {
                        this.closing = Closing::Closed;
                        continue;
                    }
                    let mut scratch = [0u8; 8192];
                    let mut buf = ReadBuf::new(&mut scratch);
                    match ready!(Pin::new(&mut this.inner).poll_read(cx, &mut buf)) {
                        Ok(()) if !buf.filled().is_empty() => {}
                        _ => this.closing = Closing::Closed,
                    }
                }
                Closing::Closed => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bare_error_heads_are_replaced() {
        let hyper = b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\nDate: Thu, 03 Dec 2026 07:00:00 GMT\r\n\r\n";
        assert_eq!(
            replacement(hyper).unwrap(),
            b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n431 Request Header Fields Too Large"
        );
        let ours = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 17\r\nDate: x\r\n\r\n";
        assert_eq!(replacement(ours), None);
        let created = b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nDate: x\r\n\r\n";
        assert_eq!(replacement(created), None);
        let with_body = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\nmore";
        assert_eq!(replacement(with_body), None);
    }
}

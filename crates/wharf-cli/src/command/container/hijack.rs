//! docker's hijacked I/O (`cli/command/container/hijack.go`): after attach or exec start is
//! upgraded, the connection is a raw bidirectional stream. Output is docker's multiplexed
//! framing when there is no tty (an 8-byte header `[stream, 0, 0, 0, size u32 BE]` then the
//! payload; stream 1 = stdout, 2 = stderr) and the raw pty bytes with a tty. Our stdin is
//! copied to the stream and the write side is shut down at EOF so the container sees EOF too.
//!
//! Also here: the local terminal in raw mode (`-it`), `resize` at start and on SIGWINCH, and the
//! signal proxy that forwards our signals to the container (`--sig-proxy`).

use std::io::Write;

use hyper::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{Body, Client, Hijacked};
use crate::error::CliError;

/// Incremental decoder of docker's multiplexed stream (`stdcopy`).
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: Vec<u8>,
    /// The payload of the frame that ended the stream ([`WAIT_RESULT`]), once seen.
    end: Option<Vec<u8>>,
}

/// The stream a frame belongs to.
pub const STDIN: u8 = 0;
pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;
pub const SYSTEMERR: u8 = 3;
/// Our daemon's last frame of a `run` made in one request (ADR-0020): the wait's answer.
pub const WAIT_RESULT: u8 = 0x57;

impl Demuxer {
    /// Feeds bytes; returns every complete frame as (stream, payload).
    pub fn push(&mut self, data: &[u8]) -> Vec<(u8, Vec<u8>)> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        let mut pos = 0;
        while self.buf.len() - pos >= 8 {
            let h = &self.buf[pos..pos + 8];
            let size = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
            if self.buf.len() - pos - 8 < size {
                break;
            }
            out.push((h[0], self.buf[pos + 8..pos + 8 + size].to_vec()));
            pos += 8 + size;
        }
        self.buf.drain(..pos);
        out
    }

    /// Bytes of an incomplete frame left at the end of the stream.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

/// Copies a multiplexed (or, with `tty`, raw) stream to `out`/`err` until it ends.
/// A frame on stream 3 (system error) ends the copy with its text, as `stdcopy.StdCopy` does;
/// a [`WAIT_RESULT`] frame ends it with its payload.
pub async fn copy_output(
    mut reader: impl tokio::io::AsyncRead + Unpin,
    tty: bool,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> Result<Option<Vec<u8>>, CliError> {
    let mut demux = Demuxer::default();
    let mut buf = vec![0u8; 32 * 1024];
    while demux.end.is_none() {
        let n = match reader.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            // The daemon closing a hijacked connection abruptly ends the output like EOF.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e.into()),
        };
        write_chunk(&mut demux, tty, &buf[..n], out, err)?;
    }
    Ok(demux.end.take())
}

/// Writes one chunk of a raw (tty) or multiplexed stream to `out`/`err`.
pub fn write_chunk(
    demux: &mut Demuxer,
    tty: bool,
    data: &[u8],
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), CliError> {
    if tty {
        out.write_all(data)?;
        out.flush()?;
        return Ok(());
    }
    for (stream, payload) in demux.push(data) {
        match stream {
            STDIN | STDOUT => {
                out.write_all(&payload)?;
                out.flush()?;
            }
            STDERR => {
                err.write_all(&payload)?;
                err.flush()?;
            }
            SYSTEMERR => {
                return Err(CliError::msg(format!(
                    "error from daemon in stream: {}",
                    String::from_utf8_lossy(&payload)
                )))
            }
            WAIT_RESULT => {
                demux.end = Some(payload);
                return Ok(());
            }
            other => {
                return Err(CliError::Protocol(format!(
                    "unrecognized input header: {other}"
                )))
            }
        }
    }
    Ok(())
}

/// Is this fd a terminal?
pub fn is_tty(fd: impl rustix::fd::AsFd) -> bool {
    rustix::termios::isatty(fd)
}

/// (height, width) of the terminal on stdout.
pub fn terminal_size() -> Option<(u16, u16)> {
    let out = std::io::stdout();
    if !is_tty(&out) {
        return None;
    }
    rustix::termios::tcgetwinsize(&out)
        .ok()
        .map(|w| (w.ws_row, w.ws_col))
}

/// docker's `CheckTty`: `-it` needs a terminal on stdin.
pub fn check_tty(attach_stdin: bool, tty: bool) -> Result<(), CliError> {
    if attach_stdin && tty && !is_tty(std::io::stdin()) {
        return Err(CliError::msg("the input device is not a TTY"));
    }
    Ok(())
}

/// Our stdin in raw mode for as long as this lives (moby/term `SetRawTerminal`).
pub struct RawTerminal {
    saved: Option<rustix::termios::Termios>,
}

impl RawTerminal {
    pub fn enable() -> RawTerminal {
        let stdin = std::io::stdin();
        if !is_tty(&stdin) {
            return RawTerminal { saved: None };
        }
        let Ok(saved) = rustix::termios::tcgetattr(&stdin) else {
            return RawTerminal { saved: None };
        };
        let mut raw = saved.clone();
        // cfmakeraw, as moby/term's MakeRaw: no echo, no line editing, no output processing.
        raw.make_raw();
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &raw);
        RawTerminal { saved: Some(saved) }
    }

    pub fn restore(&mut self) {
        if let Some(t) = self.saved.take() {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                &t,
            );
        }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Reads our stdin on a plain thread (a blocking read can't be cancelled, so it must not hold
/// up the runtime's shutdown) and hands the chunks over; the channel closes at EOF.
fn stdin_chunks() -> tokio::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match std::io::Read::read(&mut stdin, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// Runs a hijacked session: stdin → stream (when `stdin`), stream → stdout/stderr. Returns when
/// the output ends (after our stdin ended too, if it ended first), with the payload of the
/// [`WAIT_RESULT`] frame that ended it, if one did.
pub async fn stream(h: Hijacked, tty: bool, stdin: bool) -> Result<Option<Vec<u8>>, CliError> {
    let mut raw = if tty && stdin {
        Some(RawTerminal::enable())
    } else {
        None
    };
    let Hijacked { reader, writer } = h;
    let input = tokio::spawn(async move {
        let Some(mut w) = writer else { return };
        if stdin {
            let mut rx = stdin_chunks();
            while let Some(chunk) = rx.recv().await {
                if w.write_all(&chunk).await.is_err() {
                    return;
                }
                let _ = w.flush().await;
            }
        }
        // docker's CloseWrite: the container sees EOF on its stdin.
        let _ = w.shutdown().await;
        // Keep the write half alive (dropping it is fine; the read half owns the socket).
        drop(w);
    });
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    let result = copy_output(reader, tty, &mut out, &mut err).await;
    input.abort();
    if let Some(r) = raw.as_mut() {
        r.restore();
    }
    result
}

/// `POST {prefix}/resize?h=&w=` with our terminal's size (docker's `resizeTTY`), retried a few
/// times at start because the process may not have its tty yet.
pub async fn resize(client: &Client, prefix: &str, retries: u32) {
    let Some((h, w)) = terminal_size() else {
        return;
    };
    let path = format!(
        "{prefix}/resize{}",
        crate::client::query(&[("h", h.to_string()), ("w", w.to_string())])
    );
    for i in 0..=retries {
        if client.call(Method::POST, &path, Body::Empty).await.is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10 * (u64::from(i) + 1))).await;
    }
}

/// docker's `MonitorTtySize`: resize now and on every SIGWINCH, until the returned task is
/// aborted.
pub fn monitor_tty_size(client: &Client, prefix: String) -> tokio::task::JoinHandle<()> {
    let client = client.clone();
    tokio::spawn(async move {
        resize(&client, &prefix, 5).await;
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            resize(&client, &prefix, 0).await;
        }
    })
}

/// docker's `ForwardAllSignals`: signals we receive go to the container as
/// `POST /containers/{id}/kill?signal=NAME`.
pub fn forward_signals(client: &Client, container: &str) -> Vec<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let sigs = [
        (SignalKind::interrupt(), "INT"),
        (SignalKind::terminate(), "TERM"),
        (SignalKind::hangup(), "HUP"),
        (SignalKind::quit(), "QUIT"),
        (SignalKind::user_defined1(), "USR1"),
        (SignalKind::user_defined2(), "USR2"),
    ];
    let mut tasks = Vec::new();
    for (kind, name) in sigs {
        let Ok(mut s) = signal(kind) else { continue };
        let client = client.clone();
        let path = format!(
            "/containers/{}/kill{}",
            crate::client::path_segment(container),
            crate::client::query(&[("signal", name.to_string())])
        );
        tasks.push(tokio::spawn(async move {
            while s.recv().await.is_some() {
                if let Err(e) = client.call(Method::POST, &path, Body::Empty).await {
                    eprintln!("Error forwarding signal {name} to container: {e}");
                }
            }
        }));
    }
    tasks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(stream: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![stream, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn demuxes_frames_split_anywhere() {
        let mut all = frame(1, b"hello\n");
        all.extend(frame(2, b"oops\n"));
        all.extend(frame(1, b""));
        all.extend(frame(1, b"bye"));
        for cut in 0..all.len() {
            let mut d = Demuxer::default();
            let mut got = d.push(&all[..cut]);
            got.extend(d.push(&all[cut..]));
            assert_eq!(
                got,
                vec![
                    (1, b"hello\n".to_vec()),
                    (2, b"oops\n".to_vec()),
                    (1, vec![]),
                    (1, b"bye".to_vec())
                ],
                "cut at {cut}"
            );
            assert_eq!(d.pending(), 0);
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn copies_to_stdout_and_stderr() {
        let mut data = frame(1, b"out1 ");
        data.extend(frame(2, b"err1"));
        data.extend(frame(1, b"out2"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let end = copy_output(&data[..], false, &mut out, &mut err)
            .await
            .unwrap();
        assert_eq!(out, b"out1 out2");
        assert_eq!(err, b"err1");
        assert_eq!(end, None);
        // A wait result ends the copy with its payload; nothing after it is read.
        let mut data = frame(1, b"out");
        data.extend(frame(WAIT_RESULT, br#"{"StatusCode":3}"#));
        data.extend(frame(1, b"never"));
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let end = copy_output(&data[..], false, &mut out, &mut err)
            .await
            .unwrap();
        assert_eq!(out, b"out");
        assert_eq!(end.as_deref(), Some(&br#"{"StatusCode":3}"#[..]));
        // With a tty the bytes are not framed.
        let (mut out, mut err) = (Vec::new(), Vec::new());
        copy_output(&b"raw\r\n"[..], true, &mut out, &mut err)
            .await
            .unwrap();
        assert_eq!(out, b"raw\r\n");
        // A system error frame ends the copy with its message.
        let data = frame(3, b"boom");
        let e = copy_output(&data[..], false, &mut Vec::new(), &mut Vec::new())
            .await
            .unwrap_err();
        assert_eq!(e.to_string(), "error from daemon in stream: boom");
    }
}

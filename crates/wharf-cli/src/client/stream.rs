//! docker's JSON message streams (load, import, pull, build): a sequence of JSON objects with
//! `stream`, `status`, `id`, `progress`/`progressDetail`, `aux`, and `error`/`errorDetail`.
//! Rendered like docker's `jsonmessage.DisplayJSONMessagesStream`: `stream` text as-is,
//! `status` lines as "ID: status", progress bars only on a terminal, and the first `error`
//! ends the command with that message.

use std::io::Write;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Response;
use serde_json::Value;

use crate::error::CliError;

/// Splits complete JSON values off the front of `buf`, leaving a partial tail in place.
pub fn drain_messages(buf: &mut Vec<u8>) -> Result<Vec<Value>, CliError> {
    let mut out = Vec::new();
    let mut consumed = 0;
    {
        let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Value>();
        loop {
            match it.next() {
                Some(Ok(v)) => {
                    consumed = it.byte_offset();
                    out.push(v);
                }
                Some(Err(e)) if e.is_eof() => break,
                Some(Err(e)) => {
                    return Err(CliError::Protocol(format!(
                        "invalid message in stream: {e}"
                    )))
                }
                None => {
                    consumed = buf.len();
                    break;
                }
            }
        }
    }
    buf.drain(..consumed);
    Ok(out)
}

/// Renders one message; returns the error it carries, if any.
pub fn render_message(msg: &Value, out: &mut dyn Write, tty: bool) -> Result<(), CliError> {
    if let Some(err) = msg
        .get("errorDetail")
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
    {
        return Err(CliError::msg(err));
    }
    if let Some(err) = msg.get("error").and_then(Value::as_str) {
        return Err(CliError::msg(err));
    }
    if msg.get("aux").is_some() {
        return Ok(());
    }
    if let Some(s) = msg.get("stream").and_then(Value::as_str) {
        out.write_all(s.as_bytes())?;
        return Ok(());
    }
    let status = msg.get("status").and_then(Value::as_str).unwrap_or("");
    let id = msg.get("id").and_then(Value::as_str).unwrap_or("");
    let progress = msg.get("progress").and_then(Value::as_str).unwrap_or("");
    let has_progress = msg
        .get("progressDetail")
        .is_some_and(|p| p.as_object().is_some_and(|m| !m.is_empty()))
        || !progress.is_empty();
    if has_progress && !tty {
        return Ok(()); // docker hides progress bars when not on a terminal
    }
    if status.is_empty() && id.is_empty() {
        return Ok(());
    }
    let mut line = String::new();
    if !id.is_empty() {
        line.push_str(id);
        line.push_str(": ");
    }
    line.push_str(status);
    if has_progress {
        line.push(' ');
        line.push_str(progress);
        write!(out, "\r\x1b[2K{line}")?;
    } else {
        if tty {
            out.write_all(b"\r\x1b[2K")?;
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

/// Reads a message stream to its end, rendering each message; `on_aux` sees every `aux`.
pub async fn display(
    resp: Response<Incoming>,
    out: &mut dyn Write,
    tty: bool,
    mut on_aux: impl FnMut(&Value),
) -> Result<(), CliError> {
    let mut body = resp.into_body();
    let mut buf = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| CliError::Protocol(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
            for msg in drain_messages(&mut buf)? {
                if let Some(aux) = msg.get("aux") {
                    on_aux(aux);
                }
                render_message(&msg, out, tty)?;
                out.flush()?;
            }
        }
    }
    if !buf.iter().all(u8::is_ascii_whitespace) {
        return Err(CliError::Protocol("truncated message stream".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_complete_messages_only() {
        let mut buf = br#"{"stream":"a"}{"status":"x"}{"str"#.to_vec();
        let msgs = drain_messages(&mut buf).unwrap();
        assert_eq!(msgs.len(), 2);
        assert_eq!(buf, br#"{"str"#.to_vec());
        buf.extend_from_slice(b"eam\":\"b\"}\r\n");
        assert_eq!(drain_messages(&mut buf).unwrap().len(), 1);
        assert!(buf.iter().all(u8::is_ascii_whitespace));
    }

    #[test]
    fn renders_like_docker() {
        let mut out = Vec::new();
        let msgs: Vec<Value> = serde_json::from_str(
            r#"[{"stream":"Loaded image: busybox:latest\n"},{"status":"sha256:abc"},
                {"id":"l1","status":"Loading layer","progressDetail":{"current":1,"total":2},"progress":"[==>  ]"},
                {"aux":{"ID":"sha256:x"}},{"id":"l1","status":"Done"}]"#,
        )
        .unwrap();
        for m in &msgs {
            render_message(m, &mut out, false).unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "Loaded image: busybox:latest\nsha256:abc\nl1: Done\n"
        );
        let err = render_message(
            &serde_json::json!({"error":"bad tar","errorDetail":{"message":"bad tar header"}}),
            &mut Vec::new(),
            false,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "bad tar header");
    }
}

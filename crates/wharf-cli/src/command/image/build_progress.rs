//! `wharf build --progress plain|tty|rawjson`: the build's steps drawn from the daemon's step
//! events (`wharfprogress=1`, see the engine's `build/events.rs` and docs/adr-0007-build.md).
//!
//! - [`Plain`] writes BuildKit's plain lines: `#N [stage k/n] STEP`, the step's output as
//!   `#N 0.123 line` (seconds since the step started), `#N DONE 0.3s` or `#N CACHED`, and an
//!   `exporting to image` block. Used when stdout is not a terminal.
//! - [`Tty`] draws a live view with `indicatif`: one line per step with a spinner and its
//!   elapsed time, the last lines of the running step's output beneath it (collapsed when the
//!   step ends), `CACHED` for cache hits, and a summary at the end.
//!
//! Text without a step (warnings, pull status) is printed as is.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::client::stream::render_message;
use crate::error::CliError;

/// How many lines of a running step's output the terminal view shows.
const TAIL: usize = 6;

/// A step event (`aux.wharfStep`).
fn step_event(msg: &Value) -> Option<&Value> {
    msg.get("aux").and_then(|a| a.get("wharfStep"))
}

fn num(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(0)
}

/// `[stage k/n] TEXT` (`[k/n] TEXT` when only one stage runs), as BuildKit names a step.
fn label(ev: &Value) -> String {
    let text = ev.get("text").and_then(Value::as_str).unwrap_or("");
    let (i, n) = (num(ev, "index"), num(ev, "count"));
    match ev.get("stage").and_then(Value::as_str) {
        Some(s) if num(ev, "stages") > 1 => format!("[{s} {i}/{n}] {text}"),
        _ => format!("[{i}/{n}] {text}"),
    }
}

/// The error a message carries (the code is the failed RUN's status, as docker's).
fn error_of(msg: &Value) -> Option<String> {
    msg.get("errorDetail")
        .and_then(|d| d.get("message"))
        .and_then(Value::as_str)
        .or_else(|| msg.get("error").and_then(Value::as_str))
        .map(str::to_string)
}

fn secs(ms: u64) -> String {
    format!("{:.1}s", ms as f64 / 1000.0)
}

/// Splits `text` into complete lines, keeping a partial last line in `partial`.
fn lines_of(partial: &mut String, text: &str) -> Vec<String> {
    partial.push_str(text);
    let mut out = Vec::new();
    while let Some(i) = partial.find(['\n', '\r']) {
        let line: String = partial.drain(..=i).collect();
        let line = line.trim_end_matches(['\n', '\r']);
        if !line.is_empty() {
            out.push(line.to_string());
        }
    }
    out
}

/// Counts for the summary.
#[derive(Default)]
struct Tally {
    steps: usize,
    cached: usize,
}

/// BuildKit's `--progress=plain`.
pub struct Plain {
    tags: Vec<String>,
    started: Instant,
    /// Running steps: when they started, their partial output line.
    running: HashMap<u64, (Instant, String)>,
    last: u64,
    image_id: String,
    tally: Tally,
}

impl Plain {
    pub fn new(tags: Vec<String>) -> Plain {
        Plain {
            tags,
            started: Instant::now(),
            running: HashMap::new(),
            last: 0,
            image_id: String::new(),
            tally: Tally::default(),
        }
    }

    pub fn message(&mut self, msg: &Value, out: &mut dyn Write) -> Result<(), CliError> {
        if let Some(e) = error_of(msg) {
            let mut ids: Vec<u64> = self.running.keys().copied().collect();
            ids.sort();
            for id in ids {
                if let Some((t, partial)) = self.running.remove(&id) {
                    if !partial.is_empty() {
                        writeln!(out, "#{id} {:.3} {partial}", t.elapsed().as_secs_f64())?;
                    }
                    writeln!(out, "#{id} ERROR: {e}")?;
                }
            }
            out.flush()?;
            return Err(super::build::build_error(msg).unwrap_or_else(|| CliError::msg(e)));
        }
        if let Some(ev) = step_event(msg) {
            let id = num(ev, "step");
            self.last = self.last.max(id);
            match ev.get("event").and_then(Value::as_str) {
                Some("start") => {
                    writeln!(out, "#{id} {}", label(ev))?;
                    self.running.insert(id, (Instant::now(), String::new()));
                }
                Some("done") => {
                    if let Some((t, partial)) = self.running.remove(&id) {
                        if !partial.is_empty() {
                            writeln!(out, "#{id} {:.3} {partial}", t.elapsed().as_secs_f64())?;
                        }
                    }
                    self.tally.steps += 1;
                    if ev.get("cached").and_then(Value::as_bool) == Some(true) {
                        self.tally.cached += 1;
                        writeln!(out, "#{id} CACHED")?;
                    } else {
                        writeln!(out, "#{id} DONE {}", secs(num(ev, "ms")))?;
                    }
                }
                _ => {}
            }
        } else if let Some(aux) = msg.get("aux") {
            if let Some(id) = aux.get("ID").and_then(Value::as_str) {
                self.image_id = id.to_string();
            }
        } else if let (Some(id), Some(text)) = (
            msg.get("wharfStep").and_then(Value::as_u64),
            msg.get("stream").and_then(Value::as_str),
        ) {
            if let Some((t, partial)) = self.running.get_mut(&id) {
                let at = t.elapsed().as_secs_f64();
                for line in lines_of(partial, text) {
                    writeln!(out, "#{id} {at:.3} {line}")?;
                }
            }
        } else {
            render_message(msg, out, false)?;
        }
        out.flush()?;
        Ok(())
    }

    /// The `exporting to image` block; returns the image ID.
    pub fn finish(self, out: &mut dyn Write) -> Result<String, CliError> {
        let n = self.last + 1;
        writeln!(out, "#{n} exporting to image")?;
        writeln!(out, "#{n} writing image {} done", self.image_id)?;
        for t in &self.tags {
            writeln!(out, "#{n} naming to {t} done")?;
        }
        writeln!(out, "#{n} DONE 0.0s")?;
        writeln!(
            out,
            "{}",
            summary(&self.image_id, &self.tally, self.started.elapsed())
        )?;
        out.flush()?;
        Ok(self.image_id)
    }
}

fn summary(id: &str, t: &Tally, took: Duration) -> String {
    let short = id.strip_prefix("sha256:").unwrap_or(id);
    format!(
        "Built {} in {:.1}s: {} step{}, {} cached",
        &short[..short.len().min(12)],
        took.as_secs_f64(),
        t.steps,
        if t.steps == 1 { "" } else { "s" },
        t.cached
    )
}

/// One step of the terminal view.
struct TtyStep {
    bar: ProgressBar,
    label: String,
    started: Instant,
    /// Its output's last lines, drawn beneath it while it runs.
    log: Option<ProgressBar>,
    tail: VecDeque<String>,
    partial: String,
}

/// The live terminal view.
pub struct Tty {
    mp: MultiProgress,
    /// `[+] Building …`, drawn from the first message on (an error before the build starts
    /// leaves nothing on the screen).
    header: Option<ProgressBar>,
    steps: HashMap<u64, TtyStep>,
    tags: Vec<String>,
    started: Instant,
    image_id: String,
    width: usize,
    tally: Tally,
    total: u64,
}

fn style(t: &str) -> ProgressStyle {
    ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

/// The terminal's width (80 when unknown).
fn term_width() -> usize {
    rustix::termios::tcgetwinsize(std::io::stdout())
        .map(|w| w.ws_col as usize)
        .ok()
        .filter(|w| *w >= 20)
        .unwrap_or(80)
}

/// `s` cut to `w` characters.
fn fit(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        return s.to_string();
    }
    let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
    t.push('…');
    t
}

impl Tty {
    pub fn new(tags: Vec<String>) -> Tty {
        let mp = MultiProgress::with_draw_target(ProgressDrawTarget::stdout_with_hz(10));
        Tty {
            mp,
            header: None,
            steps: HashMap::new(),
            tags,
            started: Instant::now(),
            image_id: String::new(),
            width: term_width(),
            tally: Tally::default(),
            total: 0,
        }
    }

    fn header(&mut self) -> &ProgressBar {
        let (mp, started) = (&self.mp, self.started);
        self.header.get_or_insert_with(|| {
            let h = mp.add(ProgressBar::new_spinner().with_elapsed(started.elapsed()));
            h.set_style(style("[+] Building {elapsed_precise} {msg}"));
            h.enable_steady_tick(Duration::from_millis(100));
            h
        })
    }

    fn progress(&mut self) {
        let msg = format!("({}/{})", self.tally.steps, self.total);
        self.header().set_message(msg);
    }

    /// Prints a line above the bars.
    fn println(&self, s: &str) {
        let _ = self.mp.println(s.trim_end_matches('\n'));
    }

    fn draw_tail(&self, st: &TtyStep) {
        if let Some(log) = &st.log {
            let w = self.width.saturating_sub(4);
            let text: Vec<String> = st
                .tail
                .iter()
                .map(|l| format!("    {}", fit(l, w)))
                .collect();
            log.set_message(text.join("\n"));
        }
    }

    pub fn message(&mut self, msg: &Value) -> Result<(), CliError> {
        self.header();
        if let Some(e) = error_of(msg) {
            let mut ids: Vec<u64> = self.steps.keys().copied().collect();
            ids.sort();
            let mut logs = Vec::new();
            for id in ids {
                if let Some(st) = self.steps.remove(&id) {
                    if let Some(log) = &st.log {
                        log.finish_and_clear();
                        self.mp.remove(log);
                    }
                    st.bar.set_style(style(" => {wide_msg:.red} {prefix:.red}"));
                    st.bar
                        .set_prefix(format!("{:.1}s", st.started.elapsed().as_secs_f64()));
                    st.bar.abandon_with_message(format!("ERROR {}", st.label));
                    let mut tail: Vec<String> = st.tail.into_iter().collect();
                    if !st.partial.is_empty() {
                        tail.push(st.partial);
                    }
                    logs.push((st.label, tail));
                }
            }
            self.header().abandon_with_message("ERROR");
            for (label, tail) in logs {
                self.println(&format!("------\n > {label}:"));
                for l in tail {
                    self.println(&l);
                }
                self.println("------");
            }
            return Err(super::build::build_error(msg).unwrap_or_else(|| CliError::msg(e)));
        }
        if let Some(ev) = step_event(msg) {
            let id = num(ev, "step");
            match ev.get("event").and_then(Value::as_str) {
                Some("start") => {
                    self.total = self.total.max(num(ev, "total"));
                    let label = label(ev);
                    let bar = self.mp.add(ProgressBar::new_spinner());
                    bar.set_style(style(" {spinner:.cyan} {wide_msg} {elapsed:.dim}"));
                    bar.set_message(label.clone());
                    bar.enable_steady_tick(Duration::from_millis(100));
                    self.steps.insert(
                        id,
                        TtyStep {
                            bar,
                            label,
                            started: Instant::now(),
                            log: None,
                            tail: VecDeque::new(),
                            partial: String::new(),
                        },
                    );
                }
                Some("done") => {
                    self.tally.steps += 1;
                    if let Some(st) = self.steps.remove(&id) {
                        if let Some(log) = &st.log {
                            log.finish_and_clear();
                            self.mp.remove(log);
                        }
                        st.bar
                            .set_style(style(" => {wide_msg:.blue} {prefix:.blue}"));
                        if ev.get("cached").and_then(Value::as_bool) == Some(true) {
                            self.tally.cached += 1;
                            st.bar.finish_with_message(format!("CACHED {}", st.label));
                        } else {
                            st.bar.set_prefix(secs(num(ev, "ms")));
                            st.bar.finish_with_message(st.label);
                        }
                    }
                }
                _ => {}
            }
            self.progress();
        } else if let Some(aux) = msg.get("aux") {
            if let Some(id) = aux.get("ID").and_then(Value::as_str) {
                self.image_id = id.to_string();
            }
        } else if let (Some(id), Some(text)) = (
            msg.get("wharfStep").and_then(Value::as_u64),
            msg.get("stream").and_then(Value::as_str),
        ) {
            if let Some(mut st) = self.steps.remove(&id) {
                let lines = lines_of(&mut st.partial, text);
                if !lines.is_empty() {
                    for l in lines {
                        if st.tail.len() == TAIL {
                            st.tail.pop_front();
                        }
                        st.tail.push_back(l);
                    }
                    if st.log.is_none() {
                        let log = self.mp.insert_after(&st.bar, ProgressBar::new_spinner());
                        log.set_style(style("{msg:.dim}"));
                        st.log = Some(log);
                    }
                    self.draw_tail(&st);
                }
                self.steps.insert(id, st);
            }
        } else if let Some(s) = msg.get("stream").and_then(Value::as_str) {
            self.println(s);
        } else if msg.get("status").is_some() {
            // pull progress of a base image: the status lines only
            let mut buf = Vec::new();
            render_message(msg, &mut buf, false)?;
            if !buf.is_empty() {
                self.println(&String::from_utf8_lossy(&buf));
            }
        }
        Ok(())
    }

    /// Ends the view with the image's names and a summary; returns the image ID.
    pub fn finish(mut self, out: &mut dyn Write) -> Result<String, CliError> {
        let msg = format!("({}/{}) FINISHED", self.tally.steps, self.total);
        self.header().finish_with_message(msg);
        drop(self.mp);
        let short = self
            .image_id
            .strip_prefix("sha256:")
            .unwrap_or(&self.image_id);
        writeln!(out, " => writing image sha256:{short}")?;
        for t in &self.tags {
            writeln!(out, " => naming to {t}")?;
        }
        writeln!(
            out,
            "{}",
            summary(&self.image_id, &self.tally, self.started.elapsed())
        )?;
        out.flush()?;
        Ok(self.image_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::stream::drain_messages;

    const STREAM: &str = concat!(
        r#"{"aux":{"wharfStep":{"step":1,"event":"start","stage":"stage-0","stages":1,"index":1,"count":3,"total":3,"text":"FROM busybox"}}}"#,
        r#"{"aux":{"wharfStep":{"step":1,"event":"done","cached":false,"ms":3}}}"#,
        r#"{"aux":{"wharfStep":{"step":2,"event":"start","stage":"stage-0","stages":1,"index":2,"count":3,"total":3,"text":"RUN echo hi; echo there"}}}"#,
        r#"{"stream":"hi\nthe","wharfStep":2}{"stream":"re\n","wharfStep":2}"#,
        r#"{"aux":{"wharfStep":{"step":2,"event":"done","cached":false,"ms":1234}}}"#,
        r#"{"aux":{"wharfStep":{"step":3,"event":"start","stage":"stage-0","stages":1,"index":3,"count":3,"total":3,"text":"COPY a /a"}}}"#,
        r#"{"aux":{"wharfStep":{"step":3,"event":"done","cached":true,"ms":1}}}"#,
        r#"{"stream":"[Warning] One or more build-args [X] were not consumed\n"}"#,
        r#"{"aux":{"ID":"sha256:4f1b2c3d4e5f60718293"}}"#,
    );

    fn plain(stream: &str) -> (String, Result<String, CliError>) {
        let mut buf = stream.as_bytes().to_vec();
        let mut out = Vec::new();
        let mut p = Plain::new(vec!["app:latest".into()]);
        let mut res = Ok(String::new());
        for m in drain_messages(&mut buf).unwrap() {
            if let Err(e) = p.message(&m, &mut out) {
                res = Err(e);
                break;
            }
        }
        if res.is_ok() {
            res = p.finish(&mut out);
        }
        (String::from_utf8(out).unwrap(), res)
    }

    #[test]
    fn plain_lines_are_buildkits() {
        let (out, id) = plain(STREAM);
        assert_eq!(id.unwrap(), "sha256:4f1b2c3d4e5f60718293");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "#1 [1/3] FROM busybox");
        assert_eq!(lines[1], "#1 DONE 0.0s");
        assert_eq!(lines[2], "#2 [2/3] RUN echo hi; echo there");
        assert!(
            lines[3].starts_with("#2 0.") && lines[3].ends_with(" hi"),
            "{out}"
        );
        assert!(lines[4].ends_with(" there"), "{out}");
        assert_eq!(lines[5], "#2 DONE 1.2s");
        assert_eq!(lines[6], "#3 [3/3] COPY a /a");
        assert_eq!(lines[7], "#3 CACHED");
        assert_eq!(
            lines[8],
            "[Warning] One or more build-args [X] were not consumed"
        );
        assert_eq!(lines[9], "#4 exporting to image");
        assert_eq!(
            lines[10],
            "#4 writing image sha256:4f1b2c3d4e5f60718293 done"
        );
        assert_eq!(lines[11], "#4 naming to app:latest done");
        assert_eq!(lines[12], "#4 DONE 0.0s");
        assert!(
            lines[13].starts_with("Built 4f1b2c3d4e5f in ")
                && lines[13].ends_with(": 3 steps, 1 cached"),
            "{out}"
        );
    }

    #[test]
    fn plain_marks_the_failed_step_and_exits_with_its_code() {
        let (out, res) = plain(concat!(
            r#"{"aux":{"wharfStep":{"step":2,"event":"start","stage":"b","stages":2,"index":2,"count":2,"text":"RUN false"}}}"#,
            r#"{"stream":"oops","wharfStep":2}"#,
            r#"{"errorDetail":{"code":3,"message":"The command '/bin/sh -c false' returned a non-zero code: 3"}}"#,
        ));
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "#2 [b 2/2] RUN false");
        assert!(lines[1].ends_with(" oops"), "{out}");
        assert_eq!(
            lines[2],
            "#2 ERROR: The command '/bin/sh -c false' returned a non-zero code: 3"
        );
        assert_eq!(res.unwrap_err().exit_code(), 3);
    }

    #[test]
    fn output_lines_split_across_messages() {
        let mut p = String::new();
        assert_eq!(lines_of(&mut p, "a\nb"), ["a"]);
        assert_eq!(lines_of(&mut p, "c\r\n\nd\n"), ["bc", "d"]);
        assert_eq!(p, "");
        assert_eq!(fit("abcdef", 4), "abc…");
    }
}

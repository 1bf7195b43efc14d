//! The embedded DNS resolver of user-defined bridge networks (Docker's
//! `127.0.0.11`, here bound on the network's gateway address, port 53).
//!
//! Design:
//! - The daemon binds one UDP socket per user-defined network and hands it to
//!   [`serve`] together with a [`Lookup`] closure (container names and aliases
//!   on that network) and the host's upstream nameservers (see
//!   [`upstreams_from_resolv_conf`]).
//! - The receive loop never waits on anything but the socket: every datagram
//!   is handled in its own task kept in a [`JoinSet`] owned by [`serve`], so
//!   aborting or dropping the `serve` future also cancels queries still in
//!   flight (and releases the socket). At most [`MAX_IN_FLIGHT`] queries are
//!   handled at once; datagrams beyond that are dropped (clients retry).
//! - The DNS wire format (RFC 1035) is hand-written: a header, exactly one
//!   question, and for our own answers A records whose owner name is a
//!   compression pointer to the question (`0xC00C`). Name parsing follows
//!   compression pointers only strictly backwards (each pointer must land
//!   before the place the previous one did), so a pointer loop or an
//!   out-of-bounds pointer is a parse error, never a hang or a panic.
//! - Names the network knows (class IN) are answered here: type A with every
//!   address, TTL 600, rotated round-robin (a counter per name, addresses
//!   sorted first so the rotation does not depend on the lookup's order); any
//!   other type gets NOERROR with no answer, so stub resolvers neither ask
//!   the upstreams nor fail, and fall back to A. Like Docker's resolver, our
//!   answers set RA and not AA. Answers are kept within the classic 512-byte
//!   UDP payload by answering fewer addresses (no TC: there is no TCP side).
//! - Everything else is forwarded verbatim (EDNS included) to the upstreams in
//!   order, each from a fresh ephemeral UDP socket connected to it, under a
//!   random query id restored in the relayed answer, with a 2-second timeout
//!   each; the first answer wins. No upstream, or none answering: SERVFAIL
//!   with the question echoed.
//! - Malformed queries get FORMERR (or are dropped when not even a header is
//!   there); responses (QR set) are dropped, so two resolvers cannot ping-pong.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::task::JoinSet;

/// Looks a container name or alias up on one network: lowercase, without a trailing dot.
/// Returns every address that name has there (several for replicas sharing an alias; IPv6
/// ones on `--ipv6` networks, answered to AAAA questions), or None if unknown.
pub type Lookup = std::sync::Arc<dyn Fn(&str) -> Option<Vec<IpAddr>> + Send + Sync>;

/// TTL of the A records we answer, in seconds.
const TTL: u32 = 600;
/// How long each upstream gets to answer a forwarded query.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// The classic DNS-over-UDP payload limit our own answers stay within.
const MAX_UDP_PAYLOAD: usize = 512;
/// Queries handled concurrently by one [`serve`]; more are dropped.
const MAX_IN_FLIGHT: usize = 1024;
/// Names whose round-robin counter is remembered; the table is reset beyond.
const MAX_ROTATION_NAMES: usize = 4096;
/// Largest datagram we receive (the UDP maximum).
const RECV_BUFFER: usize = 65_535;
/// Length of the DNS header.
const HEADER_LEN: usize = 12;
/// Longest name on the wire (RFC 1035 §2.3.4), length bytes and root included.
const MAX_NAME_WIRE_LEN: usize = 255;

/// Record type A.
const TYPE_A: u16 = 1;
/// Record type AAAA.
const TYPE_AAAA: u16 = 28;
/// Class IN.
const CLASS_IN: u16 = 1;

/// Header flag: this is a response.
const FLAG_QR: u16 = 0x8000;
/// Header field: the opcode (4 bits).
const MASK_OPCODE: u16 = 0x7800;
/// Header flag: recursion desired (copied from the query).
const FLAG_RD: u16 = 0x0100;
/// Header flag: recursion available.
const FLAG_RA: u16 = 0x0080;

/// Response code: no error.
const RCODE_NOERROR: u16 = 0;
/// Response code: the query was malformed.
const RCODE_FORMERR: u16 = 1;
/// Response code: the server could not answer (no upstream did).
const RCODE_SERVFAIL: u16 = 2;
/// Response code: this kind of query (opcode) is not implemented.
const RCODE_NOTIMP: u16 = 4;

/// A client's own nameservers (a container's `--dns`), by its address; `None`: the defaults.
pub type UpstreamsFor = Arc<dyn Fn(IpAddr) -> Option<Vec<SocketAddr>> + Send + Sync>;

/// Serves DNS on `socket` until the task is aborted/dropped.
pub async fn serve(
    socket: tokio::net::UdpSocket,
    lookup: Lookup,
    upstreams: Vec<std::net::SocketAddr>,
) {
    serve_with(socket, lookup, upstreams, Arc::new(|_| None)).await
}

/// [`serve`], forwarding a client's unknown names to its own nameservers where it has some.
pub async fn serve_with(
    socket: tokio::net::UdpSocket,
    lookup: Lookup,
    upstreams: Vec<std::net::SocketAddr>,
    per_client: UpstreamsFor,
) {
    let socket = Arc::new(socket);
    let resolver = Arc::new(Resolver::new(lookup, upstreams, per_client));
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        tokio::select! {
            // Reap finished queries so the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            received = socket.recv_from(&mut buf) => {
                let (len, peer) = match received {
                    Ok(received) => received,
                    Err(err) => {
                        tracing::warn!(%err, "dns: receiving a query failed");
                        // Do not spin if the error persists.
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                if tasks.len() >= MAX_IN_FLIGHT {
                    tracing::debug!(%peer, "dns: too many queries in flight, dropping one");
                    continue;
                }
                let packet = buf.get(..len).unwrap_or_default().to_vec();
                let socket = Arc::clone(&socket);
                let resolver = Arc::clone(&resolver);
                tasks.spawn(async move {
                    if let Some(reply) = resolver.respond(&packet, peer.ip()).await {
                        if let Err(err) = socket.send_to(&reply, peer).await {
                            tracing::debug!(%err, %peer, "dns: sending a reply failed");
                        }
                    }
                });
            }
        }
    }
}

/// The nameservers of a resolv.conf text (the host's), as UDP socket addresses on port 53,
/// skipping loopback ones (127.0.0.0/8, ::1 — they would not be reachable from a container's view).
pub fn upstreams_from_resolv_conf(text: &str) -> Vec<std::net::SocketAddr> {
    let mut upstreams = Vec::new();
    for line in text.lines() {
        // Comments start with `#` or `;` (at the start of a line, or after a value).
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            continue;
        }
        // Addresses with a zone (`fe80::1%eth0`) do not parse and are skipped:
        // the zone names one of the host's interfaces.
        let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        if is_local(ip) {
            continue;
        }
        let upstream = SocketAddr::new(ip, 53);
        if !upstreams.contains(&upstream) {
            upstreams.push(upstream);
        }
    }
    upstreams
}

/// Whether a nameserver address means "this host" (loopback or unspecified).
fn is_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_unspecified(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified())
        }
    }
}

/// Why a query could not be parsed.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum ParseError {
    /// The packet ends inside a header, name, label or question.
    #[error("packet truncated")]
    Truncated,
    /// A label length byte uses the reserved 0x40/0x80 prefixes.
    #[error("unsupported label type")]
    BadLabel,
    /// A compression pointer does not point strictly backwards (loop or forward jump).
    #[error("bad compression pointer")]
    BadPointer,
    /// The name is longer than 255 bytes on the wire.
    #[error("name too long")]
    NameTooLong,
}

/// The parts of a DNS header we use.
#[derive(Debug, Clone, Copy)]
struct Header {
    /// Query id, echoed in the reply.
    id: u16,
    /// Flags word (QR, opcode, AA, TC, RD, RA, Z, rcode).
    flags: u16,
    /// Number of questions.
    qdcount: u16,
}

/// One question: its labels as sent (case kept, for the echo), type and class.
#[derive(Debug, Clone)]
struct Question {
    /// The labels of the name, without the root.
    labels: Vec<Vec<u8>>,
    /// QTYPE.
    qtype: u16,
    /// QCLASS.
    qclass: u16,
}

impl Question {
    /// The name as [`Lookup`] wants it: lowercase, dot-separated, no trailing dot.
    /// None for the root, or for labels no container name can hold
    /// (dots, spaces or non-ASCII bytes inside a label).
    fn lookup_name(&self) -> Option<String> {
        if self.labels.is_empty() {
            return None;
        }
        let mut name = String::new();
        for label in &self.labels {
            if !label.iter().all(|&b| b.is_ascii_graphic() && b != b'.') {
                return None;
            }
            if !name.is_empty() {
                name.push('.');
            }
            name.extend(label.iter().map(|&b| char::from(b.to_ascii_lowercase())));
        }
        Some(name)
    }

    /// Appends the question in wire format (uncompressed name, type, class).
    fn encode(&self, out: &mut Vec<u8>) {
        for label in &self.labels {
            // Labels were parsed from 6-bit lengths, so they fit in a byte.
            out.push(u8::try_from(label.len()).unwrap_or(u8::MAX));
            out.extend_from_slice(label);
        }
        out.push(0);
        out.extend_from_slice(&self.qtype.to_be_bytes());
        out.extend_from_slice(&self.qclass.to_be_bytes());
    }
}

/// Reads a big-endian u16 at `pos`.
fn read_u16(msg: &[u8], pos: usize) -> Result<u16, ParseError> {
    match msg.get(pos..pos.saturating_add(2)) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(ParseError::Truncated),
    }
}

/// Parses the header, or None when the packet is shorter than one.
fn parse_header(msg: &[u8]) -> Option<Header> {
    if msg.len() < HEADER_LEN {
        return None;
    }
    Some(Header {
        id: read_u16(msg, 0).ok()?,
        flags: read_u16(msg, 2).ok()?,
        qdcount: read_u16(msg, 4).ok()?,
    })
}

/// Reads a (possibly compressed) name starting at `start`.
/// Returns its labels and the offset just after the name where it started.
///
/// Each compression pointer must point strictly before the place where the
/// current run of labels started (the name's start, then the previous
/// pointer's target), so the walk always terminates: pointer loops and
/// forward or out-of-bounds pointers are errors.
fn read_name(msg: &[u8], start: usize) -> Result<(Vec<Vec<u8>>, usize), ParseError> {
    let mut labels = Vec::new();
    let mut pos = start;
    let mut limit = start;
    let mut end = None;
    let mut wire_len = 1; // the root label
    loop {
        let len = *msg.get(pos).ok_or(ParseError::Truncated)?;
        match len & 0xC0 {
            0x00 if len == 0 => return Ok((labels, end.unwrap_or(pos + 1))),
            0x00 => {
                let len = usize::from(len);
                let label = msg
                    .get(pos + 1..pos + 1 + len)
                    .ok_or(ParseError::Truncated)?;
                wire_len += 1 + len;
                if wire_len > MAX_NAME_WIRE_LEN {
                    return Err(ParseError::NameTooLong);
                }
                labels.push(label.to_vec());
                pos += 1 + len;
            }
            0xC0 => {
                let low = *msg.get(pos + 1).ok_or(ParseError::Truncated)?;
                let target = (usize::from(len & 0x3F) << 8) | usize::from(low);
                if target >= limit {
                    return Err(ParseError::BadPointer);
                }
                end.get_or_insert(pos + 2);
                limit = target;
                pos = target;
            }
            _ => return Err(ParseError::BadLabel),
        }
    }
}

/// Parses the (first) question, right after the header.
fn parse_question(msg: &[u8]) -> Result<Question, ParseError> {
    let (labels, end) = read_name(msg, HEADER_LEN)?;
    let qtype = read_u16(msg, end)?;
    let qclass = read_u16(msg, end + 2)?;
    Ok(Question {
        labels,
        qtype,
        qclass,
    })
}

/// Starts a reply: the header with QR and RA set, opcode and RD copied from the
/// query, the given rcode and counts (no authority or additional records).
fn reply_header(query: &Header, rcode: u16, qdcount: u16, ancount: u16) -> Vec<u8> {
    let flags = FLAG_QR | (query.flags & (MASK_OPCODE | FLAG_RD)) | FLAG_RA | rcode;
    let mut out = Vec::with_capacity(MAX_UDP_PAYLOAD);
    for word in [query.id, flags, qdcount, ancount, 0, 0] {
        out.extend_from_slice(&word.to_be_bytes());
    }
    out
}

/// A header-only reply (FORMERR, NOTIMP: no question could be echoed).
fn header_only(query: &Header, rcode: u16) -> Vec<u8> {
    reply_header(query, rcode, 0, 0)
}

/// A SERVFAIL reply echoing the question.
fn servfail(query: &Header, question: &Question) -> Vec<u8> {
    let mut out = reply_header(query, RCODE_SERVFAIL, 1, 0);
    question.encode(&mut out);
    out
}

/// A NOERROR reply echoing the question, with one A (AAAA for IPv6) record per address
/// (as many as fit in [`MAX_UDP_PAYLOAD`]), each named by a pointer to the question.
/// `addrs` are all of one family.
fn answer(query: &Header, question: &Question, addrs: &[IpAddr]) -> Vec<u8> {
    let mut body = Vec::new();
    question.encode(&mut body);
    let rdlen = if addrs.first().is_some_and(IpAddr::is_ipv6) {
        16
    } else {
        4
    };
    let record_len: usize = 2 + 2 + 2 + 4 + 2 + rdlen;
    let room = MAX_UDP_PAYLOAD.saturating_sub(HEADER_LEN + body.len()) / record_len;
    let addrs = &addrs[..addrs.len().min(room)];
    let ancount = u16::try_from(addrs.len()).unwrap_or(0);
    let mut out = reply_header(query, RCODE_NOERROR, 1, ancount);
    out.extend_from_slice(&body);
    for addr in addrs {
        out.extend_from_slice(&[0xC0, 0x0C]);
        let (rtype, rdata) = match addr {
            IpAddr::V4(a) => (TYPE_A, a.octets().to_vec()),
            IpAddr::V6(a) => (TYPE_AAAA, a.octets().to_vec()),
        };
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&u16::try_from(rdata.len()).unwrap_or(4).to_be_bytes());
        out.extend_from_slice(&rdata);
    }
    out
}

/// What to do with one received datagram, decided without any I/O.
#[derive(Debug)]
enum Decision {
    /// Not a query we can reply to (too short, or a response): ignore it.
    Drop,
    /// Send this reply.
    Reply(Vec<u8>),
    /// Not ours: forward the raw query; SERVFAIL with this question if no upstream answers.
    Forward(Header, Question),
}

/// The state shared by the tasks of one [`serve`].
struct Resolver {
    /// The network's names.
    lookup: Lookup,
    /// Where unknown names go, in order.
    upstreams: Vec<SocketAddr>,
    /// Clients with nameservers of their own.
    per_client: UpstreamsFor,
    /// Round-robin counter per known name.
    rotation: Mutex<HashMap<String, usize>>,
}

impl Resolver {
    /// A resolver for one network.
    fn new(lookup: Lookup, upstreams: Vec<SocketAddr>, per_client: UpstreamsFor) -> Self {
        Self {
            lookup,
            upstreams,
            per_client,
            rotation: Mutex::new(HashMap::new()),
        }
    }

    /// The reply to one datagram, if any (forwarding to the upstreams when needed).
    async fn respond(&self, packet: &[u8], client: IpAddr) -> Option<Vec<u8>> {
        match self.decide(packet) {
            Decision::Drop => None,
            Decision::Reply(reply) => Some(reply),
            Decision::Forward(header, question) => {
                let own = (self.per_client)(client);
                let upstreams = own.as_deref().unwrap_or(&self.upstreams);
                match forward(packet, header.id, upstreams).await {
                    Some(reply) => Some(reply),
                    None => Some(servfail(&header, &question)),
                }
            }
        }
    }

    /// Parses a datagram and answers it from the network's names when it can.
    fn decide(&self, packet: &[u8]) -> Decision {
        let Some(header) = parse_header(packet) else {
            tracing::debug!(
                len = packet.len(),
                "dns: dropping a datagram shorter than a header"
            );
            return Decision::Drop;
        };
        if header.flags & FLAG_QR != 0 {
            return Decision::Drop;
        }
        if header.flags & MASK_OPCODE != 0 {
            return Decision::Reply(header_only(&header, RCODE_NOTIMP));
        }
        if header.qdcount != 1 {
            return Decision::Reply(header_only(&header, RCODE_FORMERR));
        }
        let question = match parse_question(packet) {
            Ok(question) => question,
            Err(err) => {
                tracing::debug!(%err, "dns: malformed query");
                return Decision::Reply(header_only(&header, RCODE_FORMERR));
            }
        };
        if question.qclass != CLASS_IN {
            return Decision::Forward(header, question);
        }
        let Some(name) = question.lookup_name() else {
            return Decision::Forward(header, question);
        };
        let Some(mut addrs) = (self.lookup)(&name) else {
            return Decision::Forward(header, question);
        };
        match question.qtype {
            TYPE_A => addrs.retain(IpAddr::is_ipv4),
            TYPE_AAAA => addrs.retain(IpAddr::is_ipv6),
            _ => addrs.clear(),
        }
        addrs.sort_unstable();
        addrs.dedup();
        self.rotate(&name, &mut addrs);
        Decision::Reply(answer(&header, &question, &addrs))
    }

    /// Rotates `addrs` to start at the name's next address.
    fn rotate(&self, name: &str, addrs: &mut [IpAddr]) {
        if addrs.len() < 2 {
            return;
        }
        // One counter per name and family.
        let name = &if addrs[0].is_ipv6() {
            format!("{name}/6")
        } else {
            name.to_string()
        };
        let start = {
            let mut rotation = self.rotation.lock().unwrap_or_else(PoisonError::into_inner);
            if rotation.len() >= MAX_ROTATION_NAMES && !rotation.contains_key(name) {
                rotation.clear();
            }
            let counter = rotation.entry(name.to_owned()).or_insert(0);
            let start = *counter;
            *counter = counter.wrapping_add(1);
            start
        };
        addrs.rotate_left(start % addrs.len());
    }
}

/// Forwards a raw query to each upstream in turn; the first answer, with the
/// query's original id, or None when none answered in time.
async fn forward(packet: &[u8], original_id: u16, upstreams: &[SocketAddr]) -> Option<Vec<u8>> {
    for &upstream in upstreams {
        let id: u16 = rand::random();
        let mut query = packet.to_vec();
        if let Some(head) = query.get_mut(..2) {
            head.copy_from_slice(&id.to_be_bytes());
        }
        match tokio::time::timeout(UPSTREAM_TIMEOUT, exchange(&query, id, upstream)).await {
            Ok(Ok(mut reply)) => {
                if let Some(head) = reply.get_mut(..2) {
                    head.copy_from_slice(&original_id.to_be_bytes());
                }
                return Some(reply);
            }
            Ok(Err(err)) => tracing::debug!(%err, %upstream, "dns: upstream failed"),
            Err(_) => tracing::debug!(%upstream, "dns: upstream timed out"),
        }
    }
    None
}

/// Sends `query` to `upstream` from a fresh ephemeral socket connected to it
/// and waits for a response carrying `id` (other datagrams are ignored).
async fn exchange(query: &[u8], id: u16, upstream: SocketAddr) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match upstream {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let len = socket.recv(&mut buf).await?;
        let reply = buf.get(..len).unwrap_or_default();
        if let Some(header) = parse_header(reply) {
            if header.id == id && header.flags & FLAG_QR != 0 {
                return Ok(reply.to_vec());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tokio::task::JoinHandle;

    /// Encodes a query (RD set) for `name` (dot-separated, no compression).
    fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
        let mut out = Vec::new();
        for word in [id, FLAG_RD, 1, 0, 0, 0] {
            out.extend_from_slice(&word.to_be_bytes());
        }
        for label in name.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out.extend_from_slice(&qtype.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out
    }

    /// A decoded reply.
    #[derive(Debug)]
    struct Reply {
        id: u16,
        flags: u16,
        qdcount: u16,
        qname: String,
        answers: Vec<Ipv4Addr>,
    }

    impl Reply {
        fn rcode(&self) -> u16 {
            self.flags & 0x000F
        }
    }

    /// Decodes a reply: header, the question's name (uncompressed), A answers.
    fn decode(msg: &[u8]) -> Reply {
        let id = read_u16(msg, 0).unwrap();
        let flags = read_u16(msg, 2).unwrap();
        let qdcount = read_u16(msg, 4).unwrap();
        let ancount = read_u16(msg, 6).unwrap();
        let mut pos = HEADER_LEN;
        let mut qname = String::new();
        if qdcount == 1 {
            let (labels, end) = read_name(msg, pos).unwrap();
            qname = labels
                .iter()
                .map(|l| String::from_utf8(l.clone()).unwrap())
                .collect::<Vec<_>>()
                .join(".");
            pos = end + 4;
        }
        let mut answers = Vec::new();
        for _ in 0..ancount {
            let (labels, end) = read_name(msg, pos).unwrap();
            assert_eq!(
                &msg[pos..pos + 2],
                &[0xC0, 0x0C],
                "answers point to the question"
            );
            assert_eq!(labels.len(), qname.split('.').count());
            assert_eq!(read_u16(msg, end).unwrap(), TYPE_A);
            assert_eq!(read_u16(msg, end + 2).unwrap(), CLASS_IN);
            let ttl = u32::from_be_bytes(msg[end + 4..end + 8].try_into().unwrap());
            assert_eq!(ttl, TTL);
            assert_eq!(read_u16(msg, end + 8).unwrap(), 4);
            let octets: [u8; 4] = msg[end + 10..end + 14].try_into().unwrap();
            answers.push(Ipv4Addr::from(octets));
            pos = end + 14;
        }
        assert_eq!(pos, msg.len(), "no trailing bytes");
        Reply {
            id,
            flags,
            qdcount,
            qname,
            answers,
        }
    }

    #[test]
    fn aaaa_answers_the_ipv6_addresses_and_a_only_the_ipv4_ones() {
        let v6: Ipv6Addr = "fd00:1::2".parse().unwrap();
        let lookup: Lookup =
            Arc::new(move |n: &str| (n == "web").then(|| vec![IpAddr::V4(WEB), IpAddr::V6(v6)]));
        let resolver = Resolver::new(lookup, Vec::new(), Arc::new(|_| None));
        let Decision::Reply(r) = resolver.decide(&query(1, "web", TYPE_AAAA)) else {
            panic!("not answered");
        };
        assert_eq!(read_u16(&r, 6).unwrap(), 1, "one answer");
        // Header, question (1+3+1 name, type, class), then pointer, type, class, ttl, rdlen.
        let at = HEADER_LEN + 5 + 4;
        assert_eq!(read_u16(&r, at + 2).unwrap(), TYPE_AAAA);
        assert_eq!(read_u16(&r, at + 10).unwrap(), 16);
        assert_eq!(&r[at + 12..at + 28], &v6.octets());
        assert_eq!(r.len(), at + 28);
        let Decision::Reply(r) = resolver.decide(&query(2, "web", TYPE_A)) else {
            panic!("not answered");
        };
        assert_eq!(decode(&r).answers, vec![WEB]);
    }

    /// A lookup over a fixed table.
    fn table(entries: &[(&str, &[Ipv4Addr])]) -> Lookup {
        let map: HashMap<String, Vec<IpAddr>> = entries
            .iter()
            .map(|(name, addrs)| {
                (
                    name.to_string(),
                    addrs.iter().map(|a| IpAddr::V4(*a)).collect(),
                )
            })
            .collect();
        Arc::new(move |name: &str| map.get(name).cloned())
    }

    /// Serves `lookup` on an ephemeral port of 127.0.0.1.
    async fn start(lookup: Lookup, upstreams: Vec<SocketAddr>) -> (SocketAddr, JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        (addr, tokio::spawn(serve(socket, lookup, upstreams)))
    }

    /// Sends `packet` from a fresh client socket and returns the reply.
    async fn ask(server: SocketAddr, packet: &[u8]) -> Vec<u8> {
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(packet, server).await.unwrap();
        let mut buf = vec![0u8; RECV_BUFFER];
        let (len, from) = tokio::time::timeout(Duration::from_secs(10), client.recv_from(&mut buf))
            .await
            .expect("a reply in time")
            .unwrap();
        assert_eq!(from, server);
        buf.truncate(len);
        buf
    }

    /// Sends `packet` and does not wait for anything.
    async fn send_only(server: SocketAddr, packet: &[u8]) {
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(packet, server).await.unwrap();
    }

    /// A fake upstream on 127.0.0.1 answering every A query with `addr` (TTL 600),
    /// after first sending a decoy with a wrong id. Records the queries it got.
    async fn fake_upstream(
        addr: Ipv4Addr,
    ) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>, JoinHandle<()>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; RECV_BUFFER];
            loop {
                let (len, peer) = socket.recv_from(&mut buf).await.unwrap();
                let q = buf[..len].to_vec();
                seen2.lock().unwrap().push(q.clone());
                let (_, end) = read_name(&q, HEADER_LEN).unwrap();
                let id = read_u16(&q, 0).unwrap();
                let mut reply = Vec::new();
                for word in [id, 0x8180, 1, 1, 0, 0] {
                    reply.extend_from_slice(&word.to_be_bytes());
                }
                reply.extend_from_slice(&q[HEADER_LEN..end + 4]);
                reply.extend_from_slice(&[0xC0, 0x0C, 0, 1, 0, 1]);
                reply.extend_from_slice(&TTL.to_be_bytes());
                reply.extend_from_slice(&[0, 4]);
                reply.extend_from_slice(&addr.octets());
                let mut decoy = reply.clone();
                decoy[..2].copy_from_slice(&id.wrapping_add(1).to_be_bytes());
                decoy[end + 16..].copy_from_slice(&[6, 6, 6, 6]);
                socket.send_to(&decoy, peer).await.unwrap();
                socket.send_to(&reply, peer).await.unwrap();
            }
        });
        (local, seen, task)
    }

    const WEB: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 2);

    #[tokio::test]
    async fn answers_a_for_a_known_name() {
        let (server, task) = start(table(&[("web", &[WEB])]), Vec::new()).await;
        let reply = decode(&ask(server, &query(0x1234, "web", TYPE_A)).await);
        assert_eq!(reply.id, 0x1234);
        assert_eq!(reply.rcode(), RCODE_NOERROR);
        assert_eq!(reply.qdcount, 1);
        assert_eq!(reply.qname, "web");
        assert_eq!(reply.answers, vec![WEB]);
        assert_ne!(reply.flags & FLAG_QR, 0, "QR");
        assert_ne!(reply.flags & FLAG_RD, 0, "RD copied");
        assert_ne!(reply.flags & FLAG_RA, 0, "RA");
        assert_eq!(reply.flags & 0x0400, 0, "not AA");
        assert_eq!(reply.flags & 0x0200, 0, "not TC");
        task.abort();
    }

    #[tokio::test]
    async fn rotates_addresses_round_robin() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        let c = Ipv4Addr::new(10, 0, 0, 3);
        let (server, task) = start(table(&[("svc", &[c, a, b])]), Vec::new()).await;
        let first = decode(&ask(server, &query(1, "svc", TYPE_A)).await).answers;
        let second = decode(&ask(server, &query(2, "svc", TYPE_A)).await).answers;
        let third = decode(&ask(server, &query(3, "svc", TYPE_A)).await).answers;
        assert_eq!(first, vec![a, b, c]);
        assert_eq!(second, vec![b, c, a]);
        assert_eq!(third, vec![c, a, b]);
        task.abort();
    }

    #[tokio::test]
    async fn aaaa_for_a_known_name_is_noerror_without_answers() {
        let (server, task) = start(table(&[("web", &[WEB])]), Vec::new()).await;
        let reply = decode(&ask(server, &query(7, "web", TYPE_AAAA)).await);
        assert_eq!(reply.id, 7);
        assert_eq!(reply.rcode(), RCODE_NOERROR);
        assert_eq!(reply.qdcount, 1);
        assert!(reply.answers.is_empty());
        task.abort();
    }

    #[tokio::test]
    async fn names_are_case_insensitive() {
        let asked = Arc::new(Mutex::new(Vec::new()));
        let asked2 = Arc::clone(&asked);
        let lookup: Lookup = Arc::new(move |name: &str| {
            asked2.lock().unwrap().push(name.to_owned());
            (name == "web.mynet").then(|| vec![IpAddr::V4(WEB)])
        });
        let (server, task) = start(lookup, Vec::new()).await;
        let reply = decode(&ask(server, &query(9, "WEB.MyNet.", TYPE_A)).await);
        assert_eq!(reply.rcode(), RCODE_NOERROR);
        assert_eq!(reply.answers, vec![WEB]);
        assert_eq!(reply.qname, "WEB.MyNet", "the question is echoed as asked");
        assert_eq!(*asked.lock().unwrap(), vec!["web.mynet".to_owned()]);
        task.abort();
    }

    #[tokio::test]
    async fn relays_unknown_names_from_an_upstream_with_the_original_id() {
        let canned = Ipv4Addr::new(93, 184, 216, 34);
        let (upstream, seen, fake) = fake_upstream(canned).await;
        let (server, task) = start(table(&[("web", &[WEB])]), vec![upstream]).await;
        let sent = query(0xBEEF, "example.com", TYPE_A);
        let reply = decode(&ask(server, &sent).await);
        assert_eq!(reply.id, 0xBEEF);
        assert_eq!(reply.rcode(), RCODE_NOERROR);
        assert_eq!(reply.qname, "example.com");
        assert_eq!(
            reply.answers,
            vec![canned],
            "the decoy with a wrong id is ignored"
        );
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0][2..], sent[2..], "forwarded verbatim but for the id");
        task.abort();
        fake.abort();
    }

    #[tokio::test]
    async fn tries_the_next_upstream_after_a_timeout() {
        // Bound but never answering.
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let canned = Ipv4Addr::new(192, 0, 2, 1);
        let (upstream, _seen, fake) = fake_upstream(canned).await;
        let (server, task) = start(table(&[]), vec![silent.local_addr().unwrap(), upstream]).await;
        let started = Instant::now();
        let reply = decode(&ask(server, &query(42, "example.org", TYPE_A)).await);
        assert!(started.elapsed() >= UPSTREAM_TIMEOUT - Duration::from_millis(100));
        assert_eq!(reply.id, 42);
        assert_eq!(reply.answers, vec![canned]);
        task.abort();
        fake.abort();
    }

    #[tokio::test]
    async fn a_slow_upstream_does_not_block_local_answers() {
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let (server, task) = start(
            table(&[("web", &[WEB])]),
            vec![silent.local_addr().unwrap()],
        )
        .await;
        send_only(server, &query(1, "example.net", TYPE_A)).await;
        let started = Instant::now();
        let reply = decode(&ask(server, &query(2, "web", TYPE_A)).await);
        assert_eq!(reply.answers, vec![WEB]);
        assert!(started.elapsed() < UPSTREAM_TIMEOUT);
        task.abort();
    }

    #[tokio::test]
    async fn unknown_names_without_upstreams_get_servfail() {
        let (server, task) = start(table(&[("web", &[WEB])]), Vec::new()).await;
        let reply = decode(&ask(server, &query(0x0101, "nope", TYPE_A)).await);
        assert_eq!(reply.id, 0x0101);
        assert_eq!(reply.rcode(), RCODE_SERVFAIL);
        assert_eq!(reply.qdcount, 1);
        assert_eq!(reply.qname, "nope");
        assert!(reply.answers.is_empty());
        task.abort();
    }

    #[tokio::test]
    async fn malformed_packets_do_not_crash_the_server() {
        let (server, task) = start(table(&[("web", &[WEB])]), Vec::new()).await;
        // Shorter than a header: dropped.
        send_only(server, &[1, 2, 3]).await;
        // A response: dropped.
        let mut response = query(5, "web", TYPE_A);
        response[2] |= 0x80;
        send_only(server, &response).await;
        // Header only, question missing: FORMERR.
        let reply = decode(&ask(server, &query(11, "web", TYPE_A)[..HEADER_LEN]).await);
        assert_eq!(
            (reply.id, reply.rcode(), reply.qdcount),
            (11, RCODE_FORMERR, 0)
        );
        // A name that points to itself: FORMERR.
        let mut looped = query(12, "", TYPE_A);
        looped.splice(HEADER_LEN..HEADER_LEN + 1, [0xC0, 0x0C]);
        let reply = decode(&ask(server, &looped).await);
        assert_eq!((reply.id, reply.rcode()), (12, RCODE_FORMERR));
        // A label, then a pointer back to it: still a loop.
        let mut looped = query(13, "", TYPE_A);
        looped.splice(HEADER_LEN..HEADER_LEN + 1, [1, b'a', 0xC0, 0x0C]);
        let reply = decode(&ask(server, &looped).await);
        assert_eq!((reply.id, reply.rcode()), (13, RCODE_FORMERR));
        // An out-of-bounds pointer and a reserved label type: FORMERR.
        let mut wild = query(14, "", TYPE_A);
        wild.splice(HEADER_LEN..HEADER_LEN + 1, [0xFF, 0xFF]);
        assert_eq!(decode(&ask(server, &wild).await).rcode(), RCODE_FORMERR);
        let mut reserved = query(15, "", TYPE_A);
        reserved[HEADER_LEN] = 0x41;
        assert_eq!(decode(&ask(server, &reserved).await).rcode(), RCODE_FORMERR);
        // Two questions: FORMERR; an inverse query: NOTIMP.
        let mut two = query(16, "web", TYPE_A);
        two[5] = 2;
        assert_eq!(decode(&ask(server, &two).await).rcode(), RCODE_FORMERR);
        let mut iquery = query(17, "web", TYPE_A);
        iquery[2] |= 0x08;
        assert_eq!(decode(&ask(server, &iquery).await).rcode(), RCODE_NOTIMP);
        // Still serving.
        let reply = decode(&ask(server, &query(18, "web", TYPE_A)).await);
        assert_eq!((reply.id, reply.rcode()), (18, RCODE_NOERROR));
        assert_eq!(reply.answers, vec![WEB]);
        task.abort();
    }

    #[test]
    fn random_packets_never_panic() {
        let resolver = Resolver::new(table(&[("web", &[WEB])]), Vec::new(), Arc::new(|_| None));
        let good = query(1, "web", TYPE_A);
        for i in 0..20_000usize {
            let mut packet: Vec<u8> = if i % 2 == 0 {
                let len = rand::random_range(0..300);
                (0..len).map(|_| rand::random()).collect()
            } else {
                // Mutate a valid query, keeping QR clear so it gets parsed.
                let mut p = good.clone();
                for _ in 0..3 {
                    let at = rand::random_range(0..p.len());
                    p[at] = rand::random();
                }
                p[2] &= 0x07;
                p
            };
            if i % 3 == 0 {
                packet.truncate(rand::random_range(0..=packet.len()));
            }
            let _ = resolver.decide(&packet);
        }
    }

    #[test]
    fn read_name_follows_backward_pointers() {
        // "web" at 12, then at 17 "a" + pointer to 12.
        let mut msg = vec![0u8; HEADER_LEN];
        msg.extend_from_slice(&[3, b'w', b'e', b'b', 0, 1, b'a', 0xC0, 0x0C, 0xAA]);
        assert_eq!(read_name(&msg, 12).unwrap(), (vec![b"web".to_vec()], 17));
        assert_eq!(
            read_name(&msg, 17).unwrap(),
            (vec![b"a".to_vec(), b"web".to_vec()], 21)
        );
        assert_eq!(read_name(&msg, 19).unwrap(), (vec![b"web".to_vec()], 21));
        // A pointer forward (to "web" after it) is refused.
        let mut forward = vec![0u8; HEADER_LEN];
        forward.extend_from_slice(&[0xC0, 14, 3, b'w', b'e', b'b', 0]);
        assert_eq!(read_name(&forward, 12), Err(ParseError::BadPointer));
        assert_eq!(read_name(&msg, 21), Err(ParseError::BadLabel));
        assert_eq!(read_name(&msg, 22), Err(ParseError::Truncated));
    }

    #[test]
    fn read_name_rejects_overlong_names() {
        let mut msg = vec![0u8; HEADER_LEN];
        for _ in 0..5 {
            msg.push(63);
            msg.extend_from_slice(&[b'x'; 63]);
        }
        msg.push(0);
        assert_eq!(read_name(&msg, HEADER_LEN), Err(ParseError::NameTooLong));
    }

    #[test]
    fn answers_fit_in_512_bytes() {
        let many: Vec<Ipv4Addr> = (0..100).map(|i| Ipv4Addr::new(10, 1, 0, i)).collect();
        let resolver = Resolver::new(table(&[("big", &many)]), Vec::new(), Arc::new(|_| None));
        let Decision::Reply(reply) = resolver.decide(&query(3, "big", TYPE_A)) else {
            panic!("a local answer");
        };
        assert!(reply.len() <= MAX_UDP_PAYLOAD);
        let reply = decode(&reply);
        assert_eq!(reply.answers.len(), (MAX_UDP_PAYLOAD - HEADER_LEN - 9) / 16);
        assert_eq!(reply.answers[0], many[0]);
    }

    #[test]
    fn upstreams_from_resolv_conf_skips_loopback_and_comments() {
        let text = "\
# Generated by NetworkManager
# nameserver 1.1.1.1
; nameserver 8.8.8.8
search example.com
nameserver 127.0.0.53
nameserver 10.0.0.2
nameserver   2001:db8::1   # the v6 one
nameserver ::1
nameserver 127.1.2.3
nameserver 0.0.0.0
nameserver fe80::1%eth0
nameserver not-an-address
nameserver
nameserver 10.0.0.2
options edns0 trust-ad
";
        assert_eq!(
            upstreams_from_resolv_conf(text),
            vec![
                SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 53),
                SocketAddr::new(IpAddr::V6("2001:db8::1".parse().unwrap()), 53),
            ]
        );
        assert!(upstreams_from_resolv_conf("").is_empty());
    }
}

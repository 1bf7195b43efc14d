//! wharf-types: Wharf's shared vocabulary, with no I/O.
//!
//! - [`Digest`] / [`Digester`]: sha256 content digests (`sha256:<64 hex>`), with streaming
//!   hashing wrappers [`HashingReader`] and [`HashingWriter`].
//! - [`Reference`]: docker image references (`registry/user/name:tag@digest`) parsed and
//!   normalized exactly as `distribution/reference` does.
//! - [`ErrorKind`]: the kind every Wharf error carries; the daemon maps kinds to HTTP codes.
//! - [`id`]: random 64-hex ids and their 12-character short form.

pub mod digest;
pub mod error;
pub mod id;
pub mod reference;

pub use digest::{Digest, DigestError, Digester, HashingReader, HashingWriter};
pub use error::ErrorKind;
pub use reference::{Reference, ReferenceError};

//! JSON Web Signatures as the Docker token spec uses them (RFC 7515 compact serialization,
//! RFC 7518 `ES256`/`RS256`): parsing and checking a token's signature against trusted
//! certificates, directly or through the token's `x5c` chain (RFC 7515 §4.1.6), and signing
//! with a P-256 key ([`Signer`]) with libtrust's `kid` and the signing certificate's `x5c`.
//!
//! `ring` and `rustls-webpki` come with rustls; no JOSE crate is needed.

use ring::signature::{EcdsaKeyPair, KeyPair as _};
use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};
use serde_json::Value;
use wharf_credentials::b64;

pub(crate) fn b64url(data: &[u8]) -> String {
    b64::encode(data)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// A compact JWS split and decoded; the signature is not checked yet.
pub(crate) struct Jws {
    pub(crate) header: Value,
    pub(crate) claims: Value,
    /// `<header>.<payload>`, what the signature covers.
    pub(crate) signed: String,
    pub(crate) sig: Vec<u8>,
}

impl Jws {
    pub(crate) fn parse(token: &str) -> Result<Jws, String> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("not a JWS compact token".into());
        };
        let decode = |x: &str| b64::decode(x).ok_or_else(|| "bad base64url".to_string());
        let header: Value =
            serde_json::from_slice(&decode(h)?).map_err(|e| format!("bad header: {e}"))?;
        let claims: Value =
            serde_json::from_slice(&decode(p)?).map_err(|e| format!("bad claims: {e}"))?;
        Ok(Jws {
            header,
            claims,
            signed: format!("{h}.{p}"),
            sig: decode(s)?,
        })
    }

    /// The webpki algorithm of the header's `alg` and the signature in the form webpki wants.
    /// Only ES256 and RS256; anything else (`none` included) is refused.
    fn algorithm(&self) -> Result<(&'static dyn SignatureVerificationAlgorithm, Vec<u8>), String> {
        match self.header.get("alg").and_then(Value::as_str) {
            Some("ES256") => Ok((
                webpki::ring::ECDSA_P256_SHA256,
                p256_fixed_to_der(&self.sig)?,
            )),
            Some("RS256") => Ok((webpki::ring::RSA_PKCS1_2048_8192_SHA256, self.sig.clone())),
            a => Err(format!("unsupported alg {a:?}")),
        }
    }

    /// Whether the signature verifies with the public key of `cert`.
    fn signed_by(&self, cert: &CertificateDer<'_>) -> Result<(), String> {
        let (alg, sig) = self.algorithm()?;
        let ee =
            webpki::EndEntityCert::try_from(cert).map_err(|e| format!("bad certificate: {e}"))?;
        ee.verify_signature(alg, self.signed.as_bytes(), &sig)
            .map_err(|e| format!("bad signature: {e}"))
    }

    /// Checks the signature against `roots` (the root cert bundle), as distribution's
    /// `VerifySigningKey` does: with an `x5c` header, the signature must verify with the
    /// chain's first certificate and that certificate must be a bundle certificate or lead to
    /// one through the chain (any extended key usage, as distribution's `ExtKeyUsageAny`);
    /// without one, the signature must verify with the key of a bundle certificate (distribution
    /// picks it by `kid`; trying the few bundle keys is as strict).
    pub(crate) fn verify(&self, roots: &[CertificateDer<'static>]) -> Result<(), String> {
        let Some(x5c) = self.header.get("x5c") else {
            self.algorithm()?;
            return if roots.iter().any(|c| self.signed_by(c).is_ok()) {
                Ok(())
            } else {
                Err("signature does not verify with the root cert bundle".into())
            };
        };
        let chain = parse_x5c(x5c)?;
        let leaf = chain.first().ok_or("empty x5c")?;
        self.signed_by(leaf)?;
        verify_chain(&chain, roots)
    }
}

/// The certificates of an `x5c` header: standard base64 DER, leaf first (RFC 7515 §4.1.6).
fn parse_x5c(v: &Value) -> Result<Vec<CertificateDer<'static>>, String> {
    let list = v.as_array().ok_or("x5c is not a list")?;
    if list.is_empty() || list.len() > 8 {
        return Err("x5c must hold 1 to 8 certificates".into());
    }
    list.iter()
        .map(|c| {
            c.as_str()
                .and_then(b64::decode)
                .map(CertificateDer::from)
                .ok_or_else(|| "bad x5c certificate".to_string())
        })
        .collect()
}

/// Extended key usage is not checked (Go's `x509.ExtKeyUsageAny`, which distribution asks for).
struct AnyUsage;

impl webpki::ExtendedKeyUsageValidator for AnyUsage {
    fn validate(&self, _: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        Ok(())
    }
}

/// Whether `chain` (leaf first, then intermediates) leads to a certificate of `roots`, now.
/// A leaf that is itself a bundle certificate is trusted as is (Go's `Verify` accepts a
/// certificate found in its roots; webpki does not take a self-signed end entity).
pub(crate) fn verify_chain(
    chain: &[CertificateDer<'static>],
    roots: &[CertificateDer<'static>],
) -> Result<(), String> {
    let leaf = chain.first().ok_or("empty x5c")?;
    if roots.iter().any(|r| r.as_ref() == leaf.as_ref()) {
        return Ok(());
    }
    let anchors: Vec<_> = roots
        .iter()
        .filter_map(|c| webpki::anchor_from_trusted_cert(c).ok())
        .collect();
    let ee = webpki::EndEntityCert::try_from(leaf).map_err(|e| format!("bad x5c leaf: {e}"))?;
    ee.verify_for_usage(
        webpki::ALL_VERIFICATION_ALGS,
        &anchors,
        &chain[1..],
        UnixTime::now(),
        AnyUsage,
        None,
        None,
    )
    .map(drop)
    .map_err(|e| format!("x5c chain does not lead to the root cert bundle: {e}"))
}

/// JWS ES256 signatures are `r || s` (32 bytes each); webpki wants ASN.1 DER.
pub(crate) fn p256_fixed_to_der(sig: &[u8]) -> Result<Vec<u8>, String> {
    if sig.len() != 64 {
        return Err("ES256 signature is not 64 bytes".into());
    }
    let int = |x: &[u8]| {
        let x = &x[x.iter().position(|&b| b != 0).unwrap_or(x.len() - 1)..];
        let mut v = vec![0x02];
        if x[0] & 0x80 != 0 {
            v.push((x.len() + 1) as u8);
            v.push(0);
        } else {
            v.push(x.len() as u8);
        }
        v.extend_from_slice(x);
        v
    };
    let (r, s) = (int(&sig[..32]), int(&sig[32..]));
    let mut out = vec![0x30, (r.len() + s.len()) as u8];
    out.extend(r);
    out.extend(s);
    Ok(out)
}

/// The DER `SubjectPublicKeyInfo` prefix of a P-256 key (id-ecPublicKey, prime256v1), before
/// the 65-byte uncompressed point (RFC 5480).
pub(crate) const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// libtrust's key id (docker/libtrust `keyIDFromCryptoKey`, what distribution's token
/// verifier indexes its root-bundle keys by): the sha256 of the DER `SubjectPublicKeyInfo`,
/// its first 240 bits in base32 (RFC 4648 alphabet, no padding), in 12 groups of 4
/// joined by `:`.
pub fn libtrust_key_id(spki_der: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let sum = ring::digest::digest(&ring::digest::SHA256, spki_der);
    let mut b32 = String::with_capacity(48);
    // 30 bytes = 240 bits = 48 five-bit groups, no padding needed
    for chunk in sum.as_ref()[..30].chunks(5) {
        let v = chunk.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
        for i in (0..8).rev() {
            b32.push(ALPHABET[((v >> (i * 5)) & 31) as usize] as char);
        }
    }
    b32.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":")
}

/// Signs tokens ES256 with a P-256 key; the header names the key (`kid`) and, for access
/// tokens, carries the signing certificate chain (`x5c`).
pub(crate) struct Signer {
    key: EcdsaKeyPair,
    pub(crate) kid: String,
    /// Standard base64 DER, leaf (the key's certificate) first.
    x5c: Vec<String>,
}

impl Signer {
    /// A signer of the PKCS#8 P-256 key, with no certificate yet ([`Signer::with_chain`]).
    pub(crate) fn new(pkcs8: &[u8]) -> Result<Signer, String> {
        let key = EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8,
            &ring::rand::SystemRandom::new(),
        )
        .map_err(|e| e.to_string())?;
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(key.public_key().as_ref());
        Ok(Signer {
            kid: libtrust_key_id(&spki),
            key,
            x5c: Vec::new(),
        })
    }

    /// The same signer with its certificate chain for `x5c`: the key's certificate first,
    /// then any intermediates; the first must hold the key's public key.
    pub(crate) fn with_chain(mut self, chain: &[CertificateDer<'_>]) -> Result<Signer, String> {
        match chain.first() {
            Some(leaf) if self.holds_key_of(leaf) => {
                self.x5c = chain.iter().map(|c| b64::encode(c.as_ref())).collect();
                Ok(self)
            }
            Some(_) => Err("the certificate does not hold the key's public key".into()),
            None => Err("no certificate".into()),
        }
    }

    /// Whether `cert` holds this key's public key (a probe signature verifies with it).
    pub(crate) fn holds_key_of(&self, cert: &CertificateDer<'_>) -> bool {
        let head = serde_json::json!({"alg": "ES256"});
        self.sign(&head, &serde_json::json!({"probe": true}))
            .ok()
            .and_then(|t| Jws::parse(&t).ok())
            .is_some_and(|j| j.signed_by(cert).is_ok())
    }

    /// The public key, uncompressed (for checking tokens this signer issued).
    pub(crate) fn public_key(&self) -> &[u8] {
        self.key.public_key().as_ref()
    }

    /// A compact JWS of `claims` with `header`.
    pub(crate) fn sign(&self, header: &Value, claims: &Value) -> Result<String, String> {
        let msg = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = self
            .key
            .sign(&ring::rand::SystemRandom::new(), msg.as_bytes())
            .map_err(|_| "failed to sign token".to_string())?;
        Ok(format!("{msg}.{}", b64url(sig.as_ref())))
    }

    /// The header of an access token: `kid` (distribution 2.8 looks the key up by it) and
    /// `x5c` (distribution verifies the chain against its bundle; it takes precedence).
    pub(crate) fn access_header(&self) -> Value {
        serde_json::json!({"alg": "ES256", "typ": "JWT", "kid": self.kid, "x5c": self.x5c})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn es256_signature_to_der() {
        let mut sig = [0u8; 64];
        sig[0] = 0x80;
        sig[63] = 1;
        let der = p256_fixed_to_der(&sig).unwrap();
        assert_eq!(der[0], 0x30);
        assert_eq!(&der[2..5], &[0x02, 33, 0]);
        assert!(p256_fixed_to_der(&[0; 10]).is_err());
    }

    #[test]
    fn key_ids_are_libtrusts() {
        // the value Python's hashlib + base32 give for these bytes
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.push(4);
        spki.extend(1..=64u8);
        assert_eq!(
            libtrust_key_id(&spki),
            "CVML:EFWX:X7JT:253V:YRK5:MA4A:2ORM:6YPR:7WMA:5GRU:QOCV:SBRL"
        );
    }

    #[test]
    fn malformed_tokens_and_x5c_are_refused() {
        assert!(Jws::parse("a.b").is_err());
        assert!(Jws::parse("a.b.c.d").is_err());
        assert!(parse_x5c(&serde_json::json!([])).is_err());
        assert!(parse_x5c(&serde_json::json!("abc")).is_err());
        assert!(parse_x5c(&serde_json::json!(["*not base64*"])).is_err());
        assert!(verify_chain(&[], &[]).is_err());
    }
}

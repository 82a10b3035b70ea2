//! PostgreSQL over TLS, through rustls. The connection string takes libpq's
//! TLS keys, which are taken out before `tokio-postgres` parses the rest:
//!
//! | key | meaning |
//! |---|---|
//! | `sslmode` | `disable`, `prefer` (TLS if offered, unverified), `require` (TLS, unverified, like libpq without a root certificate), `verify-ca` (the chain must lead to `sslrootcert`), `verify-full` (and the host name must match) |
//! | `sslrootcert` | PEM file of the CA(s) to trust; without it, the system's roots |
//! | `sslcert`, `sslkey` | PEM client certificate and private key (both or neither) |
//!
//! Both `key=value` strings and `postgres://…?sslmode=…` URLs are accepted.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// libpq's `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(v: &str) -> Result<SslMode, String> {
        Ok(match v {
            "disable" => SslMode::Disable,
            "allow" | "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
                ));
            }
        })
    }
}

/// The TLS part of a connection string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    pub mode: SslMode,
    pub root_cert: Option<String>,
    pub cert: Option<String>,
    pub key: Option<String>,
}

const KEYS: &[&str] = &["sslmode", "sslrootcert", "sslcert", "sslkey"];

impl TlsOptions {
    fn set(&mut self, k: &str, v: &str) -> Result<(), String> {
        match k {
            "sslmode" => self.mode = SslMode::parse(v)?,
            "sslrootcert" => self.root_cert = Some(v.to_string()),
            "sslcert" => self.cert = Some(v.to_string()),
            "sslkey" => self.key = Some(v.to_string()),
            _ => {}
        }
        Ok(())
    }
}

/// Split a connection string into its TLS options and the rest (for
/// `tokio-postgres`, which knows only part of libpq's TLS keys).
pub fn split_dsn(dsn: &str) -> Result<(TlsOptions, String), String> {
    let mut tls = TlsOptions::default();
    if dsn.starts_with("postgres://") || dsn.starts_with("postgresql://") {
        let Some((base, query)) = dsn.split_once('?') else {
            return Ok((tls, dsn.to_string()));
        };
        let mut kept = vec![];
        for pair in query.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if KEYS.contains(&k) {
                let v = percent_decode(v);
                tls.set(k, &v)?;
            } else {
                kept.push(pair);
            }
        }
        let rest = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        return Ok((tls, rest));
    }
    let mut kept = vec![];
    for (k, v, raw) in key_values(dsn) {
        if KEYS.contains(&k.as_str()) {
            tls.set(&k, &v)?;
        } else {
            kept.push(raw);
        }
    }
    Ok((tls, kept.join(" ")))
}

fn percent_decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(h) = v.get(i + 1..i + 3)
            && let Ok(x) = u8::from_str_radix(h, 16)
        {
            out.push(x);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `key=value` pairs (values may be single-quoted with `\` escapes), with
/// each pair's original text.
fn key_values(dsn: &str) -> Vec<(String, String, String)> {
    let chars: Vec<char> = dsn.chars().collect();
    let mut out = vec![];
    let mut i = 0;
    while i < chars.len() {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let start = i;
        let mut key = String::new();
        while i < chars.len() && chars[i] != '=' && !chars[i].is_whitespace() {
            key.push(chars[i]);
            i += 1;
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < chars.len() && chars[i] == '=' {
            i += 1;
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            if i < chars.len() && chars[i] == '\'' {
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    value.push(chars[i]);
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && !chars[i].is_whitespace() {
                    value.push(chars[i]);
                    i += 1;
                }
            }
        }
        if !key.is_empty() {
            let raw: String = chars[start..i.min(chars.len())].iter().collect();
            out.push((key, value, raw));
        }
    }
    out
}

/// Accepts any certificate (sslmode `prefer`/`require`: encrypted, not
/// authenticated, as libpq does without a root certificate); handshake
/// signatures are still checked.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The chain must lead to a trusted root; the host name is not checked
/// (sslmode `verify-ca`).
#[derive(Debug)]
struct ChainOnly(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName))
            | Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

fn read_pem_certs(what: &str, path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read {what} {path}: {e}"))?
        .collect();
    let certs = certs.map_err(|e| format!("{what} {path} is not PEM certificates: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} {path} holds no certificate"));
    }
    Ok(certs)
}

/// The rustls client configuration for `opts` (None for `disable`).
pub fn client_config(opts: &TlsOptions) -> Result<Option<rustls::ClientConfig>, String> {
    if opts.mode == SslMode::Disable {
        return Ok(None);
    }
    let provider = crate::tls::provider();
    let mut roots = RootCertStore::empty();
    match &opts.root_cert {
        Some(path) => {
            for c in read_pem_certs("sslrootcert", path)? {
                roots
                    .add(c)
                    .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(c);
            }
        }
    }
    let roots = Arc::new(roots);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = match opts.mode {
        SslMode::Prefer | SslMode::Require => Arc::new(NoVerify(provider.clone())),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let webpki =
                rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| format!("sslrootcert: {e}"))?;
            if opts.mode == SslMode::VerifyCa {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
        SslMode::Disable => unreachable!("returned above"),
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&opts.cert, &opts.key) {
        (Some(cert), Some(key)) => {
            let certs = read_pem_certs("sslcert", cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("sslkey {key} is not a PEM private key: {e}"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("sslcert/sslkey: {e}"))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err("sslcert and sslkey go together: give both or neither".into()),
    };
    Ok(Some(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_keys_are_taken_out_of_key_value_strings_and_urls() {
        let (t, rest) = split_dsn(
            "host=db port=5432 sslmode=verify-full sslrootcert='/etc/ca dir/ca.pem' user=g",
        )
        .unwrap();
        assert_eq!(t.mode, SslMode::VerifyFull);
        assert_eq!(t.root_cert.as_deref(), Some("/etc/ca dir/ca.pem"));
        assert_eq!(rest, "host=db port=5432 user=g");
        let (t, rest) =
            split_dsn("postgres://g@db:5432/app?sslmode=verify-ca&application_name=x&sslcert=%2Fc.pem&sslkey=/k.pem")
                .unwrap();
        assert_eq!(t.mode, SslMode::VerifyCa);
        assert_eq!(t.cert.as_deref(), Some("/c.pem"));
        assert_eq!(rest, "postgres://g@db:5432/app?application_name=x");
        assert!(split_dsn("host=db sslmode=maybe").is_err());
    }
}

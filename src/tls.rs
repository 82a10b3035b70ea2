//! One TLS and crypto stack for every client gameday opens: rustls with the
//! `ring` provider. HTTP steps, Prometheus, Alertmanager, webhooks and the
//! Pushgateway go through reqwest; AWS calls go through the SDK's smithy
//! client; PostgreSQL through tokio-postgres-rustls. All three take the same
//! provider from here, so the C-heavy aws-lc stack is never built (a clean
//! release build is minutes shorter; see `benches/build.sh`).

use std::sync::{Arc, Once};

use rustls::crypto::CryptoProvider;

/// The crypto provider behind every TLS connection.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes `ring` the process-wide default provider (once). reqwest, built
/// without a provider of its own, takes it from there.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only if another provider was installed first: then that one
        // serves, which is just as good for a client.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A reqwest client builder on gameday's TLS stack, with our user agent.
pub fn http_builder() -> reqwest::ClientBuilder {
    init();
    reqwest::Client::builder().user_agent(concat!("gameday/", env!("CARGO_PKG_VERSION")))
}

/// The HTTP client for AWS SDK calls: the SDK's hyper client over rustls
/// with the same `ring` provider.
pub fn aws_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

#[cfg(test)]
mod tests {
    #[test]
    fn clients_build_on_the_one_provider() {
        super::http_builder().build().expect("reqwest client");
        let p = super::provider();
        assert!(!p.cipher_suites.is_empty());
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}

//! Fetching an issuer's discovery document and JWKS over HTTPS, safely.
//!
//! One GET with ureq over rustls (aws-lc-rs, the crypto provider the rest of the extension uses;
//! no OpenSSL): HTTPS only; certificates checked against the system's CA store plus
//! `auth.issuer_ca_file`; a connect timeout and a total timeout (`auth.issuer_fetch_timeout`);
//! bodies over 1 MiB refused; no proxy from the environment; redirects followed by hand, at most
//! five and only within the origin (core `redirect_target`); and the host resolved by our own
//! resolver, which refuses the whole fetch when any address is loopback, private or otherwise
//! not public (core `address_is_public`) unless `auth.issuer_allow_private` is on. ureq connects
//! only to the addresses the resolver returned, so a DNS answer cannot change between the check
//! and the connection.
//!
//! Which URLs are fetched and what the documents must hold is decided in the core crate
//! (core/src/issuer.rs); this module only moves bytes.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use pg_auth_keys_core::{address_is_public, check_url, redirect_target};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};
use ureq::Agent;

/// Largest response body accepted.
pub const MAX_BODY_BYTES: u64 = 1 << 20;
const MAX_REDIRECTS: usize = 5;

/// What a fetch needs to know, read from the settings by the caller (so that this module can
/// run in a background worker as well as in a backend).
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    pub allow_private: bool,
    pub ca_file: Option<String>,
    pub timeout: Duration,
}

/// A successful response.
pub struct Fetched {
    pub body: Vec<u8>,
    pub cache_control: Option<String>,
}

/// Resolves like ureq's default resolver, then refuses unless every address may be reached.
#[derive(Debug)]
struct CheckedResolver {
    allow_private: bool,
}

impl Resolver for CheckedResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        if !self.allow_private {
            if let Some(a) = addrs.iter().find(|a| !address_is_public(a.ip())) {
                return Err(ureq::Error::Io(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} resolves to the non-public address {} (auth.issuer_allow_private is off)",
                        uri.host().unwrap_or(""),
                        a.ip()
                    ),
                )));
            }
        }
        Ok(addrs)
    }
}

fn root_certs(ca_file: Option<&str>) -> Result<Vec<Certificate<'static>>, String> {
    let mut certs: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .into_iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if let Some(path) = ca_file {
        use rustls_pki_types::pem::PemObject;
        let iter = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("auth.issuer_ca_file {path}: {e}"))?;
        let before = certs.len();
        for c in iter {
            let c = c.map_err(|e| format!("auth.issuer_ca_file {path}: {e}"))?;
            certs.push(Certificate::from_der(c.as_ref()).to_owned());
        }
        if certs.len() == before {
            return Err(format!("auth.issuer_ca_file {path} holds no certificate"));
        }
    }
    Ok(certs)
}

fn agent(policy: &FetchPolicy) -> Result<Agent, String> {
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .root_certs(RootCerts::new_with_certs(&root_certs(
            policy.ca_file.as_deref(),
        )?))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .build();
    let config = Agent::config_builder()
        .tls_config(tls)
        .https_only(true)
        .proxy(None)
        .max_redirects(0)
        .http_status_as_error(false)
        .timeout_global(Some(policy.timeout))
        .timeout_connect(Some(policy.timeout.min(Duration::from_secs(5))))
        .user_agent(concat!("pg_auth_keys/", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(Agent::with_parts(
        config,
        DefaultConnector::default(),
        CheckedResolver {
            allow_private: policy.allow_private,
        },
    ))
}

/// GET `url`, following same-origin redirects. The error is a sentence for the caller's message
/// (it names the URL's origin, never a body).
pub fn get(url: &str, policy: &FetchPolicy) -> Result<Fetched, String> {
    let mut url = check_url(url).map_err(|e| e.to_string())?;
    let agent = agent(policy)?;
    let started = std::time::Instant::now();
    for _ in 0..=MAX_REDIRECTS {
        // Each request has the whole timeout; redirects do not extend the fetch beyond it.
        if started.elapsed() >= policy.timeout {
            return Err(format!("{url}: timed out"));
        }
        let mut response = agent
            .get(url.as_str())
            .header("Accept", "application/json")
            .call()
            .map_err(|e| describe(&url, e))?;
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("{url}: redirect without a location"))?;
            url = redirect_target(&url, location).map_err(|e| format!("{url}: {e}"))?;
            continue;
        }
        if !status.is_success() {
            return Err(format!("{url}: HTTP status {}", status.as_u16()));
        }
        let cache_control = response
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_BODY_BYTES)
            .read_to_vec()
            .map_err(|e| describe(&url, e))?;
        return Ok(Fetched {
            body,
            cache_control,
        });
    }
    Err(format!("{url}: more than {MAX_REDIRECTS} redirects"))
}

fn describe(url: &url::Url, e: ureq::Error) -> String {
    match e {
        ureq::Error::BodyExceedsLimit(_) => {
            format!("{url}: response larger than {MAX_BODY_BYTES} bytes")
        }
        ureq::Error::Timeout(_) => format!("{url}: timed out"),
        other => format!("{url}: {other}"),
    }
}

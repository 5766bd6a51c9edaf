//! `DATABASE_URL` handling: libpq's `sslmode` and `sslrootcert` on top of
//! tokio-postgres, with rustls.
//!
//! tokio-postgres knows `disable`, `prefer` and `require` only; this module
//! takes `sslmode` and `sslrootcert` out of the URL and builds the rustls
//! configuration that gives each mode the meaning libpq documents:
//!
//! | sslmode | TLS | certificate chain checked | host name checked |
//! | --- | --- | --- | --- |
//! | `disable` | never | - | - |
//! | `prefer` (default) | if the server offers it | no | no |
//! | `require` | always | only when `sslrootcert` is given | no |
//! | `verify-ca` | always | yes | no |
//! | `verify-full` | always | yes | yes |
//!
//! The URL's password is never logged nor put in an error: errors name the
//! parameter at fault, and [`DbUrl::describe`] shows host, port and
//! database only.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{Host, SslMode as PgSslMode};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// No TLS.
    Disable,
    /// TLS when the server offers it, unverified.
    Prefer,
    /// TLS always; verified only against an explicit `sslrootcert`.
    Require,
    /// TLS always, chain verified, host name not.
    VerifyCa,
    /// TLS always, chain and host name verified.
    VerifyFull,
}

impl SslMode {
    fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            // libpq's `allow` tries plain text first; treated as `prefer`.
            "allow" => SslMode::Prefer,
            other => {
                return Err(format!(
                    "DATABASE_URL: sslmode must be disable, prefer, require, verify-ca or \
                     verify-full, not {other:?}"
                ));
            }
        })
    }

    /// The name used in the URL.
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// A parsed `DATABASE_URL`.
#[derive(Clone)]
pub struct DbUrl {
    /// Connection settings without the TLS ones.
    pub config: tokio_postgres::Config,
    /// The TLS mode.
    pub sslmode: SslMode,
    /// Root certificates file for verification.
    pub sslrootcert: Option<PathBuf>,
}

impl DbUrl {
    /// Parse a `postgres://` or `postgresql://` URL (or a libpq key=value
    /// string, which supports `disable`, `prefer` and `require` only).
    pub fn parse(url: &str) -> Result<DbUrl, String> {
        let mut sslmode = SslMode::Prefer;
        let mut sslrootcert = None;
        let rest = match url.split_once('?') {
            Some((base, query)) if url.contains("://") => {
                let mut kept = Vec::new();
                for pair in query.split('&').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                    let value = percent_decode(v)?;
                    match k {
                        "sslmode" => sslmode = SslMode::parse(&value)?,
                        "sslrootcert" => sslrootcert = Some(PathBuf::from(value)),
                        _ => kept.push(pair),
                    }
                }
                if kept.is_empty() {
                    base.to_string()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            _ => url.to_string(),
        };
        // tokio-postgres' parse error names the parameter, never its value.
        let mut config = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| format!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))?;
        if !url.contains("://") {
            sslmode = match config.get_ssl_mode() {
                PgSslMode::Disable => SslMode::Disable,
                PgSslMode::Require => SslMode::Require,
                _ => SslMode::Prefer,
            };
        }
        config.ssl_mode(match sslmode {
            SslMode::Disable => PgSslMode::Disable,
            SslMode::Prefer => PgSslMode::Prefer,
            _ => PgSslMode::Require,
        });
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        Ok(DbUrl {
            config,
            sslmode,
            sslrootcert,
        })
    }

    /// Host, port and database, for logs; never the user's password.
    pub fn describe(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            #[cfg(unix)]
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "localhost".into(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let db = self.config.get_dbname().unwrap_or("");
        format!("{host}:{port}/{db} (sslmode={})", self.sslmode.name())
    }

    /// Whether every host is this machine (loopback or a Unix socket).
    pub fn is_loopback(&self) -> bool {
        self.config.get_hosts().iter().all(|h| match h {
            Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .trim_matches(['[', ']'])
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            #[cfg(unix)]
            Host::Unix(_) => true,
        })
    }

    /// The TLS connector for this URL's `sslmode` and `sslrootcert`.
    pub fn tls(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match (&self.sslrootcert, self.sslmode) {
            (Some(path), _) => Some(load_roots(path)?),
            (None, SslMode::VerifyCa | SslMode::VerifyFull) => {
                let path = default_root_cert().ok_or_else(|| {
                    format!(
                        "DATABASE_URL: sslmode={} needs sslrootcert (or ~/.postgresql/root.crt)",
                        self.sslmode.name()
                    )
                })?;
                Some(load_roots(&path)?)
            }
            (None, _) => None,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match (roots, self.sslmode) {
            (None, _) | (_, SslMode::Disable | SslMode::Prefer) => {
                Arc::new(NoVerification(provider.clone()))
            }
            (Some(roots), mode) => {
                let webpki =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| format!("DATABASE_URL: sslrootcert: {e}"))?;
                Arc::new(ChainVerifier {
                    webpki,
                    check_name: mode == SslMode::VerifyFull,
                })
            }
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }
}

fn default_root_cert() -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = PathBuf::from(home).join(".postgresql/root.crt");
    path.exists().then_some(path)
}

fn load_roots(path: &PathBuf) -> Result<RootCertStore, String> {
    let shown = path.display();
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("DATABASE_URL: cannot read sslrootcert {shown}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| format!("DATABASE_URL: sslrootcert {shown}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("DATABASE_URL: sslrootcert {shown}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!(
            "DATABASE_URL: sslrootcert {shown} holds no certificate"
        ));
    }
    Ok(roots)
}

fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("DATABASE_URL: bad percent-encoding in a parameter")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "DATABASE_URL: a parameter is not UTF-8".into())
}

/// `prefer` and `require` without a root certificate: encrypted but not
/// authenticated, as in libpq. Handshake signatures are still checked.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
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
        verify_tls12_signature(
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
        verify_tls13_signature(
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

/// `verify-ca` (chain only) and `verify-full` (chain and host name), with
/// rustls' WebPKI verifier doing all the checking.
#[derive(Debug)]
struct ChainVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for ChainVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The WebPKI verifier checks the chain before the name, so a name
        // mismatch means the chain was good.
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_and_sslrootcert_are_taken_out_of_the_url() {
        let url = DbUrl::parse(
            "postgres://u:secret@db.example:6543/kms?sslmode=verify-full&sslrootcert=%2Fca.pem\
             &application_name=q",
        )
        .unwrap();
        assert_eq!(url.sslmode, SslMode::VerifyFull);
        assert_eq!(url.sslrootcert, Some(PathBuf::from("/ca.pem")));
        assert_eq!(url.config.get_application_name(), Some("q"));
        assert_eq!(url.config.get_ssl_mode(), PgSslMode::Require);
        assert!(!url.is_loopback());
        let shown = url.describe();
        assert!(shown.contains("db.example:6543/kms") && !shown.contains("secret"));
    }

    #[test]
    fn the_default_is_prefer_and_loopback_hosts_are_recognised() {
        let url = DbUrl::parse("postgresql://postgres@127.0.0.1/test").unwrap();
        assert_eq!(url.sslmode, SslMode::Prefer);
        assert!(url.is_loopback());
        assert!(
            DbUrl::parse("postgres://localhost/x")
                .unwrap()
                .is_loopback()
        );
    }

    #[test]
    fn bad_urls_are_errors_that_never_repeat_the_password() {
        let err = DbUrl::parse("postgres://u:hunter2@h/d?sslmode=sometimes")
            .err()
            .unwrap();
        assert!(err.contains("sslmode") && !err.contains("hunter2"));
        let err = DbUrl::parse("postgres://u:hunter2@h:notaport/d")
            .err()
            .unwrap();
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn verify_modes_need_a_readable_root_certificate() {
        let url =
            DbUrl::parse("postgres://h/d?sslmode=verify-ca&sslrootcert=/nonexistent.pem").unwrap();
        let err = url.tls().err().unwrap();
        assert!(err.contains("sslrootcert"), "{err}");
    }
}

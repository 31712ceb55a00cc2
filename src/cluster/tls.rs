//! TLS client settings from the `ssl.*` properties, on rustls with the pure-Rust graviola
//! crypto provider (no C, no assembler from a C toolchain).
//!
//! Invariants: TLS 1.3 and 1.2 only; the broker certificate chain is verified against the
//! configured CAs (`ssl.ca.location`, `ssl.ca.pem`), else the system roots, else the embedded
//! Mozilla roots (so a `FROM scratch` image works); the host name is checked unless
//! `ssl.endpoint.identification.algorithm=none`; nothing is checked only when
//! `enable.ssl.certificate.verification=false`. Key material never appears in errors.

use std::{fs, path::Path, sync::Arc};

use rustls::{
    ClientConfig as RustlsConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
    client::{
        WebPkiServerVerifier,
        danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    },
    crypto::CryptoProvider,
};
use rustls_pki_types::{
    CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime, pem::PemObject,
};

use crate::{
    config::{ConfigError, EndpointIdentification, TlsConfig},
    error::TlsFailure,
};

/// The crypto provider every TLS connection uses.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls_graviola::default_provider())
}

/// The CPU features graviola needs and this CPU lacks (graviola would panic without them).
fn missing_cpu_features() -> Vec<&'static str> {
    let mut missing = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        macro_rules! need {
            ($($f:tt),*) => {$(
                if !std::arch::is_x86_feature_detected!($f) {
                    missing.push($f);
                }
            )*};
        }
        need!("aes", "pclmulqdq", "bmi1", "bmi2", "adx", "avx", "avx2");
    }
    #[cfg(target_arch = "aarch64")]
    {
        macro_rules! need {
            ($($f:tt),*) => {$(
                if !std::arch::is_aarch64_feature_detected!($f) {
                    missing.push($f);
                }
            )*};
        }
        need!("aes", "sha2", "pmull", "neon");
    }
    missing
}

/// Builds the rustls client settings for `tls`; file and PEM problems name the property.
pub(crate) fn client_config(tls: &TlsConfig) -> Result<Arc<RustlsConfig>, ConfigError> {
    let missing = missing_cpu_features();
    if !missing.is_empty() {
        return Err(bad(
            "security.protocol",
            "ssl",
            format!(
                "TLS needs CPU features this machine lacks: {}",
                missing.join(", ")
            ),
        ));
    }
    let provider = provider();
    let builder = RustlsConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| bad("security.protocol", "ssl", e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if tls.verify_certificates {
        let roots = Arc::new(root_store(tls)?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|e| bad("ssl.ca.location", "", e.to_string()))?;
        match tls.endpoint_identification {
            EndpointIdentification::Https => webpki,
            EndpointIdentification::None => Arc::new(AnyHostName(webpki)),
        }
    } else {
        Arc::new(NoVerification(provider))
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_identity(tls)? {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| bad("ssl.key.location", "***", e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The name to verify the broker certificate against (and to send as SNI for host names).
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, ConfigError> {
    ServerName::try_from(host.to_owned()).map_err(|e| {
        bad(
            "bootstrap.servers",
            host,
            format!("not a TLS server name: {e}"),
        )
    })
}

/// Maps a rustls failure to what the user should act on.
pub(crate) fn classify(error: &rustls::Error) -> TlsFailure {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match error {
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
            TlsFailure::HostnameMismatch
        }
        E::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            TlsFailure::CertificateExpired
        }
        E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
            TlsFailure::UntrustedCertificate
        }
        E::AlertReceived(
            A::CertificateRequired
            | A::BadCertificate
            | A::UnknownCA
            | A::CertificateUnknown
            | A::CertificateExpired
            | A::UnsupportedCertificate
            | A::AccessDenied,
        ) => TlsFailure::ClientCertificateRejected {
            detail: error.to_string(),
        },
        E::InvalidMessage(_) => TlsFailure::NotTls,
        other => TlsFailure::Other {
            detail: other.to_string(),
        },
    }
}

fn bad(name: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        name: name.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// The configured CAs, else the system's, else the embedded Mozilla bundle.
fn root_store(tls: &TlsConfig) -> Result<RootCertStore, ConfigError> {
    let mut store = RootCertStore::empty();
    let mut configured = false;
    if let Some(location) = &tls.ca_location {
        configured = true;
        let shown = location.display().to_string();
        let files = if location.is_dir() {
            let entries = fs::read_dir(location)
                .map_err(|e| bad("ssl.ca.location", &shown, e.to_string()))?;
            let mut files: Vec<_> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            files.sort();
            files
        } else {
            vec![location.clone()]
        };
        for file in files {
            let pem = fs::read(&file).map_err(|e| bad("ssl.ca.location", &shown, e.to_string()))?;
            add_pem_certs(&mut store, &pem, "ssl.ca.location", &shown)?;
        }
        if store.is_empty() {
            return Err(bad("ssl.ca.location", &shown, "no PEM certificate found"));
        }
    }
    if let Some(pem) = &tls.ca_pem {
        configured = true;
        add_pem_certs(&mut store, pem.as_bytes(), "ssl.ca.pem", "<pem>")?;
    }
    if !configured {
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = store.add_parsable_certificates(native.certs);
        if added == 0 {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
    }
    Ok(store)
}

fn add_pem_certs(
    store: &mut RootCertStore,
    pem: &[u8],
    name: &str,
    shown: &str,
) -> Result<(), ConfigError> {
    for cert in CertificateDer::pem_slice_iter(pem) {
        let cert = cert.map_err(|e| bad(name, shown, format!("bad PEM: {e}")))?;
        store
            .add(cert)
            .map_err(|e| bad(name, shown, format!("unusable CA certificate: {e}")))?;
    }
    Ok(())
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client certificate chain and key for mutual TLS, when configured.
fn client_identity(tls: &TlsConfig) -> Result<Option<Identity>, ConfigError> {
    let chain_pem = match (&tls.certificate_location, &tls.certificate_pem) {
        (Some(path), _) => Some((
            read(path, "ssl.certificate.location")?,
            "ssl.certificate.location",
        )),
        (None, Some(pem)) => Some((pem.as_bytes().to_vec(), "ssl.certificate.pem")),
        (None, None) => None,
    };
    let key_pem = match (&tls.key_location, &tls.key_pem) {
        (Some(path), _) => Some((read(path, "ssl.key.location")?, "ssl.key.location")),
        (None, Some(pem)) => Some((pem.expose().as_bytes().to_vec(), "ssl.key.pem")),
        (None, None) => None,
    };
    let ((chain_pem, chain_name), (key_pem, key_name)) = match (chain_pem, key_pem) {
        (None, None) => return Ok(None),
        (Some(_), None) => {
            return Err(bad(
                "ssl.key.location",
                "",
                "a client certificate needs its private key (ssl.key.location or ssl.key.pem)",
            ));
        }
        (None, Some(_)) => {
            return Err(bad(
                "ssl.certificate.location",
                "",
                "a client key needs its certificate (ssl.certificate.location or ssl.certificate.pem)",
            ));
        }
        (Some(c), Some(k)) => (c, k),
    };
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(chain_name, "", format!("bad PEM: {e}")))?;
    if chain.is_empty() {
        return Err(bad(chain_name, "", "no PEM certificate found"));
    }
    let key = private_key(&key_pem, tls.key_password.as_ref().map(|p| p.expose()))
        .map_err(|reason| bad(key_name, "***", reason))?;
    Ok(Some((chain, key)))
}

fn read(path: &Path, name: &str) -> Result<Vec<u8>, ConfigError> {
    fs::read(path).map_err(|e| bad(name, &path.display().to_string(), e.to_string()))
}

/// A PEM private key: PKCS#8, PKCS#1 or SEC1, or PKCS#8 encrypted with `password`.
fn private_key(pem: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    let text = std::str::from_utf8(pem).map_err(|_| "the key is not PEM text".to_owned())?;
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        let password = password.ok_or("the key is encrypted: set ssl.key.password".to_owned())?;
        let (_, document) = pkcs8::der::SecretDocument::from_pem(text)
            .map_err(|e| format!("bad encrypted key PEM: {e}"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(document.as_bytes())
            .map_err(|e| format!("bad encrypted key: {e}"))?;
        let plain = info.decrypt(password).map_err(|_| {
            "cannot decrypt the key: wrong ssl.key.password or unsupported cipher".to_owned()
        })?;
        return Ok(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec()).into());
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("no usable private key in PEM: {e}"))
}

/// Verifies the chain but accepts any host name (`ssl.endpoint.identification.algorithm=none`).
#[derive(Debug)]
struct AnyHostName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError as C;
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
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

/// Accepts any certificate (`enable.ssl.certificate.verification=false`); the handshake
/// signatures are still checked, so the peer must hold the certificate's key.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_cpu_runs_the_crypto_provider() {
        assert_eq!(missing_cpu_features(), Vec::<&str>::new());
    }

    #[test]
    fn default_roots_are_never_empty() {
        let store = root_store(&TlsConfig::default()).unwrap();
        assert!(!store.is_empty());
    }

    #[test]
    fn a_missing_ca_file_names_the_property() {
        let tls = TlsConfig {
            ca_location: Some("/nonexistent/ca.pem".into()),
            ..TlsConfig::default()
        };
        let err = client_config(&tls).unwrap_err().to_string();
        assert!(err.contains("ssl.ca.location"), "{err}");
    }

    #[test]
    fn a_bad_key_is_reported_without_its_content() {
        let tls = TlsConfig {
            certificate_pem: Some(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
            ),
            key_pem: Some(crate::config::Secret::new("not-a-key-topsecret")),
            ..TlsConfig::default()
        };
        let err = client_config(&tls).unwrap_err().to_string();
        assert!(!err.contains("topsecret"), "{err}");
    }

    #[test]
    fn certificate_failures_map_to_actionable_kinds() {
        use rustls::CertificateError as C;
        assert_eq!(
            classify(&rustls::Error::InvalidCertificate(C::NotValidForName)),
            TlsFailure::HostnameMismatch
        );
        assert_eq!(
            classify(&rustls::Error::InvalidCertificate(C::Expired)),
            TlsFailure::CertificateExpired
        );
        assert_eq!(
            classify(&rustls::Error::InvalidCertificate(C::UnknownIssuer)),
            TlsFailure::UntrustedCertificate
        );
    }
}

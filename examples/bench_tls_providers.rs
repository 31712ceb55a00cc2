//! Compares the two pure-Rust rustls crypto providers considered for broker connections:
//! `rustls-graviola` (the one the consumer uses) and `rustls-rustcrypto`. A benchmark, not a
//! test: it measures, it asserts nothing.
//!
//! ```sh
//! RKC_KAFKA_STATE_DIR=$PWD/target/sec-kafka KAFKA_CONTROLLER_OFFSET=90 \
//!   testcontainers/kafka start --port 29900 --security ssl   # only to make the test PKI
//! cargo run --release --example bench_tls_providers -- target/sec-kafka/security
//! ```
//!
//! For each provider, both ends of a loopback TCP connection use it (so each number includes
//! the client's and the server's crypto): the mean time of sequential full handshakes (TLS 1.3
//! and TLS 1.2, RSA-2048 server certificate verified against the test CA, no resumption), and
//! the bulk throughput of one connection streaming 256 MiB from server to client in 64 KiB
//! writes (best of three). Prints one line per provider and TLS version.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use rustls::{
    ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion, crypto::CryptoProvider,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, pem::PemObject};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const HANDSHAKES: u32 = 200;
const BULK_BYTES: usize = 256 << 20;
const CHUNK: usize = 64 << 10;

struct Pki {
    ca: CertificateDer<'static>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

fn load(dir: &Path) -> Pki {
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    Pki {
        ca: CertificateDer::from_pem_slice(&read("ca.pem")).expect("ca.pem"),
        chain: CertificateDer::pem_slice_iter(&read("broker.pem"))
            .collect::<Result<_, _>>()
            .expect("broker.pem"),
        key: PrivateKeyDer::from_pem_slice(&read("broker.key")).expect("broker.key"),
    }
}

fn configs(
    provider: &Arc<CryptoProvider>,
    pki: &Pki,
    version: &'static SupportedProtocolVersion,
) -> (Arc<ClientConfig>, Arc<ServerConfig>) {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone()).expect("CA");
    let mut client = ClientConfig::builder_with_provider(Arc::clone(provider))
        .with_protocol_versions(&[version])
        .expect("client versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    // every handshake a full one, as a fresh broker connection is
    client.resumption = rustls::client::Resumption::disabled();
    let server = ServerConfig::builder_with_provider(Arc::clone(provider))
        .with_protocol_versions(&[version])
        .expect("server versions")
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), pki.key.clone_key())
        .expect("server certificate");
    (Arc::new(client), Arc::new(server))
}

async fn handshakes(client: Arc<ClientConfig>, server: Arc<ServerConfig>) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let mut tls = acceptor.accept(tcp).await.unwrap();
            // one byte both ways so the handshake is complete on both sides
            let mut b = [0u8; 1];
            tls.read_exact(&mut b).await.unwrap();
            tls.write_all(&b).await.unwrap();
            tls.flush().await.unwrap();
        }
    });
    let connector = TlsConnector::from(client);
    let started = Instant::now();
    for _ in 0..HANDSHAKES {
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = connector.connect(name, tcp).await.unwrap();
        tls.write_all(b"x").await.unwrap();
        tls.flush().await.unwrap();
        let mut b = [0u8; 1];
        tls.read_exact(&mut b).await.unwrap();
    }
    started.elapsed() / HANDSHAKES
}

async fn bulk(client: Arc<ClientConfig>, server: Arc<ServerConfig>) -> (f64, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(server);
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let chunk = vec![0x5au8; CHUNK];
        for _ in 0..BULK_BYTES / CHUNK {
            tls.write_all(&chunk).await.unwrap();
        }
        tls.shutdown().await.unwrap();
    });
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut tls = TlsConnector::from(client)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    let suite = format!(
        "{:?}",
        tls.get_ref().1.negotiated_cipher_suite().map(|s| s.suite())
    );
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0usize;
    let started = Instant::now();
    while total < BULK_BYTES {
        let n = tls.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(total, BULK_BYTES, "short read");
    ((total as f64 / (1 << 20) as f64) / secs, suite)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir: PathBuf = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "target/sec-kafka/security".into())
        .into();
    let pki = load(&dir);
    let providers: [(&str, Arc<CryptoProvider>); 2] = [
        ("graviola", Arc::new(rustls_graviola::default_provider())),
        ("rustcrypto", Arc::new(rustls_rustcrypto::provider())),
    ];
    for (name, provider) in &providers {
        for (label, version) in [
            ("TLS1.3", &rustls::version::TLS13),
            ("TLS1.2", &rustls::version::TLS12),
        ] {
            let (client, server) = configs(provider, &pki, version);
            let handshake = handshakes(Arc::clone(&client), Arc::clone(&server)).await;
            // best of three: the machine is shared
            let mut best = (0.0, String::new());
            for _ in 0..3 {
                let run = bulk(Arc::clone(&client), Arc::clone(&server)).await;
                if run.0 > best.0 {
                    best = run;
                }
            }
            let (mib_s, suite) = best;
            println!(
                "{name:<10} {label}: handshake {:>7.2} ms (mean of {HANDSHAKES}), \
                 bulk {mib_s:>7.1} MiB/s ({suite})",
                handshake.as_secs_f64() * 1000.0
            );
        }
    }
}

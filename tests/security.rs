//! TLS and SASL against a real secured broker: `rkc metadata`, `rkc consume` (assign and group
//! mode) and the library read the same records as librdkafka configured the same way, over
//! every secured listener; each misconfiguration gives its own error, fast, and `rkc` exits 1.
//!
//! The secured cluster (`testcontainers/kafka start --security all`, one broker on ports
//! 29900–29990, state in `target/sec-kafka`) is started once per run of this binary and left
//! running for the next run (`.ci/run` stops it at the end).

mod support;

use std::{path::PathBuf, process::Command, sync::OnceLock, time::Duration};

use rskafka_consumer::{
    Consumer, ConsumerConfig, Error, Offset, TopicPartition,
    error::{SaslFailure, TlsFailure},
};
use serde_json::Value;
use support::{PeerProcess, json_lines, peer, repo_root, rkc_run, unique};

const PORT: u16 = 29900;
const LIMIT: Duration = Duration::from_secs(60);
const RECORDS_PER_PARTITION: usize = 10;

/// The secured cluster: its PLAINTEXT bootstrap and the dir of its CA and client certificates.
struct Secured {
    plaintext: String,
    pki: PathBuf,
}

fn secured() -> &'static Secured {
    static CLUSTER: OnceLock<Secured> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let state = repo_root().join("target/sec-kafka");
        std::fs::create_dir_all(&state).expect("create the state dir");
        let launcher = repo_root().join("testcontainers/kafka");
        let start = || {
            Command::new(&launcher)
                .args(["start", "--port", &PORT.to_string(), "--security", "all"])
                .env("RKC_KAFKA_STATE_DIR", &state)
                .env("KAFKA_CONTROLLER_OFFSET", "90")
                .output()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", launcher.display()))
        };
        // A node that fails to start (a port taken by another process for a moment) is
        // retried; the ports are below the ephemeral range, so this is rare.
        let mut out = start();
        for _ in 0..2 {
            if out.status.success() {
                break;
            }
            out = start();
        }
        assert!(
            out.status.success(),
            "kafka start --security all failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        Secured {
            plaintext: stdout
                .lines()
                .last()
                .expect("bootstrap line")
                .trim()
                .to_owned(),
            pki: state.join("security"),
        }
    })
}

fn pki(file: &str) -> String {
    secured().pki.join(file).display().to_string()
}

/// One way to connect: the listener's port offset and the client properties (librdkafka names).
struct Setup {
    name: &'static str,
    port_offset: u16,
    properties: Vec<String>,
}

impl Setup {
    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", PORT + self.port_offset)
    }

    fn x_args(&self) -> Vec<String> {
        self.properties
            .iter()
            .flat_map(|p| ["-X".to_owned(), p.clone()])
            .collect()
    }
}

fn ssl() -> Setup {
    Setup {
        name: "ssl",
        port_offset: 10,
        properties: vec![
            "security.protocol=ssl".into(),
            format!("ssl.ca.location={}", pki("ca.pem")),
        ],
    }
}

fn mtls() -> Setup {
    Setup {
        name: "mtls",
        port_offset: 20,
        properties: vec![
            "security.protocol=ssl".into(),
            format!("ssl.ca.location={}", pki("ca.pem")),
            format!("ssl.certificate.location={}", pki("client.pem")),
            format!("ssl.key.location={}", pki("client.key")),
        ],
    }
}

fn sasl(protocol: &'static str, mechanism: &str, password: &str) -> Setup {
    let tls = protocol == "sasl_ssl";
    let mut properties = vec![
        format!("security.protocol={protocol}"),
        format!("sasl.mechanisms={mechanism}"),
        "sasl.username=alice".into(),
        format!("sasl.password={password}"),
    ];
    if tls {
        properties.push(format!("ssl.ca.location={}", pki("ca.pem")));
    }
    Setup {
        name: protocol,
        port_offset: if tls { 40 } else { 30 },
        properties,
    }
}

/// A topic with two partitions of `RECORDS_PER_PARTITION` records each, written over the
/// PLAINTEXT listener; returns it with the records as `rkc consume` prints them.
fn topic_with_records() -> (String, Vec<Value>) {
    let plaintext = secured().plaintext.clone();
    let topic = unique("sec");
    peer("admin.py", &["create", &plaintext, &topic, "2"]);
    let mut expected = Vec::new();
    for partition in ["0", "1"] {
        let out = peer(
            "produce.py",
            &[
                &plaintext,
                &topic,
                "--partition",
                partition,
                "--count",
                &RECORDS_PER_PARTITION.to_string(),
                "--prefix",
                &format!("p{partition}"),
            ],
        );
        expected.extend(json_lines(&out.stdout));
    }
    (topic, sorted(expected))
}

fn sorted(mut messages: Vec<Value>) -> Vec<Value> {
    messages.sort_by_key(|m| (m["partition"].as_i64(), m["offset"].as_i64()));
    messages
}

fn rkc_with(setup: &Setup, args: &[&str]) -> support::RkcOutput {
    let bootstrap = setup.bootstrap();
    let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    all.extend(["-b".into(), bootstrap]);
    all.extend(setup.x_args());
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    rkc_run(&all, LIMIT)
}

/// rkc metadata, rkc consume (assign and group), the library and librdkafka all read the
/// topic's records over `setup`'s listener.
async fn everyone_reads_the_same_records_over(setup: Setup) {
    let (topic, expected) = topic_with_records();
    let total = expected.len();

    let metadata = Command::new(support::rkc_path())
        .args(["metadata", "--json", "-b", &setup.bootstrap()])
        .args(setup.x_args())
        .output()
        .expect("run rkc metadata");
    assert!(
        metadata.status.success(),
        "{}: rkc metadata failed: {}",
        setup.name,
        String::from_utf8_lossy(&metadata.stderr)
    );
    let metadata: Value = serde_json::from_slice(&metadata.stdout).expect("metadata JSON");
    let broker = &metadata["brokers"][0];
    assert_eq!(
        broker["port"].as_i64(),
        Some(i64::from(PORT + setup.port_offset)),
        "{}: brokers are advertised on the listener connected to: {metadata}",
        setup.name
    );
    assert!(
        metadata["topics"]
            .as_array()
            .expect("topics")
            .iter()
            .any(|t| t["topic"] == topic.as_str() || t["name"] == topic.as_str()),
        "{}: {topic} not in {metadata}",
        setup.name
    );

    let assigned = rkc_with(&setup, &["consume", "-t", &topic, "-o", "beginning", "-e"]);
    assert_eq!(assigned.code, 0, "{}: {}", setup.name, assigned.stderr);
    assert_eq!(
        sorted(assigned.messages),
        expected,
        "{}: rkc consume",
        setup.name
    );

    let group = unique("sec-group");
    let grouped = rkc_with(
        &setup,
        &[
            "consume",
            "-t",
            &topic,
            "-G",
            &group,
            "-o",
            "beginning",
            "-e",
        ],
    );
    assert_eq!(grouped.code, 0, "{}: {}", setup.name, grouped.stderr);
    assert_eq!(
        sorted(grouped.messages),
        expected,
        "{}: rkc consume -G",
        setup.name
    );

    let mut config = ConsumerConfig::new(&setup.bootstrap()).unwrap();
    config
        .apply_pairs(setup.properties.iter().map(String::as_str))
        .unwrap();
    let consumer = Consumer::new(config).await.unwrap();
    consumer
        .assign([0, 1].map(|p| (TopicPartition::new(topic.as_str(), p), Offset::Beginning)))
        .unwrap();
    let mut read = Vec::new();
    while read.len() < total {
        match consumer.poll(LIMIT).await {
            Some(Ok(m)) => read.push((
                m.partition,
                m.offset,
                String::from_utf8_lossy(m.value.as_deref().unwrap_or_default()).into_owned(),
            )),
            Some(Err(e)) => panic!("{}: library: {e}", setup.name),
            None => panic!("{}: library read {} of {total}", setup.name, read.len()),
        }
    }
    consumer.close().await;
    read.sort();
    let want: Vec<(i32, i64, String)> = expected
        .iter()
        .map(|m| {
            (
                m["partition"].as_i64().unwrap() as i32,
                m["offset"].as_i64().unwrap(),
                m["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(read, want, "{}: library", setup.name);

    let mut args = vec![setup.bootstrap(), topic.clone()];
    args.extend(setup.x_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let librdkafka: Vec<Value> = json_lines(&peer("consume.py", &args).stdout)
        .into_iter()
        .filter(|v| v.get("event").is_none())
        .collect();
    assert_eq!(sorted(librdkafka), expected, "{}: librdkafka", setup.name);
}

#[tokio::test]
async fn ssl_listener_serves_the_same_records_as_to_librdkafka() {
    everyone_reads_the_same_records_over(ssl()).await;
}

#[tokio::test]
async fn mutual_tls_listener_serves_the_same_records_as_to_librdkafka() {
    everyone_reads_the_same_records_over(mtls()).await;
}

#[tokio::test]
async fn mutual_tls_with_an_encrypted_key_and_its_password() {
    let mut setup = mtls();
    setup.properties[3] = format!("ssl.key.location={}", pki("client-encrypted.key"));
    setup
        .properties
        .push("ssl.key.password=rkc-test-pass".into());
    everyone_reads_the_same_records_over(setup).await;
}

#[tokio::test]
async fn sasl_plain_serves_the_same_records_as_to_librdkafka() {
    everyone_reads_the_same_records_over(sasl("sasl_plaintext", "PLAIN", "alice-secret")).await;
}

#[tokio::test]
async fn sasl_scram_sha_256_serves_the_same_records_as_to_librdkafka() {
    everyone_reads_the_same_records_over(sasl("sasl_plaintext", "SCRAM-SHA-256", "alice-secret"))
        .await;
}

#[tokio::test]
async fn sasl_scram_sha_512_serves_the_same_records_as_to_librdkafka() {
    everyone_reads_the_same_records_over(sasl("sasl_plaintext", "SCRAM-SHA-512", "alice-secret"))
        .await;
}

#[tokio::test]
async fn sasl_ssl_serves_the_same_records_as_to_librdkafka() {
    everyone_reads_the_same_records_over(sasl("sasl_ssl", "SCRAM-SHA-256", "alice-secret")).await;
}

#[tokio::test]
async fn oauthbearer_with_an_unsecured_jwt_serves_the_same_records_as_to_librdkafka() {
    let setup = Setup {
        name: "oauthbearer",
        port_offset: 30,
        properties: vec![
            "security.protocol=sasl_plaintext".into(),
            "sasl.mechanisms=OAUTHBEARER".into(),
            "enable.sasl.oauthbearer.unsecure.jwt=true".into(),
            "sasl.oauthbearer.config=principal=alice".into(),
        ],
    };
    everyone_reads_the_same_records_over(setup).await;
}

// ----------------------------------------------------------------------------- errors

/// Connects the library with `setup` and returns the error it must fail with.
async fn library_error(setup: &Setup) -> Error {
    let mut config = ConsumerConfig::new(&setup.bootstrap()).unwrap();
    config
        .apply_pairs(setup.properties.iter().map(String::as_str))
        .unwrap();
    config
        .set("socket.connection.setup.timeout.ms", "10000")
        .unwrap();
    let cluster = rskafka_consumer::Cluster::connect(config.client.clone()).await;
    cluster.expect_err("the connection must fail")
}

/// The library's connect with `setup` fails with a TLS failure `want` accepts, and
/// `rkc metadata` fails saying `rkc_says`.
async fn fails_with_tls(setup: &Setup, want: fn(&TlsFailure) -> bool, rkc_says: &str) {
    let err = library_error(setup).await;
    assert!(
        matches!(&err, Error::Tls { failure, .. } if want(failure)),
        "{err:?}"
    );
    rkc_fails_with(setup, rkc_says);
}

/// `rkc metadata` with `setup` exits 1 (rkc_run fails the test if it is still running after
/// twice the connect timeout) with a message containing `phrase` and the broker address, and
/// never prints the password.
fn rkc_fails_with(setup: &Setup, phrase: &str) {
    let mut args = vec![
        "metadata".to_owned(),
        "-b".to_owned(),
        setup.bootstrap(),
        "-X".to_owned(),
        "socket.connection.setup.timeout.ms=10000".to_owned(),
    ];
    args.extend(setup.x_args());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = rkc_run(&args, Duration::from_secs(20));
    assert_eq!(out.code, 1, "{}: {}", setup.name, out.stderr);
    assert!(
        out.stderr.contains(phrase) && out.stderr.contains(&setup.bootstrap()),
        "{}: expected `{phrase}` and the broker address in: {}",
        setup.name,
        out.stderr
    );
    assert!(!out.stderr.contains("wrong-password"), "{}", out.stderr);
}

#[tokio::test]
async fn wrong_password_is_an_authentication_failure() {
    secured();
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let setup = sasl("sasl_plaintext", mechanism, "wrong-password");
        let err = library_error(&setup).await;
        assert!(
            matches!(
                &err,
                Error::Sasl { failure: SaslFailure::AuthenticationFailed { .. }, broker }
                    if *broker == setup.bootstrap()
            ),
            "{mechanism}: {err:?}"
        );
        assert!(!format!("{err:?}").contains("wrong-password"));
        rkc_fails_with(&setup, "rejected the credentials");
    }
}

#[tokio::test]
async fn mechanism_the_listener_does_not_enable_is_named() {
    secured();
    // The SASL_SSL listener enables PLAIN and SCRAM only.
    let setup = Setup {
        name: "oauthbearer-on-sasl_ssl",
        port_offset: 40,
        properties: vec![
            "security.protocol=sasl_ssl".into(),
            format!("ssl.ca.location={}", pki("ca.pem")),
            "sasl.mechanisms=OAUTHBEARER".into(),
            "enable.sasl.oauthbearer.unsecure.jwt=true".into(),
            "sasl.oauthbearer.config=principal=alice".into(),
        ],
    };
    let err = library_error(&setup).await;
    assert!(
        matches!(
            err,
            Error::Sasl {
                failure: SaslFailure::MechanismNotEnabled {
                    mechanism: "OAUTHBEARER"
                },
                ..
            }
        ),
        "{err:?}"
    );
    rkc_fails_with(&setup, "does not enable OAUTHBEARER");
}

fn ssl_to(port_offset: u16, extra: &[&str]) -> Setup {
    let mut setup = ssl();
    setup.name = "ssl variant";
    setup.port_offset = port_offset;
    setup.properties.extend(extra.iter().map(|s| s.to_string()));
    setup
}

#[tokio::test]
async fn certificate_from_an_unknown_ca_is_untrusted() {
    secured();
    // Without ssl.ca.location the system / embedded roots are used: the test CA is not there.
    let setup = Setup {
        name: "no CA",
        port_offset: 10,
        properties: vec!["security.protocol=ssl".into()],
    };
    fails_with_tls(
        &setup,
        |f| matches!(f, TlsFailure::UntrustedCertificate),
        "not signed by a trusted CA",
    )
    .await;
}

#[tokio::test]
async fn certificate_for_another_host_fails_unless_verification_is_relaxed() {
    secured();
    let setup = ssl_to(60, &[]);
    fails_with_tls(
        &setup,
        |f| matches!(f, TlsFailure::HostnameMismatch),
        "not valid for this host name",
    )
    .await;

    for relaxed in [
        "ssl.endpoint.identification.algorithm=none",
        "enable.ssl.certificate.verification=false",
    ] {
        let setup = ssl_to(60, &[relaxed]);
        let mut args = vec!["metadata".to_owned(), "-b".to_owned(), setup.bootstrap()];
        args.extend(setup.x_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = support::rkc(&args);
        assert!(
            out.status.success(),
            "{relaxed}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn expired_certificate_is_named_as_expired() {
    secured();
    let setup = ssl_to(50, &[]);
    fails_with_tls(
        &setup,
        |f| matches!(f, TlsFailure::CertificateExpired),
        "certificate has expired",
    )
    .await;
}

#[tokio::test]
async fn missing_client_certificate_is_rejected_by_the_mtls_listener() {
    secured();
    let setup = ssl_to(20, &[]);
    fails_with_tls(
        &setup,
        |f| matches!(f, TlsFailure::ClientCertificateRejected { .. }),
        "rejected the client certificate",
    )
    .await;
}

#[tokio::test]
async fn tls_to_a_plaintext_port_says_the_port_is_not_tls() {
    secured();
    let setup = ssl_to(0, &[]);
    fails_with_tls(
        &setup,
        |f| matches!(f, TlsFailure::NotTls),
        "does not speak TLS",
    )
    .await;
}

#[tokio::test]
async fn plaintext_to_a_tls_port_says_the_port_expects_tls() {
    secured();
    let setup = Setup {
        name: "plaintext to ssl",
        port_offset: 10,
        properties: vec![],
    };
    let err = library_error(&setup).await;
    assert!(matches!(err, Error::PlaintextToTls { .. }), "{err:?}");
    rkc_fails_with(&setup, "probably expects TLS");
}

#[tokio::test]
async fn sasl_to_a_listener_without_sasl_says_so() {
    secured();
    let mut setup = sasl("sasl_plaintext", "PLAIN", "alice-secret");
    setup.port_offset = 0;
    let err = library_error(&setup).await;
    assert!(
        matches!(
            err,
            Error::Sasl {
                failure: SaslFailure::NotSaslListener,
                ..
            }
        ),
        "{err:?}"
    );
    rkc_fails_with(&setup, "does not do SASL");
}

#[tokio::test]
async fn ca_directory_and_inline_ca_pem_are_trusted_like_a_ca_file() {
    secured();
    let ca_pem = std::fs::read_to_string(pki("ca.pem")).unwrap();
    for (bootstrap, ca) in [
        // a directory of PEM files (the PKI dir also holds keys and other PEM certificates)
        ("localhost:29910", format!("ssl.ca.location={}", pki(""))),
        ("127.0.0.1:29910", format!("ssl.ca.pem={ca_pem}")),
    ] {
        let out = support::rkc(&[
            "metadata",
            "-b",
            bootstrap,
            "-X",
            "security.protocol=ssl",
            "-X",
            &ca,
        ]);
        assert!(
            out.status.success(),
            "{bootstrap} {}: {}",
            ca.lines().next().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut config = rskafka_consumer::ClientConfig::new(bootstrap).unwrap();
        config
            .apply_pairs(["security.protocol=ssl", ca.as_str()])
            .unwrap();
        let cluster = rskafka_consumer::Cluster::connect(config).await.unwrap();
        assert_eq!(cluster.metadata(None).await.unwrap().brokers.len(), 1);
    }
}

// ----------------------------------------------------------------------------- OIDC

/// A token endpoint (tests/peers/oidc_server.py) on `port`; `extra` are its options.
fn token_endpoint(port: u16, extra: &[&str]) -> PeerProcess {
    let dir = secured().pki.display().to_string();
    let mut args = vec![port.to_string(), dir];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut server = PeerProcess::spawn("oidc_server.py", &args);
    let ready = server.read_json(Duration::from_secs(20));
    assert_eq!(ready["ready"], port, "{ready}");
    server
}

fn oidc(endpoint_port: u16, secret: &str) -> Setup {
    Setup {
        name: "oidc",
        port_offset: 70,
        properties: vec![
            "security.protocol=sasl_plaintext".into(),
            "sasl.mechanisms=OAUTHBEARER".into(),
            "sasl.oauthbearer.method=oidc".into(),
            "sasl.oauthbearer.client.id=rkc-client".into(),
            format!("sasl.oauthbearer.client.secret={secret}"),
            format!("sasl.oauthbearer.token.endpoint.url=https://localhost:{endpoint_port}/token"),
            format!("https.ca.location={}", pki("ca.pem")),
        ],
    }
}

#[tokio::test]
async fn oidc_client_credentials_serve_the_same_records_as_to_librdkafka() {
    let _endpoint = token_endpoint(29981, &[]);
    everyone_reads_the_same_records_over(oidc(29981, "rkc-client-secret")).await;
}

#[tokio::test]
async fn oidc_wrong_client_secret_is_a_token_error_that_hides_the_secret() {
    let _endpoint = token_endpoint(29982, &[]);
    let setup = oidc(29982, "wrong-password");
    let err = library_error(&setup).await;
    assert!(
        matches!(
            &err,
            Error::Sasl { failure: SaslFailure::TokenUnavailable { detail }, .. }
                if detail.contains("401")
        ),
        "{err:?}"
    );
    rkc_fails_with(&setup, "no token from the OAUTHBEARER token endpoint");
}

#[tokio::test]
async fn oidc_tokens_are_reused_and_fetched_anew_past_80_percent_of_their_lifetime() {
    let mut endpoint = token_endpoint(29983, &["--lifetime", "5", "--client-id", "rkc-client"]);
    let mut config = rskafka_consumer::ClientConfig::new("127.0.0.1:29970").unwrap();
    config
        .apply_pairs(
            oidc(29983, "rkc-client-secret")
                .properties
                .iter()
                .map(String::as_str),
        )
        .unwrap();
    config.set("sasl.oauthbearer.scope", "kafka read").unwrap();
    let connect = || rskafka_consumer::Cluster::connect(config.clone());
    connect().await.unwrap();
    connect().await.unwrap();
    let first = endpoint.read_json(Duration::from_secs(10));
    assert_eq!(first["issued"], 1);
    assert_eq!(first["scope"], "kafka read");
    // 80 % of the 5 s lifetime is 4 s: a connection after that gets a new token.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    connect().await.unwrap();
    let second = endpoint.read_json(Duration::from_secs(10));
    assert_eq!(
        second["issued"], 2,
        "the second connection reused the token, the third got a new one"
    );
}

// ----------------------------------------------------------------------------- expiring sessions

#[test]
fn group_consumer_reads_everything_while_sasl_sessions_expire() {
    // The REAUTH listener ends each SASL session after 2 s (connections.max.reauth.ms); a
    // broker closes a connection at its first request after expiry. The consumer
    // re-authenticates in band before that (KIP-368) on every connection it holds (fetch,
    // control, coordinator), so no request meets an expired session: every record arrives and
    // no commit fails. Before re-authentication, an OffsetCommit on an expired connection
    // surfaced as an error event.
    let plaintext = secured().plaintext.clone();
    let topic = unique("sec-reauth");
    peer("admin.py", &["create", &plaintext, &topic, "1"]);
    let produce = |start: usize| {
        let out = peer(
            "produce.py",
            &[
                &plaintext,
                &topic,
                "--count",
                "10",
                "--start",
                &start.to_string(),
            ],
        );
        json_lines(&out.stdout)
    };
    let mut expected = produce(0);
    let group = unique("sec-reauth-group");
    let mut rkc = support::RkcProcess::spawn_with_env(
        &[
            "consume",
            "-b",
            "127.0.0.1:29980",
            "-t",
            &topic,
            "-G",
            &group,
            "-o",
            "beginning",
            "-c",
            "30",
            "-X",
            "security.protocol=sasl_plaintext",
            "-X",
            "sasl.mechanisms=SCRAM-SHA-256",
            "-X",
            "sasl.username=alice",
            "-X",
            "sasl.password=alice-secret",
        ],
        &[("RKC_LOG", "rskafka_consumer::cluster=debug")],
    );
    // Each batch after a session has expired on every connection the consumer holds.
    for start in [10, 20] {
        std::thread::sleep(Duration::from_secs(3));
        expected.extend(produce(start));
    }
    let code = rkc.wait_exit(LIMIT);
    assert_eq!(code, 0, "{}", rkc.describe());
    assert_eq!(sorted(rkc.messages.clone()), sorted(expected));
    assert!(
        rkc.events_of("error").is_empty(),
        "expired sessions must not surface as errors: {}",
        rkc.describe()
    );
    // ~9 s of 2 s sessions: without re-authentication the broker closes every connection at
    // its first request after each expiry and the consumer reconnects (about every 2 s per
    // connection); with it, the connections opened at the start are all it needs.
    let log_lines = |what: &str| rkc.stderr.lines().filter(|l| l.contains(what)).count();
    let opened = log_lines("cluster::connection: connected ");
    let reauthenticated = log_lines("SASL session re-authenticated");
    assert!(
        opened <= 6,
        "expiring sessions must not cost reconnects: {opened} connections opened\n{}",
        rkc.describe()
    );
    assert!(
        reauthenticated >= 4,
        "sessions must be re-authenticated in band, {reauthenticated} were: {}",
        rkc.describe()
    );
}

#[test]
fn secrets_stay_out_of_trace_logs() {
    secured();
    for (mechanism, password) in [
        ("PLAIN", "alice-secret"),
        ("PLAIN", "wrong-secret-x"),
        ("SCRAM-SHA-512", "alice-secret"),
    ] {
        let out = Command::new(support::rkc_path())
            .args(["metadata", "-b", "127.0.0.1:29930"])
            .args(["-X", "security.protocol=sasl_plaintext"])
            .args(["-X", &format!("sasl.mechanisms={mechanism}")])
            .args(["-X", "sasl.username=alice"])
            .args(["-X", &format!("sasl.password={password}")])
            .env("RKC_LOG", "trace")
            .output()
            .expect("run rkc");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains("TRACE") || all.contains("DEBUG"),
            "no trace output to check: {all}"
        );
        assert!(
            !all.contains(password),
            "{mechanism}: the password leaked:\n{all}"
        );
    }
}

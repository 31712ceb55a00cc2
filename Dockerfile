# A FROM-scratch image of the static `rkc` binary: no libc, no shell, no C anywhere.
# Build the binary first (no C compiler needed; rust-lld links it, see .cargo/config.toml):
#   rustup target add x86_64-unknown-linux-musl
#   cargo build --release --target x86_64-unknown-linux-musl --bin rkc
# then: docker build -t rkc . && docker run --rm --network host rkc metadata -b 127.0.0.1:9092
# Brokers are given as IP:port: a scratch image has no /etc/hosts or resolver configuration
# unless the runtime mounts one.
FROM scratch
COPY target/x86_64-unknown-linux-musl/release/rkc /rkc
# `rkc run` with `[metrics] listen = "0.0.0.0:9464"`: /metrics, /healthz, /readyz.
EXPOSE 9464
ENTRYPOINT ["/rkc"]

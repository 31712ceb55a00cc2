#!/usr/bin/env python3
"""HTTPS endpoint for `rkc run`'s http handler tests, with a throwaway PKI of its own.

  https_sink.py DIR

Writes DIR/ca.pem (a fresh test CA) and serves HTTPS on 127.0.0.1 (a free port) with a server
certificate signed by that CA for `localhost` and 127.0.0.1 (ECDSA P-256, valid one day).
Prints {"ready": PORT, "ca": "DIR/ca.pem"} once listening, then one line per POST:
{"offset": X-Rkc-Offset, "attempt": X-Rkc-Attempt, "key": X-Rkc-Key, "body": TEXT}.
Answers the first request for offset 0 with 503 and `Retry-After: 1`, every other with 204.
Runs until killed.
"""
import datetime
import ipaddress
import json
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def certificate(subject, issuer, key, signing_key, now, ca, names=()):
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


def make_pki(d):
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = certificate("rkc https test CA", "rkc https test CA", ca_key, ca_key, now, True)
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = certificate("localhost", "rkc https test CA", key, ca_key, now, False, names)
    pem = serialization.Encoding.PEM
    with open(os.path.join(d, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(pem))
    with open(os.path.join(d, "server.pem"), "wb") as f:
        f.write(cert.public_bytes(pem) + ca.public_bytes(pem))
    with open(os.path.join(d, "server.key"), "wb") as f:
        f.write(
            key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def main():
    d = sys.argv[1]
    make_pki(d)
    lock = threading.Lock()
    seen = set()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            offset = self.headers.get("x-rkc-offset")
            with lock:
                first = offset not in seen
                seen.add(offset)
                print(
                    json.dumps(
                        {
                            "offset": offset,
                            "attempt": self.headers.get("x-rkc-attempt"),
                            "key": self.headers.get("x-rkc-key"),
                            "body": body.decode("utf-8", "replace"),
                        }
                    ),
                    flush=True,
                )
            if offset == "0" and first:
                self.send_response(503)
                self.send_header("Retry-After", "1")
                self.send_header("Content-Length", "4")
                self.end_headers()
                self.wfile.write(b"busy")
            else:
                self.send_response(204)
                self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    print(json.dumps({"ready": server.server_address[1], "ca": os.path.join(d, "ca.pem")}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

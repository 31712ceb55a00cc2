#!/usr/bin/env python3
"""OAuth 2 token endpoint for the OIDC tests (client-credentials grant only), over HTTPS.

  oidc_server.py PORT SECURITY_DIR [--lifetime S] [--client-id ID] [--client-secret SECRET]

Serves POST /token on 127.0.0.1:PORT with the test bed's broker certificate (SECURITY_DIR/
broker.pem, broker.key: valid for localhost and 127.0.0.1). A request with HTTP Basic
credentials ID:SECRET (default rkc-client:rkc-client-secret; form-encoded as RFC 6749 says) and
grant_type=client_credentials gets {"access_token": JWT, "token_type": "bearer",
"expires_in": S}; the JWT is RS256-signed with SECURITY_DIR/oidc-signing.key (kid rkc-test) and
has sub=ID, iat, exp=iat+S and scope (from the request's scope, if any). Wrong credentials get
HTTP 401 {"error":"invalid_client"}. Prints {"ready": PORT} once listening, then one line
{"issued": N, "scope": ...} per token issued. Runs until killed.
"""
import argparse
import base64
import json
import ssl
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("security_dir")
    ap.add_argument("--lifetime", type=int, default=3600)
    ap.add_argument("--client-id", default="rkc-client")
    ap.add_argument("--client-secret", default="rkc-client-secret")
    args = ap.parse_args()
    d = args.security_dir
    with open(f"{d}/oidc-signing.key", "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    issued = [0]

    def token(scope):
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": "rkc-test"}
        claims = {"sub": args.client_id, "iat": now, "exp": now + args.lifetime, "iss": "rkc-test-idp"}
        if scope:
            claims["scope"] = scope
        signing_input = (b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())).encode()
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + b64url(signature)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *a):
            sys.stderr.write("oidc_server: " + (fmt % a) + "\n")

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            auth = self.headers.get("Authorization", "")
            ok = False
            if auth.startswith("Basic "):
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
                ok = (urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)) == (
                    args.client_id,
                    args.client_secret,
                )
            if self.path != "/token" or form.get("grant_type") != ["client_credentials"]:
                return self.reply(400, {"error": "invalid_request"})
            if not ok:
                return self.reply(401, {"error": "invalid_client"})
            scope = form.get("scope", [None])[0]
            issued[0] += 1
            print(json.dumps({"issued": issued[0], "scope": scope}), flush=True)
            self.reply(200, {"access_token": token(scope), "token_type": "bearer", "expires_in": args.lifetime})

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(f"{d}/broker.pem", f"{d}/broker.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(json.dumps({"ready": args.port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

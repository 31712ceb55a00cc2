#!/usr/bin/env python3
"""An HTTPS webhook for the alert tests.

  https_webhook.py CERT KEY

Serves POST on 127.0.0.1 (a free port) with the certificate chain CERT and its key KEY.
Prints {"ready": PORT} once listening, then per request {"path": PATH, "body": <the JSON
body>}, answering 200. Runs until killed.
"""
import http.server
import json
import ssl
import sys


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        print(json.dumps({"path": self.path, "body": json.loads(body)}), flush=True)
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    cert, key = sys.argv[1], sys.argv[2]
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(json.dumps({"ready": server.server_address[1]}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A small node that nobody in this repository wrote in Rust: it stands in for
an adopter's own server. It has two ports: an HTTP API that answers
GET /state with JSON, and a peer port where other nodes read its tick count.
Each node counts ticks, and asks each peer for its count over the peer port.

    ticker-node.py --name node-0 --api 127.0.0.1:7000 --peer 127.0.0.1:7001 \
        --peers 127.0.0.1:7003,127.0.0.1:7005
"""

import argparse
import json
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
ticks = 0
peers = {}


def host_port(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


class PeerHandler(socketserver.BaseRequestHandler):
    def handle(self):
        with lock:
            count = ticks
        self.request.sendall(f"{count}\n".encode())


class ApiHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/state":
            self.send_error(404, "try GET /state")
            return
        with lock:
            body = json.dumps({"name": NAME, "ticks": ticks, "peers": dict(peers)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def ask(peer):
    try:
        with socket.create_connection(host_port(peer), timeout=0.3) as conn:
            return int(conn.makefile().readline())
    except (OSError, ValueError):
        return None


def tick_and_gossip(peer_list):
    global ticks
    while True:
        time.sleep(0.1)
        seen = {peer: ask(peer) for peer in peer_list}
        with lock:
            ticks += 1
            peers.update(seen)


def main():
    global NAME
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--api", required=True, type=host_port)
    parser.add_argument("--peer", required=True, type=host_port)
    parser.add_argument("--peers", default="")
    # Where it would keep data; it keeps none, but names it like real nodes do.
    parser.add_argument("--data-dir")
    args = parser.parse_args()
    NAME = args.name
    peer_list = [p for p in args.peers.split(",") if p]
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    ThreadingHTTPServer.allow_reuse_address = True
    peer_server = socketserver.ThreadingTCPServer(args.peer, PeerHandler)
    api_server = ThreadingHTTPServer(args.api, ApiHandler)
    threading.Thread(target=peer_server.serve_forever, daemon=True).start()
    threading.Thread(target=tick_and_gossip, args=(peer_list,), daemon=True).start()
    print(f"{NAME}: api on {args.api}, peer port on {args.peer}, peers {peer_list}", flush=True)
    api_server.serve_forever()


if __name__ == "__main__":
    main()

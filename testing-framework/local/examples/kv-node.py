#!/usr/bin/env python3
"""A small key-value store that nobody in this repository wrote in Rust: it
stands in for an adopter's own system. One node is the primary and keeps the
data (in a file of its data directory, so a restart keeps it); the others
forward every request to it. JSON over HTTP:

    GET  /state             {"name": ..., "role": ...}
    GET  /kv/<key>          {"value": "..." or null}
    POST /kv/<key>          {"value": "..."}                  -> {"ok": true}
    POST /cas/<key>         {"expected": ... or null, "new": "..."} -> {"swapped": bool}

A replica that cannot reach the primary answers 502 (nothing was done) or,
when the primary did not answer in time, 504 (it may have been done).

    kv-node.py --name node-1 --api 127.0.0.1:7002 --data-dir DIR --primary 127.0.0.1:7000
"""

import argparse
import json
import os
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
data = {}


def host_port(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def save():
    path = os.path.join(args.data_dir, "kv.json")
    with open(path + ".tmp", "w") as out:
        json.dump(data, out)
    os.replace(path + ".tmp", path)


def apply(method, path, body):
    kind, key = path.strip("/").split("/", 1)
    with lock:
        if method == "GET":
            return {"value": data.get(key)}
        if kind == "kv":
            data[key] = body["value"]
            save()
            return {"ok": True}
        swapped = data.get(key) == body["expected"]
        if swapped:
            data[key] = body["new"]
            save()
        return {"swapped": swapped}


def forward(method, path, body):
    request = urllib.request.Request(
        f"http://{args.primary}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=0.8) as answer:
            return 200, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, {"error": f"the primary answered {error.code}"}
    except ConnectionRefusedError as error:
        return 502, {"error": f"primary unreachable: {error}"}
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionRefusedError):
            return 502, {"error": f"primary unreachable: {error.reason}"}
        return 504, {"error": f"the primary did not answer: {error.reason}"}
    except OSError as error:
        return 504, {"error": f"the primary did not answer: {error}"}


class Handler(BaseHTTPRequestHandler):
    def answer(self, method):
        if self.path == "/state":
            status, out = 200, {"name": args.name, "role": "replica" if args.primary else "primary"}
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            if args.primary:
                status, out = forward(method, self.path, body)
            else:
                status, out = 200, apply(method, self.path, body)
        payload = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self):
        self.answer("GET")

    def do_POST(self):
        self.answer("POST")

    def log_message(self, *_):
        pass


parser = argparse.ArgumentParser()
parser.add_argument("--name", required=True)
parser.add_argument("--api", required=True, type=host_port)
parser.add_argument("--data-dir", required=True)
parser.add_argument("--primary", help="host:port of the primary; none: this is the primary")
args = parser.parse_args()
os.makedirs(args.data_dir, exist_ok=True)
if os.path.exists(os.path.join(args.data_dir, "kv.json")):
    with open(os.path.join(args.data_dir, "kv.json")) as saved:
        data = json.load(saved)
ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(args.api, Handler).serve_forever()

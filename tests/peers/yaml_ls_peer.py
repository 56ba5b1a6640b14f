#!/usr/bin/env python3
"""Opens YAML files in the yaml-language-server (the one VS Code's YAML
extension runs; npm, pinned in package.json) over LSP stdio, as an editor
would, and prints what it reports as JSON:

    {"files": {PATH: [diagnostic message, ...]}, "hover": TEXT, "completion": [LABEL, ...]}

A file is opened as it is: its own `# yaml-language-server: $schema=` modeline
decides the schema. `--hover PATH:LINE:COL` (1-based) also asks for the hover
text there, and `--complete PATH:LINE:COL` for the completions.

    python3 tests/peers/yaml_ls_peer.py --hover gateway.yaml:36:8 gateway.yaml
"""
import argparse
import json
import pathlib
import queue
import subprocess
import threading
import time

SERVER = pathlib.Path(__file__).resolve().parent / "node_modules" / ".bin" / "yaml-language-server"
SETTINGS = {"validate": True, "hover": True, "completion": True, "schemaStore": {"enable": False}}


class Client:
    def __init__(self):
        self.proc = subprocess.Popen([str(SERVER), "--stdio"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.inbox = queue.Queue()
        self.diagnostics = {}
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.decode().strip()
                if not line:
                    break
                name, value = line.split(":", 1)
                headers[name.lower()] = value.strip()
            self.inbox.put(json.loads(out.read(int(headers["content-length"]))))

    def _write(self, message):
        data = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(data) + data)
        self.proc.stdin.flush()

    def notify(self, method, params):
        self._write({"method": method, "params": params})

    def request(self, method, params):
        self.next_id += 1
        self._write({"id": self.next_id, "method": method, "params": params})
        while True:
            message = self.inbox.get(timeout=30)
            if message.get("id") == self.next_id and "method" not in message:
                return message.get("result")
            self._handle(message)

    def _handle(self, message):
        method = message.get("method")
        if method == "textDocument/publishDiagnostics":
            self.diagnostics[message["params"]["uri"]] = message["params"]["diagnostics"]
        elif "id" in message and method == "workspace/configuration":
            self._write({"id": message["id"], "result": [SETTINGS] * len(message["params"]["items"])})
        elif "id" in message:
            self._write({"id": message["id"], "result": None})

    def settle(self, uris, seconds=20):
        """Waits until every file has diagnostics and the server has gone quiet."""
        deadline = time.time() + seconds
        quiet_since = time.time()
        while time.time() < deadline:
            try:
                self._handle(self.inbox.get(timeout=0.5))
                quiet_since = time.time()
            except queue.Empty:
                if all(u in self.diagnostics for u in uris) and time.time() - quiet_since > 1.5:
                    return


def position(spec):
    path, line, col = spec.rsplit(":", 2)
    uri = pathlib.Path(path).resolve().as_uri()
    return {"textDocument": {"uri": uri}, "position": {"line": int(line) - 1, "character": int(col) - 1}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=pathlib.Path)
    parser.add_argument("--hover")
    parser.add_argument("--complete")
    args = parser.parse_args()
    client = Client()
    root = pathlib.Path.cwd().as_uri()
    client.request("initialize", {"processId": None, "rootUri": root, "capabilities": {
        "workspace": {"configuration": True},
        "textDocument": {"hover": {"contentFormat": ["markdown"]}, "completion": {"completionItem": {}}}}})
    client.notify("initialized", {})
    client.notify("workspace/didChangeConfiguration", {"settings": {"yaml": SETTINGS}})
    uris = {}
    for path in args.files:
        uri = path.resolve().as_uri()
        uris[str(path)] = uri
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "yaml", "version": 1, "text": path.read_text()}})
    client.settle(list(uris.values()))
    report = {"files": {p: [d["message"] for d in client.diagnostics.get(u, [])] for p, u in uris.items()}}
    if args.hover:
        result = client.request("textDocument/hover", position(args.hover)) or {}
        report["hover"] = (result.get("contents") or {}).get("value", "")
    if args.complete:
        result = client.request("textDocument/completion", position(args.complete)) or []
        items = result.get("items", []) if isinstance(result, dict) else result
        report["completion"] = [item["label"] for item in items]
    client.proc.kill()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Idle keep-alive memory of a proxy, for scripts/bench/run.sh.

Opens N connections to 127.0.0.1:PORT, sends one GET (with the given headers) on each and reads the
response, keeps them all open, and reports the proxy's RSS (VmRSS summed over --pids) and open file
descriptors before, while the connections are held, and after they close. Prints one JSON object.

Bounded: each socket operation times out after 5 s and the whole run after --max-seconds.
"""
import argparse
import json
import os
import resource
import socket
import sys
import time


def rss_kb(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def open_fds(pids):
    return sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in pids)


def read_response(sock):
    """Reads one response with a Content-Length body; returns the status code."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response headers")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the response body")
        body += chunk
    return status


def settle(pids, seconds=3.0):
    """RSS once it stops moving (the proxy may still be finishing work), at most `seconds`."""
    last = rss_kb(pids)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_kb(pids)
        if now == last:
            break
        last = now
    return last


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--path", default="/")
    ap.add_argument("--conns", type=int, default=10000)
    ap.add_argument("--headers", help="file of `Name: value` lines to send on each request")
    ap.add_argument("--pids", type=int, nargs="+", required=True)
    ap.add_argument("--max-seconds", type=float, default=240)
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.conns + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.conns + 1000), hard))

    extra = b""
    if args.headers:
        with open(args.headers, "rb") as f:
            extra = b"".join(line.rstrip(b"\r\n") + b"\r\n" for line in f if line.strip())
    request = (
        f"GET {args.path} HTTP/1.1\r\nHost: 127.0.0.1:{args.port}\r\n".encode() + extra + b"\r\n"
    )

    before = settle(args.pids)
    fds_before = open_fds(args.pids)
    deadline = time.monotonic() + args.max_seconds
    socks, ok, errors, first_error = [], 0, 0, None
    started = time.monotonic()
    for _ in range(args.conns):
        if time.monotonic() > deadline:
            break
        try:
            s = socket.create_connection(("127.0.0.1", args.port), timeout=5)
            socks.append(s)
            s.sendall(request)
            if read_response(s) == 200:
                ok += 1
            else:
                errors += 1
        except OSError as e:
            errors += 1
            first_error = first_error or repr(e)
    open_seconds = time.monotonic() - started
    held = settle(args.pids)
    fds_held = open_fds(args.pids)
    # Connections a proxy closed while we held them (an idle timeout) would not count: check they are alive.
    alive = 0
    for s in socks:
        try:
            s.setblocking(False)
            alive += s.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            alive += 1  # nothing to read and not closed: still open
        except OSError:
            pass
    for s in socks:
        s.close()
    time.sleep(1.0)  # let the proxy notice the closes
    after = settle(args.pids, 5.0)
    fds_after = open_fds(args.pids)  # back to fds_before: the connections are gone, what RSS keeps is the allocator's
    n = max(ok, 1)
    json.dump(
        {
            "conns": args.conns,
            "ok": ok,
            "errors": errors,
            "alive": alive,
            "first_error": first_error,
            "open_seconds": round(open_seconds, 2),
            "rss_before_kb": before,
            "rss_held_kb": held,
            "rss_after_close_kb": after,
            "kb_per_conn": round((held - before) / n, 2),
            "fds": [fds_before, fds_held, fds_after],
        },
        sys.stdout,
    )
    print()


if __name__ == "__main__":
    main()

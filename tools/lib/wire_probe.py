#!/usr/bin/python3
"""Replays hostile and sloppy clients against one running `podium store` member (issue 14's probes) and reports
the member's memory (VmRSS) after each, and the latency of 100 KB puts before and after all of them.

Usage: wire_probe.py --pid PID --endpoint HOST:PORT [--scale N]
Each probe opens raw HTTP/2 connections (hand-built frames: no client library would send these) and closes them
when done. Exit status 1 if a probe finds the member dead or a put failing afterwards.
"""
import argparse
import os
import statistics
import struct
import sys
import time

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Interop"))
from grpc_interop import field_bytes, put_request  # noqa: E402
from raw_http2 import (CONTINUATION, DATA, END_HEADERS, END_STREAM, HEADERS, PING, RawConnection,  # noqa: E402
                       frame, message, request_headers)

def rss_mb(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def put_latency_ms(channel, key, value, count=100):
    put = channel.unary_unary("/etcdserverpb.KV/Put")
    samples = []
    for _ in range(count):
        started = time.monotonic()
        put(put_request(key, value), timeout=10)
        samples.append((time.monotonic() - started) * 1000)
    return statistics.median(samples), sorted(samples)[int(count * 0.99) - 1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pid", type=int, required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every probe's size")
    args = parser.parse_args()
    host, port = args.endpoint.rsplit(":", 1)
    port = int(port)
    scale = args.scale
    channel = grpc.insecure_channel(args.endpoint, options=[("grpc.max_receive_message_length", 64 << 20)])
    grpc.channel_ready_future(channel).result(timeout=30)
    value = b"v" * 100_000
    results = []

    def report(name, detail):
        rss = rss_mb(args.pid)
        results.append((name, rss, detail))
        print("%-58s RSS %7.1f MB  %s" % (name, rss, detail), flush=True)

    report("start", "")
    before = put_latency_ms(channel, b"probe/k2", value)
    report("100 KB puts before the probes", "median %.2f ms, p99 %.2f ms" % before)

    # 1. Watch calls the server ends itself (a compressed-flag message): each used to leave its store watcher.
    streams = int(2000 * scale)
    conn = RawConnection(host, port)
    create = field_bytes(1, field_bytes(1, b"probe/k2"))
    burst = b""
    for index in range(streams):
        stream = 2 * index + 1
        burst += frame(HEADERS, END_HEADERS, stream, request_headers("/etcdserverpb.Watch/Watch"))
        burst += frame(DATA, 0, stream, message(create) + b"\x01" + struct.pack(">I", 1) + b"x")
    conn.send(burst, budget_seconds=30)
    time.sleep(1)
    conn.close()
    report("%d watches ended by the server over a bad message" % streams, "")
    # Their store watchers, if they were left behind, would each be offered every put to the key.
    report("100 KB puts to the key they watched", "median %.2f ms, p99 %.2f ms" % put_latency_ms(channel, b"probe/k2", value))

    # 2. CONTINUATION flood: one header block continued with 1 MB frames.
    conn = RawConnection(host, port)
    flood = frame(HEADERS, 0, 1, request_headers("/etcdserverpb.KV/Range")[:3])
    flood += b"".join(frame(CONTINUATION, 0, 1, b"\x40" * (1 << 20)) for _ in range(int(300 * scale)))
    sent = conn.send(flood, budget_seconds=5)
    time.sleep(0.5)
    report("CONTINUATION flood (%d MB offered)" % int(300 * scale),
           "%.1f MB taken, connection %s" % (sent / 1e6, "open" if conn.is_open() else "closed"))
    conn.close()

    # 3. PINGs from a client that never reads.
    conn = RawConnection(host, port)
    pings = frame(PING, 0, 0, b"12345678") * int(4_000_000 * scale)
    sent = conn.send(pings, budget_seconds=10)
    report("%d PINGs offered by a client that never reads" % int(4_000_000 * scale),
           "%d taken before the server stopped reading" % (sent // 17))
    conn.close()

    # 4. Progress requests on one Watch stream, never read.
    conn = RawConnection(host, port)
    progress = field_bytes(3, b"")
    requests = frame(HEADERS, END_HEADERS, 1, request_headers("/etcdserverpb.Watch/Watch"))
    requests += frame(DATA, 0, 1, message(create))
    chunk = message(progress) * 2000
    requests += b"".join(frame(DATA, 0, 1, chunk) for _ in range(int(1000 * scale)))
    sent = conn.send(requests, budget_seconds=10)
    report("%d progress requests on a watch never read" % int(2_000_000 * scale),
           "%d taken before its window closed" % (sent // 7))
    conn.close()

    # 5. Range calls whose responses wait for a window that never opens, with a 1 s deadline.
    conn = RawConnection(host, port, initial_window=0)
    calls = int(4096 * scale)
    ranges = b""
    for index in range(calls):
        stream = 2 * index + 1
        ranges += frame(HEADERS, END_HEADERS, stream, request_headers("/etcdserverpb.KV/Range", timeout="1S"))
        ranges += frame(DATA, END_STREAM, stream, message(field_bytes(1, b"probe/k2")))
    conn.send(ranges, budget_seconds=10)
    time.sleep(2.5)
    report("%d ranges of 100 KB behind a closed window, 2.5 s later" % calls, "")
    probe = frame(HEADERS, END_HEADERS, 2 * calls + 1, request_headers("/etcdserverpb.KV/Range"))
    conn.send(probe)
    conn.close()

    # 6. Snapshot calls that never read.
    stalled = []
    for _ in range(int(5 * scale) or 1):
        conn = RawConnection(host, port, initial_window=0)
        conn.send(frame(HEADERS, END_HEADERS, 1, request_headers("/etcdserverpb.Maintenance/Snapshot"))
                  + frame(DATA, END_STREAM, 1, message(b"")))
        stalled.append(conn)
    time.sleep(3)
    report("%d stalled snapshot calls, 3 s later" % len(stalled), "")
    for conn in stalled:
        conn.close()

    time.sleep(1)
    after = put_latency_ms(channel, b"probe/k2", value)
    report("100 KB puts after the probes", "median %.2f ms, p99 %.2f ms" % after)
    peak = max(rss for _, rss, _ in results)
    print("peak RSS %.1f MB (start %.1f MB)" % (peak, results[0][1]))


if __name__ == "__main__":
    main()

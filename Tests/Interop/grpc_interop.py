#!/usr/bin/python3
"""Interop checks of Podium's gRPC server against Python's grpcio (a C-core client, not ours, not Go's).

Messages are hand-encoded protobuf (no generated code needed). Usage: grpc_interop.py HOST:PORT
Prints one line per check and exits non-zero on the first failure.
"""
import queue
import sys
import threading
import time

import grpc

import raw_http2


# --- minimal protobuf wire format -------------------------------------------------------------------------------

def varint(value):
    out = bytearray()
    value &= (1 << 64) - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_bytes(number, data):
    return varint(number << 3 | 2) + varint(len(data)) + data


def field_int(number, value):
    return varint(number << 3) + varint(value)


def parse(data):
    """Returns {field number: [values]} (ints for varints, bytes for length-delimited)."""
    fields = {}
    i = 0
    while i < len(data):
        key, i = read_varint(data, i)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, i = read_varint(data, i)
        elif kind == 2:
            length, i = read_varint(data, i)
            value, i = data[i:i + length], i + length
        elif kind == 1:
            value, i = data[i:i + 8], i + 8
        elif kind == 5:
            value, i = data[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % kind)
        fields.setdefault(number, []).append(value)
    return fields


def read_varint(data, i):
    shift = result = 0
    while True:
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, i
        shift += 7


def put_request(key, value):
    return field_bytes(1, key) + field_bytes(2, value)


def range_request(key, range_end=b"", revision=0):
    out = field_bytes(1, key)
    if range_end:
        out += field_bytes(2, range_end)
    if revision:
        out += field_int(4, revision)
    return out


def header_revision(response):
    return parse(parse(response)[1][0]).get(3, [0])[0]


def kvs(range_response):
    return [(parse(kv)[1][0], parse(kv).get(5, [b""])[0]) for kv in parse(range_response).get(2, [])]


# --- checks -----------------------------------------------------------------------------------------------------

def check(name, condition, detail=""):
    if not condition:
        print("FAIL %s %s" % (name, detail))
        sys.exit(1)
    print("ok   %s" % name)


def expect_status(name, call, code, message_part=""):
    try:
        call()
    except grpc.RpcError as error:
        check(name, error.code() == code and message_part in (error.details() or ""),
              "got %s %r" % (error.code(), error.details()))
        return
    check(name, False, "no error")


def main():
    target = sys.argv[1]
    options = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]
    channel = grpc.insecure_channel(target, options=options)
    grpc.channel_ready_future(channel).result(timeout=30)

    def unary(method):
        return channel.unary_unary(method)  # raw bytes in, raw bytes out

    put = unary("/etcdserverpb.KV/Put")
    get = unary("/etcdserverpb.KV/Range")

    # Unary calls.
    revision = header_revision(put(put_request(b"interop/a", b"1"), timeout=10))
    check("unary Put returns a header with the revision", revision > 1)
    check("unary Range reads it back", kvs(get(range_request(b"interop/a"), timeout=10)) == [(b"interop/a", b"1")])

    # Errors carry etcd's status codes and messages.
    expect_status("future revision -> OUT_OF_RANGE", lambda: get(range_request(b"interop/a", revision=revision + 1000), timeout=10),
                  grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision")
    expect_status("empty key -> INVALID_ARGUMENT", lambda: put(put_request(b"", b"x"), timeout=10),
                  grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: key is not provided")
    expect_status("unknown method -> UNIMPLEMENTED", lambda: unary("/etcdserverpb.KV/Nope")(b"", timeout=10),
                  grpc.StatusCode.UNIMPLEMENTED)
    expect_status("malformed request -> INTERNAL", lambda: put(b"\xff\xff\xff", timeout=10),
                  grpc.StatusCode.INTERNAL, "unmarshalling")
    expect_status("over --max-request-bytes -> INVALID_ARGUMENT", lambda: put(put_request(b"big", b"x" * 1_700_000), timeout=30),
                  grpc.StatusCode.INVALID_ARGUMENT, "etcdserver: request is too large")
    expect_status("over the transport limit -> RESOURCE_EXHAUSTED", lambda: put(put_request(b"big", b"x" * 2_300_000), timeout=30),
                  grpc.StatusCode.RESOURCE_EXHAUSTED)
    check("the server still answers after refusals", kvs(get(range_request(b"interop/a"), timeout=10)) == [(b"interop/a", b"1")])

    # Large messages both ways (many HTTP/2 frames and window updates).
    large = bytes(range(256)) * 5800  # 1,484,800 bytes
    put(put_request(b"interop/large", large), timeout=30)
    check("a 1.48 MB value round-trips", kvs(get(range_request(b"interop/large"), timeout=30)) == [(b"interop/large", large)])
    for index in range(6):
        put(put_request(b"interop/many/%d" % index, large), timeout=30)
    many = kvs(get(range_request(b"interop/many/", b"interop/many0"), timeout=60))
    check("an 8.9 MB response arrives whole (flow control)", len(many) == 6 and all(value == large for _, value in many))

    # Deadlines: the client's grpc-timeout bounds the call.
    watch = channel.stream_stream("/etcdserverpb.Watch/Watch")
    create = field_bytes(1, field_bytes(1, b"interop/w/") + field_bytes(2, b"interop/w0"))
    held = threading.Event()

    def held_open():
        yield create
        held.wait(30)  # keep the request side open: only the deadline may end this call

    started = time.monotonic()
    expect_status("a stream past its deadline ends DEADLINE_EXCEEDED",
                  lambda: list(watch(held_open(), timeout=0.5)), grpc.StatusCode.DEADLINE_EXCEEDED)
    check("... within about its deadline", time.monotonic() - started < 5)
    held.set()

    # Bidirectional streaming: a watch sees later puts in order, then the client cancels it.
    gate = threading.Event()

    def request_stream():
        yield create
        gate.wait(30)

    responses = watch(request_stream(), timeout=60)
    created = parse(next(responses))
    check("watch create -> created response", created.get(3, [0])[0] == 1)
    for index in range(3):
        put(put_request(b"interop/w/%d" % index, b"v%d" % index), timeout=10)
    seen = []
    while len(seen) < 3:
        message = parse(next(responses))
        for event in message.get(11, []):
            seen.append(parse(parse(event)[2][0])[1][0])
    check("watch events arrive in order", seen == [b"interop/w/0", b"interop/w/1", b"interop/w/2"], repr(seen))
    responses.cancel()
    gate.set()

    # Watchers with the same key on one stream share one store watcher: each still sees only what was written
    # after its creation, one asking for previous values gets them, and cancelling one leaves the others.
    requests = queue.Queue()

    def queued():
        while (item := requests.get()) is not None:
            yield item

    shared = watch(queued(), timeout=60)
    seen = {1: [], 2: [], 3: []}
    prev_values = []
    state = {"created": set(), "canceled": set()}

    def read_until(condition):
        deadline = time.monotonic() + 30
        while not condition() and time.monotonic() < deadline:
            message = parse(next(shared))
            watch_id = message.get(2, [0])[0]
            if message.get(3, [0])[0]:
                state["created"].add(watch_id)
            if message.get(4, [0])[0]:
                state["canceled"].add(watch_id)
            for event in message.get(11, []):
                fields = parse(event)
                seen[watch_id].append(parse(fields[2][0])[5][0])
                if watch_id == 3:
                    prev_values.append(parse(fields[3][0])[5][0] if 3 in fields else None)
        return condition()

    def create_on(watch_id, extra=b""):
        requests.put(field_bytes(1, field_bytes(1, b"interop/s") + field_int(7, watch_id) + extra))

    create_on(1)
    read_until(lambda: 1 in state["created"])
    put(put_request(b"interop/s", b"v1"), timeout=10)
    read_until(lambda: seen[1] == [b"v1"])
    create_on(2)
    create_on(3, field_int(6, 1))
    read_until(lambda: {2, 3} <= state["created"])
    put(put_request(b"interop/s", b"v2"), timeout=10)
    read_until(lambda: len(seen[1]) == 2)
    requests.put(field_bytes(2, field_int(1, 1)))
    read_until(lambda: 1 in state["canceled"])
    put(put_request(b"interop/s", b"v3"), timeout=10)
    check("watchers sharing a key each see what was written after they were created",
          read_until(lambda: len(seen[2]) >= 2 and len(seen[3]) >= 2)
          and seen == {1: [b"v1", b"v2"], 2: [b"v2", b"v3"], 3: [b"v2", b"v3"]}, repr(seen))
    check("... and the one that asked for previous values gets them", prev_values == [b"v1", b"v2"], repr(prev_values))
    requests.put(None)
    shared.cancel()

    # Progress notifications (the server runs with a 300 ms interval): an idle watcher that asked for them is
    # told the current revision, with no events.
    quiet = threading.Event()

    def quiet_stream():
        yield field_bytes(1, field_bytes(1, b"interop/quiet") + field_int(4, 1) + field_int(7, 77))
        quiet.wait(30)

    progress = watch(quiet_stream(), timeout=30)
    check("progress watch created with the asked-for ID", parse(next(progress)).get(2, [0])[0] == 77)
    notification = parse(next(progress))
    check("an idle watcher gets a progress notification",
          notification.get(2, [0])[0] == 77 and 11 not in notification and header_revision(
              field_bytes(1, notification[1][0])) >= revision, repr(notification))
    progress.cancel()
    quiet.set()
    check("the server still answers after a cancelled stream", kvs(get(range_request(b"interop/a"), timeout=10)) == [(b"interop/a", b"1")])

    # Many concurrent calls on one connection (one handler, streams routed by ID).
    results = []

    def worker(offset):
        for index in range(25):
            key = b"interop/c/%d" % (offset * 100 + index)
            put(put_request(key, b"x"), timeout=30)
            results.append(key)

    threads = [threading.Thread(target=worker, args=(offset,)) for offset in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    count = len(kvs(get(range_request(b"interop/c/", b"interop/c0"), timeout=30)))
    check("200 concurrent puts over one connection all land", len(results) == 200 and count == 200, "%d %d" % (len(results), count))

    # At most 8 snapshots are sent at once (each holds a database snapshot for as long as its client takes):
    # clients that never open their window hold them, the 9th is refused at once, and once they go the
    # snapshot is served again.
    host, port = target.rsplit(":", 1)
    held, refused = [], None
    for _ in range(12):
        conn = raw_http2.RawConnection(host, int(port), initial_window=0)
        conn.send(raw_http2.frame(raw_http2.HEADERS, raw_http2.END_HEADERS, 1,
                                  raw_http2.request_headers("/etcdserverpb.Maintenance/Snapshot"))
                  + raw_http2.frame(raw_http2.DATA, raw_http2.END_STREAM, 1, raw_http2.message(b"")))
        status = conn.read_grpc_status(seconds=5)  # a refusal comes at once; a held call says nothing
        if status is not None:
            refused = status
            conn.close()
            break
        held.append(conn)
    still_silent = [conn for conn in held if conn.read_grpc_status(seconds=0.1) is None]
    check("a snapshot beyond the 8 being sent is refused", refused == 8 and len(held) == 8 and len(still_silent) == 8,
          "refused with %r after %d held (%d silent)" % (refused, len(held), len(still_silent)))
    for conn in held:
        conn.close()
    snapshot = channel.unary_stream("/etcdserverpb.Maintenance/Snapshot")
    deadline = time.monotonic() + 30
    while True:
        try:
            list(snapshot(b"", timeout=30))
            break
        except grpc.RpcError as error:
            # The server notices the closed connections a moment later.
            if error.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                check("... and served again once they are gone", False, "%s %s" % (error.code(), error.details()))
            time.sleep(0.1)
    check("... and served again once they are gone", True)
    print("ALL OK")


if __name__ == "__main__":
    main()

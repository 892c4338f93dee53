#!/usr/bin/python3
"""etcd's stream semantics, checked with Python's grpcio against any etcd v3 endpoint (a Podium member, or etcd
itself, so both are held to the same behaviour): what a client that half-closes its request side gets from
LeaseKeepAlive, Watch and Snapshot.

Usage: stream_semantics.py HOST:PORT. Prints one line per check; exits non-zero on the first failure.
"""
import sys
import threading
import time

import grpc

from grpc_interop import check, field_bytes, field_int, parse, put_request


def main():
    target = sys.argv[1]
    channel = grpc.insecure_channel(target, options=[("grpc.max_receive_message_length", 64 << 20)])
    grpc.channel_ready_future(channel).result(timeout=30)
    grant = channel.unary_unary("/etcdserverpb.Lease/LeaseGrant")
    keep_alive = channel.stream_stream("/etcdserverpb.Lease/LeaseKeepAlive")
    put = channel.unary_unary("/etcdserverpb.KV/Put")
    watch = channel.stream_stream("/etcdserverpb.Watch/Watch")
    snapshot = channel.unary_stream("/etcdserverpb.Maintenance/Snapshot")

    def put_retrying(key, value):
        # A write that meets an election is retried, as a client would.
        deadline = time.monotonic() + 60
        while True:
            try:
                return put(put_request(key, value), timeout=10)
            except grpc.RpcError as error:
                if time.monotonic() > deadline or error.code() not in (
                        grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                time.sleep(0.2)

    put_retrying(b"semantics/ready", b"1")
    lease = parse(grant(field_int(1, 60), timeout=10))[2][0]

    # LeaseKeepAlive: requests sent, then the request side closed: every one is answered, then OK.
    answers = list(keep_alive(iter([field_int(1, lease)]), timeout=20))
    check("a keep-alive then half-close gets its one answer",
          len(answers) == 1 and parse(answers[0]).get(2, [0])[0] == lease and parse(answers[0]).get(3, [0])[0] > 0,
          repr([parse(answer) for answer in answers]))
    answers = list(keep_alive(iter([field_int(1, lease)] * 5), timeout=20))
    check("five keep-alives then half-close get five answers", len(answers) == 5, "%d" % len(answers))

    # Watch: a create, then the request side closed: events keep coming until the client cancels.
    create = field_bytes(1, field_bytes(1, b"semantics/w"))
    responses = watch(iter([create]), timeout=30)
    created = parse(next(responses))
    check("a watch created then half-closed is created", created.get(3, [0])[0] == 1, repr(created))
    # The answer to the half-close, if any, comes within this pause.
    time.sleep(0.5)
    put_retrying(b"semantics/w", b"after half-close")
    event = None
    for response in responses:
        events = parse(response).get(11, [])
        if events:
            event = parse(parse(events[0])[2][0])
            break
    check("... and still gets events", event is not None and event[1][0] == b"semantics/w"
          and event[5][0] == b"after half-close", repr(event))
    responses.cancel()

    # Snapshot: chunks that say how many bytes remain, ending at 0, then OK.
    chunks = [parse(chunk) for chunk in snapshot(b"", timeout=60)]
    blobs = [chunk.get(3, [b""])[0] for chunk in chunks]
    remaining = [chunk.get(2, [0])[0] for chunk in chunks]
    total = sum(len(blob) for blob in blobs)
    # etcd sends the digest (32 bytes) in a last message of its own that the count leaves out.
    consistent = all(later <= earlier for earlier, later in zip(remaining, remaining[1:])) \
        and total - 32 <= remaining[0] + len(blobs[0]) <= total
    check("a snapshot arrives with its remaining bytes counting down to 0",
          total > 32 and remaining[-1] == 0 and consistent, "%d bytes, remaining %r" % (total, remaining[:5]))
    print("ALL OK")


if __name__ == "__main__":
    main()

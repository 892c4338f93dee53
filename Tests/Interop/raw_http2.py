"""Raw HTTP/2 for probing gRPC servers: hand-built frames a client library would never send, and a client that
reads only when told (used by tools/wire-probe and the interop checks)."""
import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, WINDOW_UPDATE, CONTINUATION = 0, 1, 3, 4, 6, 8, 9
END_STREAM, END_HEADERS = 0x1, 0x4


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def literal(name, value):
    # HPACK literal without indexing, new name, no Huffman coding.
    def string(text):
        data = text.encode()
        assert len(data) < 127
        return bytes([len(data)]) + data
    return b"\x00" + string(name) + string(value)


def request_headers(path, timeout=None):
    block = b"\x83\x86" + literal(":path", path) + literal(":authority", "probe") + \
        literal("content-type", "application/grpc") + literal("te", "trailers")
    if timeout:
        block += literal("grpc-timeout", timeout)
    return block


def message(payload):
    return b"\x00" + struct.pack(">I", len(payload)) + payload


class RawConnection:
    """A client that writes frames and reads only when told (never, for the probes that need a stalled peer)."""

    def __init__(self, host, port, initial_window=None):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        settings = b"" if initial_window is None else struct.pack(">HI", 4, initial_window)
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0, settings))
        self.received = b""

    def send(self, data, budget_seconds=5.0):
        """Sends what the server takes within the budget; returns the bytes sent (a server that stops reading
        makes a sender block: that is the backpressure being probed)."""
        self.sock.setblocking(False)
        sent, deadline = 0, time.monotonic() + budget_seconds
        view = memoryview(data)
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += self.sock.send(view[sent:sent + (1 << 20)])
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                break
        self.sock.setblocking(True)
        return sent

    def is_open(self):
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(1 << 16)
                if not data:
                    return False
        except BlockingIOError:
            return True
        except OSError:
            return False
        finally:
            self.sock.setblocking(True)

    def read_grpc_status(self, seconds):
        """The grpc-status of the first call on the connection to end within `seconds`, or None: our server
        writes its trailers as literals, which show in the bytes as they are."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                data = self.sock.recv(1 << 16)
            except socket.timeout:
                break
            except OSError:
                return None
            if not data:
                break
            self.received += data
            marker = self.received.find(b"grpc-status")
            if marker >= 0 and len(self.received) > marker + 12:
                length = self.received[marker + 11]
                return int(self.received[marker + 12:marker + 12 + length])
        self.sock.settimeout(10)
        return None

    def close(self):
        self.sock.close()

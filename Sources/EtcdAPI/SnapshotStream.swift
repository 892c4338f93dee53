import EtcdProto
import GRPC
import MVCC
import Foundation
import NIOCore

/// Maintenance.Snapshot: the store's whole state (a `StoreSnapshot`, ending in its SHA-256) sent in chunks,
/// each with the bytes still to come. The dump is made off the event loop; chunks go out as the client's
/// flow-control window allows.
final class SnapshotStream: ServerCallReceiver, @unchecked Sendable {
    // @unchecked Sendable: the mutable state is touched only on `call.eventLoop`.
    static let chunkBytes = 32 * 1024

    let server: EtcdServer
    let call: ServerCall
    private var started = false
    private var ended = false
    private var bytes: [UInt8] = []
    private var sent = 0

    init(server: EtcdServer, call: ServerCall) {
        self.server = server
        self.call = call
    }

    func received(_ message: ByteBuffer) {
        guard !started else { return }
        started = true
        let mvcc = server.member.mvcc
        DispatchQueueHolder.maintenance.async {
            let result = Result { try mvcc.snapshotBytes() }
            self.call.eventLoop.execute {
                switch result {
                case .success(let bytes):
                    self.bytes = bytes
                    self.sendWhileWritable()
                case .failure(let error):
                    self.end(GRPCStatus(.internal, "podium: making the snapshot failed: \(error)"))
                }
            }
        }
    }

    func becameWritable() {
        sendWhileWritable()
    }

    func cancelled() {
        ended = true
        bytes = []
    }

    private func sendWhileWritable() {
        while !ended, sent < bytes.count, call.isWritable {
            let end = min(sent + Self.chunkBytes, bytes.count)
            var response = Etcdserverpb_SnapshotResponse()
            response.header = server.header()
            response.remainingBytes = UInt64(bytes.count - end)
            response.blob = Data(bytes[sent..<end])
            sent = end
            do {
                call.send(try response.grpcMessage())
            } catch {
                self.end(GRPCStatus(.internal, "podium: encoding a snapshot chunk failed: \(error)"))
                return
            }
        }
        if !ended, !bytes.isEmpty, sent == bytes.count { end(.ok) }
    }

    private func end(_ status: GRPCStatus) {
        guard !ended else { return }
        ended = true
        bytes = []
        call.finish(status)
    }
}

import EtcdProto
import Foundation
import GRPC
import MVCC
import NIOCore

/// Maintenance.Snapshot: the store's whole state (a `StoreSnapshot`, ending in its SHA-256) sent in chunks,
/// each with the bytes still to come. The chunks are read from a consistent database snapshot off the event
/// loop, a few ahead of what the client's flow-control window takes: a client that stalls holds a cursor and
/// those few chunks, never a copy of the store. At most `maxSnapshotStreams` run at once.
final class SnapshotStream: ServerCallReceiver, @unchecked Sendable {
    // @unchecked Sendable: the mutable state is touched only on `call.eventLoop`, except `reader`, which only the
    // read in flight touches (the hops to and from the maintenance queue order the two).
    static let chunkBytes = 32 * 1024
    /// Chunks read per trip to the maintenance queue.
    static let chunksAhead = 16

    let server: EtcdServer
    let call: ServerCall
    private var started = false
    private var holdsSlot = false
    private var ended = false
    private var reader: StoreSnapshotReader?
    private var reading = false
    private var allRead = false
    private var ready: [[UInt8]] = []
    private var totalBytes = 0
    private var sent = 0

    init(server: EtcdServer, call: ServerCall) {
        self.server = server
        self.call = call
    }

    func received(_ message: ByteBuffer) {
        guard !started, !ended else { return }
        started = true
        let limit = server.configuration.maxSnapshotStreams
        holdsSlot = server.snapshotStreams.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
        guard holdsSlot else {
            end(GRPCStatus(.resourceExhausted, "podium: \(limit) snapshots are being sent already; try again later"))
            return
        }
        readAhead()
    }

    func requestsEnded() {
        if !started { end(GRPCStatus(.internal, "grpc: a Snapshot call needs one request message, got none")) }
    }

    func becameWritable() {
        sendWhileWritable()
    }

    func cancelled() {
        ended = true
        release()
    }

    /// Reads the next chunks on the maintenance queue (opening the snapshot first time round).
    private func readAhead() {
        guard !reading, !allRead, !ended else { return }
        reading = true
        let mvcc = server.member.mvcc
        DispatchQueueHolder.maintenance.async {
            let result = Result { () throws -> (chunks: [[UInt8]], total: Int?) in
                let reader = try self.reader ?? mvcc.snapshotReader(measuringSize: true)
                self.reader = reader
                var chunks: [[UInt8]] = []
                while chunks.count < Self.chunksAhead, let chunk = try reader.next(maxBytes: Self.chunkBytes) {
                    chunks.append(chunk)
                }
                return (chunks, reader.totalBytes)
            }
            self.call.eventLoop.execute { self.read(result) }
        }
    }

    private func read(_ result: Result<(chunks: [[UInt8]], total: Int?), any Error>) {
        reading = false
        guard !ended else {
            release()
            return
        }
        switch result {
        case .success(let (chunks, total)):
            totalBytes = total ?? 0
            if chunks.count < Self.chunksAhead { allRead = true }
            ready.append(contentsOf: chunks)
            sendWhileWritable()
        case .failure(let error):
            end(GRPCStatus(.internal, "podium: reading the snapshot failed: \(error)"))
        }
    }

    private func sendWhileWritable() {
        while !ended, !ready.isEmpty, call.isWritable {
            let chunk = ready.removeFirst()
            sent += chunk.count
            var response = Etcdserverpb_SnapshotResponse()
            response.header = server.header()
            response.remainingBytes = UInt64(max(totalBytes - sent, 0))
            response.blob = Data(chunk)
            do {
                call.send(try response.grpcMessage())
            } catch {
                end(GRPCStatus(.internal, "podium: encoding a snapshot chunk failed: \(error)"))
                return
            }
        }
        guard !ended, ready.isEmpty else { return }
        if allRead {
            end(.ok)
        } else {
            readAhead()
        }
    }

    private func end(_ status: GRPCStatus) {
        guard !ended else { return }
        ended = true
        release()
        call.finish(status)
    }

    /// Gives back the slot and, unless a read is under way (it releases when it comes back), the snapshot.
    private func release() {
        ready = []
        if holdsSlot {
            holdsSlot = false
            server.snapshotStreams.withLock { $0 -= 1 }
        }
        if !reading { reader = nil }
    }
}

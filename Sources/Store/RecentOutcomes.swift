import BinaryCoding
import MVCC

/// What the most recently applied commands produced, by request ID: bounded in count and in bytes, oldest
/// dropped first.
///
/// Why: a member waits for a write it forwarded to the leader until it applies the write's entry. When it
/// catches up by a snapshot instead, the entry is inside the snapshot and never applied here, and the client was
/// told "timed out" for a write that took effect. The leader sends these outcomes with each snapshot
/// (`attach(to:)`), so the member answers such writes with their real result (`detach(from:)`). The same table
/// answers entries that come back already applied (the store can be ahead of the log's replay).
struct RecentOutcomes: Sendable {
    struct Outcome: Sendable {
        var requestID: UInt64
        var index: UInt64
        var result: Result<MVCCResponse, MVCCError>
    }

    let maxCount: Int
    let maxBytes: Int
    /// Oldest first, from `start`.
    private var outcomes: [Outcome] = []
    private var start = 0
    private var bytes = 0

    init(maxCount: Int = 8192, maxBytes: Int = 16 << 20) {
        self.maxCount = maxCount
        self.maxBytes = maxBytes
    }

    var count: Int { outcomes.count - start }

    mutating func record(requestID: UInt64, index: UInt64, result: Result<MVCCResponse, MVCCError>) {
        outcomes.append(Outcome(requestID: requestID, index: index, result: result))
        bytes += Self.estimatedBytes(result)
        while count > maxCount || (bytes > maxBytes && count > 1) {
            bytes -= Self.estimatedBytes(outcomes[start].result)
            start += 1
        }
        // Drop what was evicted once it is half the buffer, so the buffer stays within twice the bound.
        if start > outcomes.count / 2 {
            outcomes.removeFirst(start)
            start = 0
        }
    }

    /// The outcome of request `requestID`, if it is among the recent ones (the latest, should an ID repeat).
    func outcome(of requestID: UInt64) -> Result<MVCCResponse, MVCCError>? {
        outcomes[start...].last { $0.requestID == requestID }?.result
    }

    /// Adds `others` (a snapshot's), keeping the whole ordered by index within the bounds.
    mutating func merge(_ others: [Outcome]) {
        let combined = (outcomes[start...] + others).sorted { $0.index < $1.index }
        outcomes = []
        start = 0
        bytes = 0
        for outcome in combined { record(requestID: outcome.requestID, index: outcome.index, result: outcome.result) }
    }

    var all: [Outcome] { Array(outcomes[start...]) }

    /// What an outcome holds, roughly: the keys and values it carries, plus a fixed cost.
    private static func estimatedBytes(_ result: Result<MVCCResponse, MVCCError>) -> Int {
        guard case .success(let response) = result else { return 64 }
        func size(_ kvs: [KeyValue]) -> Int { kvs.reduce(0) { $0 + $1.key.count + $1.value.count + 48 } }
        func size(_ txn: TxnResponse) -> Int {
            txn.responses.reduce(64) { total, operation in
                switch operation {
                case .range(let range): return total + size(range.kvs)
                case .put(let put): return total + size(put.prevKV.map { [$0] } ?? [])
                case .deleteRange(let delete): return total + size(delete.prevKVs)
                case .txn(let nested): return total + size(nested)
                }
            }
        }
        switch response {
        case .put(let put): return 64 + size(put.prevKV.map { [$0] } ?? [])
        case .deleteRange(let delete): return 64 + size(delete.prevKVs)
        case .txn(let txn): return size(txn)
        default: return 64
        }
    }
}

/// A snapshot's data is the store's own snapshot followed by the leader's recent outcomes: the outcomes, their
/// length (8 bytes) and a marker (8 bytes). Data without the marker is a store snapshot alone.
extension RecentOutcomes {
    static let marker: [UInt8] = Array("PODOUTC1".utf8)

    /// Appends the outcomes to a store snapshot's bytes.
    func attach(to snapshot: inout [UInt8]) {
        var writer = ByteWriter()
        writer.u64(UInt64(count))
        for outcome in outcomes[start...] {
            writer.u64(outcome.requestID)
            writer.u64(outcome.index)
            writer.outcome(outcome.result)
        }
        let length = writer.bytes.count
        writer.u64(UInt64(length))
        writer.raw(Self.marker)
        snapshot.append(contentsOf: writer.bytes)
    }

    /// Where the outcomes start in snapshot data (nil: no marker, the data is a store snapshot alone).
    private static func outcomesStart(in data: [UInt8]) throws -> Int? {
        guard data.count >= 16, Array(data[(data.count - 8)...]) == marker else { return nil }
        let length = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: data.count - 16, as: UInt64.self).bigEndian }
        guard length <= UInt64(data.count - 16) else { throw ByteReader.Failure.truncated }
        return data.count - 16 - Int(length)
    }

    /// The store's bytes of snapshot data, without the outcomes, whether or not those can be read.
    static func storeBytes(of data: [UInt8]) -> [UInt8] {
        guard let start = (try? outcomesStart(in: data)) ?? nil else { return data }
        return Array(data[..<start])
    }

    /// Splits snapshot data into the store's snapshot and the outcomes it carries (none if it has no marker).
    static func detach(from data: [UInt8]) throws -> (store: [UInt8], outcomes: [Outcome]) {
        guard let outcomesStart = try outcomesStart(in: data) else { return (data, []) }
        let outcomes = try data.withUnsafeBytes { raw in
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: raw[outcomesStart..<(data.count - 16)]))
            let count = try reader.count(minimumBytesEach: 17)
            var outcomes: [Outcome] = []
            outcomes.reserveCapacity(count)
            for _ in 0..<count {
                outcomes.append(Outcome(requestID: try reader.u64(), index: try reader.u64(), result: try reader.outcome()))
            }
            try reader.expectEnd()
            return outcomes
        }
        return (Array(data[..<outcomesStart]), outcomes)
    }
}

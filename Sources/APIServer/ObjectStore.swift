import EtcdProto
import Foundation
import GRPC
import Resources
import StoreClient

/// The store as the API server uses it: an object is JSON at its key, its resource version is the key's mod
/// revision, and every write is a transaction that compares before it puts — create only if absent, update only
/// if unchanged since read — so no write is a blind overwrite.
public final class ObjectStore: Sendable {
    public struct Stored: Sendable {
        public var key: String
        public var value: [UInt8]
        public var modRevision: Int64
    }

    public enum WriteOutcome: Sendable {
        case written(revision: Int64)
        /// The compare failed: the object as it is now (nil if absent).
        case conflict(current: Stored?)
    }

    public let client: StoreClient

    public init(client: StoreClient) {
        self.client = client
    }

    static func data(_ text: String) -> Data { Data(text.utf8) }

    /// The key just after every key that starts with `prefix` (the range end of a prefix scan).
    static func prefixEnd(_ prefix: String) -> Data {
        var bytes = Array(prefix.utf8)
        while let last = bytes.last {
            if last < 0xFF {
                bytes[bytes.count - 1] = last + 1
                return Data(bytes)
            }
            bytes.removeLast()
        }
        return Data([0])
    }

    public func get(_ key: String, revision: Int64 = 0) async throws(Status) -> Stored? {
        var request = Etcdserverpb_RangeRequest()
        request.key = Self.data(key)
        request.revision = revision
        let response = try await run { try await client.range(request) }
        return response.kvs.first.map { Stored(key: key, value: Array($0.value), modRevision: $0.modRevision) }
    }

    /// Puts `value` at `key` only if nothing is there; with `expiring`, under one of its leases (the store
    /// deletes the object after the TTL).
    func create(_ key: String, _ value: [UInt8], expiring: ExpiringLeases? = nil) async throws(Status) -> WriteOutcome {
        var compare = Etcdserverpb_Compare()
        compare.key = Self.data(key)
        compare.target = .create
        compare.result = .equal
        compare.createRevision = 0
        return try await write(key, value, compare: compare, expiring: expiring)
    }

    /// Puts `value` at `key` only if the key's mod revision is still `revision`; with `expiring`, under one of
    /// its leases (the TTL starts again, as kube-apiserver's does for an updated Event). Without, the object
    /// leaves any lease it had: it no longer expires.
    func update(_ key: String, _ value: [UInt8], expecting revision: Int64,
                expiring: ExpiringLeases? = nil) async throws(Status) -> WriteOutcome {
        try await write(key, value, compare: Self.modified(key, at: revision), expiring: expiring)
    }

    /// Deletes `key` only if its mod revision is still `revision`.
    public func delete(_ key: String, expecting revision: Int64) async throws(Status) -> WriteOutcome {
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [Self.modified(key, at: revision)]
        var delete = Etcdserverpb_RequestOp()
        var deleteRange = Etcdserverpb_DeleteRangeRequest()
        deleteRange.key = Self.data(key)
        delete.requestDeleteRange = deleteRange
        txn.success = [delete]
        txn.failure = [Self.read(key)]
        let response = try await run { try await client.txn(txn) }
        return outcome(of: response, key: key)
    }

    static func modified(_ key: String, at revision: Int64) -> Etcdserverpb_Compare {
        var compare = Etcdserverpb_Compare()
        compare.key = data(key)
        compare.target = .mod
        compare.result = .equal
        compare.modRevision = revision
        return compare
    }

    static func read(_ key: String) -> Etcdserverpb_RequestOp {
        var op = Etcdserverpb_RequestOp()
        var range = Etcdserverpb_RangeRequest()
        range.key = data(key)
        op.requestRange = range
        return op
    }

    private func write(_ key: String, _ value: [UInt8], compare: Etcdserverpb_Compare,
                       expiring: ExpiringLeases?) async throws(Status) -> WriteOutcome {
        try await run {
            guard let expiring else { return try await put(key, value, compare: compare, lease: 0) }
            let lease = try await expiring.lease()
            do {
                return try await put(key, value, compare: compare, lease: lease)
            } catch StoreClientError.status(let status) where status.code == .notFound {
                // The store no longer has the lease (it expired early, or the store was restored without it):
                // in a put transaction nothing else is "not found".
                expiring.forget(lease)
                return try await put(key, value, compare: compare, lease: try await expiring.lease())
            }
        }
    }

    private func put(_ key: String, _ value: [UInt8], compare: Etcdserverpb_Compare, lease: Int64) async throws -> WriteOutcome {
        var txn = Etcdserverpb_TxnRequest()
        txn.compare = [compare]
        var put = Etcdserverpb_PutRequest()
        put.key = Self.data(key)
        put.value = Data(value)
        put.lease = lease
        var op = Etcdserverpb_RequestOp()
        op.requestPut = put
        txn.success = [op]
        txn.failure = [Self.read(key)]
        return outcome(of: try await client.txn(txn), key: key)
    }

    private func outcome(of response: Etcdserverpb_TxnResponse, key: String) -> WriteOutcome {
        if response.succeeded { return .written(revision: response.header.revision) }
        let current = response.responses.first?.responseRange.kvs.first.map {
            Stored(key: key, value: Array($0.value), modRevision: $0.modRevision)
        }
        return .conflict(current: current)
    }

    public struct Page: Sendable {
        public var items: [Stored]
        /// The store revision the page was read at.
        public var revision: Int64
        /// Keys in the range after this page (nil when the page is the last).
        public var remaining: Int64?
    }

    /// Keys under `prefix` from `start` (inclusive), at most `limit` (0: all), at `revision` (0: now).
    public func list(prefix: String, from start: String? = nil, limit: Int64 = 0, revision: Int64 = 0) async throws(Status) -> Page {
        var request = Etcdserverpb_RangeRequest()
        request.key = Self.data(start ?? prefix)
        request.rangeEnd = Self.prefixEnd(prefix)
        request.limit = limit
        request.revision = revision
        let response = try await run { try await client.range(request) }
        let items = response.kvs.map { Stored(key: String(decoding: $0.key, as: UTF8.self), value: Array($0.value), modRevision: $0.modRevision) }
        let remaining = response.more ? response.count - Int64(items.count) : nil
        return Page(items: items, revision: response.header.revision, remaining: remaining)
    }

    /// The store's current revision (a cheap read of one key that needs not exist).
    public func currentRevision() async throws(Status) -> Int64 {
        var request = Etcdserverpb_RangeRequest()
        request.key = Self.data("/registry/health")
        request.countOnly = true
        return try await run { try await client.range(request) }.header.revision
    }

    /// Runs a store call, turning its failures into the Status a Kubernetes client expects.
    func run<Result: Sendable>(_ call: () async throws -> Result) async throws(Status) -> Result {
        do {
            return try await call()
        } catch let error as StoreClientError {
            throw Self.status(of: error)
        } catch {
            throw Status.internalError("\(error)")
        }
    }

    static func status(of error: StoreClientError) -> Status {
        switch error {
        case .compacted(let revision):
            return .gone("The resourceVersion for the provided list is too old (the oldest kept is \(revision)).")
        case .status(let status) where status.message.contains("required revision has been compacted"):
            return .gone("The resourceVersion for the provided list is too old.")
        case .status(let status) where status.message.contains("required revision is a future revision"):
            return .timeout("Too large resource version")
        case .status(let status) where status.code == .deadlineExceeded || status.message.contains("timed out"):
            return .timeout("The request could not be completed in time: \(status.message)")
        case .status(let status) where status.code == .resourceExhausted:
            return .tooManyRequests(retryAfter: 1)
        case .unreachable, .status:
            return .serviceUnavailable("the store is unavailable: \(error)")
        default:
            return .internalError("\(error)")
        }
    }
}

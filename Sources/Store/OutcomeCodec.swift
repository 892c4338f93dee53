import BinaryCoding
import MVCC

/// The binary form of what applying a command produced (`MVCCResponse` or `MVCCError`), for the outcomes a
/// snapshot carries (`RecentOutcomes`). Internal to Podium, like `CommandCodec`.
extension ByteWriter {
    mutating func outcome(_ result: Result<MVCCResponse, MVCCError>) {
        switch result {
        case .success(let response): byte(0); self.response(response)
        case .failure(let error): byte(1); self.error(error)
        }
    }

    mutating func response(_ response: MVCCResponse) {
        switch response {
        case .put(let put): byte(1); self.put(put)
        case .deleteRange(let delete): byte(2); self.delete(delete)
        case .txn(let txn): byte(3); self.txn(txn)
        case .compact(let compact): byte(4); i64(compact.revision)
        case .leaseGrant(let grant): byte(5); lease(grant)
        case .leaseRevoke(let revoke): byte(6); i64(revoke.revision)
        case .leaseKeepAlive(let keepAlive): byte(7); lease(keepAlive)
        case .member(let record):
            byte(8)
            flag(record != nil)
            if let record {
                u64(record.id)
                data(Array(record.name.utf8))
                strings(record.peerURLs)
                strings(record.clientURLs)
            }
        case .alarms(let alarms):
            byte(9)
            u64(UInt64(alarms.count))
            for alarm in alarms {
                u64(alarm.memberID)
                byte(alarm.kind.rawValue)
            }
        }
    }

    mutating func error(_ error: MVCCError) {
        switch error {
        case .emptyKey: byte(1)
        case .keyNotFound: byte(2)
        case .valueProvided: byte(3)
        case .leaseProvided: byte(4)
        case .tooManyOperations: byte(5)
        case .duplicateKey: byte(6)
        case .compacted(let revision): byte(7); i64(revision)
        case .futureRevision: byte(8)
        case .requestTooLarge: byte(9)
        case .noSpace: byte(10)
        case .leaseNotFound: byte(11)
        case .leaseExists: byte(12)
        case .leaseTTLTooLarge: byte(13)
        case .memberRemoved: byte(14)
        }
    }

    private mutating func put(_ put: PutResponse) {
        i64(put.revision)
        optionalKeyValue(put.prevKV)
    }

    private mutating func delete(_ delete: DeleteRangeResponse) {
        i64(delete.revision)
        i64(delete.deleted)
        keyValues(delete.prevKVs)
    }

    private mutating func txn(_ txn: TxnResponse) {
        i64(txn.revision)
        flag(txn.succeeded)
        u64(UInt64(txn.responses.count))
        for operation in txn.responses {
            switch operation {
            case .range(let range):
                byte(1)
                i64(range.revision)
                keyValues(range.kvs)
                flag(range.more)
                i64(range.count)
            case .put(let put): byte(2); self.put(put)
            case .deleteRange(let delete): byte(3); self.delete(delete)
            case .txn(let nested): byte(4); self.txn(nested)
            }
        }
    }

    private mutating func lease(_ lease: LeaseGrantResponse) {
        i64(lease.revision)
        i64(lease.id)
        i64(lease.ttl)
    }

    private mutating func keyValues(_ kvs: [KeyValue]) {
        u64(UInt64(kvs.count))
        for kv in kvs { keyValue(kv) }
    }

    private mutating func optionalKeyValue(_ kv: KeyValue?) {
        flag(kv != nil)
        if let kv { keyValue(kv) }
    }

    private mutating func keyValue(_ kv: KeyValue) {
        data(kv.key)
        data(kv.value)
        i64(kv.createRevision)
        i64(kv.modRevision)
        i64(kv.version)
        i64(kv.lease)
    }

    private mutating func strings(_ values: [String]) {
        u64(UInt64(values.count))
        for value in values { data(Array(value.utf8)) }
    }
}

extension ByteReader {
    /// How deep transactions may nest, in a command and so in its outcome: one bound for both, or an outcome
    /// of a command that was taken could not be read back.
    static let maxTxnDepth = 64

    mutating func outcome() throws -> Result<MVCCResponse, MVCCError> {
        switch try byte() {
        case 0: return .success(try response())
        case 1: return .failure(try error())
        case let tag: throw Failure.invalid("outcome tag \(tag)")
        }
    }

    mutating func response() throws -> MVCCResponse {
        switch try byte() {
        case 1: return .put(try putResponse())
        case 2: return .deleteRange(try deleteResponse())
        case 3: return .txn(try txnResponse(depth: 0))
        case 4: return .compact(CompactResponse(revision: try i64()))
        case 5: return .leaseGrant(try leaseResponse())
        case 6: return .leaseRevoke(LeaseRevokeResponse(revision: try i64()))
        case 7: return .leaseKeepAlive(try leaseResponse())
        case 8:
            guard try flag() else { return .member(nil) }
            return .member(MemberRecord(id: try u64(), name: String(decoding: try data(), as: UTF8.self),
                                        peerURLs: try strings(), clientURLs: try strings()))
        case 9:
            let count = try self.count(minimumBytesEach: 9)
            var alarms: [Alarm] = []
            for _ in 0..<count {
                let member = try u64()
                guard let kind = Alarm.Kind(rawValue: try byte()) else { throw Failure.invalid("alarm kind") }
                alarms.append(Alarm(memberID: member, kind: kind))
            }
            return .alarms(alarms)
        case let tag: throw Failure.invalid("response tag \(tag)")
        }
    }

    mutating func error() throws -> MVCCError {
        switch try byte() {
        case 1: return .emptyKey
        case 2: return .keyNotFound
        case 3: return .valueProvided
        case 4: return .leaseProvided
        case 5: return .tooManyOperations
        case 6: return .duplicateKey
        case 7: return .compacted(compactRevision: try i64())
        case 8: return .futureRevision
        case 9: return .requestTooLarge
        case 10: return .noSpace
        case 11: return .leaseNotFound
        case 12: return .leaseExists
        case 13: return .leaseTTLTooLarge
        case 14: return .memberRemoved
        case let tag: throw Failure.invalid("error tag \(tag)")
        }
    }

    private mutating func putResponse() throws -> PutResponse {
        PutResponse(revision: try i64(), prevKV: try flag() ? try keyValue() : nil)
    }

    private mutating func deleteResponse() throws -> DeleteRangeResponse {
        DeleteRangeResponse(revision: try i64(), deleted: try i64(), prevKVs: try keyValues())
    }

    private mutating func txnResponse(depth: Int) throws -> TxnResponse {
        guard depth < Self.maxTxnDepth else { throw Failure.invalid("transactions nested too deep") }
        let revision = try i64()
        let succeeded = try flag()
        let count = try self.count(minimumBytesEach: 9)
        var responses: [ResponseOp] = []
        for _ in 0..<count {
            switch try byte() {
            case 1:
                responses.append(.range(RangeResponse(revision: try i64(), kvs: try keyValues(), more: try flag(),
                                                      count: try i64())))
            case 2: responses.append(.put(try putResponse()))
            case 3: responses.append(.deleteRange(try deleteResponse()))
            case 4: responses.append(.txn(try txnResponse(depth: depth + 1)))
            case let tag: throw Failure.invalid("response operation tag \(tag)")
            }
        }
        return TxnResponse(revision: revision, succeeded: succeeded, responses: responses)
    }

    private mutating func leaseResponse() throws -> LeaseGrantResponse {
        LeaseGrantResponse(revision: try i64(), id: try i64(), ttl: try i64())
    }

    private mutating func keyValues() throws -> [KeyValue] {
        let count = try self.count(minimumBytesEach: 48)
        var kvs: [KeyValue] = []
        kvs.reserveCapacity(count)
        for _ in 0..<count { kvs.append(try keyValue()) }
        return kvs
    }

    private mutating func keyValue() throws -> KeyValue {
        KeyValue(key: try data(), value: try data(), createRevision: try i64(), modRevision: try i64(),
                 version: try i64(), lease: try i64())
    }

    private mutating func strings() throws -> [String] {
        let count = try self.count(minimumBytesEach: 8)
        var values: [String] = []
        for _ in 0..<count { values.append(String(decoding: try data(), as: UTF8.self)) }
        return values
    }
}

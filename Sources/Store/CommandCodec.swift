import BinaryCoding
import MVCC

/// The binary form of store commands inside Raft entries: `requestID` (8 bytes, so the proposing member can find
/// who waits for the result) then the command. Internal to Podium's log, so compact rather than etcd's protobuf.
enum CommandCodec {
    static func encode(requestID: UInt64, _ command: MVCCCommand) -> [UInt8] {
        var writer = ByteWriter()
        writer.u64(requestID)
        switch command {
        case .put(let put): writer.byte(1); writer.put(put)
        case .deleteRange(let delete): writer.byte(2); writer.delete(delete)
        case .txn(let txn): writer.byte(3); writer.txn(txn)
        case .compact(let revision): writer.byte(4); writer.i64(revision)
        case .leaseGrant(let id, let ttl): writer.byte(5); writer.i64(id); writer.i64(ttl)
        case .leaseRevoke(let id): writer.byte(6); writer.i64(id)
        case .leaseKeepAlive(let id): writer.byte(7); writer.i64(id)
        case .memberUpdate(let update):
            writer.byte(8)
            writer.u64(update.id)
            writer.flag(update.name != nil)
            if let name = update.name { writer.data(Array(name.utf8)) }
            writer.optionalStrings(update.peerURLs)
            writer.optionalStrings(update.clientURLs)
            writer.u64(update.clusterID)
        case .memberRemove(let id): writer.byte(9); writer.u64(id)
        case .alarm(let alarm, let raise): writer.byte(10); writer.u64(alarm.memberID); writer.byte(alarm.kind.rawValue); writer.flag(raise)
        }
        return writer.bytes
    }

    /// The request ID alone, without decoding the command.
    static func requestID(of bytes: [UInt8]) -> UInt64? {
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            return try? reader.u64()
        }
    }

    static func decode(_ bytes: [UInt8]) throws -> (requestID: UInt64, command: MVCCCommand) {
        try bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            let requestID = try reader.u64()
            let command: MVCCCommand
            switch try reader.byte() {
            case 1: command = .put(try reader.put())
            case 2: command = .deleteRange(try reader.delete())
            case 3: command = .txn(try reader.txn(depth: 0))
            case 4: command = .compact(revision: try reader.i64())
            case 5: command = .leaseGrant(id: try reader.i64(), ttl: try reader.i64())
            case 6: command = .leaseRevoke(id: try reader.i64())
            case 7: command = .leaseKeepAlive(id: try reader.i64())
            case 8:
                let id = try reader.u64()
                let name = try reader.flag() ? String(decoding: try reader.data(), as: UTF8.self) : nil
                command = .memberUpdate(MemberRecord.Update(id: id, name: name, peerURLs: try reader.optionalStrings(),
                                                            clientURLs: try reader.optionalStrings(),
                                                            clusterID: try reader.u64()))
            case 9: command = .memberRemove(id: try reader.u64())
            case 10:
                let member = try reader.u64()
                guard let kind = Alarm.Kind(rawValue: try reader.byte()) else { throw ByteReader.Failure.invalid("alarm kind") }
                command = .alarm(Alarm(memberID: member, kind: kind), raise: try reader.flag())
            case let tag: throw ByteReader.Failure.invalid("command tag \(tag)")
            }
            try reader.expectEnd()
            return (requestID, command)
        }
    }
}

extension ByteWriter {
    mutating func range(_ value: KeyRange) {
        data(value.key)
        data(value.end)
    }

    mutating func put(_ put: PutRequest) {
        data(put.key)
        data(put.value)
        i64(put.lease)
        flag(put.prevKV)
        flag(put.ignoreValue)
        flag(put.ignoreLease)
    }

    mutating func delete(_ delete: DeleteRangeRequest) {
        range(delete.range)
        flag(delete.prevKV)
    }

    mutating func rangeRequest(_ request: RangeRequest) {
        range(request.range)
        i64(request.limit)
        i64(request.revision)
        byte(UInt8([.none, .ascend, .descend].firstIndex(of: request.sortOrder) ?? 0))
        byte(UInt8([.key, .version, .create, .mod, .value].firstIndex(of: request.sortTarget) ?? 0))
        flag(request.keysOnly)
        flag(request.countOnly)
        for value in [request.minModRevision, request.maxModRevision, request.minCreateRevision, request.maxCreateRevision] {
            i64(value)
        }
    }

    mutating func txn(_ txn: TxnRequest) {
        u64(UInt64(txn.compare.count))
        for compare in txn.compare {
            range(compare.range)
            byte(UInt8([.equal, .greater, .less, .notEqual].firstIndex(of: compare.result) ?? 0))
            switch compare.target {
            case .version(let v): byte(0); i64(v)
            case .createRevision(let v): byte(1); i64(v)
            case .modRevision(let v): byte(2); i64(v)
            case .value(let v): byte(3); data(v)
            case .lease(let v): byte(4); i64(v)
            }
        }
        for ops in [txn.success, txn.failure] {
            u64(UInt64(ops.count))
            for op in ops {
                switch op {
                case .range(let request): byte(1); rangeRequest(request)
                case .put(let request): byte(2); put(request)
                case .deleteRange(let request): byte(3); delete(request)
                case .txn(let nested): byte(4); self.txn(nested)
                }
            }
        }
    }
}

extension ByteReader {
    mutating func range() throws -> KeyRange { KeyRange(key: try data(), end: try data()) }

    mutating func put() throws -> PutRequest {
        PutRequest(key: try data(), value: try data(), lease: try i64(), prevKV: try flag(),
                   ignoreValue: try flag(), ignoreLease: try flag())
    }

    mutating func delete() throws -> DeleteRangeRequest {
        DeleteRangeRequest(range: try range(), prevKV: try flag())
    }

    mutating func rangeRequest() throws -> RangeRequest {
        var request = RangeRequest(range: try range(), limit: try i64(), revision: try i64())
        request.sortOrder = try pick([.none, .ascend, .descend], "sort order")
        request.sortTarget = try pick([.key, .version, .create, .mod, .value], "sort target")
        request.keysOnly = try flag()
        request.countOnly = try flag()
        request.minModRevision = try i64()
        request.maxModRevision = try i64()
        request.minCreateRevision = try i64()
        request.maxCreateRevision = try i64()
        return request
    }

    mutating func txn(depth: Int) throws -> TxnRequest {
        // Nesting is bounded so hostile input cannot exhaust the stack.
        guard depth < Self.maxTxnDepth else { throw ByteReader.Failure.invalid("transactions nested too deeply") }
        var txn = TxnRequest()
        for _ in 0..<(try count()) {
            let range = try range()
            let result: Compare.Result = try pick([.equal, .greater, .less, .notEqual], "compare result")
            let target: Compare.Target
            switch try byte() {
            case 0: target = .version(try i64())
            case 1: target = .createRevision(try i64())
            case 2: target = .modRevision(try i64())
            case 3: target = .value(try data())
            case 4: target = .lease(try i64())
            case let other: throw ByteReader.Failure.invalid("compare target \(other)")
            }
            txn.compare.append(Compare(range: range, result: result, target: target))
        }
        for branch in 0..<2 {
            var ops: [RequestOp] = []
            for _ in 0..<(try count()) {
                switch try byte() {
                case 1: ops.append(.range(try rangeRequest()))
                case 2: ops.append(.put(try put()))
                case 3: ops.append(.deleteRange(try delete()))
                case 4: ops.append(.txn(try self.txn(depth: depth + 1)))
                case let other: throw ByteReader.Failure.invalid("operation \(other)")
                }
            }
            if branch == 0 { txn.success = ops } else { txn.failure = ops }
        }
        return txn
    }
}

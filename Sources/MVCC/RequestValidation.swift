/// Checks that need no state: what etcd refuses before a request ever reaches the log. The server runs them
/// before proposing, and `apply` runs them again so a bad entry can never corrupt the store.
enum RequestValidation {
    static func checkKey(_ key: [UInt8]) throws {
        if key.isEmpty { throw MVCCError.emptyKey }
    }

    static func check(_ request: PutRequest, _ options: MVCCOptions) throws {
        try checkKey(request.key)
        if request.value.count > options.maxValueBytes { throw MVCCError.requestTooLarge }
        if request.ignoreValue && !request.value.isEmpty { throw MVCCError.valueProvided }
        if request.ignoreLease && request.lease != 0 { throw MVCCError.leaseProvided }
    }

    static func check(_ request: TxnRequest, _ options: MVCCOptions) throws {
        let limit = options.maxTxnOperations
        if request.compare.count > limit || request.success.count > limit || request.failure.count > limit {
            throw MVCCError.tooManyOperations
        }
        for compare in request.compare { try checkKey(compare.range.key) }
        for op in request.success + request.failure {
            switch op {
            case .range(let range): try checkKey(range.range.key)
            case .put(let put): try check(put, options)
            case .deleteRange(let delete): try checkKey(delete.range.key)
            case .txn(let nested): try check(nested, options)
            }
        }
        _ = try writtenKeys(request.success)
        _ = try writtenKeys(request.failure)
    }

    /// The keys put and the ranges deleted by one branch of a transaction, nested transactions included.
    /// Refuses a branch that could write a key twice (two puts of one key, or a put into a deleted range),
    /// as etcd does: every key changes at most once per revision. Deleted ranges may overlap each other.
    static func writtenKeys(_ ops: [RequestOp]) throws -> (puts: Set<[UInt8]>, deletes: [KeyRange]) {
        var deletes: [KeyRange] = []
        for case .deleteRange(let delete) in ops { deletes.append(delete.range) }
        func isDeleted(_ key: [UInt8]) -> Bool { deletes.contains { $0.contains(key) } }

        var puts = Set<[UInt8]>()
        for case .txn(let nested) in ops {
            let then = try writtenKeys(nested.success)
            let otherwise = try writtenKeys(nested.failure)
            for key in then.puts {
                if puts.contains(key) || isDeleted(key) { throw MVCCError.duplicateKey }
                puts.insert(key)
            }
            for key in otherwise.puts {
                // The two branches exclude each other, so the same key in both is fine.
                if (puts.contains(key) && !then.puts.contains(key)) || isDeleted(key) { throw MVCCError.duplicateKey }
                puts.insert(key)
            }
            deletes += then.deletes + otherwise.deletes
        }
        for case .put(let put) in ops {
            if puts.contains(put.key) || isDeleted(put.key) { throw MVCCError.duplicateKey }
            puts.insert(put.key)
        }
        return (puts, deletes)
    }
}

extension MVCCCommand {
    /// Refuses what etcd refuses without looking at the store: empty keys, oversized values, contradictory
    /// flags, oversized or self-conflicting transactions, lease TTLs out of range.
    public func validate(_ options: MVCCOptions) throws {
        switch self {
        case .put(let request): try RequestValidation.check(request, options)
        case .deleteRange(let request): try RequestValidation.checkKey(request.range.key)
        case .txn(let request): try RequestValidation.check(request, options)
        case .compact: break
        case .leaseGrant(_, let ttl):
            if ttl > options.maxLeaseTTL { throw MVCCError.leaseTTLTooLarge }
        case .leaseRevoke(let id), .leaseKeepAlive(let id):
            if id == 0 { throw MVCCError.leaseNotFound }
        case .memberUpdate, .memberRemove, .alarm: break
        }
    }
}

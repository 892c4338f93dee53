extension MVCCStore {
    /// Runs a transaction at one revision. As in etcd, every comparison on the taken path (nested ones too) is
    /// evaluated against the state before the transaction, and state-dependent refusals on that path are
    /// found before anything is written, so a refused transaction has no effect.
    func txn(_ request: TxnRequest, context: inout WriteContext) throws -> TxnResponse {
        let path = try takenPath(request, context: context)
        try checkPath(request, path: path, context: context)
        var cursor = path.makeIterator()
        let response = try execute(request, path: &cursor, context: &context)
        return response
    }

    /// Which branch each transaction on the taken path takes, in execution (pre-order) order.
    private func takenPath(_ request: TxnRequest, context: WriteContext) throws -> [Bool] {
        let succeeded = try request.compare.allSatisfy { try evaluate($0, context: context) }
        var path = [succeeded]
        for case .txn(let nested) in succeeded ? request.success : request.failure {
            path += try takenPath(nested, context: context)
        }
        return path
    }

    private func checkPath(_ request: TxnRequest, path: [Bool], context: WriteContext) throws {
        var cursor = path.makeIterator()
        func check(_ request: TxnRequest) throws {
            // The path was built from this very request, so it has an entry for every transaction on it.
            let succeeded = cursor.next()!
            for op in succeeded ? request.success : request.failure {
                switch op {
                case .put(let put): try checkPut(put, context: context)
                case .txn(let nested): try check(nested)
                case .range, .deleteRange: break
                }
            }
        }
        try check(request)
    }

    private func execute(_ request: TxnRequest, path: inout IndexingIterator<[Bool]>,
                         context: inout WriteContext) throws -> TxnResponse {
        // The path was built from this very request, so it has an entry for every transaction on it.
        let succeeded = path.next()!
        var responses: [ResponseOp] = []
        for op in succeeded ? request.success : request.failure {
            switch op {
            case .range(let range): responses.append(.range(try self.range(range, context: context)))
            case .put(let put): responses.append(.put(try self.put(put, context: &context)))
            case .deleteRange(let delete): responses.append(.deleteRange(try deleteRange(delete, context: &context)))
            case .txn(let nested): responses.append(.txn(try execute(nested, path: &path, context: &context)))
            }
        }
        let revision = context.changed ? context.main : context.main - 1
        return TxnResponse(revision: revision, succeeded: succeeded, responses: responses)
    }

    /// Whether every key in the comparison's range satisfies it. A missing key compares as version, create
    /// and mod revision 0 and lease 0, and never satisfies a value comparison (etcd's rule: an absent value
    /// cannot be told from an empty one on the wire).
    func evaluate(_ compare: Compare, context: WriteContext) throws -> Bool {
        let kvs = try liveKeys(in: compare.range, at: context.main - 1, limit: 0, keysOnly: false, context: nil)
        if kvs.isEmpty {
            if case .value = compare.target { return false }
            return Self.satisfies(KeyValue(key: compare.range.key, value: [], createRevision: 0, modRevision: 0,
                                           version: 0, lease: 0), compare)
        }
        return kvs.allSatisfy { Self.satisfies($0, compare) }
    }

    static func satisfies(_ kv: KeyValue, _ compare: Compare) -> Bool {
        let ordering: Int
        switch compare.target {
        case .version(let v): ordering = order(kv.version, v)
        case .createRevision(let v): ordering = order(kv.createRevision, v)
        case .modRevision(let v): ordering = order(kv.modRevision, v)
        case .lease(let v): ordering = order(kv.lease, v)
        case .value(let v):
            ordering = kv.value == v ? 0 : (kv.value.lexicographicallyPrecedes(v) ? -1 : 1)
        }
        switch compare.result {
        case .equal: return ordering == 0
        case .notEqual: return ordering != 0
        case .less: return ordering < 0
        case .greater: return ordering > 0
        }
    }

    private static func order(_ a: Int64, _ b: Int64) -> Int { a < b ? -1 : (a == b ? 0 : 1) }
}

import MVCC

extension ReferenceModel {
    public mutating func apply(_ command: MVCCCommand, index: UInt64) -> ApplyOutcome {
        guard index > appliedIndex else { return .alreadyApplied }
        appliedIndex = index
        var working = self
        let result = working.execute(command, index: index)
        // A refused command changes nothing but the applied index.
        if case .success = result { self = working }
        return .applied(result)
    }

    private mutating func execute(_ command: MVCCCommand, index: UInt64) -> Result<MVCCResponse, MVCCError> {
        do {
            try command.validate(options)
        } catch let error as MVCCError {
            return .failure(error)
        } catch {
            preconditionFailure("validate throws only MVCCError")
        }
        if alarms.contains(where: { $0.kind == .noSpace }), command.addsData { return .failure(.noSpace) }
        var change = Change(main: revision + 1)
        let response: Result<MVCCResponse, MVCCError>
        switch command {
        case .put(let request):
            if let error = check(request) { return .failure(error) }
            response = .success(.put(put(request, change: &change)))
        case .deleteRange(let request):
            response = .success(.deleteRange(deleteRange(request, change: &change)))
        case .txn(let request):
            let path = takenPath(request)
            var position = 0
            if let error = checkPath(request, path: path, position: &position) { return .failure(error) }
            position = 0
            response = .success(.txn(execute(request, path: path, position: &position, change: &change)))
        case .compact(let target):
            if target > revision { return .failure(.futureRevision) }
            if target <= compactedRevision { return .failure(.compacted(compactRevision: compactedRevision)) }
            compactedRevision = target
            response = .success(.compact(CompactResponse(revision: revision)))
        case .leaseGrant(var id, let ttl):
            if id == 0 {
                var attempt: UInt64 = 0
                repeat {
                    id = LeaseID.derived(from: index, attempt: attempt)
                    attempt += 1
                } while leases[id] != nil
            } else if leases[id] != nil {
                return .failure(.leaseExists)
            }
            let granted = max(ttl, options.minLeaseTTL)
            leases[id] = granted
            response = .success(.leaseGrant(LeaseGrantResponse(revision: revision, id: id, ttl: granted)))
        case .leaseRevoke(let id):
            guard leases[id] != nil else { return .failure(.leaseNotFound) }
            for key in versions.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                if let kv = current(key, change), kv.lease == id { delete(kv, change: &change) }
            }
            leases[id] = nil
            response = .success(.leaseRevoke(LeaseRevokeResponse(revision: change.sub > 0 ? change.main : revision)))
        case .memberUpdate(let update):
            if members[update.id] == nil && removedMembers.contains(update.id) { return .failure(.memberRemoved) }
            var record = members[update.id] ?? MemberRecord(id: update.id)
            if let name = update.name { record.name = name }
            if let peerURLs = update.peerURLs { record.peerURLs = peerURLs }
            if let clientURLs = update.clientURLs { record.clientURLs = clientURLs }
            members[update.id] = record
            response = .success(.member(record))
        case .memberRemove(let id):
            members[id] = nil
            removedMembers.insert(id)
            response = .success(.member(nil))
        case .alarm(let alarm, let raise):
            if raise { alarms.insert(alarm) } else { alarms.remove(alarm) }
            response = .success(.alarms(alarms.sorted { ($0.memberID, $0.kind.rawValue) < ($1.memberID, $1.kind.rawValue) }))
        case .leaseKeepAlive(let id):
            guard let ttl = leases[id] else { return .failure(.leaseNotFound) }
            response = .success(.leaseKeepAlive(LeaseKeepAliveResponse(revision: revision, id: id, ttl: ttl)))
        }
        if change.sub > 0 { revision = change.main }
        return response
    }

    /// The revision being written and how many changes it holds so far.
    struct Change {
        var main: Int64
        var sub: Int64 = 0
    }

    private func current(_ key: [UInt8], _ change: Change) -> KeyValue? {
        live(key, at: change.main)
    }

    private func check(_ request: PutRequest) -> MVCCError? {
        if (request.ignoreValue || request.ignoreLease) && live(request.key, at: revision) == nil { return .keyNotFound }
        if request.lease != 0 && leases[request.lease] == nil { return .leaseNotFound }
        return nil
    }

    private mutating func put(_ request: PutRequest, change: inout Change) -> PutResponse {
        let previous = current(request.key, change)
        let kv = KeyValue(key: request.key,
                          value: request.ignoreValue ? previous?.value ?? [] : request.value,
                          createRevision: previous?.createRevision ?? change.main,
                          modRevision: change.main,
                          version: (previous?.version ?? 0) + 1,
                          lease: request.ignoreLease ? previous?.lease ?? 0 : request.lease)
        versions[request.key, default: []].append(Version(main: change.main, kv: kv))
        events.append(WatchEvent(kind: .put, kv: kv, prevKV: previous))
        change.sub += 1
        return PutResponse(revision: change.main, prevKV: request.prevKV ? previous : nil)
    }

    private mutating func delete(_ kv: KeyValue, change: inout Change) {
        versions[kv.key, default: []].append(Version(main: change.main, kv: nil))
        let deleted = KeyValue(key: kv.key, value: [], createRevision: 0, modRevision: change.main, version: 0, lease: 0)
        events.append(WatchEvent(kind: .delete, kv: deleted, prevKV: kv))
        change.sub += 1
    }

    private mutating func deleteRange(_ request: DeleteRangeRequest, change: inout Change) -> DeleteRangeResponse {
        let doomed = liveKeys(in: request.range, at: change.main)
        for kv in doomed { delete(kv, change: &change) }
        return DeleteRangeResponse(revision: change.sub > 0 ? change.main : change.main - 1, deleted: Int64(doomed.count),
                                   prevKVs: request.prevKV ? doomed : [])
    }

    private func holds(_ compare: Compare) -> Bool {
        let kvs = liveKeys(in: compare.range, at: revision)
        let subjects = kvs.isEmpty ? [nil] : kvs.map { Optional($0) }
        return subjects.allSatisfy { kv in
            let order: Int
            switch compare.target {
            case .value(let v):
                guard let kv else { return false }
                order = kv.value == v ? 0 : (kv.value.lexicographicallyPrecedes(v) ? -1 : 1)
            case .version(let v): order = (kv?.version ?? 0).compared(to: v)
            case .createRevision(let v): order = (kv?.createRevision ?? 0).compared(to: v)
            case .modRevision(let v): order = (kv?.modRevision ?? 0).compared(to: v)
            case .lease(let v): order = (kv?.lease ?? 0).compared(to: v)
            }
            switch compare.result {
            case .equal: return order == 0
            case .notEqual: return order != 0
            case .less: return order < 0
            case .greater: return order > 0
            }
        }
    }

    private func takenPath(_ request: TxnRequest) -> [Bool] {
        let succeeded = request.compare.allSatisfy(holds)
        var path = [succeeded]
        for case .txn(let nested) in succeeded ? request.success : request.failure { path += takenPath(nested) }
        return path
    }

    private func checkPath(_ request: TxnRequest, path: [Bool], position: inout Int) -> MVCCError? {
        let succeeded = path[position]
        position += 1
        for op in succeeded ? request.success : request.failure {
            switch op {
            case .put(let put): if let error = check(put) { return error }
            case .txn(let nested): if let error = checkPath(nested, path: path, position: &position) { return error }
            case .range, .deleteRange: break
            }
        }
        return nil
    }

    private mutating func execute(_ request: TxnRequest, path: [Bool], position: inout Int, change: inout Change) -> TxnResponse {
        let succeeded = path[position]
        position += 1
        var responses: [ResponseOp] = []
        for op in succeeded ? request.success : request.failure {
            switch op {
            case .range(let range):
                let current = change.sub > 0 ? change.main : change.main - 1
                let at = range.revision > 0 ? range.revision : current
                // The generator only asks for revisions the model can serve inside a transaction.
                precondition(at <= current && at >= compactedRevision, "unsupported range revision in txn")
                responses.append(.range(self.range(range, at: at, header: current, overlay: self)))
            case .put(let put): responses.append(.put(self.put(put, change: &change)))
            case .deleteRange(let delete): responses.append(.deleteRange(deleteRange(delete, change: &change)))
            case .txn(let nested): responses.append(.txn(execute(nested, path: path, position: &position, change: &change)))
            }
        }
        return TxnResponse(revision: change.sub > 0 ? change.main : change.main - 1, succeeded: succeeded, responses: responses)
    }
}

extension Int64 {
    func compared(to other: Int64) -> Int { self < other ? -1 : (self == other ? 0 : 1) }
}

/// Everything a chaos run must satisfy, checked on its recorded history: linearizability per key, no
/// acknowledged write lost, no write from nowhere, and every watcher's events ordered, gap-free and
/// duplicate-free across its resumptions.
public struct HistoryCheck: Codable, Sendable {
    public var operations: [String: [String: Int]] = [:]
    /// Keys whose operations no linearization explains, with the history indexes of the offending segment.
    public var violations: [String: [Int]] = [:]
    public var inconclusive: [String: [Int]] = [:]
    /// Acknowledged writes whose value the store's log never shows.
    public var lostWrites: [Int] = []
    /// Values in the log that no client wrote.
    public var phantomWrites: [String] = []
    public var watchProblems: [String] = []
    public var watchEvents = 0
    public var watchResumptions = 0
    /// Seconds from each leader kill to the first write invoked after it that succeeded.
    public var failovers: [Double] = []

    public var passed: Bool {
        violations.isEmpty && inconclusive.isEmpty && lostWrites.isEmpty && phantomWrites.isEmpty && watchProblems.isEmpty
    }

    public init(_ history: History) {
        for operation in history.operations {
            operations[operation.kind.rawValue, default: [:]][operation.outcome.rawValue, default: 0] += 1
        }
        checkLinearizability(history)
        checkWrites(history)
        checkWatches(history)
        measureFailovers(history)
    }

    // MARK: linearizability

    private mutating func checkLinearizability(_ history: History) {
        let byValue = Dictionary(history.log.compactMap { event in event.value.map { ($0, event) } },
                                 uniquingKeysWith: { first, _ in first })
        // The earliest return of a response whose header shows revision r applied, for every r: a write applied
        // at revision r took effect before that.
        let answered = history.operations.filter { $0.outcome == .ok && $0.revision != nil && $0.completed != nil }
            .sorted { $0.revision! > $1.revision! }  // Safe to force: filtered just above.
        var revisions: [Int64] = []
        var earliest: [Double] = []
        var running = Double.infinity
        for operation in answered {
            running = min(running, operation.completed!)  // Safe to force: filtered above.
            revisions.append(operation.revision!)
            earliest.append(running)
        }
        func appliedBy(_ revision: Int64) -> Double {
            // `revisions` descends; the last entry with revision >= `revision` holds the minimum over all of them.
            var low = 0, high = revisions.count
            while low < high {
                let middle = (low + high) / 2
                if revisions[middle] >= revision { low = middle + 1 } else { high = middle }
            }
            return low == 0 ? .infinity : earliest[low - 1]
        }
        // Delete events no acknowledged delete accounts for belong to deletes whose outcome is unknown.
        var unclaimedDeletes: [String: [Int64]] = [:]
        // The acknowledged deletes that removed the key, at the revision in their response. A delete of an absent
        // key answers with the current revision too; histories that did not record `deleted` credit the
        // earliest-invoked delete answering with a delete's revision, if it was invoked before anyone saw it.
        let changes = Set(history.log.map { "\($0.revision)/\($0.key)" })
        var deleteWriters: Set<Int> = []
        var claimedBy: [String: Int] = [:]
        for (index, operation) in history.operations.enumerated() where operation.kind == .delete && operation.outcome == .ok {
            guard let revision = operation.revision, changes.contains("\(revision)/\(operation.key)") else { continue }
            if let deleted = operation.deleted {
                if deleted > 0 { deleteWriters.insert(index) }
            } else if operation.invoked >= appliedBy(revision) {
                continue
            } else if let earlier = claimedBy["\(revision)/\(operation.key)"] {
                if operation.invoked < history.operations[earlier].invoked {
                    deleteWriters.remove(earlier)
                    deleteWriters.insert(index)
                    claimedBy["\(revision)/\(operation.key)"] = index
                }
            } else {
                deleteWriters.insert(index)
                claimedBy["\(revision)/\(operation.key)"] = index
            }
        }
        var acknowledgedDeletes: [String: Set<Int64>] = [:]
        for index in deleteWriters {
            let operation = history.operations[index]
            if let revision = operation.revision { acknowledgedDeletes[operation.key, default: []].insert(revision) }
        }
        for event in history.log where event.value == nil && acknowledgedDeletes[event.key]?.contains(event.revision) != true {
            unclaimedDeletes[event.key, default: []].append(event.revision)
        }

        let unknownDeletes = history.operations.indices.filter {
            history.operations[$0].kind == .delete && history.operations[$0].outcome == .unknown
        }.sorted { history.operations[$0].invoked < history.operations[$1].invoked }
        var deleteApplied: [Int: Int64] = [:]
        for index in unknownDeletes {
            let key = history.operations[index].key
            if var pending = unclaimedDeletes[key], !pending.isEmpty {
                deleteApplied[index] = pending.removeFirst()
                unclaimedDeletes[key] = pending
            }
        }

        // Each step, with the revision it wrote at (a write that changed the key) or read at (anything else).
        var pending: [(key: String, effect: RegisterChecker.Step.Effect, call: Double, ret: Double, index: Int,
                       revision: Int64?, wrote: Bool)] = []
        for (index, operation) in history.operations.enumerated() {
            let step: RegisterChecker.Step.Effect
            var ret = operation.completed ?? .infinity
            var revision = operation.revision
            var wrote = false
            switch (operation.outcome, operation.kind) {
            case (.fail, _), (.unknown, .get):
                continue
            case (.unknown, .put), (.unknown, .cas):
                // Applied if and only if its unique value is in the log.
                guard let value = operation.value, let event = byValue[value] else { continue }
                ret = appliedBy(event.revision)
                step = operation.kind == .put ? .put(value) : .cas(expected: operation.expected, new: value, swapped: nil)
                revision = event.revision
                wrote = true
            case (.unknown, .delete):
                guard let applied = deleteApplied[index] else { continue }
                ret = appliedBy(applied)
                step = .delete
                revision = applied
                wrote = true
            case (.ok, .put):
                step = .put(operation.value ?? "")
                wrote = true
            case (.ok, .delete):
                step = .delete
                wrote = deleteWriters.contains(index)
            case (.ok, .get):
                step = .read(operation.read)
            case (.ok, .cas):
                step = .cas(expected: operation.expected, new: operation.value ?? "", swapped: operation.swapped ?? false)
                wrote = operation.swapped == true
            }
            pending.append((operation.key, step, operation.invoked, ret, index, revision, wrote))
        }
        // Revisions bound when a step took effect, far tighter than its call and return when faults made it
        // slow (which would make the search explode): a write at revision r took effect after every write at
        // or below r was invoked, and before any response showing r or later returned; a read showing revision
        // r took effect after every write at or below r was invoked.
        var writeCalls = pending.filter(\.wrote).compactMap { step in step.revision.map { ($0, step.call) } }.sorted { $0.0 < $1.0 }
        var latestCall = -Double.infinity
        for position in writeCalls.indices {
            latestCall = max(latestCall, writeCalls[position].1)
            writeCalls[position].1 = latestCall
        }
        func invokedByRevision(_ revision: Int64) -> Double {
            var low = 0, high = writeCalls.count
            while low < high {
                let middle = (low + high) / 2
                if writeCalls[middle].0 <= revision { low = middle + 1 } else { high = middle }
            }
            return low == 0 ? -.infinity : writeCalls[low - 1].1
        }
        var steps: [String: [RegisterChecker.Step]] = [:]
        for step in pending {
            var call = step.call, ret = step.ret
            if let revision = step.revision {
                call = max(call, invokedByRevision(revision))
                if step.wrote { ret = min(ret, appliedBy(revision)) }
            }
            // A call bound past the return is itself a violation: the search finds no place for the step.
            steps[step.key, default: []].append(RegisterChecker.Step(step.effect, call: call, ret: ret, index: step.index))
        }
        for (key, keySteps) in steps {
            switch RegisterChecker.check(keySteps) {
            case .linearizable: break
            case .violation(let indexes): violations[key] = indexes
            case .inconclusive(let indexes): inconclusive[key] = indexes
            }
        }
    }

    // MARK: durability

    private mutating func checkWrites(_ history: History) {
        let logged = Set(history.log.compactMap(\.value))
        for (index, operation) in history.operations.enumerated() where operation.outcome == .ok {
            let wrote = operation.kind == .put || (operation.kind == .cas && operation.swapped == true)
            if wrote, let value = operation.value, !logged.contains(value) { lostWrites.append(index) }
        }
        let written = Set(history.operations.compactMap { $0.kind == .put || $0.kind == .cas ? $0.value : nil })
        phantomWrites = logged.subtracting(written).sorted()
    }

    // MARK: watches

    private mutating func checkWatches(_ history: History) {
        for record in history.watches {
            watchEvents += record.events.count
            watchResumptions += record.resumptions
            let name = "watcher \(record.watcher)"
            var previous = record.startRevision - 1
            for event in record.events {
                if event.revision <= previous {
                    watchProblems.append("\(name): revision \(event.revision) after \(previous) (out of order or duplicated)")
                    break
                }
                previous = event.revision
            }
            if let end = history.log.last?.revision, record.events.last?.revision != end {
                watchProblems.append("\(name): stopped at revision \(record.events.last?.revision ?? 0), the log goes on to \(end)")
            }
            guard let last = record.events.last?.revision else { continue }
            let expected = history.log.filter { $0.revision >= record.startRevision && $0.revision <= last }
            if expected != record.events {
                let missing = Set(expected).subtracting(record.events).map(\.revision).sorted()
                let extra = Set(record.events).subtracting(expected).map(\.revision).sorted()
                watchProblems.append("\(name): differs from the log between revisions \(record.startRevision) and \(last); "
                                     + "missing \(missing.prefix(10)), not in the log \(extra.prefix(10))")
            }
        }
    }

    // MARK: failover

    private mutating func measureFailovers(_ history: History) {
        let writes = history.operations.filter { $0.outcome == .ok && $0.kind != .get }
        for fault in history.faults where fault.kind == .kill && fault.wasLeader {
            let after = writes.filter { $0.invoked >= fault.time }.compactMap(\.completed).min()
            if let after { failovers.append(after - fault.time) }
        }
    }
}

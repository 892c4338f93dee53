import TestSupport
import MVCC

/// Random commands and reads over a small key space chosen to hit the edge cases: keys that are prefixes of
/// each other, keys containing 0x00 and 0xFF, the empty value, values near the size limit.
public struct Workload: Sendable {
    public var random: SeededRandom
    public let keys: [[UInt8]]
    public let options: MVCCOptions

    /// Options the randomized tests run the store and the model with: a small value limit so oversized values
    /// are cheap to produce.
    public static let testOptions: MVCCOptions = {
        var options = MVCCOptions()
        options.maxValueBytes = 2048
        options.maxTxnOperations = 8
        options.watchBufferLimit = 16
        options.watchCatchUpBatch = 7
        return options
    }()

    public init(seed: UInt64, options: MVCCOptions = Workload.testOptions) {
        random = SeededRandom(seed: seed)
        self.options = options
        let named = ["a", "a/1", "a/2", "a/10", "ab", "b", "b/x", "c", "foo", "foo/bar", "z"].map { Array($0.utf8) }
        keys = named + [[0x61, 0x00], [0x61, 0x00, 0x62], [0x00, 0x01], [0xFF], [0xFF, 0xFF], [0x61, 0xFF]]
    }

    public mutating func key() -> [UInt8] { random.pick(keys) }

    public mutating func value() -> [UInt8] {
        switch random.int(0...19) {
        case 0: return []
        case 1: return [UInt8](repeating: 0xAB, count: options.maxValueBytes)
        default: return (0..<random.int(1...24)).map { _ in UInt8.random(in: 0...255, using: &random) }
        }
    }

    /// A key, a range, a prefix, an open-ended range or (rarely) everything.
    public mutating func keyRange() -> KeyRange {
        switch random.int(0...9) {
        case 0...3: return KeyRange(key: key())
        case 4, 5: return KeyRange.prefix(random.pick([[0x61], Array("a/".utf8), Array("foo".utf8), [0xFF], [0x61, 0x00]]))
        case 6: return KeyRange(key: key(), end: [0])
        case 7: return KeyRange(key: [0], end: [0])
        default:
            let a = key(), b = key()
            // Sometimes backwards on purpose: an end before the key addresses nothing.
            return KeyRange(key: a, end: b)
        }
    }

    public mutating func lease(in model: ReferenceModel) -> Int64 {
        let existing = model.leases.keys.sorted()
        if existing.isEmpty || random.chance(0.1) { return random.int64(1...5) }
        return random.pick(existing)
    }

    public mutating func put(in model: ReferenceModel, key fixedKey: [UInt8]? = nil) -> PutRequest {
        var request = PutRequest(key: fixedKey ?? key(), value: value())
        if random.chance(0.2) { request.lease = lease(in: model) }
        request.prevKV = random.chance(0.5)
        if random.chance(0.08) { request.ignoreValue = true; request.value = random.chance(0.8) ? [] : [1] }
        if random.chance(0.08) { request.ignoreLease = true; request.lease = random.chance(0.8) ? 0 : 1 }
        if random.chance(0.01) { request.key = [] }
        if random.chance(0.01) { request.value = [UInt8](repeating: 1, count: options.maxValueBytes + 1) }
        return request
    }

    public mutating func command(for model: ReferenceModel) -> MVCCCommand {
        switch random.int(0...99) {
        case 0..<40: return .put(put(in: model))
        case 40..<50: return .deleteRange(DeleteRangeRequest(range: keyRange(), prevKV: random.chance(0.5)))
        case 50..<75: return .txn(txn(in: model, depth: 0))
        case 75..<79:
            let low = max(model.compactedRevision - 1, 0)
            return .compact(revision: random.int64(low...(model.revision + 1)))
        case 79..<88: return .leaseGrant(id: random.chance(0.5) ? 0 : random.int64(1...6), ttl: random.int64(0...100))
        case 88..<93: return .leaseRevoke(id: lease(in: model))
        case 93..<95: return .leaseKeepAlive(id: lease(in: model))
        default: return .deleteRange(DeleteRangeRequest(range: KeyRange(key: random.chance(0.2) ? [] : key())))
        }
    }

    public mutating func txn(in model: ReferenceModel, depth: Int) -> TxnRequest {
        var request = TxnRequest()
        for _ in 0..<random.int(0...3) {
            let target: Compare.Target
            switch random.int(0...4) {
            case 0: target = .version(random.int64(0...3))
            case 1: target = .createRevision(random.int64(0...model.revision + 1))
            case 2: target = .modRevision(random.int64(0...model.revision + 1))
            case 3: target = .value(random.chance(0.3) ? [] : value())
            default: target = .lease(random.chance(0.5) ? 0 : lease(in: model))
            }
            let range = random.chance(0.8) ? KeyRange(key: key()) : keyRange()
            request.compare.append(Compare(range: range, result: random.pick([.equal, .notEqual, .less, .greater]),
                                           target: target))
        }
        request.success = ops(in: model, depth: depth)
        request.failure = ops(in: model, depth: depth)
        return request
    }

    private mutating func ops(in model: ReferenceModel, depth: Int) -> [RequestOp] {
        var ops: [RequestOp] = []
        // Distinct keys for puts most of the time, so most transactions are valid.
        var unused = keys.shuffled(using: &random)
        for _ in 0..<random.int(0...(random.chance(0.02) ? options.maxTxnOperations + 1 : 4)) {
            switch random.int(0...9) {
            case 0...4:
                let key = unused.popLast() ?? self.key()
                ops.append(.put(put(in: model, key: random.chance(0.95) ? key : self.key())))
            case 5, 6:
                var range = rangeRequest(in: model)
                if range.revision != 0 { range.revision = random.chance(0.5) ? 0 : model.revision }
                ops.append(.range(range))
            case 7:
                ops.append(.deleteRange(DeleteRangeRequest(range: random.chance(0.7) ? KeyRange(key: unused.popLast() ?? key()) : keyRange(),
                                                           prevKV: random.chance(0.5))))
            default:
                if depth < 2 { ops.append(.txn(txn(in: model, depth: depth + 1))) }
            }
        }
        return ops
    }

    /// A read with random options, at a revision that is usually (not always) still readable.
    public mutating func rangeRequest(in model: ReferenceModel) -> RangeRequest {
        var request = RangeRequest(range: keyRange())
        request.limit = random.chance(0.4) ? random.int64(1...4) : 0
        if random.chance(0.5) {
            request.revision = random.int64(max(model.compactedRevision - 1, 0)...(model.revision + 1))
        }
        if random.chance(0.3) {
            request.sortOrder = random.pick([.none, .ascend, .descend])
            request.sortTarget = random.pick([.key, .version, .create, .mod, .value])
        }
        request.keysOnly = random.chance(0.15)
        request.countOnly = random.chance(0.1)
        if random.chance(0.15) { request.minModRevision = random.int64(0...model.revision) }
        if random.chance(0.15) { request.maxModRevision = random.int64(0...model.revision) }
        if random.chance(0.1) { request.minCreateRevision = random.int64(0...model.revision) }
        if random.chance(0.1) { request.maxCreateRevision = random.int64(0...model.revision) }
        return request
    }
}

/// The set of keys a request addresses, with etcd's conventions for `key` and `range_end`:
/// an empty end means the single key; an end of `[0]` means every key >= `key`; otherwise `[key, end)`.
/// A `key` of `[0]` with an end of `[0]` means every key.
public struct KeyRange: Sendable, Hashable {
    public var key: [UInt8]
    public var end: [UInt8]

    public init(key: [UInt8], end: [UInt8] = []) {
        self.key = key
        self.end = end
    }

    /// Every key that starts with `prefix` (etcdctl's `--prefix`).
    public static func prefix(_ prefix: [UInt8]) -> KeyRange {
        KeyRange(key: prefix, end: prefixEnd(prefix))
    }

    /// The smallest key greater than every key starting with `prefix`, or `[0]` when no such key exists.
    public static func prefixEnd(_ prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xFF {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0]
    }

    public var isSingleKey: Bool { end.isEmpty }

    /// True when the range has no upper bound.
    public var isUnbounded: Bool { end == [0] }

    public func contains(_ candidate: [UInt8]) -> Bool {
        if isSingleKey { return candidate == key }
        if candidate.lexicographicallyPrecedes(key) { return false }
        return isUnbounded || candidate.lexicographicallyPrecedes(end)
    }
}

/// Decides whether one key's operations are linearizable as a register with compare-and-swap: Wing & Gong's
/// search for an order that respects real time and the register's semantics, with Lowe's memo of the
/// (operations linearized, register value) pairs already explored.
///
/// The history is cut where no operation is outstanding: nothing on one side can be ordered after anything
/// on the other, so each segment is searched alone, from every value the previous segments could have left.
/// Each search is exhaustive (it collects every reachable final value), which keeps segments independent.
public enum RegisterChecker {
    public struct Step: Sendable {
        public enum Effect: Sendable, Equatable {
            case put(String)
            case delete
            case read(String?)
            /// Swaps to `new` if the value is `expected`; `swapped` nil when the outcome is unknown but the swap
            /// is known to have been applied.
            case cas(expected: String?, new: String, swapped: Bool?)
        }

        public var effect: Effect
        public var call: Double
        /// `.infinity` when it may have taken effect at any time after `call`.
        public var ret: Double
        /// Its index in the history, for reports.
        public var index: Int

        public init(_ effect: Effect, call: Double, ret: Double, index: Int) {
            self.effect = effect
            self.call = call
            self.ret = ret
            self.index = index
        }

        /// The register's value after this step from `value`, or nil if the step cannot happen there.
        func apply(to value: String?) -> String?? {
            switch effect {
            case .put(let new): return .some(new)
            case .delete: return .some(nil)
            case .read(let seen): return seen == value ? .some(value) : nil
            case .cas(let expected, let new, let swapped):
                switch swapped {
                case true?, nil: return value == expected ? .some(new) : nil
                case false?: return value != expected ? .some(value) : nil
                }
            }
        }
    }

    public enum Verdict: Sendable, Equatable {
        case linearizable
        /// No order explains the segment holding these history indexes.
        case violation([Int])
        /// A segment's search outgrew `budget` explored states.
        case inconclusive([Int])
    }

    /// Checks `steps` (one key's) from an absent key.
    public static func check(_ steps: [Step], budget: Int = 2_000_000) -> Verdict {
        let ordered = steps.sorted { $0.call < $1.call }
        var starts: Set<String?> = [nil]
        var segmentStart = 0
        var horizon = -Double.infinity
        for (position, step) in ordered.enumerated() {
            if position > segmentStart, step.call > horizon {
                let segment = Array(ordered[segmentStart..<position])
                guard let finals = search(segment, from: starts, budget: budget) else {
                    return .inconclusive(segment.map(\.index))
                }
                if finals.isEmpty { return .violation(segment.map(\.index)) }
                starts = finals
                segmentStart = position
            }
            horizon = max(horizon, step.ret)
        }
        let segment = Array(ordered[segmentStart...])
        guard !segment.isEmpty else { return .linearizable }
        guard let finals = search(segment, from: starts, budget: budget) else { return .inconclusive(segment.map(\.index)) }
        return finals.isEmpty ? .violation(segment.map(\.index)) : .linearizable
    }

    private struct Bits: Hashable {
        var words: [UInt64]
        init(count: Int) { words = Array(repeating: 0, count: (count + 63) / 64) }
        func contains(_ index: Int) -> Bool { words[index >> 6] & (1 << UInt64(index & 63)) != 0 }
        mutating func insert(_ index: Int) { words[index >> 6] |= 1 << UInt64(index & 63) }
    }

    private struct Node: Hashable {
        var done: Bits
        var count: Int
        var value: String?
    }

    /// Every value the register can hold after all of `segment` (sorted by call), from any of `starts`; nil
    /// when the search exceeds `budget` nodes (fewer for long segments, so the memo stays within ~400 MB).
    private static func search(_ segment: [Step], from starts: Set<String?>, budget: Int) -> Set<String?>? {
        let budget = min(budget, max(10_000, 50_000_000 / ((segment.count + 63) / 64)))
        var finals: Set<String?> = []
        var seen: Set<Node> = []
        var stack = starts.map { Node(done: Bits(count: segment.count), count: 0, value: $0) }
        while let node = stack.popLast() {
            guard seen.insert(node).inserted else { continue }
            guard seen.count <= budget else { return nil }
            if node.count == segment.count {
                finals.insert(node.value)
                continue
            }
            // A step can go next only if it was called before every pending step returned.
            var earliestReturn = Double.infinity
            for (index, step) in segment.enumerated() where !node.done.contains(index) {
                earliestReturn = min(earliestReturn, step.ret)
            }
            for (index, step) in segment.enumerated() {
                if step.call > earliestReturn { break }
                guard !node.done.contains(index), let next = step.apply(to: node.value) else { continue }
                var done = node.done
                done.insert(index)
                stack.append(Node(done: done, count: node.count + 1, value: next))
            }
        }
        return finals
    }
}

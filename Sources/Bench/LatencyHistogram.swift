/// A log-linear latency histogram in the manner of HdrHistogram: 64 linear sub-buckets per power of two, so any
/// recorded value is reported within 1/64 (1.6 %) of itself, in constant memory, and histograms from many event
/// loops merge by adding counts.
public struct LatencyHistogram: Sendable {
    static let subBucketBits = 6
    static let subBuckets = 1 << subBucketBits
    static let bucketCount = (64 - subBucketBits) * subBuckets + subBuckets

    private var counts: [UInt64]
    public private(set) var count: UInt64 = 0
    public private(set) var sum: UInt64 = 0
    public private(set) var min: UInt64 = .max
    public private(set) var max: UInt64 = 0

    public init() {
        counts = Array(repeating: 0, count: Self.bucketCount)
    }

    static func index(of value: UInt64) -> Int {
        let highestBit = 63 - value.leadingZeroBitCount
        guard highestBit > subBucketBits else { return Int(value) }
        let shift = highestBit - subBucketBits
        return shift * subBuckets + Int(value >> UInt64(shift))
    }

    /// The largest value that falls in bucket `index` (what a percentile reports).
    static func highestValue(at index: Int) -> UInt64 {
        guard index >= 2 * subBuckets else { return UInt64(index) }
        let shift = index / subBuckets - 1
        let sub = UInt64(index - shift * subBuckets)
        return (sub << UInt64(shift)) | ((1 << UInt64(shift)) - 1)
    }

    public mutating func record(_ value: UInt64) {
        counts[Self.index(of: value)] += 1
        count += 1
        sum &+= value
        min = Swift.min(min, value)
        max = Swift.max(max, value)
    }

    public mutating func merge(_ other: LatencyHistogram) {
        guard other.count > 0 else { return }
        for index in counts.indices { counts[index] += other.counts[index] }
        count += other.count
        sum &+= other.sum
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    public var mean: Double { count == 0 ? 0 : Double(sum) / Double(count) }

    /// The value at or below which `fraction` (0...1) of the recorded values fall, within the bucket's precision.
    public func value(atFraction fraction: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let rank = Swift.max(1, UInt64((Double(count) * fraction).rounded(.up)))
        var seen: UInt64 = 0
        for (index, bucketCount) in counts.enumerated() where bucketCount > 0 {
            seen += bucketCount
            if seen >= rank { return Swift.min(Self.highestValue(at: index), max) }
        }
        return max
    }
}

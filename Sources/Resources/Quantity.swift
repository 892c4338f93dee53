/// A Kubernetes resource quantity ("100m", "1.5Gi", "2e3"): an exact decimal (`significand` × 10^`exponent`)
/// read from the forms Kubernetes accepts. Requests and limits are compared through it (the scheduler's
/// arithmetic), and object validation refuses what it cannot read.
public struct Quantity: Sendable, Hashable, CustomStringConvertible {
    public static let pattern = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"

    public var significand: Int64
    public var exponent: Int
    /// The text as written (kept for output).
    public let text: String

    public init?(_ text: String) {
        var bytes = Substring(text).utf8[...]
        guard !bytes.isEmpty, bytes.count <= 64 else { return nil }
        var negative = false
        if let first = bytes.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            negative = first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        var significand: Int64 = 0
        var exponent = 0
        var digits = 0
        var seenPoint = false
        while let byte = bytes.first, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            if byte == UInt8(ascii: ".") {
                guard !seenPoint else { return nil }
                seenPoint = true
                continue
            }
            digits += 1
            let (times, overflow1) = significand.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 {
                if !seenPoint { exponent += 1 }  // Keep magnitude, drop precision beyond 18 digits.
                continue
            }
            significand = sum
            if seenPoint { exponent -= 1 }
        }
        guard digits > 0 else { return nil }
        let suffix = String(decoding: bytes, as: UTF8.self)
        switch suffix {
        case "": break
        case "n": exponent -= 9
        case "u": exponent -= 6
        case "m": exponent -= 3
        case "k": exponent += 3
        case "M": exponent += 6
        case "G": exponent += 9
        case "T": exponent += 12
        case "P": exponent += 15
        case "E": exponent += 18
        case "Ki", "Mi", "Gi", "Ti", "Pi", "Ei":
            let power = ["Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60][suffix] ?? 0
            let (scaled, overflow) = significand.multipliedReportingOverflow(by: Int64(1) << power)
            guard !overflow else { return nil }
            significand = scaled
        default:
            guard let first = suffix.first, first == "e" || first == "E",
                  let power = Int(suffix.dropFirst()), abs(power) <= 100 else { return nil }
            exponent += power
        }
        self.significand = negative ? -significand : significand
        self.exponent = exponent
        self.text = text
    }

    public var description: String { text }

    /// The form Kubernetes stores and answers a quantity in: in its own family of suffixes (decimal SI, binary
    /// SI, or an exponent), with the largest suffix that keeps the number whole — "1000m" is "1", "1024Mi" is
    /// "1Gi", "0.5" is "500m", "1536Mi" stays — and below a nano rounded up to one.
    public var canonical: String {
        var significand = self.significand
        var exponent = self.exponent
        if significand == 0 { return "0" }
        while significand % 10 == 0 {
            significand /= 10
            exponent += 1
        }
        if exponent < -9 {
            // Round away from zero to whole nanos, as Kubernetes does.
            let divisor = Self.power10(-9 - exponent) ?? Int64.max
            let (quotient, remainder) = significand.quotientAndRemainder(dividingBy: divisor)
            significand = quotient + (remainder == 0 ? 0 : significand.signum())
            exponent = -9
        }
        let suffix = text.drop { "+-0123456789.".contains($0) }
        if suffix.hasSuffix("i"), exponent >= 0, let whole = Self.scale(significand, by: exponent), whole.magnitude >= 1024 {
            var power = 0
            while power < 60, whole % (Int64(1) << (power + 10)) == 0 { power += 10 }
            let names = [10: "Ki", 20: "Mi", 30: "Gi", 40: "Ti", 50: "Pi", 60: "Ei"]
            return String(whole >> power) + (names[power] ?? "")
        }
        // A multiple of three for the exponent, the mantissa made whole by the rest.
        var group = Int((Double(exponent) / 3).rounded(.down)) * 3
        group = min(max(group, -9), 18)
        guard let mantissa = Self.scale(significand, by: exponent - group) else { return text }
        if suffix.count > 1, suffix.first == "e" || suffix.first == "E" {
            return group == 0 ? String(mantissa) : "\(mantissa)e\(group)"
        }
        let names = [-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"]
        return String(mantissa) + (names[group] ?? "")
    }

    private static func power10(_ count: Int) -> Int64? {
        guard count >= 0, count <= 18 else { return nil }
        var value: Int64 = 1
        for _ in 0..<count { value *= 10 }
        return value
    }

    /// `value` × 10^`count` (count ≥ 0), or nil when it overflows.
    private static func scale(_ value: Int64, by count: Int) -> Int64? {
        guard let factor = power10(count) else { return nil }
        let (product, overflow) = value.multipliedReportingOverflow(by: factor)
        return overflow ? nil : product
    }

    /// The value scaled by 10^`scale` and rounded up, as Kubernetes' `ScaledValue` (milli-CPU: scale 3).
    public func scaled(_ scale: Int) -> Int64 {
        let shift = exponent + scale
        if shift >= 0 {
            var value = significand
            for _ in 0..<min(shift, 19) {
                let (next, overflow) = value.multipliedReportingOverflow(by: 10)
                if overflow { return significand < 0 ? .min : .max }
                value = next
            }
            return value
        }
        var value = significand
        var remainder = false
        for _ in 0..<min(-shift, 19) {
            if value % 10 != 0 { remainder = true }
            value /= 10
        }
        if -shift >= 19 { remainder = significand != 0; value = 0 }
        return remainder && significand > 0 ? value + 1 : value
    }

    /// The value in units, rounded up (bytes of memory).
    public var value: Int64 { scaled(0) }
    /// The value in thousandths, rounded up (milli-CPU).
    public var milliValue: Int64 { scaled(3) }

    public static func == (lhs: Quantity, rhs: Quantity) -> Bool { lhs.compare(rhs) == 0 }
    public func hash(into hasher: inout Hasher) { hasher.combine(scaled(9)) }

    /// -1, 0 or 1 as the values compare (exactly, within 18 significant digits).
    public func compare(_ other: Quantity) -> Int {
        let scale = -min(exponent, other.exponent)
        let left = scaled(scale), right = other.scaled(scale)
        return left < right ? -1 : (left > right ? 1 : 0)
    }
}

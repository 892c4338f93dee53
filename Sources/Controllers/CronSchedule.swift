import Foundation

/// A cron schedule as CronJobs write it: five fields (minute, hour, day of month, month, day of week) with `*`,
/// `?`, lists, ranges, steps and month/day names, or one of the macros (@yearly, @monthly, @weekly, @daily,
/// @hourly). As in cron, when both day fields are restricted a day matching either runs. Times are UTC.
public struct CronSchedule: Sendable, Equatable {
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    let minutes: Set<Int>
    let hours: Set<Int>
    let days: Set<Int>
    let months: Set<Int>
    let weekdays: Set<Int>
    let daysRestricted: Bool
    let weekdaysRestricted: Bool

    static let macros = ["@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
                         "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *"]
    static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    public init(_ text: String) throws(ParseError) {
        var spec = text.trimmingCharacters(in: .whitespaces)
        if spec.hasPrefix("TZ=") || spec.hasPrefix("CRON_TZ=") {
            throw ParseError(message: "CRON_TZ or TZ used in schedule \"\(text)\" is not officially supported, see https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details")
        }
        if let macro = Self.macros[spec.lowercased()] { spec = macro }
        let fields = spec.split(whereSeparator: \.isWhitespace).map(String.init)
        guard fields.count == 5 else { throw ParseError(message: "expected exactly 5 fields, found \(fields.count): \(text)") }
        minutes = try Self.field(fields[0], 0...59, names: [], text: text)
        hours = try Self.field(fields[1], 0...23, names: [], text: text)
        days = try Self.field(fields[2], 1...31, names: [], text: text)
        months = try Self.field(fields[3], 1...12, names: Self.monthNames, offset: 1, text: text)
        // 7 is Sunday too.
        weekdays = Set(try Self.field(fields[4], 0...7, names: Self.dayNames, text: text).map { $0 % 7 })
        daysRestricted = !["*", "?"].contains(fields[2].split(separator: "/").first.map(String.init) ?? "")
        weekdaysRestricted = !["*", "?"].contains(fields[4].split(separator: "/").first.map(String.init) ?? "")
    }

    static func field(_ text: String, _ bounds: ClosedRange<Int>, names: [String], offset: Int = 0, text whole: String) throws(ParseError) -> Set<Int> {
        func value(_ part: Substring) throws(ParseError) -> Int {
            if let number = Int(part) { return number }
            if let index = names.firstIndex(of: part.lowercased()) { return index + offset }
            throw ParseError(message: "failed to parse int from \(part): strconv.Atoi: parsing \"\(part)\": invalid syntax")
        }
        var result = Set<Int>()
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            let stepParts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard stepParts.count <= 2, let rangePart = stepParts.first, !rangePart.isEmpty else {
                throw ParseError(message: "failed to parse \(item) in \(whole)")
            }
            var step = 1
            if stepParts.count == 2 {
                guard let parsed = Int(stepParts[1]), parsed > 0 else { throw ParseError(message: "failed to parse step \(stepParts[1]) in \(whole)") }
                step = parsed
            }
            var low = bounds.lowerBound, high = bounds.upperBound
            if rangePart != "*" && rangePart != "?" {
                let ends = rangePart.split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count <= 2 else { throw ParseError(message: "failed to parse \(item) in \(whole)") }
                low = try value(ends[0])
                high = ends.count == 2 ? try value(ends[1]) : (stepParts.count == 2 ? bounds.upperBound : low)
            }
            guard bounds.contains(low), bounds.contains(high), low <= high else {
                throw ParseError(message: "end of range (\(high)) above maximum (\(bounds.upperBound)): \(item)")
            }
            result.formUnion(stride(from: low, through: high, by: step))
        }
        return result
    }

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        // UTC exists on every system.
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }()

    func dayMatches(_ components: DateComponents) -> Bool {
        let day = components.day ?? 0
        let weekday = (components.weekday ?? 1) - 1
        switch (daysRestricted, weekdaysRestricted) {
        case (true, true): return days.contains(day) || weekdays.contains(weekday)
        case (true, false): return days.contains(day)
        case (false, true): return weekdays.contains(weekday)
        case (false, false): return true
        }
    }

    /// The first scheduled time strictly after `time` (Unix seconds), within five years.
    public func next(after time: Double) -> Double? {
        let calendar = Self.calendar
        var date = Date(timeIntervalSince1970: (time / 60).rounded(.down) * 60 + 60)
        let limit = date.addingTimeInterval(5 * 366 * 86_400)
        while date < limit {
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .weekday], from: date)
            if !months.contains(parts.month ?? 0) {
                guard let next = calendar.date(from: DateComponents(year: parts.year, month: (parts.month ?? 1) + 1, day: 1)) else { return nil }
                date = next
            } else if !dayMatches(parts) {
                guard let next = calendar.date(from: DateComponents(year: parts.year, month: parts.month, day: (parts.day ?? 1) + 1)) else { return nil }
                date = next
            } else if !hours.contains(parts.hour ?? 0) {
                guard let next = calendar.date(from: DateComponents(year: parts.year, month: parts.month, day: parts.day, hour: (parts.hour ?? 0) + 1)) else { return nil }
                date = next
            } else if !minutes.contains(parts.minute ?? 0) {
                date = date.addingTimeInterval(60)
            } else {
                return date.timeIntervalSince1970
            }
        }
        return nil
    }
}

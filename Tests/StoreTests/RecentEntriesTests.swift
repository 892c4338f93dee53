import Testing
import Raft
@testable import Store

@Suite struct RecentEntriesTests {
    func entries(_ range: ClosedRange<UInt64>, term: UInt64 = 1, size: Int = 10) -> [Entry] {
        range.map { Entry(term: term, index: $0, data: [UInt8](repeating: UInt8(truncatingIfNeeded: $0), count: size)) }
    }

    @Test func holdsTheTailAndReplacesWhatANewLeaderOverwrites() {
        var recent = RecentEntries(next: 1)
        recent.append(entries(1...5))
        recent.append(entries(4...6, term: 2))
        #expect((1...6).map { recent.entry(at: $0)?.term } == [1, 1, 1, 2, 2, 2])
        #expect(recent.entry(at: 7) == nil && recent.entry(at: 0) == nil)
        recent.dropThrough(3)
        #expect(recent.first == 4 && recent.entry(at: 3) == nil && recent.entry(at: 4)?.term == 2)
        // A snapshot point past everything held.
        recent.dropThrough(10)
        #expect(recent.first == 11 && recent.entry(at: 6) == nil)
    }

    @Test func isBoundedByCountAndByBytes() {
        var recent = RecentEntries(next: 1)
        let many = UInt64(RecentEntries.countLimit * 2)
        recent.append(entries(1...many, size: 1))
        #expect(recent.entry(at: many)?.index == many)
        #expect(recent.entry(at: many - UInt64(RecentEntries.countLimit) * 3 / 2) == nil, "the oldest went")

        let large = RecentEntries.byteLimit / 4
        var big = RecentEntries(next: 1)
        for index in UInt64(1)...12 { big.append(entries(index...index, size: large)) }
        #expect(big.entry(at: 12) != nil)
        #expect(big.entry(at: 1) == nil, "no more than about \(RecentEntries.byteLimit * 3 / 2) bytes are held")
    }
}

@testable import ClusterClient
import Testing

@Suite struct EventCorrelatorTests {
    static func key(_ object: String, message: String = "0/3 nodes are available: 3 Insufficient cpu.") -> EventCorrelator.Key {
        EventCorrelator.Key(object: "Pod/default/\(object)/uid-\(object)", type: "Warning", reason: "FailedScheduling", message: message)
    }

    @Test func aRepeatCountsUpTheFirstEventAndAnotherMessageIsANewOne() {
        var correlator = EventCorrelator()
        #expect(correlator.observe(Self.key("big"), name: "big.1", timestamp: "t1") == nil)
        #expect(correlator.observe(Self.key("big"), name: "big.2", timestamp: "t2") == .init(name: "big.1", count: 2, firstTimestamp: "t1"))
        #expect(correlator.observe(Self.key("big"), name: "big.3", timestamp: "t3") == .init(name: "big.1", count: 3, firstTimestamp: "t1"))
        #expect(correlator.observe(Self.key("big", message: "0/3 nodes are available: 3 Too many pods."), name: "big.4", timestamp: "t4") == nil)
        #expect(correlator.observe(Self.key("other"), name: "other.1", timestamp: "t5") == nil)
    }

    @Test func itRemembersAtMostItsCapacityAndKeepsWhatRepeats() {
        var correlator = EventCorrelator(capacity: 100)
        _ = correlator.observe(Self.key("hot"), name: "hot.0", timestamp: "t0")
        for index in 0..<10_000 {
            #expect(correlator.observe(Self.key("cold\(index)"), name: "cold\(index)", timestamp: "t") == nil)
            // Seen again now and then, the hot one is never forgotten; its count is every occurrence.
            if index % 10 == 0 {
                #expect(correlator.observe(Self.key("hot"), name: "hot.x", timestamp: "t")?.count == 2 + index / 10)
            }
        }
        #expect(correlator.remembered <= 100)
        // A cold one from long ago was forgotten: it is posted anew.
        #expect(correlator.observe(Self.key("cold0"), name: "cold0.again", timestamp: "t") == nil)
    }
}

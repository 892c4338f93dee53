@testable import APIServer
import Testing
import TestSupport

/// How Events share store leases: every object must live its TTL at least and the TTL plus the reuse window at
/// most, with few leases for many objects.
@Suite struct LeaseReuseTests {
    @Test func theWindowIsAFractionOfTheTTLAtMostAMinute() {
        #expect(LeaseReuse(ttl: .seconds(3600)).window == .seconds(60))
        #expect(LeaseReuse(ttl: .seconds(600)).window == .seconds(30))
        #expect(LeaseReuse(ttl: .seconds(3600)).grantSeconds == 3660)
        // Rounded up: a lease a fraction short would let an object go before its TTL.
        #expect(LeaseReuse(ttl: .seconds(4)).grantSeconds == 5)
        #expect(LeaseReuse(ttl: .milliseconds(10)).grantSeconds == 1)
    }

    @Test func oneLeaseServesWritesUntilItHasLessThanTheTTLLeft() {
        var reuse = LeaseReuse(ttl: .seconds(600))
        #expect(reuse.take(at: .zero) == nil, "nothing granted yet")
        reuse.granted(7, askedAt: .zero)
        #expect(reuse.take(at: .seconds(1)) == 7)
        #expect(reuse.take(at: .seconds(30)) == 7, "630 s granted: 600 left at 30 s")
        #expect(reuse.take(at: .seconds(31)) == nil, "an object written now would go before its TTL")
    }

    @Test func aLeaseHoldsAtMostItsShareOfObjects() {
        var reuse = LeaseReuse(ttl: .seconds(600), maxObjects: 3)
        reuse.granted(1, askedAt: .zero)
        #expect(reuse.take(at: .zero) == 1)
        #expect(reuse.take(at: .zero) == 1)
        #expect(reuse.take(at: .zero) == nil, "the grant's own write and two more: full")
        reuse.granted(2, askedAt: .zero)
        reuse.attach(to: 2)
        #expect(reuse.current?.objects == 2)
        reuse.attach(to: 1)
        #expect(reuse.current?.objects == 2, "an older lease's waiter does not count against the current one")
    }

    @Test func aLeaseTheStoreLostIsNotHandedOutAgain() {
        var reuse = LeaseReuse(ttl: .seconds(600))
        reuse.granted(5, askedAt: .zero)
        reuse.forget(4)
        #expect(reuse.take(at: .zero) == 5, "another lease's loss changes nothing")
        reuse.forget(5)
        #expect(reuse.take(at: .zero) == nil)
    }

    /// Under writes at random times, no object is attached to a lease that could end before the object's TTL,
    /// and leases are granted only as often as the window and the object bound require.
    @Test(arguments: 1...20)
    func everyObjectLivesItsTTL(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        let ttl = Duration.seconds(100)
        var reuse = LeaseReuse(ttl: ttl, maxObjects: 50)
        var now = Duration.zero
        var expiry: [Int64: Duration] = [:]
        var grants = 0
        var nextID: Int64 = 1
        for _ in 0..<5_000 {
            now += .milliseconds(Int64(random.next() % 500))
            if let id = reuse.take(at: now) {
                // Safe to force: only granted IDs are handed out.
                #expect(expiry[id]! - now >= ttl)
                #expect(expiry[id]! - now <= ttl + reuse.window)
            } else {
                reuse.granted(nextID, askedAt: now)
                expiry[nextID] = now + .seconds(reuse.grantSeconds)
                nextID += 1
                grants += 1
            }
        }
        // 5,000 writes over ~1,250 s: a lease per 5 s window or per 50 objects, whichever comes first.
        let elapsedWindows = Int(now / reuse.window) + 1
        // A lease ends full (at most 5,000 / 50 of those) or when its window has passed (at most one per window).
        #expect(grants <= 5_000 / 50 + elapsedWindows, "\(grants) grants")
        #expect(grants >= 5_000 / 50)
    }
}

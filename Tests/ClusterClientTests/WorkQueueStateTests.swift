import ClusterClient
import Testing
import TestSupport

@Suite struct WorkQueueStateTests {
    @Test func aKeyWaitsOnceHoweverOftenItIsAdded() {
        var queue = WorkQueueState<String>()
        queue.add("a")
        queue.add("b")
        queue.add("a")
        #expect(queue.readyCount == 2)
        #expect(queue.next() == "a")
        #expect(queue.next() == "b")
        #expect(queue.next() == nil)
    }

    @Test func aKeyBeingProcessedIsNotHandedOutTwiceAndComesBackWhenDone() {
        var queue = WorkQueueState<String>()
        queue.add("a")
        #expect(queue.next() == "a")
        queue.add("a")
        queue.add("a")
        #expect(queue.next() == nil, "a second worker must not get a key in process")
        queue.done("a")
        #expect(queue.next() == "a", "added while processing: ready again once done")
        queue.done("a")
        #expect(queue.next() == nil)
    }

    @Test func failuresBackOffExponentiallyUntilForgotten() {
        var queue = WorkQueueState<String>(baseDelay: 0.005, maxDelay: 1)
        #expect(queue.addRateLimited("a", now: 0) == 0.005)
        #expect(queue.next() == nil)
        #expect(queue.nextDue == 0.005)
        queue.advance(to: 0.004)
        #expect(queue.next() == nil)
        queue.advance(to: 0.005)
        #expect(queue.next() == "a")
        queue.done("a")
        #expect(queue.addRateLimited("a", now: 1) == 1.01)
        #expect(queue.addRateLimited("a", now: 1) == 1.01, "the earlier due time wins")
        #expect(queue.failureCount("a") == 3)
        for _ in 0..<20 { queue.addRateLimited("b", now: 0) }
        #expect(queue.delay(for: "b") == 1, "capped")
        queue.forget("a")
        #expect(queue.delay(for: "a") == 0.005)
    }

    @Test func dueKeysBecomeReadyInDueOrderAndJoinWaitingOnes() {
        var queue = WorkQueueState<Int>()
        queue.addAfter(1, due: 3)
        queue.addAfter(2, due: 1)
        queue.addAfter(3, due: 2)
        queue.add(3)
        queue.advance(to: 5)
        #expect([queue.next(), queue.next(), queue.next(), queue.next()] == [3, 2, 1, nil],
                "3 was already ready and is not queued twice; the rest by due time")
        #expect(queue.nextDue == nil)
    }

    /// Many keys through many rounds, as a controller's workers take them: no key is out twice at once, and
    /// every key added is handed out after its last add.
    @Test func randomSchedulesKeepTheQueuesPromises() {
        var generator = SeededRandom(seed: 42)
        for _ in 0..<200 {
            var queue = WorkQueueState<Int>()
            var out: Set<Int> = []
            var pendingSinceLastHandout: Set<Int> = []
            var now = 0.0
            for _ in 0..<300 {
                let key = Int(generator.next() % 8)
                switch generator.next() % 5 {
                case 0, 1:
                    queue.add(key)
                    pendingSinceLastHandout.insert(key)
                case 2:
                    if let taken = queue.next() {
                        #expect(!out.contains(taken), "handed out twice at once")
                        out.insert(taken)
                        pendingSinceLastHandout.remove(taken)
                    }
                case 3:
                    if let done = out.first {
                        out.remove(done)
                        if generator.next() % 2 == 0 { queue.addRateLimited(done, now: now) } else { queue.forget(done) }
                        queue.done(done)
                    }
                default:
                    now += 0.01
                    queue.advance(to: now)
                }
            }
            for key in out { queue.done(key) }
            queue.advance(to: now + 10_000)
            var drained: Set<Int> = []
            while let key = queue.next() {
                drained.insert(key)
                queue.done(key)
            }
            #expect(pendingSinceLastHandout.isSubset(of: drained), "every key added after its last handout came out")
        }
    }
}

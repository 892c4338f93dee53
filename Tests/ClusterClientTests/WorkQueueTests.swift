import ClusterClient
import Testing
import TestSupport

@Suite struct WorkQueueTests {
    @Test func workersGetEachKeyOnceAndFailuresComeBackAfterTheirBackoff() async throws {
        let queue = WorkQueue<String>(baseDelay: 0.01, maxDelay: 0.05)
        for key in ["a", "b", "a", "c", "b"] { queue.add(key) }
        #expect(queue.depth == 3)
        var seen: [String] = []
        for _ in 0..<3 {
            let key = try #require(await queue.next())
            seen.append(key)
        }
        #expect(seen == ["a", "b", "c"])
        // "a" fails: it comes back by itself after its backoff; "b" is added while processed: it comes back at done.
        queue.done("a")
        queue.addRateLimited("a")
        queue.add("b")
        #expect(queue.depth == 0)
        queue.done("b")
        queue.done("c")
        let again = try #require(await queue.next())
        #expect(again == "b")
        queue.done("b")
        let retried = try #require(await queue.next())
        #expect(retried == "a")
        #expect(queue.failureCount("a") == 1)
        queue.forget("a")
        queue.done("a")
        #expect(queue.failureCount("a") == 0)
    }

    @Test func aDelayedKeyWakesAWaitingWorkerAndShutDownEndsIt() async throws {
        let queue = WorkQueue<Int>()
        let worker = Task { await queue.next() }
        queue.addAfter(7, delay: 0.02)
        #expect(await worker.value == 7)
        let idle = Task { await queue.next() }
        queue.shutDown()
        #expect(await idle.value == nil)
        queue.add(8)
        #expect(await queue.next() == nil)
    }
}

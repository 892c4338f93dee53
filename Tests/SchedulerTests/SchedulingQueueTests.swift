import Resources
import Scheduler
import Testing

@Suite struct SchedulingQueueTests {
    static func pod(_ name: String, priority: Int64 = 0) -> SchedulingPod {
        SchedulingPod(["metadata": ["name": .string(name), "namespace": "default"], "spec": ["priority": .int(priority), "containers": []]])
    }

    @Test func podsComeOutByPriorityThenAge() {
        var queue = SchedulingQueue()
        queue.add(Self.pod("a"))
        queue.add(Self.pod("b", priority: 10))
        queue.add(Self.pod("c"))
        queue.add(Self.pod("a"))  // an update keeps its turn
        queue.add(Self.pod("d", priority: 10))
        #expect([queue.pop(), queue.pop(), queue.pop(), queue.pop()].map { $0?.name } == ["b", "d", "a", "c"])
        #expect(queue.pop() == nil)
    }

    @Test func anUnschedulablePodWaitsForItsBackoffAndAChange() {
        var queue = SchedulingQueue()
        queue.add(Self.pod("a"))
        _ = queue.pop()
        queue.failed("default/a", now: 0)
        #expect(queue.unschedulableCount == 1 && queue.pop() == nil)
        queue.advance(to: 5)
        #expect(queue.pop() == nil, "no change yet")
        // A status update (our own PodScheduled condition) is no change; a new node is.
        queue.add(Self.pod("a"), specChanged: false)
        queue.advance(to: 6)
        #expect(queue.pop() == nil)
        queue.clusterChanged()
        queue.advance(to: 6)
        #expect(queue.pop()?.name == "a")
        // The second failure backs off 2 s: a change within it waits for its end.
        queue.failed("default/a", now: 10)
        queue.clusterChanged()
        queue.advance(to: 11)
        #expect(queue.pop() == nil)
        #expect(queue.nextWake == 12)
        queue.advance(to: 12)
        #expect(queue.pop()?.name == "a")
        // Without any change it is retried after the unschedulable timeout anyway.
        queue.failed("default/a", now: 20)
        queue.advance(to: 79)
        #expect(queue.pop() == nil)
        queue.advance(to: 80)
        #expect(queue.pop()?.name == "a")
        queue.done("default/a")
        queue.remove("default/a")
        #expect(queue.pendingCount == 0)
    }
}

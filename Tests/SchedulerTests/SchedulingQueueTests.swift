import Resources
import Scheduler
import Testing
import TestSupport

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

    /// The queue's rules written the plain way (every pod looked at on every step), to hold the queue to.
    struct ReferenceQueue {
        struct Entry { var pod: SchedulingPod; var sequence: Int; var attempts = 0 }
        var active: [String: Entry] = [:]
        var waiting: [String: (entry: Entry, until: Double, failedAt: Double, changed: Bool)] = [:]
        var inFlight: [String: Entry] = [:]
        var sequence = 0

        mutating func add(_ pod: SchedulingPod, specChanged: Bool) {
            if active[pod.key] != nil { active[pod.key]?.pod = pod; return }
            if waiting[pod.key] != nil {
                waiting[pod.key]?.entry.pod = pod
                if specChanged { waiting[pod.key]?.changed = true }
                return
            }
            if inFlight[pod.key] != nil { inFlight[pod.key]?.pod = pod; return }
            active[pod.key] = Entry(pod: pod, sequence: sequence)
            sequence += 1
        }

        mutating func pop() -> SchedulingPod? {
            guard let first = active.min(by: { a, b in
                a.value.pod.priority != b.value.pod.priority ? a.value.pod.priority > b.value.pod.priority : a.value.sequence < b.value.sequence
            }) else { return nil }
            active[first.key] = nil
            inFlight[first.key] = first.value
            return first.value.pod
        }

        mutating func failed(_ key: String, now: Double) {
            guard var entry = inFlight.removeValue(forKey: key) else { return }
            entry.attempts += 1
            waiting[key] = (entry, now + min(Double(1 << min(entry.attempts - 1, 30)), 10), now, false)
        }

        mutating func advance(to now: Double) {
            for (key, pod) in waiting where now >= pod.until && (pod.changed || now >= pod.failedAt + 60) {
                waiting[key] = nil
                active[key] = pod.entry
            }
        }

        var nextWake: Double? { waiting.values.map { $0.changed ? $0.until : max($0.until, $0.failedAt + 60) }.min() }
    }

    /// Random sequences of what the scheduler does (pods arriving, updated, deleted, bound, failing; the cluster
    /// changing; time passing): the queue pops what the plain rules pop, and never wakes late.
    @Test(arguments: 0..<20)
    func theQueueFollowsThePlainRules(seed: UInt64) {
        var random = SeededRandom(seed: seed)
        var queue = SchedulingQueue()
        var reference = ReferenceQueue()
        var now = 0.0
        for _ in 0..<3_000 {
            let index = random.int(0...60)
            let name = "p\(index)"
            switch random.int(0...9) {
            case 0, 1:
                // A pod's priority never changes (spec.priority is immutable).
                let pod = Self.pod(name, priority: index % 3 == 0 ? 10 : 0)
                let specChanged = random.chance(0.5)
                queue.add(pod, specChanged: specChanged)
                reference.add(pod, specChanged: specChanged)
            case 2, 3:
                let popped = queue.pop()
                #expect(popped?.key == reference.pop()?.key)
                guard let popped else { break }
                switch random.int(0...3) {
                case 0:
                    queue.done(popped.key)
                    reference.inFlight[popped.key] = nil
                case 1:
                    queue.requeue(popped.key)
                    reference.active[popped.key] = reference.inFlight.removeValue(forKey: popped.key)
                default:
                    queue.failed(popped.key, now: now)
                    reference.failed(popped.key, now: now)
                }
            case 4:
                queue.remove("default/" + name)
                reference.active["default/" + name] = nil
                reference.waiting["default/" + name] = nil
                reference.inFlight["default/" + name] = nil
            case 5:
                queue.clusterChanged()
                for key in reference.waiting.keys { reference.waiting[key]?.changed = true }
            default:
                now += random.pick([0, 0.1, 0.5, 1, 3, 20])
                queue.advance(to: now)
                reference.advance(to: now)
                if let exact = reference.nextWake { #expect(queue.nextWake.map { $0 <= exact } == true) }
            }
            #expect(queue.pendingCount == reference.active.count + reference.waiting.count)
        }
    }
}

import ClusterClient
import Foundation
import Logging
import Resources
import Synchronization

/// The scheduler's shell: informers on pods and nodes keep the snapshot and the queue current; while leading, a
/// loop pops pods, runs the cycle, assumes the pod on its node at once (the next pod sees it there), and binds it
/// through `pods/binding` in the background, many binds in flight; a failed bind forgets the assumption and
/// requeues the pod. Events Scheduled and FailedScheduling, and the PodScheduled condition, tell users why.
public final class PodScheduler: Sendable {
    public struct Options: Sendable {
        /// Pods whose spec.schedulerName is this are ours.
        public var schedulerName = "default-scheduler"
        /// Binds in flight at once.
        public var maxBindsInFlight = 64

        public init() {}
    }

    public let pods: Informer
    public let nodes: Informer
    private let podsClient: ResourceClient
    private let events: EventRecorder
    private let options: Options
    private let logger: Logger
    private let cycle = SchedulingCycle()
    private let start = ContinuousClock.now
    private let state = Mutex(State())
    private let wake = WorkQueue<Int>()

    struct State {
        var snapshot = ClusterSnapshot()
        var queue = SchedulingQueue()
        /// Pods assumed on a node whose binding the informer has not shown yet: key → uid.
        var assumed: [String: String] = [:]
        var bindsInFlight = 0
        /// Where the next cycle starts looking (each pod goes on from where the last stopped).
        var nextStartNode = 0
        var scheduled = 0
        var failedAttempts = 0
    }

    public init(api: APIClient, options: Options = Options(), logger: Logger = Logger(label: "podium.scheduler")) throws {
        guard let podType = ResourceType.find(group: "", version: "v1", plural: "pods"),
              let nodeType = ResourceType.find(group: "", version: "v1", plural: "nodes") else {
            throw ClusterAccessError("the catalogue lacks pods or nodes")
        }
        podsClient = ResourceClient(api, podType)
        pods = Informer(podsClient, indexers: [])
        nodes = Informer(ResourceClient(api, nodeType), indexers: [])
        events = try EventRecorder(api: api, component: options.schedulerName)
        self.options = options
        self.logger = logger
        pods.addHandler { [weak self] event in self?.podChanged(event) }
        nodes.addHandler { [weak self] event in self?.nodeChanged(event) }
    }

    private var now: Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// Pods bound by this scheduler, and scheduling attempts that found no node.
    public var counts: (scheduled: Int, unschedulable: Int) { state.withLock { ($0.scheduled, $0.failedAttempts) } }
    public var pendingCount: Int { state.withLock { $0.queue.pendingCount } }

    /// Keeps the informers warm (standbys run this too, so taking over needs no relist).
    public func runInformers() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.pods.run() }
            group.addTask { await self.nodes.run() }
            group.addTask { await self.events.run() }
        }
    }

    /// Schedules pods until cancelled (while this instance leads). `isLeading` is checked before each bind.
    public func schedule(isLeading: @escaping @Sendable () -> Bool) async {
        await pods.waitUntilSynced()
        await nodes.waitUntilSynced()
        await withDiscardingTaskGroup { group in
            while !Task.isCancelled {
                let next = state.withLock { state -> SchedulingPod? in
                    state.queue.advance(to: now)
                    guard state.bindsInFlight < options.maxBindsInFlight else { return nil }
                    return state.queue.pop()
                }
                guard let pod = next else {
                    await waitForWork()
                    continue
                }
                guard isLeading() else {
                    state.withLock { $0.queue.requeue(pod.key) }
                    break
                }
                // Decide and assume under one lock, so that the informer cannot bind or delete the pod in between.
                let decision = state.withLock { state -> SchedulingCycle.Decision? in
                    guard state.queue.isInFlight(pod.key) else { return nil }
                    let nodes = max(1, state.snapshot.nodeNames.count)
                    let (decision, examined) = cycle.schedule(pod, in: state.snapshot, tieBreak: UInt64.random(in: 0...UInt64.max),
                                                              startingAt: state.nextStartNode % nodes)
                    state.nextStartNode = (state.nextStartNode + examined) % nodes
                    if case .node(let node) = decision {
                        state.snapshot.place(pod, on: node)
                        state.assumed[pod.key] = pod.uid
                        state.bindsInFlight += 1
                    }
                    return decision
                }
                switch decision {
                case nil:
                    continue
                case .node(let node):
                    group.addTask { await self.bind(pod, to: node) }
                case .unschedulable(let message):
                    state.withLock { state in
                        state.queue.failed(pod.key, now: now)
                        state.failedAttempts += 1
                    }
                    events.record(pod: pod, type: "Warning", reason: "FailedScheduling", message: message)
                    if pod.unschedulableMessage != message {
                        group.addTask { await self.markUnschedulable(pod, message: message) }
                    }
                }
            }
        }
    }

    /// Sleeps until something is added, a bind finishes, or a backoff ends (at most 1 s).
    private func waitForWork() async {
        let delay = state.withLock { state in state.queue.nextWake.map { max(0.001, $0 - now) } } ?? 1
        wake.addAfter(0, delay: min(delay, 1))
        if let key = await wake.next() { wake.done(key) }
    }

    private func poke() {
        wake.add(0)
    }

    private func bind(_ pod: SchedulingPod, to node: String) async {
        let binding: JSONValue = ["apiVersion": "v1", "kind": "Binding",
                                  "metadata": ["name": .string(pod.name), "namespace": .string(pod.namespace), "uid": .string(pod.uid)],
                                  "target": ["apiVersion": "v1", "kind": "Node", "name": .string(node)]]
        do {
            try await podsClient.createSubresource("binding", namespace: pod.namespace, name: pod.name, binding)
            state.withLock { state in
                state.queue.done(pod.key)
                state.scheduled += 1
                state.bindsInFlight -= 1
            }
            events.record(pod: pod, type: "Normal", reason: "Scheduled",
                          message: "Successfully assigned \(pod.namespace)/\(pod.name) to \(node)")
        } catch {
            logger.debug("binding \(pod.key) to \(node) failed: \(error)")
            state.withLock { state in
                state.bindsInFlight -= 1
                // Only this pod's own assumption (not a newer pod of the same name, nor a binding the informer saw).
                if state.assumed[pod.key] == pod.uid {
                    state.assumed[pod.key] = nil
                    state.snapshot.remove(pod: pod.key)
                }
                if error.isNotFound || error.isConflict && error.message.contains("already") {
                    state.queue.remove(pod.key)
                } else {
                    state.queue.failed(pod.key, now: now)
                    state.queue.clusterChanged()
                }
            }
        }
        poke()
    }

    /// Sets the PodScheduled condition to False/Unschedulable with the reason, as kube-scheduler does (only when
    /// the pod does not say so already: a pod retried every few seconds is not rewritten each time).
    private func markUnschedulable(_ pod: SchedulingPod, message: String) async {
        let condition: JSONValue = ["type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": .string(message),
                                    "lastTransitionTime": .string(RFC3339.format(Date().timeIntervalSince1970.rounded(.down)))]
        let patch: JSONValue = ["status": ["conditions": [condition]]]
        _ = try? await podsClient.patch(namespace: pod.namespace, name: pod.name, patch, type: .strategic, subresource: "status")
    }

    private func podChanged(_ event: Informer.Event) {
        switch event {
        case .added(let object), .updated(_, let object):
            let pod = SchedulingPod(object)
            var specChanged = true
            if case .updated(let old, _) = event {
                specChanged = old["spec"] != object["spec"] || old[path: ["metadata", "labels"]] != object[path: ["metadata", "labels"]]
            }
            let terminating = object[path: ["metadata", "deletionTimestamp"]] != nil
            state.withLock { state in
                if !pod.nodeName.isEmpty {
                    state.assumed[pod.key] = nil
                    state.queue.remove(pod.key)
                    let wasTerminal = state.snapshot.placement[pod.key].flatMap { state.snapshot.nodes[$0]?.pods[pod.key]?.isTerminal }
                    state.snapshot.place(pod, on: pod.nodeName)
                    if pod.isTerminal, wasTerminal == false { state.queue.clusterChanged() }
                } else if pod.schedulerName == options.schedulerName, !terminating, !pod.isTerminal {
                    if state.assumed[pod.key] == nil { state.queue.add(pod, specChanged: specChanged) }
                } else {
                    state.queue.remove(pod.key)
                }
            }
            poke()
        case .deleted(let object):
            let key = ObjectCache.key(of: object)
            state.withLock { state in
                state.queue.remove(key)
                state.assumed[key] = nil
                if state.snapshot.placement[key] != nil {
                    state.snapshot.remove(pod: key)
                    state.queue.clusterChanged()
                }
            }
            poke()
        }
    }

    private func nodeChanged(_ event: Informer.Event) {
        state.withLock { state in
            switch event {
            case .added(let object):
                state.snapshot.upsert(node: SchedulingNode(object))
            case .updated(let old, let object):
                let node = SchedulingNode(object)
                state.snapshot.upsert(node: node)
                // A heartbeat (conditions, times) changes nothing a pod could now fit by.
                guard SchedulingNode(old).offers != node.offers else { return }
            case .deleted(let object):
                state.snapshot.remove(node: ObjectCache.key(of: object))
            }
            state.queue.clusterChanged()
        }
        poke()
    }
}
extension SchedulingPod: PodReference {}

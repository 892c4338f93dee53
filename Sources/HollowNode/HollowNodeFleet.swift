import ClusterClient
import Foundation
import Logging
import Resources
import Synchronization

/// Many simulated nodes in one process (kubemark's hollow nodes): each registers its Node with capacity, keeps its
/// Lease in kube-node-lease renewed and its Ready condition fresh, and answers the pods bound to it by reporting
/// them Running with a pod IP (Succeeded for pods meant to exit), and by removing pods being deleted — running
/// nothing. The stand-in for kubelets in scheduler and controller tests and benchmarks.
public final class HollowNodeFleet: Sendable {
    public struct Options: Sendable {
        public var count = 10
        public var namePrefix = "hollow-node-"
        public var cpu = "4"
        public var memory = "32Gi"
        public var pods = 110
        /// How often each node renews its Lease (the node lifecycle controller's grace is 8 s by default).
        public var leaseRenewInterval = 2.0
        /// How long a pod meant to exit runs before it is reported Succeeded.
        public var runSeconds = 1.0
        /// Pod status writes in flight at once.
        public var workers = 32
        /// Extra labels on every node (a zone, say).
        public var labels: [String: String] = [:]
        /// Whether the nodes answer the pods bound to them (false: nodes only, as scheduler_perf's fake nodes).
        public var reportsPods = true

        public init() {}
    }

    public let options: Options
    public let names: [String]
    private let nodes: ResourceClient
    private let leases: ResourceClient
    private let pods: ResourceClient
    private let podInformer: Informer
    private let queue = WorkQueue<String>(baseDelay: 0.05, maxDelay: 10)
    private let logger: Logger
    private let indexByName: [String: Int]
    private let reported = Mutex<Int>(0)

    public init(api: APIClient, options: Options = Options(), logger: Logger = Logger(label: "podium.hollow-nodes")) throws {
        func type(_ group: String, _ plural: String) throws -> ResourceType {
            guard let type = ResourceType.find(group: group, version: "v1", plural: plural) else {
                throw ClusterAccessError("the catalogue lacks \(plural)")
            }
            return type
        }
        guard options.count > 0, options.count <= 65_000 else { throw ClusterAccessError("--count must be 1…65000") }
        nodes = ResourceClient(api, try type("", "nodes"))
        leases = ResourceClient(api, try type("coordination.k8s.io", "leases"))
        pods = ResourceClient(api, try type("", "pods"))
        self.options = options
        self.logger = logger
        names = (0..<options.count).map { "\(options.namePrefix)\($0)" }
        indexByName = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        podInformer = Informer(pods, fieldSelector: "spec.nodeName!=", indexers: [])
        podInformer.addHandler { [weak self] event in
            guard let self else { return }
            switch event {
            case .added(let pod), .updated(_, let pod):
                if let node = pod[path: ["spec", "nodeName"]]?.stringValue, self.indexByName[node] != nil {
                    self.queue.add(ObjectCache.key(of: pod))
                }
            case .deleted:
                break
            }
        }
    }

    /// Pod statuses written so far.
    public var reportedCount: Int { reported.withLock { $0 } }

    /// The address a hollow node reports (10.64.0.0/10, never routed: no packet is ever sent to it).
    func hostIP(_ index: Int) -> String { "10.\(64 + index / 65_536 % 64).\(index / 256 % 256).\(index % 256)" }

    /// Pod IPs from the node's own /24-like range in 10.128.0.0/9, by a per-pod hash (unique enough for a stand-in).
    func podIP(node index: Int, pod key: String) -> String {
        var hash: UInt32 = 2_166_136_261
        for byte in key.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return "10.\(128 + index / 256 % 128).\(index % 256).\(1 + Int(hash % 253))"
    }

    /// Registers every node, then renews Leases and answers pods until cancelled.
    public func run() async throws {
        try await register()
        await withDiscardingTaskGroup { group in
            if options.reportsPods { group.addTask { await self.podInformer.run() } }
            group.addTask { await self.renewLeases() }
            for _ in 0..<(options.reportsPods ? options.workers : 0) {
                group.addTask { await self.work() }
            }
            group.addTask {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                self.queue.shutDown()
            }
        }
    }

    func nodeObject(_ index: Int) -> JSONValue {
        var labels = options.labels
        labels["kubernetes.io/hostname"] = names[index]
        labels["kubernetes.io/os"] = "linux"
        labels["kubernetes.io/arch"] = "amd64"
        labels["podium.dev/hollow"] = "true"
        let resources: JSONValue = ["cpu": .string(options.cpu), "memory": .string(options.memory),
                                    "pods": .string(String(options.pods)), "ephemeral-storage": "100Gi"]
        return ["apiVersion": "v1", "kind": "Node",
                "metadata": ["name": .string(names[index]), "labels": .strings(labels)],
                "spec": [:],
                "status": ["capacity": resources, "allocatable": resources, "phase": "Running",
                           "conditions": .array(conditions()),
                           "addresses": [["type": "InternalIP", "address": .string(hostIP(index))],
                                         ["type": "Hostname", "address": .string(names[index])]],
                           "nodeInfo": ["kubeletVersion": "v1.32.4-podium-hollow", "kubeProxyVersion": "", "operatingSystem": "linux",
                                        "architecture": "amd64", "containerRuntimeVersion": "hollow://0", "osImage": "hollow",
                                        "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": ""]]]
    }

    func conditions() -> [JSONValue] {
        let stamp = RFC3339.format(Date().timeIntervalSince1970.rounded(.down))
        func condition(_ type: String, _ status: String, _ reason: String, _ message: String) -> JSONValue {
            ["type": .string(type), "status": .string(status), "reason": .string(reason), "message": .string(message),
             "lastHeartbeatTime": .string(stamp), "lastTransitionTime": .string(stamp)]
        }
        return [condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status")]
    }

    /// Creates each Node (or, when it exists, writes its status afresh) with a few requests at once.
    func register() async throws {
        try await forEachNode(concurrency: 16) { index in
            let node = self.nodeObject(index)
            let failure: APIError
            do {
                _ = try await self.nodes.create(node)
                return
            } catch let error as APIError {
                failure = error
            }
            guard failure.isAlreadyExists else { throw failure }
            var existing = try await self.nodes.get(namespace: nil, name: self.names[index])
            existing["status"] = node["status"]
            _ = try await self.nodes.updateStatus(existing)
        }
        logger.info("registered \(names.count) hollow nodes")
    }

    /// Renews every node's Lease each interval, spread evenly over it.
    func renewLeases() async {
        var versions = [String](repeating: "", count: names.count)
        let spacing = options.leaseRenewInterval / Double(max(names.count, 1))
        while !Task.isCancelled {
            let roundStart = ContinuousClock.now
            for index in names.indices {
                if Task.isCancelled { return }
                versions[index] = await renewLease(index, version: versions[index])
                let due = roundStart + .milliseconds(Int64(spacing * Double(index + 1) * 1000))
                if due > .now { try? await Task.sleep(until: due) }
            }
        }
    }

    private func renewLease(_ index: Int, version: String) async -> String {
        let name = names[index]
        let now = RFC3339.formatMicro(Date().timeIntervalSince1970)
        var record = LeaseRecord(holderIdentity: name, leaseDurationSeconds: Int((options.leaseRenewInterval * 4).rounded(.up)),
                                 acquireTime: "", renewTime: now, leaseTransitions: 0, resourceVersion: version)
        do {
            if version.isEmpty {
                if let existing = try? await leases.get(namespace: "kube-node-lease", name: name) {
                    record.resourceVersion = LeaseRecord(lease: existing).resourceVersion
                }
            }
            let lease = record.lease(namespace: "kube-node-lease", name: name)
            let stored = record.resourceVersion.isEmpty
                ? try await leases.create(lease, namespace: "kube-node-lease") : try await leases.update(lease)
            return LeaseRecord(lease: stored).resourceVersion
        } catch {
            logger.debug("renewing the lease of \(name): \(error)")
            return ""
        }
    }

    private func work() async {
        while let key = await queue.next() {
            let again = await sync(key)
            queue.done(key)
            switch again {
            case .none: queue.forget(key)
            case .some(let delay) where delay > 0: queue.addAfter(key, delay: delay)
            case .some: queue.addRateLimited(key)
            }
        }
    }

    /// Answers one pod; returns when to look at it again (nil: not needed; 0: after a backoff, it failed).
    private func sync(_ key: String) async -> Double? {
        guard let pod = podInformer.cache.object(forKey: key),
              let node = pod[path: ["spec", "nodeName"]]?.stringValue, let index = indexByName[node] else { return nil }
        let namespace = pod[path: ["metadata", "namespace"]]?.stringValue
        let name = pod[path: ["metadata", "name"]]?.stringValue ?? ""
        let action = HollowPodStatus.next(for: pod, hostIP: hostIP(index), podIP: podIP(node: index, pod: key),
                                          runSeconds: options.runSeconds, now: Date().timeIntervalSince1970)
        do {
            switch action {
            case .nothing:
                return nil
            case .recheck(let after):
                return max(after, 0.01)
            case .delete(let uid):
                try await pods.delete(namespace: namespace, name: name, uid: uid.isEmpty ? nil : uid, gracePeriodSeconds: 0)
                return nil
            case .report(let status):
                var updated = pod
                updated["status"] = status
                _ = try await pods.updateStatus(updated)
                reported.withLock { $0 += 1 }
                return nil
            }
        } catch where error.isNotFound {
            return nil
        } catch where error.isConflict {
            // The informer has (or will have) the newer pod, which queues the key again.
            return nil
        } catch {
            logger.debug("hollow pod \(key): \(error)")
            return 0
        }
    }

    private func forEachNode(concurrency: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            for _ in 0..<min(concurrency, names.count) {
                let index = next
                next += 1
                group.addTask { try await body(index) }
            }
            while try await group.next() != nil {
                guard next < names.count else { continue }
                let index = next
                next += 1
                group.addTask { try await body(index) }
            }
        }
    }
}

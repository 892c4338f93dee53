import Controllers
import Resources

/// An in-memory cluster for controller tests: Deployments, ReplicaSets and pods as the API server would hold
/// them (uids, generations bumped on spec changes, creation times), a kubelet that makes pods ready after a
/// delay, and the two controllers' reconcilers run in an order a seeded generator picks — the lag between a
/// write and the next reader is what a real cluster's informers add.
struct RolloutWorld {
    var deployment: JSONValue
    var sets: [String: JSONValue] = [:]
    var pods: [String: JSONValue] = [:]
    var readyAt: [String: Double] = [:]
    var now: Double = 1_700_000_000
    var random: SplitMix
    var counter = 0
    /// Seconds a new pod takes to become ready (nil: never).
    var readyDelay: ClosedRange<Double>? = 1...4
    var events: [String] = []

    init(deployment: JSONValue, seed: UInt64) {
        var deployment = deployment
        deployment[path: ["metadata", "uid"]] = "deployment-uid"
        deployment[path: ["metadata", "generation"]] = 1
        deployment[path: ["metadata", "namespace"]] = "default"
        self.deployment = deployment
        random = SplitMix(seed: seed)
    }

    static func deployment(replicas: Int, maxSurge: JSONValue = "25%", maxUnavailable: JSONValue = "25%", image: String = "app:1",
                           strategy: String = "RollingUpdate") -> JSONValue {
        var spec: JSONValue = [
            "replicas": .int(Int64(replicas)), "selector": ["matchLabels": ["app": "web"]],
            "strategy": ["type": .string(strategy)],
            "template": ["metadata": ["labels": ["app": "web"]], "spec": ["containers": [["name": "web", "image": .string(image)]]]],
            "revisionHistoryLimit": 2, "progressDeadlineSeconds": 60,
        ]
        if strategy == "RollingUpdate" {
            spec[path: ["strategy", "rollingUpdate"]] = ["maxSurge": maxSurge, "maxUnavailable": maxUnavailable]
        }
        return ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "web"], "spec": spec]
    }

    mutating func uid() -> String {
        counter += 1
        return "uid-\(counter)"
    }

    var activePods: [PodView] { pods.values.map(PodView.init).filter(\.isActive) }

    // MARK: The Deployment controller

    mutating func runDeployment() {
        var running: [String: Int] = [:]
        for pod in pods.values.map(PodView.init) where pod.phase != "Succeeded" && pod.phase != "Failed" {
            if let owner = pod.controller { running[owner.uid, default: 0] += 1 }
        }
        let actions = DeploymentReconciler().reconcile(deployment, replicaSets: Array(sets.values), runningPods: running, now: now)
        for action in actions {
            switch action {
            case .adopt(let set):
                var set = set
                set[path: ["metadata", "ownerReferences"]] = [["apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                                               "uid": "deployment-uid", "controller": true]]
                sets[set[path: ["metadata", "name"]]?.stringValue ?? ""] = set
            case .createReplicaSet(var set):
                let name = set[path: ["metadata", "name"]]?.stringValue ?? ""
                guard sets[name] == nil else { continue }
                set[path: ["metadata", "uid"]] = .string(uid())
                set[path: ["metadata", "generation"]] = 1
                set[path: ["metadata", "creationTimestamp"]] = .string(RFC3339.format(now))
                sets[name] = set
            case .updateReplicaSet(var set):
                let name = set[path: ["metadata", "name"]]?.stringValue ?? ""
                guard let old = sets[name] else { continue }
                set["status"] = old["status"]
                if set["spec"] != old["spec"] {
                    set[path: ["metadata", "generation"]] = .int((old[path: ["metadata", "generation"]]?.intValue ?? 1) + 1)
                }
                sets[name] = set
            case .deleteReplicaSet(let name, _):
                sets[name] = nil
                events.append("deleted \(name)")
            case .updateDeployment(var object):
                object["status"] = deployment["status"]
                if object["spec"] != deployment["spec"] {
                    object[path: ["metadata", "generation"]] = .int((deployment[path: ["metadata", "generation"]]?.intValue ?? 1) + 1)
                }
                deployment = object
            case .updateStatus(let status):
                deployment["status"] = status
            case .event(_, let reason, let message):
                events.append("\(reason): \(message)")
            case .requeue:
                break
            }
        }
    }

    // MARK: The ReplicaSet controller

    mutating func runReplicaSet(_ name: String) {
        guard let set = sets[name] else { return }
        let input = ReplicaSetReconciler.Input(set: set, pods: pods.values.map(PodView.init), expectationsSatisfied: true, now: now)
        for action in ReplicaSetReconciler().reconcile(input) {
            switch action {
            case .create(let count):
                for _ in 0..<count {
                    var pod = ReplicaSetReconciler.pod(for: set)
                    counter += 1
                    let podName = name + "-" + String(counter)
                    pod[path: ["metadata", "name"]] = .string(podName)
                    pod[path: ["metadata", "uid"]] = .string("pod-\(counter)")
                    pod[path: ["metadata", "creationTimestamp"]] = .string(RFC3339.format(now))
                    pods[podName] = pod
                    if let delay = readyDelay { readyAt[podName] = now + random.next(in: delay).rounded() }
                }
            case .delete(let victims):
                for victim in victims { pods[victim.name]?[path: ["metadata", "deletionTimestamp"]] = .string(RFC3339.format(now)) }
            case .updateStatus(let status):
                sets[name]?["status"] = status
            case .adopt, .release, .requeue:
                break
            }
        }
    }

    // MARK: The kubelet

    mutating func runKubelet() {
        for (name, pod) in pods {
            if pod[path: ["metadata", "deletionTimestamp"]] != nil {
                if random.next(in: 0...1) < 0.5 { pods[name] = nil }
                continue
            }
            if let at = readyAt[name], at <= now, pod[path: ["status", "phase"]] != "Running" {
                pods[name]?["status"] = ["phase": "Running",
                                         "conditions": [["type": "Ready", "status": "True", "lastTransitionTime": .string(RFC3339.format(now))]]]
            }
        }
    }

    /// One random thing happens, and a second passes.
    mutating func step() {
        let choice = random.next(in: 0...1)
        if choice < 0.3 {
            runDeployment()
        } else if choice < 0.8, let name = sets.keys.sorted().randomElement(using: &random) {
            runReplicaSet(name)
        } else {
            runKubelet()
        }
        now += 1
    }

    var isComplete: Bool {
        let status = deployment["status"] ?? [:]
        let replicas = deployment[path: ["spec", "replicas"]]?.intValue ?? 1
        return status["updatedReplicas"]?.intValue == replicas && status["availableReplicas"]?.intValue == replicas
            && status["replicas"]?.intValue == replicas && status["observedGeneration"] == deployment[path: ["metadata", "generation"]]
    }

    /// Steps until the rollout is complete and every pod left is the template's, or `limit` steps.
    mutating func settle(limit: Int = 5_000, check: (RolloutWorld) -> Void = { _ in }) -> Bool {
        for _ in 0..<limit {
            step()
            check(self)
            if isComplete && activePods.count == Int(deployment[path: ["spec", "replicas"]]?.intValue ?? 1) { return true }
        }
        return false
    }

    mutating func setImage(_ image: String) {
        deployment[path: ["spec", "template", "spec", "containers"]] = [["name": "web", "image": .string(image)]]
        deployment[path: ["metadata", "generation"]] = .int((deployment[path: ["metadata", "generation"]]?.intValue ?? 1) + 1)
    }
}

/// A small seeded generator (SplitMix64), so that every schedule can be replayed from its seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + Double(next() >> 11) / Double(1 << 53) * (range.upperBound - range.lowerBound)
    }
}

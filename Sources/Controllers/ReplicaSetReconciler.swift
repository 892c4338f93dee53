import Resources

/// The ReplicaSet controller's decision for one ReplicaSet, pure: which pods to adopt or release (by selector),
/// how many to create or which to delete to reach spec.replicas, and the status to report. It acts on its pods
/// only while its expectations are met (the cache shows its own earlier writes), and it creates at most
/// `burstReplicas` pods per round, as Kubernetes does.
public struct ReplicaSetReconciler: Sendable {
    public static let burstReplicas = 500

    public enum Action: Sendable, Equatable {
        /// Set this ReplicaSet as the pod's controller (an orphan its selector matches).
        case adopt(PodView)
        /// Drop the reference to this ReplicaSet from a pod its selector no longer matches.
        case release(PodView)
        /// Create this many pods from the template.
        case create(Int)
        /// Delete these pods (most deletable first).
        case delete([PodView])
        case updateStatus(JSONValue)
        /// Look again after this many seconds (a pod becomes available then).
        case requeue(after: Double)
    }

    public struct Input: Sendable {
        public var set: JSONValue
        /// The pods of the namespace its selector matches or that name it as controller.
        public var pods: [PodView]
        public var expectationsSatisfied: Bool
        /// Keys of pods this controller is deleting (not yet shown so): they count no more.
        public var deleting: Set<String>
        /// The last pod creation's failure, reported as the ReplicaFailure condition.
        public var createFailure: String?
        /// Wall-clock seconds.
        public var now: Double

        public init(set: JSONValue, pods: [PodView], expectationsSatisfied: Bool, deleting: Set<String> = [],
                    createFailure: String? = nil, now: Double) {
            self.set = set
            self.pods = pods
            self.expectationsSatisfied = expectationsSatisfied
            self.deleting = deleting
            self.createFailure = createFailure
            self.now = now
        }
    }

    public init() {}

    public func reconcile(_ input: Input) -> [Action] {
        let set = input.set
        let uid = set[path: ["metadata", "uid"]]?.stringValue ?? ""
        let deleting = set[path: ["metadata", "deletionTimestamp"]] != nil
        guard let selector = try? LabelSelector(object: set[path: ["spec", "selector"]]), !selector.isEverything else {
            return []
        }
        var actions: [Action] = []
        var owned: [PodView] = []
        for pod in input.pods where pod.isActive && !input.deleting.contains(pod.key) {
            let matches = selector.matches(pod.labels)
            if let controller = pod.controller {
                guard controller.uid == uid else { continue }
                if matches || deleting {
                    owned.append(pod)
                } else {
                    actions.append(.release(pod))
                }
            } else if matches && !deleting {
                actions.append(.adopt(pod))
                owned.append(pod)
            }
        }
        let replicas = Int(set[path: ["spec", "replicas"]]?.intValue ?? 1)
        var remaining = owned
        if input.expectationsSatisfied && !deleting {
            let difference = owned.count - replicas
            if difference < 0 {
                actions.append(.create(min(-difference, Self.burstReplicas)))
            } else if difference > 0 {
                let victims = Array(owned.sorted(by: PodView.deletesBefore).prefix(min(difference, Self.burstReplicas)))
                actions.append(.delete(victims))
                let gone = Set(victims.map(\.uid))
                remaining = owned.filter { !gone.contains($0.uid) }
            }
        }
        let minReady = Int(set[path: ["spec", "minReadySeconds"]]?.intValue ?? 0)
        // The status counts the pods as this round leaves them, so that no reader sees pods being deleted as
        // available.
        let status = Self.status(of: set, owned: remaining, createFailure: input.createFailure, now: input.now)
        if status != (set["status"] ?? [:]) { actions.append(.updateStatus(status)) }
        if minReady > 0 {
            // The earliest moment a ready pod becomes available.
            let next = remaining.compactMap { pod -> Double? in
                guard let since = pod.readySince, !pod.isAvailable(minReadySeconds: minReady, now: input.now) else { return nil }
                return since + Double(minReady) - input.now
            }.min()
            if let next { actions.append(.requeue(after: max(next, 0.05))) }
        }
        return actions
    }

    static func status(of set: JSONValue, owned: [PodView], createFailure: String?, now: Double) -> JSONValue {
        let minReady = Int(set[path: ["spec", "minReadySeconds"]]?.intValue ?? 0)
        let templateLabels = set[path: ["spec", "template", "metadata", "labels"]]?.stringMap ?? [:]
        let fullyLabeled = owned.filter { pod in templateLabels.allSatisfy { pod.labels[$0.key] == $0.value } }.count
        let ready = owned.filter(\.isReady).count
        let available = owned.filter { $0.isAvailable(minReadySeconds: minReady, now: now) }.count
        var status: JSONValue = ["replicas": .int(Int64(owned.count))]
        if fullyLabeled > 0 { status["fullyLabeledReplicas"] = .int(Int64(fullyLabeled)) }
        if ready > 0 { status["readyReplicas"] = .int(Int64(ready)) }
        if available > 0 { status["availableReplicas"] = .int(Int64(available)) }
        if let generation = set[path: ["metadata", "generation"]]?.intValue { status["observedGeneration"] = .int(generation) }
        let previous = (set[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"] == "ReplicaFailure" }
        if let createFailure {
            let since = previous?["status"] == "True" ? previous?["lastTransitionTime"] ?? .string(RFC3339.format(now)) : .string(RFC3339.format(now))
            status["conditions"] = [["type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                                     "message": .string(createFailure), "lastTransitionTime": since]]
        }
        return status
    }

    /// A pod for `set` from its template: named after the set (the API server adds a random suffix), with the
    /// template's labels and annotations and the set as controller.
    public static func pod(for set: JSONValue) -> JSONValue {
        let template = set[path: ["spec", "template"]] ?? [:]
        var metadata: JSONValue = [
            "generateName": .string((set[path: ["metadata", "name"]]?.stringValue ?? "pod") + "-"),
            "namespace": set[path: ["metadata", "namespace"]] ?? "default",
            "ownerReferences": [OwnerReference(controllerOf: set, apiVersion: "apps/v1", kind: "ReplicaSet").json],
        ]
        if let labels = template[path: ["metadata", "labels"]] { metadata["labels"] = labels }
        if let annotations = template[path: ["metadata", "annotations"]] { metadata["annotations"] = annotations }
        if let finalizers = template[path: ["metadata", "finalizers"]] { metadata["finalizers"] = finalizers }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"] ?? [:]]
    }
}

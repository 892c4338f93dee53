import Resources

/// The StatefulSet controller's decision for one set, pure: pods with stable names `name-0…name-(n-1)`, each
/// with its hostname, subdomain and PersistentVolumeClaims from volumeClaimTemplates; OrderedReady creates them
/// one at a time in ordinal order (each waits for the one before to be Running and Ready) and removes extra ones
/// from the highest ordinal down, Parallel does both at once; RollingUpdate replaces pods of an old revision one
/// at a time from the highest ordinal down to `partition`. Revisions are `name-<template hash>` in the
/// controller-revision-hash label, reported as currentRevision / updateRevision.
public struct StatefulSetReconciler: Sendable {
    public static let revisionLabel = "controller-revision-hash"
    public static let podNameLabel = "statefulset.kubernetes.io/pod-name"
    public static let podIndexLabel = "apps.kubernetes.io/pod-index"

    public enum Action: Sendable, Equatable {
        /// Create the claims (those that exist already are fine), then the pod.
        case create(pod: JSONValue, claims: [JSONValue])
        case delete(PodView)
        case updateStatus(JSONValue)
        case requeue(after: Double)
    }

    public init() {}

    public static func revision(of set: JSONValue) -> String {
        (set[path: ["metadata", "name"]]?.stringValue ?? "") + "-" + PodTemplateHash.of(set[path: ["spec", "template"]] ?? [:], collisionCount: nil)
    }

    static func ordinal(of pod: PodView, set name: String) -> Int? {
        guard pod.name.hasPrefix(name + "-") else { return nil }
        return Int(pod.name.dropFirst(name.count + 1))
    }

    /// - Parameters: `pods` are the pods the set controls; `now` is wall-clock seconds.
    public func reconcile(_ set: JSONValue, pods: [PodView], expectationsSatisfied: Bool, now: Double) -> [Action] {
        let name = set[path: ["metadata", "name"]]?.stringValue ?? ""
        let replicas = Int(set[path: ["spec", "replicas"]]?.intValue ?? 1)
        let parallel = set[path: ["spec", "podManagementPolicy"]]?.stringValue == "Parallel"
        let minReady = Int(set[path: ["spec", "minReadySeconds"]]?.intValue ?? 0)
        let updateRevision = Self.revision(of: set)
        let rolling = (set[path: ["spec", "updateStrategy", "type"]]?.stringValue ?? "RollingUpdate") == "RollingUpdate"
        let partition = Int(set[path: ["spec", "updateStrategy", "rollingUpdate", "partition"]]?.intValue ?? 0)
        var byOrdinal: [Int: PodView] = [:]
        for pod in pods { if let ordinal = Self.ordinal(of: pod, set: name) { byOrdinal[ordinal] = pod } }
        func healthy(_ pod: PodView) -> Bool { pod.isActive && pod.phase == "Running" && pod.isAvailable(minReadySeconds: minReady, now: now) }
        func revision(_ pod: PodView) -> String { pod.labels[Self.revisionLabel] ?? "" }

        var actions: [Action] = []
        if expectationsSatisfied && set[path: ["metadata", "deletionTimestamp"]] == nil {
            var blocked = false
            for ordinal in 0..<replicas where !blocked || parallel {
                guard let pod = byOrdinal[ordinal] else {
                    actions.append(.create(pod: Self.pod(for: set, ordinal: ordinal, revision: updateRevision),
                                           claims: Self.claims(for: set, ordinal: ordinal)))
                    blocked = true
                    continue
                }
                if pod.phase == "Failed" || pod.phase == "Succeeded" {
                    if !pod.isTerminating { actions.append(.delete(pod)) }
                    blocked = true
                } else if !healthy(pod) {
                    blocked = true
                }
            }
            let condemned = byOrdinal.filter { $0.key >= replicas }.sorted { $0.key > $1.key }.map(\.value)
            if !blocked || parallel {
                for pod in condemned where !pod.isTerminating {
                    actions.append(.delete(pod))
                    if !parallel { break }
                }
                if !parallel && condemned.contains(where: \.isTerminating) { blocked = true }
            }
            let settled = !blocked && condemned.isEmpty && (0..<replicas).allSatisfy { byOrdinal[$0].map(healthy) ?? false }
            if rolling && settled {
                // One pod of an old revision at a time, highest ordinal first, down to the partition.
                for ordinal in stride(from: replicas - 1, through: max(partition, 0), by: -1) {
                    guard let pod = byOrdinal[ordinal], revision(pod) != updateRevision else { continue }
                    actions.append(.delete(pod))
                    break
                }
            }
        }
        let active = byOrdinal.values.filter(\.isActive)
        let updated = active.filter { revision($0) == updateRevision }.count
        var currentRevision = set[path: ["status", "currentRevision"]]?.stringValue ?? updateRevision
        if updated == replicas && active.count == replicas { currentRevision = updateRevision }
        var status: JSONValue = [
            "replicas": .int(Int64(active.count)),
            "readyReplicas": .int(Int64(active.filter(\.isReady).count)),
            "availableReplicas": .int(Int64(active.filter { $0.isAvailable(minReadySeconds: minReady, now: now) }.count)),
            "currentReplicas": .int(Int64(active.filter { revision($0) == currentRevision }.count)),
            "updatedReplicas": .int(Int64(updated)),
            "currentRevision": .string(currentRevision), "updateRevision": .string(updateRevision),
            "collisionCount": set[path: ["status", "collisionCount"]] ?? 0,
        ]
        if let generation = set[path: ["metadata", "generation"]] { status["observedGeneration"] = generation }
        if status != (set["status"] ?? [:]) { actions.append(.updateStatus(status)) }
        if minReady > 0, let next = active.compactMap({ pod -> Double? in
            guard let since = pod.readySince, !pod.isAvailable(minReadySeconds: minReady, now: now) else { return nil }
            return since + Double(minReady) - now
        }).min() {
            actions.append(.requeue(after: max(next, 0.05)))
        }
        return actions
    }

    /// Pod `ordinal` of the set: its stable name, hostname and subdomain, labels naming it, its claims mounted.
    public static func pod(for set: JSONValue, ordinal: Int, revision: String) -> JSONValue {
        let name = set[path: ["metadata", "name"]]?.stringValue ?? ""
        let podName = "\(name)-\(ordinal)"
        let template = set[path: ["spec", "template"]] ?? [:]
        var labels = template[path: ["metadata", "labels"]]?.stringMap ?? [:]
        labels[revisionLabel] = revision
        labels[podNameLabel] = podName
        labels[podIndexLabel] = String(ordinal)
        var metadata: JSONValue = [
            "name": .string(podName), "namespace": set[path: ["metadata", "namespace"]] ?? "default", "labels": .strings(labels),
            "ownerReferences": [OwnerReference(controllerOf: set, apiVersion: "apps/v1", kind: "StatefulSet").json],
        ]
        if let annotations = template[path: ["metadata", "annotations"]] { metadata["annotations"] = annotations }
        var spec = template["spec"] ?? [:]
        spec["hostname"] = .string(podName)
        if let service = set[path: ["spec", "serviceName"]]?.stringValue, !service.isEmpty { spec["subdomain"] = .string(service) }
        var volumes = spec["volumes"]?.arrayValue ?? []
        for claim in set[path: ["spec", "volumeClaimTemplates"]]?.arrayValue ?? [] {
            let claimName = claim[path: ["metadata", "name"]]?.stringValue ?? ""
            volumes.removeAll { $0["name"]?.stringValue == claimName }
            volumes.append(["name": .string(claimName), "persistentVolumeClaim": ["claimName": .string("\(claimName)-\(podName)")]])
        }
        if !volumes.isEmpty { spec["volumes"] = .array(volumes) }
        return ["apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec]
    }

    /// The PersistentVolumeClaims pod `ordinal` needs: `<template>-<set>-<ordinal>`, kept when the pod goes.
    public static func claims(for set: JSONValue, ordinal: Int) -> [JSONValue] {
        let name = set[path: ["metadata", "name"]]?.stringValue ?? ""
        return (set[path: ["spec", "volumeClaimTemplates"]]?.arrayValue ?? []).map { template in
            var claim = template
            let claimName = template[path: ["metadata", "name"]]?.stringValue ?? ""
            claim["apiVersion"] = "v1"
            claim["kind"] = "PersistentVolumeClaim"
            claim[path: ["metadata", "name"]] = .string("\(claimName)-\(name)-\(ordinal)")
            claim[path: ["metadata", "namespace"]] = set[path: ["metadata", "namespace"]] ?? "default"
            var labels = template[path: ["metadata", "labels"]]?.stringMap ?? [:]
            for (key, value) in set[path: ["spec", "selector", "matchLabels"]]?.stringMap ?? [:] { labels[key] = value }
            claim[path: ["metadata", "labels"]] = .strings(labels)
            claim["status"] = nil
            return claim
        }
    }
}

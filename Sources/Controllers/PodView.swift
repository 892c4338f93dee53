import Resources

/// What controllers read of a pod: identity, labels, owner, phase and readiness. A value, made once per pod per
/// reconcile, so that ranking and counting are cheap and pure.
public struct PodView: Sendable, Equatable {
    public let object: JSONValue
    public let namespace: String
    public let name: String
    public let uid: String
    public let resourceVersion: String
    public let labels: [String: String]
    public let controller: OwnerReference?
    public let nodeName: String?
    public let phase: String
    public let isTerminating: Bool
    /// When the pod was created (wall-clock seconds).
    public let created: Double
    /// Since when it has been Ready (the Ready condition's lastTransitionTime), nil when not ready.
    public let readySince: Double?
    public let restarts: Int

    public init(_ object: JSONValue) {
        self.object = object
        let metadata = object["metadata"]
        namespace = metadata?["namespace"]?.stringValue ?? ""
        name = metadata?["name"]?.stringValue ?? ""
        uid = metadata?["uid"]?.stringValue ?? ""
        resourceVersion = metadata?["resourceVersion"]?.stringValue ?? ""
        labels = metadata?["labels"]?.stringMap ?? [:]
        controller = OwnerReference.controller(of: object)
        nodeName = object[path: ["spec", "nodeName"]]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        phase = object[path: ["status", "phase"]]?.stringValue ?? "Pending"
        isTerminating = metadata?["deletionTimestamp"] != nil
        created = metadata?["creationTimestamp"]?.stringValue.flatMap(RFC3339.parse) ?? 0
        let ready = (object[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"] == "Ready" }
        if ready?["status"] == "True" {
            readySince = ready?["lastTransitionTime"]?.stringValue.flatMap(RFC3339.parse) ?? created
        } else {
            readySince = nil
        }
        restarts = (object[path: ["status", "containerStatuses"]]?.arrayValue ?? [])
            .reduce(0) { $0 + Int($1["restartCount"]?.intValue ?? 0) }
    }

    public var key: String { namespace + "/" + name }

    /// Counts toward a controller's replicas: not finished, not being deleted.
    public var isActive: Bool { !isTerminating && phase != "Succeeded" && phase != "Failed" }

    public var isReady: Bool { readySince != nil }

    /// Ready for at least `minReadySeconds` at `now` (Kubernetes' "available").
    public func isAvailable(minReadySeconds: Int, now: Double) -> Bool {
        guard let readySince else { return false }
        return minReadySeconds == 0 || readySince + Double(minReadySeconds) <= now
    }

    /// Kubernetes' order for choosing pods to delete when scaling down, most deletable first: unassigned before
    /// assigned, Pending before Unknown before Running, not ready before ready, ready for less time before
    /// longer, more restarts before fewer, newer before older.
    public static func deletesBefore(_ a: PodView, _ b: PodView) -> Bool {
        if (a.nodeName == nil) != (b.nodeName == nil) { return a.nodeName == nil }
        let rank = ["Pending": 0, "Unknown": 1, "Running": 2]
        let (phaseA, phaseB) = (rank[a.phase] ?? 0, rank[b.phase] ?? 0)
        if phaseA != phaseB { return phaseA < phaseB }
        if a.isReady != b.isReady { return !a.isReady }
        if let readyA = a.readySince, let readyB = b.readySince, readyA != readyB { return readyA > readyB }
        if a.restarts != b.restarts { return a.restarts > b.restarts }
        if a.created != b.created { return a.created > b.created }
        return a.name > b.name
    }
}

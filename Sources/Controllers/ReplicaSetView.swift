import Resources

/// What the Deployment controller reads of a ReplicaSet: its size (wanted and reported), its revision, and its
/// template without the pod-template-hash label (to find the one that matches the Deployment's template).
public struct ReplicaSetView: Sendable, Equatable {
    public static let revisionAnnotation = "deployment.kubernetes.io/revision"
    public static let hashLabel = "pod-template-hash"

    public let object: JSONValue
    public let name: String
    public let uid: String
    public let replicas: Int
    public let reportedReplicas: Int
    public let readyReplicas: Int
    public let availableReplicas: Int
    public let revision: Int
    public let created: Double
    public let isTerminating: Bool
    /// Its controller has not yet reported on its latest spec.
    public let statusIsStale: Bool
    public let controller: OwnerReference?
    public let labels: [String: String]
    /// `spec.template` with the pod-template-hash label removed.
    public let templateWithoutHash: JSONValue

    public init(_ object: JSONValue) {
        self.object = object
        let metadata = object["metadata"]
        name = metadata?["name"]?.stringValue ?? ""
        uid = metadata?["uid"]?.stringValue ?? ""
        replicas = Int(object[path: ["spec", "replicas"]]?.intValue ?? 1)
        reportedReplicas = Int(object[path: ["status", "replicas"]]?.intValue ?? 0)
        // A status older than the spec (the set was just scaled down and its controller has not caught up) may
        // count pods that are about to go: it is read as no more than the spec.
        let stale = (object[path: ["status", "observedGeneration"]]?.intValue ?? 0) < (metadata?["generation"]?.intValue ?? 0)
        let ready = Int(object[path: ["status", "readyReplicas"]]?.intValue ?? 0)
        let available = Int(object[path: ["status", "availableReplicas"]]?.intValue ?? 0)
        statusIsStale = stale
        readyReplicas = stale ? min(ready, replicas) : ready
        availableReplicas = stale ? min(available, replicas) : available
        revision = metadata?["annotations"]?[Self.revisionAnnotation]?.stringValue.flatMap { Int($0) } ?? 0
        created = metadata?["creationTimestamp"]?.stringValue.flatMap(RFC3339.parse) ?? 0
        isTerminating = metadata?["deletionTimestamp"] != nil
        controller = OwnerReference.controller(of: object)
        labels = metadata?["labels"]?.stringMap ?? [:]
        templateWithoutHash = Self.withoutHash(object[path: ["spec", "template"]] ?? [:])
    }

    /// The pod count this set may have at most right now: what it wants, or what it last reported if its pods
    /// are still going away.
    public var podsAtMost: Int { max(replicas, reportedReplicas) }

    static func withoutHash(_ template: JSONValue) -> JSONValue {
        var template = template
        template[path: ["metadata", "labels", hashLabel]] = nil
        if template[path: ["metadata", "labels"]]?.objectValue?.isEmpty == true { template[path: ["metadata", "labels"]] = nil }
        return template
    }

    /// Oldest first (then by name), the order Kubernetes scales old sets down in.
    public static func olderFirst(_ a: ReplicaSetView, _ b: ReplicaSetView) -> Bool {
        a.created != b.created ? a.created < b.created : a.name < b.name
    }
}

/// A rolling update's `maxSurge`/`maxUnavailable`: a count or a percentage of the replicas.
public enum IntOrPercent: Sendable, Equatable {
    case count(Int)
    case percent(Int)

    public init?(_ json: JSONValue?) {
        switch json {
        case .int(let value)?:
            self = .count(Int(value))
        case .string(let text)? where text.hasSuffix("%"):
            guard let value = Int(text.dropLast()) else { return nil }
            self = .percent(value)
        case .string(let text)?:
            guard let value = Int(text) else { return nil }
            self = .count(value)
        default:
            return nil
        }
    }

    /// The count for `total` replicas, a percentage rounded up or down.
    public func resolve(_ total: Int, roundUp: Bool) -> Int {
        switch self {
        case .count(let value): return max(0, value)
        case .percent(let percent):
            let scaled = max(0, percent) * total
            return roundUp ? (scaled + 99) / 100 : scaled / 100
        }
    }
}

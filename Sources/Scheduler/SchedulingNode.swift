import Resources

/// A node's taint.
public struct NodeTaint: Sendable, Equatable {
    public var key: String
    public var value: String
    /// NoSchedule, PreferNoSchedule or NoExecute.
    public var effect: String

    public init(key: String, value: String = "", effect: String) {
        self.key = key
        self.value = value
        self.effect = effect
    }
}

/// A node as the scheduler sees it: what it offers (allocatable, labels, taints) and what is placed on it
/// (requests of its pods, bound or assumed, host ports in use, and the pods themselves for affinity and spread).
public struct SchedulingNode: Sendable {
    public var name: String
    public var labels: [String: String]
    public var allocatable: ResourceAmounts
    public var taints: [NodeTaint]
    public var unschedulable: Bool
    public private(set) var requested = ResourceAmounts()
    /// The requests with Kubernetes' non-zero defaults for pods that request nothing (100m CPU, 200 MiB), which the
    /// spreading scores use so that request-less pods still spread.
    public private(set) var requestedForScoring = ResourceAmounts()
    public private(set) var hostPorts: [SchedulingPod.HostPort] = []
    public private(set) var pods: [String: SchedulingPod] = [:]

    public init(name: String, labels: [String: String] = [:], allocatable: ResourceAmounts, taints: [NodeTaint] = [],
                unschedulable: Bool = false) {
        self.name = name
        self.labels = labels
        self.allocatable = allocatable
        self.taints = taints
        self.unschedulable = unschedulable
    }

    public init(_ node: JSONValue) {
        let metadata = node["metadata"]
        let spec = node["spec"]
        self.init(name: metadata?["name"]?.stringValue ?? "", labels: metadata?["labels"]?.stringMap ?? [:],
                  allocatable: ResourceAmounts(list: node[path: ["status", "allocatable"]]),
                  taints: (spec?["taints"]?.arrayValue ?? []).map { taint in
                      NodeTaint(key: taint["key"]?.stringValue ?? "", value: taint["value"]?.stringValue ?? "",
                                effect: taint["effect"]?.stringValue ?? "")
                  },
                  unschedulable: spec?["unschedulable"]?.boolValue ?? false)
    }

    /// What pods are placed by: labels, allocatable, taints, and whether it is cordoned.
    var offers: Offer { Offer(labels: labels, allocatable: allocatable, taints: taints, unschedulable: unschedulable) }

    struct Offer: Equatable {
        var labels: [String: String]
        var allocatable: ResourceAmounts
        var taints: [NodeTaint]
        var unschedulable: Bool
    }

    /// Keeps what is placed on the node when its Node object changes.
    public mutating func update(from node: SchedulingNode) {
        labels = node.labels
        allocatable = node.allocatable
        taints = node.taints
        unschedulable = node.unschedulable
    }

    static let defaultMilliCPU: Int64 = 100
    static let defaultMemory: Int64 = 200 << 20

    /// Places `pod` here (bound or assumed); placing it twice counts it once.
    public mutating func add(_ pod: SchedulingPod) {
        if pods[pod.key] != nil { remove(pod.key) }
        pods[pod.key] = pod
        guard !pod.isTerminal else { return }
        requested = requested + pod.requests
        requestedForScoring = requestedForScoring + Self.scoringRequests(pod.requests)
        hostPorts += pod.hostPorts
    }

    public mutating func remove(_ key: String) {
        guard let pod = pods.removeValue(forKey: key) else { return }
        guard !pod.isTerminal else { return }
        requested = requested - pod.requests
        requestedForScoring = requestedForScoring - Self.scoringRequests(pod.requests)
        for port in pod.hostPorts {
            if let index = hostPorts.firstIndex(of: port) { hostPorts.remove(at: index) }
        }
    }

    static func scoringRequests(_ requests: ResourceAmounts) -> ResourceAmounts {
        var scoring = requests
        if scoring.milliCPU == 0 { scoring.milliCPU = defaultMilliCPU }
        if scoring.memory == 0 { scoring.memory = defaultMemory }
        return scoring
    }
}

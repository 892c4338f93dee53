import Resources

/// What the scheduler reads of a Pod, extracted once from its JSON when the pod enters the queue or the cache.
public struct SchedulingPod: Sendable {
    public struct HostPort: Sendable, Hashable {
        public var port: Int64
        public var proto: String
        public var hostIP: String
    }

    public struct Toleration: Sendable, Equatable {
        public var key: String
        /// "Equal" or "Exists".
        public var op: String
        public var value: String
        /// "" tolerates every effect.
        public var effect: String
        public var tolerationSeconds: Int64?

        public init(key: String, op: String = "Equal", value: String = "", effect: String = "", tolerationSeconds: Int64? = nil) {
            self.key = key
            self.op = op
            self.value = value
            self.effect = effect
            self.tolerationSeconds = tolerationSeconds
        }

        /// Kubernetes' ToleratesTaint: an empty key with Exists tolerates everything.
        public func tolerates(_ taint: NodeTaint) -> Bool {
            if !effect.isEmpty, effect != taint.effect { return false }
            if !key.isEmpty, key != taint.key { return false }
            switch op {
            case "Exists": return true
            case "", "Equal": return value == taint.value
            default: return false
            }
        }
    }

    /// A required pod anti-affinity term: no pod matching `selector` (in `namespaces`) in the same `topologyKey` domain.
    public struct AntiAffinityTerm: Sendable {
        public var selector: LabelSelector
        public var namespaces: Set<String>
        public var topologyKey: String
    }

    /// A topologySpreadConstraint.
    public struct SpreadConstraint: Sendable {
        public var maxSkew: Int
        public var topologyKey: String
        /// DoNotSchedule (a filter) or ScheduleAnyway (a score).
        public var hard: Bool
        public var selector: LabelSelector
    }

    public var namespace: String
    public var name: String
    public var uid: String
    public var schedulerName: String
    public var priority: Int64
    public var nodeName: String
    public var labels: [String: String]
    public var requests: ResourceAmounts
    public var nodeSelector: [String: String]
    /// Required node affinity: OR of terms, each an AND of requirements; nil: none.
    public var requiredNodeAffinity: [NodeSelectorTerm]?
    public var tolerations: [Toleration]
    public var hostPorts: [HostPort]
    public var antiAffinity: [AntiAffinityTerm]
    public var spreadConstraints: [SpreadConstraint]
    /// The controller owning it (uid), for spreading a ReplicaSet's or StatefulSet's pods.
    public var controllerUID: String?
    /// Whether it has finished (Succeeded/Failed): it no longer holds resources on its node.
    public var isTerminal: Bool
    /// The message of its PodScheduled=False condition, if it has one: a failed attempt that would write the same
    /// condition again writes nothing.
    public var unschedulableMessage: String?

    public var key: String { namespace + "/" + name }

    public init(_ pod: JSONValue) {
        let metadata = pod["metadata"]
        let spec = pod["spec"]
        namespace = metadata?["namespace"]?.stringValue ?? "default"
        name = metadata?["name"]?.stringValue ?? ""
        uid = metadata?["uid"]?.stringValue ?? ""
        labels = metadata?["labels"]?.stringMap ?? [:]
        schedulerName = spec?["schedulerName"]?.stringValue ?? "default-scheduler"
        priority = spec?["priority"]?.intValue ?? 0
        nodeName = spec?["nodeName"]?.stringValue ?? ""
        nodeSelector = spec?["nodeSelector"]?.stringMap ?? [:]
        let phase = pod[path: ["status", "phase"]]?.stringValue
        isTerminal = phase == "Succeeded" || phase == "Failed"
        unschedulableMessage = (pod[path: ["status", "conditions"]]?.arrayValue ?? [])
            .first { $0["type"]?.stringValue == "PodScheduled" && $0["status"]?.stringValue == "False" }
            .map { $0["message"]?.stringValue ?? "" }

        var appRequests = ResourceAmounts()
        var ports: [HostPort] = []
        for container in spec?["containers"]?.arrayValue ?? [] {
            appRequests = appRequests + ResourceAmounts(list: container[path: ["resources", "requests"]])
            for port in container["ports"]?.arrayValue ?? [] {
                guard let hostPort = port["hostPort"]?.intValue, hostPort > 0 else { continue }
                ports.append(HostPort(port: hostPort, proto: port["protocol"]?.stringValue ?? "TCP",
                                      hostIP: port["hostIP"]?.stringValue ?? "0.0.0.0"))
            }
        }
        var initRequests = ResourceAmounts()
        for container in spec?["initContainers"]?.arrayValue ?? [] {
            initRequests = initRequests.max(ResourceAmounts(list: container[path: ["resources", "requests"]]))
        }
        requests = appRequests.max(initRequests) + ResourceAmounts(list: spec?["overhead"])
        requests.pods = 1
        hostPorts = ports

        let affinity = spec?["affinity"]
        requiredNodeAffinity = affinity?[path: ["nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms"]]?
            .arrayValue.map { $0.map(NodeSelectorTerm.init) }
        let namespace = self.namespace
        antiAffinity = (affinity?[path: ["podAntiAffinity", "requiredDuringSchedulingIgnoredDuringExecution"]]?.arrayValue ?? [])
            .compactMap { term in
                guard let selector = try? LabelSelector(object: term["labelSelector"]), term["labelSelector"] != nil else { return nil }
                let namespaces = Set((term["namespaces"]?.arrayValue ?? []).compactMap(\.stringValue))
                return AntiAffinityTerm(selector: selector, namespaces: namespaces.isEmpty ? [namespace] : namespaces,
                                        topologyKey: term["topologyKey"]?.stringValue ?? "kubernetes.io/hostname")
            }
        spreadConstraints = (spec?["topologySpreadConstraints"]?.arrayValue ?? []).compactMap { constraint in
            guard let key = constraint["topologyKey"]?.stringValue,
                  let selector = try? LabelSelector(object: constraint["labelSelector"]) else { return nil }
            return SpreadConstraint(maxSkew: Int(constraint["maxSkew"]?.intValue ?? 1), topologyKey: key,
                                    hard: constraint["whenUnsatisfiable"]?.stringValue != "ScheduleAnyway", selector: selector)
        }
        tolerations = (spec?["tolerations"]?.arrayValue ?? []).map { toleration in
            Toleration(key: toleration["key"]?.stringValue ?? "", op: toleration["operator"]?.stringValue ?? "Equal",
                       value: toleration["value"]?.stringValue ?? "", effect: toleration["effect"]?.stringValue ?? "",
                       tolerationSeconds: toleration["tolerationSeconds"]?.intValue)
        }
        controllerUID = (metadata?["ownerReferences"]?.arrayValue ?? [])
            .first { $0["controller"]?.boolValue == true }?["uid"]?.stringValue
    }
}

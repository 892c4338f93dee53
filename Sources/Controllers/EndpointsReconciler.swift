import Resources

/// The endpoints of a Service, pure: from the pods its selector matches (those with an IP that have not
/// finished), the core/v1 Endpoints object (ready pods as addresses, the others as notReadyAddresses) and the
/// discovery.k8s.io/v1 EndpointSlices (ready/serving/terminating per endpoint, at most `maxPerSlice` each, one
/// group of slices per distinct set of resolved ports — named target ports can differ from pod to pod).
/// Services without a selector are left alone: their endpoints are the user's.
public enum EndpointsReconciler {
    public static let maxPerSlice = 100
    public static let serviceNameLabel = "kubernetes.io/service-name"
    public static let managedByLabel = "endpointslice.kubernetes.io/managed-by"
    public static let managedBy = "endpointslice-controller.k8s.io"

    public struct Desired: Sendable, Equatable {
        public var endpoints: JSONValue
        public var slices: [JSONValue]
    }

    /// What the Service's endpoints should be; nil when it has no selector.
    public static func desired(for service: JSONValue, pods: [PodView]) -> Desired? {
        guard let selectorMap = service[path: ["spec", "selector"]]?.stringMap, !selectorMap.isEmpty else { return nil }
        let name = service[path: ["metadata", "name"]]?.stringValue ?? ""
        let namespace = service[path: ["metadata", "namespace"]]?.stringValue ?? "default"
        let publishNotReady = service[path: ["spec", "publishNotReadyAddresses"]]?.boolValue ?? false
        let servicePorts = service[path: ["spec", "ports"]]?.arrayValue ?? []
        let selected = pods.filter { pod in
            selectorMap.allSatisfy { pod.labels[$0.key] == $0.value } && pod.phase != "Succeeded" && pod.phase != "Failed"
                && !(pod.object[path: ["status", "podIP"]]?.stringValue ?? "").isEmpty
        }.sorted { $0.name < $1.name }

        // Pods grouped by their resolved ports (a named targetPort a pod does not declare leaves the port out).
        var groups: [String: (ports: [JSONValue], pods: [PodView])] = [:]
        var order: [String] = []
        for pod in selected {
            let ports = servicePorts.compactMap { resolve($0, in: pod) }
            let tag = JSONWriter.string(.array(ports))
            if groups[tag] == nil { order.append(tag) }
            groups[tag, default: (ports, [])].pods.append(pod)
        }

        var subsets: [JSONValue] = []
        var slices: [JSONValue] = []
        for tag in order {
            let (ports, members) = groups[tag] ?? ([], [])
            var ready: [JSONValue] = []
            var notReady: [JSONValue] = []
            var endpoints: [JSONValue] = []
            for pod in members {
                let ip = pod.object[path: ["status", "podIP"]]?.stringValue ?? ""
                let reference: JSONValue = ["kind": "Pod", "namespace": .string(pod.namespace), "name": .string(pod.name), "uid": .string(pod.uid)]
                var address: JSONValue = ["ip": .string(ip), "targetRef": reference]
                if let node = pod.nodeName { address["nodeName"] = .string(node) }
                if !pod.isTerminating {
                    if pod.isReady || publishNotReady { ready.append(address) } else { notReady.append(address) }
                }
                var endpoint: JSONValue = [
                    "addresses": [.string(ip)], "targetRef": reference,
                    "conditions": ["ready": .bool((pod.isReady || publishNotReady) && !pod.isTerminating),
                                   "serving": .bool(pod.isReady || publishNotReady), "terminating": .bool(pod.isTerminating)],
                ]
                if let node = pod.nodeName { endpoint["nodeName"] = .string(node) }
                endpoints.append(endpoint)
            }
            if !ports.isEmpty, !(ready.isEmpty && notReady.isEmpty) {
                var subset: JSONValue = ["ports": .array(ports)]
                if !ready.isEmpty { subset["addresses"] = .array(ready) }
                if !notReady.isEmpty { subset["notReadyAddresses"] = .array(notReady) }
                subsets.append(subset)
            }
            let portsTag = PodTemplateHash.of(.array(ports), collisionCount: nil)
            for (index, start) in stride(from: 0, to: endpoints.count, by: maxPerSlice).enumerated() {
                let chunk = Array(endpoints[start..<min(start + maxPerSlice, endpoints.count)])
                slices.append(slice(named: "\(name)-\(portsTag)-\(index)", service: service, namespace: namespace, ports: ports, endpoints: chunk))
            }
        }
        if slices.isEmpty {
            // A Service with no endpoints still has one (empty) slice, as Kubernetes keeps.
            let ports = servicePorts.compactMap { resolve($0, in: nil) }
            slices.append(slice(named: "\(name)-empty", service: service, namespace: namespace, ports: ports, endpoints: []))
        }
        var endpoints: JSONValue = [
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "labels": .strings(service[path: ["metadata", "labels"]]?.stringMap ?? [:])],
        ]
        if !subsets.isEmpty { endpoints["subsets"] = .array(subsets) }
        return Desired(endpoints: endpoints, slices: slices)
    }

    static func slice(named name: String, service: JSONValue, namespace: String, ports: [JSONValue], endpoints: [JSONValue]) -> JSONValue {
        var labels = service[path: ["metadata", "labels"]]?.stringMap ?? [:]
        labels[serviceNameLabel] = service[path: ["metadata", "name"]]?.stringValue ?? ""
        labels[managedByLabel] = managedBy
        return [
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "labels": .strings(labels),
                         "ownerReferences": [OwnerReference(controllerOf: service, apiVersion: "v1", kind: "Service").json]],
            "addressType": "IPv4", "endpoints": .array(endpoints), "ports": .array(ports),
        ]
    }

    /// A Service port as an endpoint port: its targetPort, a number or a container port's name looked up in the
    /// pod (nil: the pod does not have it).
    static func resolve(_ port: JSONValue, in pod: PodView?) -> JSONValue? {
        let proto = port["protocol"]?.stringValue ?? "TCP"
        var number: Int64?
        switch port["targetPort"] {
        case .int(let value)?: number = value
        case .string(let text)?:
            if let value = Int64(text) {
                number = value
            } else if let pod {
                for container in pod.object[path: ["spec", "containers"]]?.arrayValue ?? [] {
                    for declared in container["ports"]?.arrayValue ?? [] where declared["name"]?.stringValue == text
                        && (declared["protocol"]?.stringValue ?? "TCP") == proto {
                        number = declared["containerPort"]?.intValue
                    }
                }
            } else {
                return nil
            }
        default: number = port["port"]?.intValue
        }
        guard let number else { return nil }
        var resolved: JSONValue = ["port": .int(number), "protocol": .string(proto)]
        if let name = port["name"]?.stringValue, !name.isEmpty { resolved["name"] = .string(name) }
        if let appProtocol = port["appProtocol"] { resolved["appProtocol"] = appProtocol }
        return resolved
    }
}

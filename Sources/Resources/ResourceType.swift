/// One kind of object the API serves: its names in URLs and discovery, its scope, its schema, and where its
/// objects live in the store. The catalogue (`ResourceType.all`) is what discovery, routing and storage read.
public struct ResourceType: Sendable, Hashable {
    public var group: String
    public var version: String
    public var kind: String
    /// The URL name ("deployments").
    public var plural: String
    public var singular: String
    public var shortNames: [String]
    public var categories: [String]
    public var namespaced: Bool
    /// The schema's name for the object type ("apps.v1.Deployment").
    public var schemaType: String
    /// Subresources served under each object ("status", "scale", …).
    public var subresources: [Subresource]
    /// The store prefix the objects live under, with a trailing slash ("/registry/deployments/"); objects are
    /// at prefix + namespace + "/" + name, or prefix + name for cluster-scoped kinds, as in Kubernetes.
    public var storagePrefix: String
    /// Set when the objects are stored in another resource's form (events.k8s.io/v1 Events as core/v1 Events).
    public var storageVersion: StorageVersion?

    public struct Subresource: Sendable, Hashable {
        public var name: String
        /// The kind it answers with, as (group, version, kind).
        public var group: String
        public var version: String
        public var kind: String
        public var verbs: [String]
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    public var listKind: String { kind + "List" }
    /// How messages name the resource: "pods", "deployments.apps".
    public var qualifiedName: String { group.isEmpty ? plural : "\(plural).\(group)" }
    public var hasStatus: Bool { subresources.contains { $0.name == "status" } }
    public var verbs: [String] { ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"] }

    public func storageKey(namespace: String?, name: String) -> String {
        if namespaced, let namespace { return storagePrefix + namespace + "/" + name }
        return storagePrefix + name
    }

    /// The store prefix of all objects in `namespace` (all namespaces when nil).
    public func storagePrefix(namespace: String?) -> String {
        if namespaced, let namespace { return storagePrefix + namespace + "/" }
        return storagePrefix
    }
}

extension ResourceType {
    static func status(_ group: String, _ version: String, _ kind: String) -> Subresource {
        Subresource(name: "status", group: group, version: version, kind: kind, verbs: ["get", "patch", "update"])
    }

    static let scale = Subresource(name: "scale", group: "autoscaling", version: "v1", kind: "Scale", verbs: ["get", "patch", "update"])

    static func core(_ kind: String, _ plural: String, namespaced: Bool = true, short: [String] = [],
                     categories: [String] = [], status: Bool = false, extra: [Subresource] = [],
                     storage: String? = nil) -> ResourceType {
        ResourceType(group: "", version: "v1", kind: kind, plural: plural, singular: kind.lowercased(),
                     shortNames: short, categories: categories, namespaced: namespaced, schemaType: "core.v1.\(kind)",
                     subresources: (status ? [Self.status("", "v1", kind)] : []) + extra,
                     storagePrefix: "/registry/\(storage ?? plural)/")
    }

    static func named(_ group: String, _ schemaGroup: String, _ version: String, _ kind: String, _ plural: String,
                      namespaced: Bool = true, short: [String] = [], categories: [String] = [],
                      status: Bool = false, scale: Bool = false, storage: String? = nil) -> ResourceType {
        ResourceType(group: group, version: version, kind: kind, plural: plural, singular: kind.lowercased(),
                     shortNames: short, categories: categories, namespaced: namespaced,
                     schemaType: "\(schemaGroup).\(version).\(kind)",
                     subresources: (status ? [Self.status(group, version, kind)] : []) + (scale ? [Self.scale] : []),
                     storagePrefix: "/registry/\(storage ?? plural)/")
    }

    /// Every resource Podium serves, in discovery order. Storage paths are Kubernetes' own (nodes under
    /// "minions", services under "services/specs"), so tools that read a cluster's store find them.
    public static let all: [ResourceType] = [
        core("Namespace", "namespaces", namespaced: false, short: ["ns"], status: true),
        core("Pod", "pods", short: ["po"], categories: ["all"], status: true, extra: [
            Subresource(name: "binding", group: "", version: "v1", kind: "Binding", verbs: ["create"]),
            Subresource(name: "eviction", group: "policy", version: "v1", kind: "Eviction", verbs: ["create"]),
            Subresource(name: "log", group: "", version: "v1", kind: "Pod", verbs: ["get"]),
            Subresource(name: "exec", group: "", version: "v1", kind: "PodExecOptions", verbs: ["create", "get"]),
            Subresource(name: "attach", group: "", version: "v1", kind: "PodAttachOptions", verbs: ["create", "get"]),
            Subresource(name: "portforward", group: "", version: "v1", kind: "PodPortForwardOptions", verbs: ["create", "get"]),
        ]),
        core("Node", "nodes", namespaced: false, short: ["no"], status: true, storage: "minions"),
        core("Service", "services", short: ["svc"], categories: ["all"], status: true, storage: "services/specs"),
        core("Endpoints", "endpoints", short: ["ep"], storage: "services/endpoints"),
        core("ConfigMap", "configmaps", short: ["cm"]),
        core("Secret", "secrets"),
        core("Event", "events", short: ["ev"]),
        core("ServiceAccount", "serviceaccounts", short: ["sa"]),
        core("PersistentVolume", "persistentvolumes", namespaced: false, short: ["pv"], status: true),
        core("PersistentVolumeClaim", "persistentvolumeclaims", short: ["pvc"], status: true),
        core("ResourceQuota", "resourcequotas", short: ["quota"], status: true),
        core("LimitRange", "limitranges", short: ["limits"]),
        core("PodTemplate", "podtemplates"),
        core("ReplicationController", "replicationcontrollers", short: ["rc"], categories: ["all"], status: true,
             extra: [scale], storage: "controllers"),
        named("apps", "apps", "v1", "Deployment", "deployments", short: ["deploy"], categories: ["all"], status: true, scale: true),
        named("apps", "apps", "v1", "ReplicaSet", "replicasets", short: ["rs"], categories: ["all"], status: true, scale: true),
        named("apps", "apps", "v1", "StatefulSet", "statefulsets", short: ["sts"], categories: ["all"], status: true, scale: true),
        named("apps", "apps", "v1", "DaemonSet", "daemonsets", short: ["ds"], categories: ["all"], status: true),
        named("apps", "apps", "v1", "ControllerRevision", "controllerrevisions"),
        named("batch", "batch", "v1", "Job", "jobs", categories: ["all"], status: true),
        named("batch", "batch", "v1", "CronJob", "cronjobs", short: ["cj"], categories: ["all"], status: true),
        named("coordination.k8s.io", "coordination", "v1", "Lease", "leases"),
        named("discovery.k8s.io", "discovery", "v1", "EndpointSlice", "endpointslices"),
        named("autoscaling", "autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers",
              short: ["hpa"], categories: ["all"], status: true),
        named("networking.k8s.io", "networking", "v1", "Ingress", "ingresses", short: ["ing"], status: true, storage: "ingress"),
        named("networking.k8s.io", "networking", "v1", "IngressClass", "ingressclasses", namespaced: false),
        named("networking.k8s.io", "networking", "v1", "NetworkPolicy", "networkpolicies", short: ["netpol"]),
        {
            var events = named("events.k8s.io", "events", "v1", "Event", "events", short: ["ev"])
            events.storageVersion = .coreEvent
            return events
        }(),
        named("policy", "policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", short: ["pdb"], status: true),
        named("storage.k8s.io", "storage", "v1", "StorageClass", "storageclasses", namespaced: false, short: ["sc"]),
    ]

    /// Finds a resource by its URL coordinates.
    public static func find(group: String, version: String, plural: String) -> ResourceType? {
        index[Key(group: group, version: version, plural: plural)]
    }

    struct Key: Hashable {
        var group: String
        var version: String
        var plural: String
    }

    static let index: [Key: ResourceType] = Dictionary(
        all.map { (Key(group: $0.group, version: $0.version, plural: $0.plural), $0) }, uniquingKeysWith: { first, _ in first })

    /// The groups in discovery order, each with its versions' resources.
    public static var groups: [(name: String, version: String, resources: [ResourceType])] {
        var order: [String] = []
        var byGroup: [String: [ResourceType]] = [:]
        for resource in all {
            if byGroup[resource.group] == nil { order.append(resource.group) }
            byGroup[resource.group, default: []].append(resource)
        }
        return order.map { ($0, byGroup[$0]?.first?.version ?? "v1", byGroup[$0] ?? []) }
    }
}

import Foundation
import Resources

/// What the server itself sets on objects as they are created, updated and deleted — uid, timestamps,
/// generation, resource version — the way kube-apiserver's registry strategies do. Pure: the clock and the
/// random source are passed in, so every rule is testable.
public struct ObjectLifecycle: Sendable {
    public var now: Double
    public var uid: @Sendable () -> String
    public var randomSuffix: @Sendable () -> String

    public init(now: Double = Date().timeIntervalSince1970,
                uid: @escaping @Sendable () -> String = { UUID().uuidString.lowercased() },
                randomSuffix: @escaping @Sendable () -> String = ObjectLifecycle.generateSuffix) {
        self.now = now
        self.uid = uid
        self.randomSuffix = randomSuffix
    }

    /// Five characters from the alphabet Kubernetes uses for generated names (no vowels, no look-alikes).
    public static func generateSuffix() -> String {
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String((0..<5).map { _ in alphabet.randomElement() ?? "x" })
    }

    /// Kinds whose spec changes bump metadata.generation.
    static func tracksGeneration(_ type: ResourceType) -> Bool {
        switch type.group {
        case "apps", "batch", "autoscaling", "policy", "networking.k8s.io": return true
        case "": return ["ReplicationController", "ResourceQuota"].contains(type.kind)
        default: return false
        }
    }

    /// Prepares a new object: name (from generateName), namespace, uid, creation time, generation; no resource
    /// version and no deletion state; status cleared where it is a subresource, as kube-apiserver does.
    public func prepareForCreate(_ object: inout JSONValue, type: ResourceType, namespace: String?) throws(Status) {
        var metadata = object["metadata"] ?? [:]
        if let version = metadata["resourceVersion"]?.stringValue, !version.isEmpty {
            throw Status.badRequest("resourceVersion should not be set on objects to be created")
        }
        if type.namespaced {
            if let given = metadata["namespace"]?.stringValue, !given.isEmpty, given != namespace {
                throw Status.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            if let namespace { metadata["namespace"] = .string(namespace) }
        } else {
            metadata["namespace"] = nil
        }
        let name = metadata["name"]?.stringValue ?? ""
        if name.isEmpty, let prefix = metadata["generateName"]?.stringValue, !prefix.isEmpty {
            metadata["name"] = .string(String(prefix.prefix(58)) + randomSuffix())
        }
        metadata["uid"] = .string(uid())
        metadata["creationTimestamp"] = .string(RFC3339.format(now))
        metadata["resourceVersion"] = nil
        metadata["deletionTimestamp"] = nil
        metadata["deletionGracePeriodSeconds"] = nil
        metadata["selfLink"] = nil
        if Self.tracksGeneration(type) { metadata["generation"] = 1 } else { metadata["generation"] = nil }
        object["metadata"] = metadata
        if type.hasStatus, type.kind != "Pod", type.kind != "Namespace", type.kind != "Node" { object["status"] = nil }
        if type.kind == "Namespace" { object["status"] = ["phase": "Active"] }
        if type.kind == "Pod" { object["status"] = ["phase": "Pending", "qosClass": .string(Self.qosClass(object["spec"]))] }
    }

    /// Prepares an update of `old` to `new`: what the server owns is carried over (uid, creation time,
    /// deletion state), the subresource not being written is kept from `old` (status on the main resource,
    /// everything else on status), and the generation moves when the spec changed.
    public func prepareForUpdate(_ new: inout JSONValue, old: JSONValue, type: ResourceType, subresource: String?) {
        var metadata = new["metadata"] ?? [:]
        let oldMetadata = old["metadata"] ?? [:]
        for key in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace", "generateName"] {
            metadata[key] = oldMetadata[key]
        }
        if subresource == "status" {
            var kept = old
            kept["status"] = new["status"]
            new = kept
            return
        }
        // Binding writes spec.nodeName and the PodScheduled condition together.
        if type.hasStatus, subresource != "binding" { new["status"] = old["status"] }
        metadata["generation"] = oldMetadata["generation"]
        new["metadata"] = metadata
        if Self.tracksGeneration(type), Self.specPart(new) != Self.specPart(old) {
            new[path: ["metadata", "generation"]] = .int((oldMetadata["generation"]?.intValue ?? 0) + 1)
        }
    }

    /// A pod's quality-of-service class from its containers' requests and limits, as Kubernetes computes it:
    /// Guaranteed when every container limits cpu and memory and requests what it limits, BestEffort when none
    /// asks for anything, Burstable otherwise.
    static func qosClass(_ spec: JSONValue?) -> String {
        let containers = (spec?["containers"]?.arrayValue ?? []) + (spec?["initContainers"]?.arrayValue ?? [])
        var anything = false
        var guaranteed = !containers.isEmpty
        for container in containers {
            let requests = container[path: ["resources", "requests"]]?.objectValue ?? [:]
            let limits = container[path: ["resources", "limits"]]?.objectValue ?? [:]
            if !requests.isEmpty || !limits.isEmpty { anything = true }
            for resource in ["cpu", "memory"] {
                guard let limit = limits[resource]?.stringValue.flatMap(Quantity.init) else { guaranteed = false; continue }
                let request = requests[resource]?.stringValue.flatMap(Quantity.init) ?? limit
                if request != limit { guaranteed = false }
            }
        }
        if !anything { return "BestEffort" }
        return guaranteed ? "Guaranteed" : "Burstable"
    }

    /// Everything but metadata and status: what a generation counts changes of.
    static func specPart(_ object: JSONValue) -> JSONValue {
        var rest = object
        rest["metadata"] = nil
        rest["status"] = nil
        rest["kind"] = nil
        rest["apiVersion"] = nil
        return rest
    }

    /// Marks an object as being deleted (it has finalizers, or is a pod on a node with a grace period).
    public func markDeleting(_ object: inout JSONValue, gracePeriod: Int64) {
        let gracePeriod = min(max(gracePeriod, 0), 86_400 * 365)
        if object[path: ["metadata", "deletionTimestamp"]] == nil {
            object[path: ["metadata", "deletionTimestamp"]] = .string(RFC3339.format(now + Double(gracePeriod)))
            object[path: ["metadata", "deletionGracePeriodSeconds"]] = .int(gracePeriod)
        } else if let current = object[path: ["metadata", "deletionGracePeriodSeconds"]]?.intValue, gracePeriod < current {
            // A shorter grace period may replace a longer one; never the other way.
            object[path: ["metadata", "deletionTimestamp"]] = .string(RFC3339.format(now + Double(gracePeriod)))
            object[path: ["metadata", "deletionGracePeriodSeconds"]] = .int(gracePeriod)
        }
    }
}

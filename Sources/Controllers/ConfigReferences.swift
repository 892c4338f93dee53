import Resources

/// The ConfigMaps and Secrets a pod template uses (env valueFrom, envFrom, volumes, projected volumes), and a
/// hash of their content: what a Deployment that opts in with `podium.dev/rollout-on-config-change: "true"` keeps
/// in its template's `podium.dev/config-hash` annotation, so that changing one of them rolls the Deployment out
/// (Kubernetes issue 22368).
public enum ConfigReferences {
    public static let optInAnnotation = "podium.dev/rollout-on-config-change"
    public static let hashAnnotation = "podium.dev/config-hash"

    public struct Names: Sendable, Equatable {
        public var configMaps: Set<String> = []
        public var secrets: Set<String> = []

        public init(configMaps: Set<String> = [], secrets: Set<String> = []) {
            self.configMaps = configMaps
            self.secrets = secrets
        }
    }

    public static func names(in template: JSONValue) -> Names {
        var names = Names()
        let spec = template["spec"] ?? [:]
        let containers = (spec["containers"]?.arrayValue ?? []) + (spec["initContainers"]?.arrayValue ?? [])
        for container in containers {
            for variable in container["env"]?.arrayValue ?? [] {
                if let name = variable[path: ["valueFrom", "configMapKeyRef", "name"]]?.stringValue { names.configMaps.insert(name) }
                if let name = variable[path: ["valueFrom", "secretKeyRef", "name"]]?.stringValue { names.secrets.insert(name) }
            }
            for source in container["envFrom"]?.arrayValue ?? [] {
                if let name = source[path: ["configMapRef", "name"]]?.stringValue { names.configMaps.insert(name) }
                if let name = source[path: ["secretRef", "name"]]?.stringValue { names.secrets.insert(name) }
            }
        }
        for volume in spec["volumes"]?.arrayValue ?? [] {
            if let name = volume[path: ["configMap", "name"]]?.stringValue { names.configMaps.insert(name) }
            if let name = volume[path: ["secret", "secretName"]]?.stringValue { names.secrets.insert(name) }
            for source in volume[path: ["projected", "sources"]]?.arrayValue ?? [] {
                if let name = source[path: ["configMap", "name"]]?.stringValue { names.configMaps.insert(name) }
                if let name = source[path: ["secret", "name"]]?.stringValue { names.secrets.insert(name) }
            }
        }
        return names
    }

    /// A hash of the referenced objects' data (a missing one counts as missing), in a stable order.
    public static func hash(_ names: Names, configMap: (String) -> JSONValue?, secret: (String) -> JSONValue?) -> String {
        var parts: [JSONValue] = []
        for name in names.configMaps.sorted() {
            let object = configMap(name)
            parts.append(["configmap/\(name)": object.map { ["data": $0["data"] ?? [:], "binaryData": $0["binaryData"] ?? [:]] } ?? "missing"])
        }
        for name in names.secrets.sorted() {
            let object = secret(name)
            parts.append(["secret/\(name)": object.map { ["data": $0["data"] ?? [:], "stringData": $0["stringData"] ?? [:]] } ?? "missing"])
        }
        return PodTemplateHash.of(.array(parts), collisionCount: nil)
    }
}

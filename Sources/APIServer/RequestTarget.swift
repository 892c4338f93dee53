import Resources

/// What a request's path names: a discovery or health document, or objects of one resource (a collection, one
/// object, or one of its subresources), parsed as kube-apiserver's paths are laid out.
public enum RequestTarget: Sendable, Equatable {
    case version
    case health(String)
    case coreDiscovery
    case groupsDiscovery
    case groupDiscovery(String)
    case resourceList(group: String, version: String)
    case openAPIRoot
    case openAPIDocument(group: String, version: String)
    case openAPIV2
    case resource(ResourceTarget)
    case metrics

    public struct ResourceTarget: Sendable, Equatable {
        public var type: ResourceType
        /// The namespace in the path (nil: all namespaces, or a cluster-scoped resource).
        public var namespace: String?
        public var name: String?
        public var subresource: String?
    }

    /// Parses a percent-decoded path; nil segments and unknown resources are not found.
    public static func parse(_ path: String) -> RequestTarget? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch segments.first {
        case nil: return nil
        case "version": return segments.count == 1 ? .version : nil
        case "healthz", "livez", "readyz": return .health(segments.joined(separator: "/"))
        case "metrics": return segments.count == 1 ? .metrics : nil
        case "openapi":
            if segments.count == 2, segments[1] == "v3" { return .openAPIRoot }
            if segments.count == 2, segments[1] == "v2" { return .openAPIV2 }
            if segments.count == 4, segments[1] == "v3", segments[2] == "api" { return .openAPIDocument(group: "", version: segments[3]) }
            if segments.count == 5, segments[1] == "v3", segments[2] == "apis" { return .openAPIDocument(group: segments[3], version: segments[4]) }
            return nil
        case "api":
            if segments.count == 1 { return .coreDiscovery }
            if segments.count == 2 { return .resourceList(group: "", version: segments[1]) }
            return resource(group: "", version: segments[1], rest: Array(segments.dropFirst(2)))
        case "apis":
            if segments.count == 1 { return .groupsDiscovery }
            if segments.count == 2 { return .groupDiscovery(segments[1]) }
            if segments.count == 3 { return .resourceList(group: segments[1], version: segments[2]) }
            return resource(group: segments[1], version: segments[2], rest: Array(segments.dropFirst(3)))
        default: return nil
        }
    }

    static func resource(group: String, version: String, rest: [String]) -> RequestTarget? {
        // namespaces/{ns}/{resource}[/{name}[/{subresource}]], unless it is the namespace object itself.
        // (namespaces/{name}/status is the namespace's own subresource: "status" is no resource.)
        if rest.count >= 3, rest[0] == "namespaces",
           let type = ResourceType.find(group: group, version: version, plural: rest[2]), type.namespaced {
            guard rest.count <= 5 else { return nil }
            return .resource(ResourceTarget(type: type, namespace: rest[1], name: rest.count > 3 ? rest[3] : nil,
                                            subresource: rest.count > 4 ? rest[4] : nil))
        }
        guard let type = ResourceType.find(group: group, version: version, plural: rest[0]), rest.count <= 3 else { return nil }
        return .resource(ResourceTarget(type: type, namespace: nil, name: rest.count > 1 ? rest[1] : nil,
                                        subresource: rest.count > 2 ? rest[2] : nil))
    }
}

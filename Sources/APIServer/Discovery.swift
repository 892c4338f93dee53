import Resources

/// The discovery documents: aggregated (apidiscovery.k8s.io/v2, what kubectl 1.32 asks for first; it must be
/// labelled as such in Content-Type or kubectl sees no resources) and the legacy per-group lists (drain still
/// reads /api/v1).
enum Discovery {
    static let aggregatedV2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    static let aggregatedV2Beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"

    /// Which aggregated version the Accept header asks for, if any (the first listed wins).
    static func aggregatedType(_ accept: String) -> String? {
        for part in accept.split(separator: ",") {
            let text = part.replacing(" ", with: "")
            if text.contains("g=apidiscovery.k8s.io"), text.contains("as=APIGroupDiscoveryList") {
                if text.contains("v=v2beta1") { return aggregatedV2Beta1 }
                if text.contains("v=v2") { return aggregatedV2 }
            }
        }
        return nil
    }

    static func scope(_ type: ResourceType) -> JSONValue { type.namespaced ? "Namespaced" : "Cluster" }

    static func aggregatedResource(_ type: ResourceType) -> JSONValue {
        var entry: JSONValue = [
            "resource": .string(type.plural),
            "responseKind": ["group": .string(type.group), "version": .string(type.version), "kind": .string(type.kind)],
            "scope": scope(type), "singularResource": .string(type.singular),
            "verbs": .array(type.verbs.map { .string($0) }),
        ]
        if !type.shortNames.isEmpty { entry["shortNames"] = .array(type.shortNames.map { .string($0) }) }
        if !type.categories.isEmpty { entry["categories"] = .array(type.categories.map { .string($0) }) }
        if !type.subresources.isEmpty {
            entry["subresources"] = .array(type.subresources.map { sub in
                ["subresource": .string(sub.name),
                 "responseKind": ["group": .string(sub.group), "version": .string(sub.version), "kind": .string(sub.kind)],
                 "verbs": .array(sub.verbs.map { .string($0) })]
            })
        }
        return entry
    }

    static func aggregated(core: Bool, contentType: String) -> APIResponse {
        let apiVersion = contentType == aggregatedV2Beta1 ? "apidiscovery.k8s.io/v2beta1" : "apidiscovery.k8s.io/v2"
        let groups = ResourceType.groups.filter { core ? $0.name.isEmpty : !$0.name.isEmpty }
        let items: [JSONValue] = groups.map { group in
            var item: JSONValue = ["versions": [["version": .string(group.version), "freshness": "Current",
                                                 "resources": .array(group.resources.map(aggregatedResource))]]]
            item["metadata"] = core ? ["creationTimestamp": nil] : ["name": .string(group.name), "creationTimestamp": nil]
            return item
        }
        let document: JSONValue = ["kind": "APIGroupDiscoveryList", "apiVersion": .string(apiVersion), "metadata": [:], "items": .array(items)]
        var response = APIResponse.json(.ok, JSONWriter.bytes(document), contentType: contentType)
        response.headers.add(name: "Vary", value: "Accept")
        return response
    }

    static func apiVersions(serverAddress: String) -> JSONValue {
        ["kind": "APIVersions", "versions": ["v1"],
         "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress)]]]
    }

    static func group(_ name: String, version: String) -> JSONValue {
        let groupVersion: JSONValue = ["groupVersion": .string("\(name)/\(version)"), "version": .string(version)]
        return ["kind": "APIGroup", "apiVersion": "v1", "name": .string(name), "versions": [groupVersion], "preferredVersion": groupVersion]
    }

    static func groupList() -> JSONValue {
        let groups = ResourceType.groups.filter { !$0.name.isEmpty }.map { group -> JSONValue in
            var entry = Self.group(group.name, version: group.version)
            entry["kind"] = nil
            entry["apiVersion"] = nil
            return entry
        }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups)]
    }

    static func resourceList(group: String, version: String) -> JSONValue? {
        let types = ResourceType.all.filter { $0.group == group && $0.version == version }
        guard !types.isEmpty else { return nil }
        var resources: [JSONValue] = []
        for type in types {
            var entry: JSONValue = ["name": .string(type.plural), "singularName": .string(type.singular),
                                    "namespaced": .bool(type.namespaced), "kind": .string(type.kind),
                                    "verbs": .array(type.verbs.map { .string($0) })]
            if !type.shortNames.isEmpty { entry["shortNames"] = .array(type.shortNames.map { .string($0) }) }
            if !type.categories.isEmpty { entry["categories"] = .array(type.categories.map { .string($0) }) }
            resources.append(entry)
            for sub in type.subresources {
                var subEntry: JSONValue = ["name": .string("\(type.plural)/\(sub.name)"), "singularName": "",
                                           "namespaced": .bool(type.namespaced), "kind": .string(sub.kind),
                                           "verbs": .array(sub.verbs.map { .string($0) })]
                if !sub.group.isEmpty || sub.group != group { subEntry["group"] = .string(sub.group) }
                if sub.version != version || sub.group != group { subEntry["version"] = .string(sub.version) }
                resources.append(subEntry)
            }
        }
        let groupVersion = group.isEmpty ? version : "\(group)/\(version)"
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(groupVersion), "resources": .array(resources)]
    }
}

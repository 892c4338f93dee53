import Resources

/// One term of a required node affinity: every requirement on the node's labels (matchExpressions) and fields
/// (matchFields: metadata.name) must hold. Operators In, NotIn, Exists, DoesNotExist, Gt, Lt.
public struct NodeSelectorTerm: Sendable {
    struct Requirement: Sendable {
        var key: String
        var op: String
        var values: [String]

        func matches(_ value: String?) -> Bool {
            switch op {
            case "In": return value.map(values.contains) ?? false
            case "NotIn": return !(value.map(values.contains) ?? false)
            case "Exists": return value != nil
            case "DoesNotExist": return value == nil
            case "Gt", "Lt":
                guard let value, let number = Int64(value), values.count == 1, let bound = Int64(values[0]) else { return false }
                return op == "Gt" ? number > bound : number < bound
            default: return false
            }
        }
    }

    var expressions: [Requirement]
    var fields: [Requirement]

    init(_ term: JSONValue) {
        func requirements(_ name: String) -> [Requirement] {
            (term[name]?.arrayValue ?? []).map { requirement in
                Requirement(key: requirement["key"]?.stringValue ?? "", op: requirement["operator"]?.stringValue ?? "",
                            values: (requirement["values"]?.arrayValue ?? []).compactMap(\.stringValue))
            }
        }
        expressions = requirements("matchExpressions")
        fields = requirements("matchFields")
    }

    /// An empty term matches no node, as in Kubernetes.
    public func matches(labels: [String: String], nodeName: String) -> Bool {
        guard !expressions.isEmpty || !fields.isEmpty else { return false }
        return expressions.allSatisfy { $0.matches(labels[$0.key]) }
            && fields.allSatisfy { $0.key == "metadata.name" && $0.matches(nodeName) }
    }
}

/// A field selector ("metadata.name=web,spec.nodeName!=n1"): exact matches on the few fields each resource
/// supports, as kube-apiserver allows them (others are refused, not ignored).
public struct FieldSelector: Sendable, Equatable {
    public struct Requirement: Sendable, Equatable {
        public var field: String
        public var value: String
        public var equal: Bool
    }

    public var requirements: [Requirement]

    public static let everything = FieldSelector(requirements: [])

    public init(requirements: [Requirement]) {
        self.requirements = requirements
    }

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses the selector and checks each field is one the resource can select on.
    public init(parsing text: String, for type: ResourceType) throws(ParseError) {
        var requirements: [Requirement] = []
        for term in Self.splitTerms(text) where !term.isEmpty {
            let requirement: Requirement
            if let range = term.range(of: "!=") {
                requirement = Requirement(field: String(term[..<range.lowerBound]), value: String(term[range.upperBound...]), equal: false)
            } else if let range = term.range(of: "==") {
                requirement = Requirement(field: String(term[..<range.lowerBound]), value: String(term[range.upperBound...]), equal: true)
            } else if let range = term.range(of: "=") {
                requirement = Requirement(field: String(term[..<range.lowerBound]), value: String(term[range.upperBound...]), equal: true)
            } else {
                throw ParseError(message: "invalid selector: '\(text)'; can't understand '\(term)'")
            }
            guard Self.supportedFields(type).contains(requirement.field) else {
                throw ParseError(message: "field label not supported: \(requirement.field)")
            }
            requirements.append(requirement)
        }
        self.requirements = requirements
    }

    /// Terms split at commas not escaped with a backslash.
    static func splitTerms(_ text: String) -> [String] {
        var terms: [String] = []
        var current = ""
        var escaped = false
        for character in text {
            if escaped { current.append(character); escaped = false; continue }
            if character == "\\" { escaped = true; continue }
            if character == "," { terms.append(current); current = ""; continue }
            current.append(character)
        }
        terms.append(current)
        return terms.map { $0.trimmingCharacters(in: " ") }
    }

    public var isEverything: Bool { requirements.isEmpty }

    public func matches(_ object: JSONValue) -> Bool {
        requirements.allSatisfy { requirement in
            let value = Self.value(of: requirement.field, in: object)
            return (value == requirement.value) == requirement.equal
        }
    }

    /// The selector's value for one field of `object` (as its string form; "" when absent).
    public static func value(of field: String, in object: JSONValue) -> String {
        // Selector names that are not the field's path (kube's field label conversions).
        let path: String
        switch field {
        case "status.successful": path = "status.succeeded"
        case "source": path = object[path: ["source", "component"]] != nil ? "source.component" : "reportingComponent"
        default: path = field
        }
        switch object[path: path.split(separator: ".").map(String.init)] {
        case .string(let text)?: return text
        case .bool(let flag)?: return flag ? "true" : "false"
        case .int(let number)?: return String(number)
        default:
            // Kubernetes selects a pod's unset hostNetwork as "false", an unset count as "0".
            if field == "spec.hostNetwork" || field == "spec.unschedulable" { return "false" }
            if field == "status.replicas" || field == "status.successful" { return "0" }
            return ""
        }
    }

    public static func supportedFields(_ type: ResourceType) -> Set<String> {
        var fields: Set<String> = ["metadata.name"]
        if type.namespaced { fields.insert("metadata.namespace") }
        switch type.kind {
        case "Pod":
            fields.formUnion(["spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
                              "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"])
        case "Event" where type.group == "events.k8s.io":
            fields.formUnion(["regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
                              "regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath",
                              "reason", "reportingController", "type"])
        case "Event":
            fields.formUnion(["involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                              "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                              "reason", "reportingComponent", "source", "type"])
        case "Node": fields.insert("spec.unschedulable")
        case "Secret": fields.insert("type")
        case "Namespace": fields.insert("status.phase")
        case "ReplicaSet", "ReplicationController": fields.insert("status.replicas")
        case "Job": fields.insert("status.successful")
        case "Service": fields.formUnion(["spec.clusterIP", "spec.type"])
        default: break
        }
        return fields
    }
}

extension String {
    func range(of target: String) -> Range<String.Index>? {
        guard !target.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(target) { return index..<self.index(index, offsetBy: target.count) }
            index = self.index(after: index)
        }
        return nil
    }

    func trimmingCharacters(in character: Character) -> String {
        var view = Substring(self)
        while view.first == character { view = view.dropFirst() }
        while view.last == character { view = view.dropLast() }
        return String(view)
    }
}

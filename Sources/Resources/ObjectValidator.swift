/// Validation of whole objects, as kube-apiserver validates them before they are stored: common metadata for
/// every kind, then the rules of the kind itself. Errors carry field paths and Kubernetes' wording, and become a
/// 422 Invalid with one cause each.
public enum ObjectValidator {
    /// `updating`: the object replaces a stored one (some rules hold for new objects only).
    public static func validate(_ object: JSONValue, type: ResourceType, updating: Bool = false) -> [FieldError] {
        var errors = metadata(object["metadata"] ?? [:], type: type)
        switch type.kind {
        case "Deployment", "ReplicaSet", "StatefulSet", "DaemonSet": errors += workload(object, type: type)
        case "Job": errors += podTemplate(object[path: ["spec", "template"]], at: "spec.template", restartPolicies: ["OnFailure", "Never"])
        case "CronJob":
            if (object[path: ["spec", "schedule"]]?.stringValue ?? "").isEmpty { errors.append(.required("spec.schedule")) }
            errors += podTemplate(object[path: ["spec", "jobTemplate", "spec", "template"]], at: "spec.jobTemplate.spec.template",
                                  restartPolicies: ["OnFailure", "Never"])
        case "Pod": errors += podSpec(object["spec"], at: "spec")
        case "Service": errors += service(object)
        case "ConfigMap", "Secret": errors += dataKeys(object, type: type)
        case "Event" where type.group == "events.k8s.io" && !updating: errors += EventRules.eventsV1(object)
        case "Event" where type.group == "events.k8s.io": errors += EventRules.legacy(object, reportingField: "reportingController")
        case "Event": errors += EventRules.legacy(object, reportingField: "reportingComponent")
        default: break
        }
        return errors
    }

    public static func nameProblems(_ name: String, type: ResourceType) -> [String] {
        switch type.kind {
        case "Namespace": Validation.dns1123LabelProblems(name)
        case "Service": Validation.dns1035LabelProblems(name)
        default: Validation.dns1123SubdomainProblems(name)
        }
    }

    static func metadata(_ metadata: JSONValue, type: ResourceType) -> [FieldError] {
        var errors: [FieldError] = []
        let name = metadata["name"]?.stringValue ?? ""
        if name.isEmpty {
            errors.append(.required("metadata.name", "name or generateName is required"))
        } else {
            errors += nameProblems(name, type: type).map { .invalid("metadata.name", name, $0) }
        }
        if type.namespaced {
            let namespace = metadata["namespace"]?.stringValue ?? ""
            if namespace.isEmpty {
                errors.append(.required("metadata.namespace"))
            } else {
                errors += Validation.dns1123LabelProblems(namespace).map { .invalid("metadata.namespace", namespace, $0) }
            }
        }
        errors += Validation.labels(metadata["labels"]?.stringMap ?? [:], at: "metadata.labels")
        errors += Validation.annotations(metadata["annotations"]?.stringMap ?? [:], at: "metadata.annotations")
        var controllers = 0
        for (index, reference) in (metadata["ownerReferences"]?.arrayValue ?? []).enumerated() {
            let at = "metadata.ownerReferences[\(index)]"
            for key in ["apiVersion", "kind", "name", "uid"] where (reference[key]?.stringValue ?? "").isEmpty {
                errors.append(key == "uid" ? .invalid("\(at).uid", "", "uid must not be empty") : .required("\(at).\(key)"))
            }
            if reference["controller"]?.boolValue == true { controllers += 1 }
        }
        if controllers > 1 {
            errors.append(.invalid("metadata.ownerReferences", "", "Only one reference can have Controller set to true"))
        }
        for (index, finalizer) in (metadata["finalizers"]?.arrayValue ?? []).enumerated() {
            let text = finalizer.stringValue ?? ""
            errors += Validation.qualifiedNameProblems(text).map { .invalid("metadata.finalizers[\(index)]", text, $0) }
        }
        return errors
    }

    static func workload(_ object: JSONValue, type: ResourceType) -> [FieldError] {
        var errors: [FieldError] = []
        if let replicas = object[path: ["spec", "replicas"]]?.intValue, replicas < 0 {
            errors.append(.invalid("spec.replicas", number: replicas, "must be greater than or equal to 0"))
        }
        let selectorValue = object[path: ["spec", "selector"]]
        if selectorValue == nil || (selectorValue?["matchLabels"]?.objectValue ?? [:]).isEmpty && (selectorValue?["matchExpressions"]?.arrayValue ?? []).isEmpty {
            errors.append(.required("spec.selector"))
        }
        let templateLabels = object[path: ["spec", "template", "metadata", "labels"]]?.stringMap ?? [:]
        do {
            let selector = try LabelSelector(object: selectorValue)
            if !selector.isEverything, !selector.matches(templateLabels) {
                let shown = templateLabels.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\"\($0.value)\"" }.joined(separator: ",")
                errors.append(FieldError(kind: .invalid, field: "spec.template.metadata.labels", value: "map[string]string{\(shown)}",
                                         detail: "`selector` does not match template `labels`"))
            }
        } catch {
            errors.append(.invalid("spec.selector", "", error.message))
        }
        errors += podTemplate(object[path: ["spec", "template"]], at: "spec.template", restartPolicies: ["Always"])
        return errors
    }

    static func podTemplate(_ template: JSONValue?, at path: String, restartPolicies: [String]) -> [FieldError] {
        guard let template else { return [.required(path)] }
        var errors = Validation.labels(template[path: ["metadata", "labels"]]?.stringMap ?? [:], at: "\(path).metadata.labels")
        errors += podSpec(template["spec"], at: "\(path).spec")
        if let policy = template[path: ["spec", "restartPolicy"]]?.stringValue, !restartPolicies.contains(policy) {
            errors.append(.notSupported("\(path).spec.restartPolicy", policy, supported: restartPolicies))
        }
        return errors
    }

    static func podSpec(_ spec: JSONValue?, at path: String) -> [FieldError] {
        guard let spec else { return [.required(path)] }
        var errors: [FieldError] = []
        let containers = spec["containers"]?.arrayValue ?? []
        if containers.isEmpty { errors.append(.required("\(path).containers")) }
        var names = Set<String>()
        for (list, items) in [("initContainers", spec["initContainers"]?.arrayValue ?? []), ("containers", containers)] {
            for (index, container) in items.enumerated() {
                let at = "\(path).\(list)[\(index)]"
                let name = container["name"]?.stringValue ?? ""
                if name.isEmpty {
                    errors.append(.required("\(at).name"))
                } else {
                    errors += Validation.dns1123LabelProblems(name).map { .invalid("\(at).name", name, $0) }
                    if !names.insert(name).inserted { errors.append(.duplicate("\(at).name", name)) }
                }
                if (container["image"]?.stringValue ?? "").isEmpty { errors.append(.required("\(at).image")) }
                for (portIndex, port) in (container["ports"]?.arrayValue ?? []).enumerated() {
                    errors += Validation.port(port["containerPort"]?.intValue ?? 0, at: "\(at).ports[\(portIndex)].containerPort")
                    if let hostPort = port["hostPort"]?.intValue, hostPort != 0 {
                        errors += Validation.port(hostPort, at: "\(at).ports[\(portIndex)].hostPort")
                    }
                    if let text = port["protocol"]?.stringValue, !["TCP", "UDP", "SCTP"].contains(text) {
                        errors.append(.notSupported("\(at).ports[\(portIndex)].protocol", text, supported: ["SCTP", "TCP", "UDP"]))
                    }
                }
                if let policy = container["imagePullPolicy"]?.stringValue, !["Always", "IfNotPresent", "Never"].contains(policy) {
                    errors.append(.notSupported("\(at).imagePullPolicy", policy, supported: ["Always", "IfNotPresent", "Never"]))
                }
                for kind in ["requests", "limits"] {
                    for (resource, value) in container[path: ["resources", kind]]?.objectValue ?? [:] {
                        if let text = value.stringValue, let quantity = Quantity(text), quantity.significand < 0 {
                            errors.append(.invalid("\(at).resources.\(kind)[\(resource)]", text, "must be greater than or equal to 0"))
                        }
                    }
                }
            }
        }
        if let policy = spec["restartPolicy"]?.stringValue, !["Always", "OnFailure", "Never"].contains(policy) {
            errors.append(.notSupported("\(path).restartPolicy", policy, supported: ["Always", "Never", "OnFailure"]))
        }
        return errors
    }

    static func service(_ object: JSONValue) -> [FieldError] {
        var errors: [FieldError] = []
        let type = object[path: ["spec", "type"]]?.stringValue ?? "ClusterIP"
        let supported = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
        if !supported.contains(type) { errors.append(.notSupported("spec.type", type, supported: supported)) }
        let ports = object[path: ["spec", "ports"]]?.arrayValue ?? []
        if ports.isEmpty, type != "ExternalName", object[path: ["spec", "clusterIP"]]?.stringValue != "None" {
            errors.append(.required("spec.ports"))
        }
        var names = Set<String>()
        for (index, port) in ports.enumerated() {
            errors += Validation.port(port["port"]?.intValue ?? 0, at: "spec.ports[\(index)].port")
            let name = port["name"]?.stringValue ?? ""
            if ports.count > 1, name.isEmpty { errors.append(.required("spec.ports[\(index)].name")) }
            if !name.isEmpty, !names.insert(name).inserted { errors.append(.duplicate("spec.ports[\(index)].name", name)) }
            if case .int(let target)? = port["targetPort"], target != 0 {
                errors += Validation.port(target, at: "spec.ports[\(index)].targetPort")
            }
        }
        return errors
    }

    static func dataKeys(_ object: JSONValue, type: ResourceType) -> [FieldError] {
        var errors: [FieldError] = []
        let message = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
        for field in ["data", "binaryData", "stringData"] {
            for key in (object[field]?.objectValue ?? [:]).keys.sorted() {
                let ok = !key.isEmpty && key != "." && key != ".." && !key.hasPrefix("..") && key.utf8.count <= 253 && key.utf8.allSatisfy {
                    Validation.isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
                }
                if !ok { errors.append(.invalid("\(field)[\(key)]", key, message)) }
            }
        }
        return errors
    }
}

/// A LimitRange's admission of a pod, pure: containers without requests or limits get the range's
/// `defaultRequest` and `default` (type Container), requests left unset take the limits, and a container above
/// `max` or below `min` is refused with Kubernetes' wording.
public enum LimitRangeDefaults {
    public static func apply(_ ranges: [JSONValue], to pod: inout JSONValue) -> String? {
        for range in ranges {
            for limit in range[path: ["spec", "limits"]]?.arrayValue ?? [] where limit["type"]?.stringValue == "Container" {
                for field in ["containers", "initContainers"] {
                    guard var containers = pod[path: ["spec", field]]?.arrayValue else { continue }
                    for index in containers.indices {
                        var resources = containers[index]["resources"] ?? [:]
                        for (name, value) in limit["default"]?.objectValue ?? [:] where resources[path: ["limits", name]] == nil {
                            resources[path: ["limits", name]] = value
                        }
                        for (name, value) in limit["defaultRequest"]?.objectValue ?? [:] where resources[path: ["requests", name]] == nil {
                            resources[path: ["requests", name]] = value
                        }
                        for (name, value) in resources["limits"]?.objectValue ?? [:] where resources[path: ["requests", name]] == nil {
                            resources[path: ["requests", name]] = value
                        }
                        containers[index]["resources"] = resources
                        if let problem = check(resources, against: limit) { return problem }
                    }
                    pod[path: ["spec", field]] = .array(containers)
                }
            }
        }
        return nil
    }

    static func check(_ resources: JSONValue, against limit: JSONValue) -> String? {
        func milli(_ value: JSONValue?) -> Int64? {
            value?.stringValue.flatMap(Quantity.init)?.milliValue ?? value?.intValue.map { $0 * 1000 }
        }
        for (name, bound) in (limit["max"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let maximum = milli(bound) else { continue }
            guard let value = milli(resources[path: ["limits", name]]) else {
                return "maximum \(name) usage per Container is \(bound.stringValue ?? ""), but no limit is specified"
            }
            if value > maximum {
                return "maximum \(name) usage per Container is \(bound.stringValue ?? ""), but limit is \(resources[path: ["limits", name]]?.stringValue ?? "")"
            }
        }
        for (name, bound) in (limit["min"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let minimum = milli(bound) else { continue }
            guard let value = milli(resources[path: ["requests", name]]) else {
                return "minimum \(name) usage per Container is \(bound.stringValue ?? ""), but no request is specified"
            }
            if value < minimum {
                return "minimum \(name) usage per Container is \(bound.stringValue ?? ""), but request is \(resources[path: ["requests", name]]?.stringValue ?? "")"
            }
        }
        return nil
    }
}

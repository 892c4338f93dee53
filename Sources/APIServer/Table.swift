import Resources

/// `meta.k8s.io/v1` Tables: the columns `kubectl get` prints for each kind, computed by the server as
/// kube-apiserver does (kubectl prints the cells as given, so AGE and READY are ours to compute).
enum Table {
    struct Column: Sendable {
        var name: String
        var type: String = "string"
        var format: String = ""
        var priority = 0
        var cell: @Sendable (JSONValue, Double) -> JSONValue
    }

    static let tableType = "as=Table"

    /// Whether the Accept header asks for a Table (kubectl's `get` does, with JSON as its fallback).
    static func wanted(_ accept: String) -> Bool {
        accept.split(separator: ",").first.map { $0.contains("as=Table") } ?? false || accept.hasPrefix("application/json;as=Table")
    }

    /// kube's human-readable durations: "45s", "3m20s", "5h", "12d", "2y30d".
    static func age(_ seconds: Double) -> String {
        let total = Int(seconds)
        if total < -1 { return "<invalid>" }
        if total < 0 { return "0s" }
        if total < 120 { return "\(total)s" }
        let minutes = total / 60
        if minutes < 10 { return total % 60 == 0 ? "\(minutes)m" : "\(minutes)m\(total % 60)s" }
        if minutes < 180 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 { return minutes % 60 == 0 ? "\(hours)h" : "\(hours)h\(minutes % 60)m" }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 { return hours % 24 == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(hours % 24)h" }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        let days = hours / 24
        if hours < 24 * 365 * 8 { return days % 365 == 0 ? "\(days / 365)y" : "\(days / 365)y\(days % 365)d" }
        return "\(days / 365)y"
    }

    static func ageCell(_ object: JSONValue, _ now: Double) -> JSONValue {
        guard let created = object[path: ["metadata", "creationTimestamp"]]?.stringValue, let time = RFC3339.parse(created) else {
            return "<unknown>"
        }
        return .string(age(now - time))
    }

    static func string(_ object: JSONValue, _ path: String, _ fallback: String = "<none>") -> JSONValue {
        if let text = object[path: path.split(separator: ".").map(String.init)]?.stringValue, !text.isEmpty { return .string(text) }
        return .string(fallback)
    }

    static func int(_ object: JSONValue, _ path: String) -> Int64 {
        object[path: path.split(separator: ".").map(String.init)]?.intValue ?? 0
    }

    static let name = Column(name: "Name", format: "name") { object, _ in object[path: ["metadata", "name"]] ?? "" }
    static let ageColumn = Column(name: "Age", cell: ageCell)

    static func selectorText(_ selector: JSONValue?) -> String {
        guard let selector else { return "<none>" }
        let text = ((try? LabelSelector(object: selector)) ?? .everything).description
        return text.isEmpty ? "<none>" : text
    }

    static func containers(_ spec: JSONValue?) -> [JSONValue] { spec?["containers"]?.arrayValue ?? [] }

    static func columns(_ type: ResourceType) -> [Column] {
        switch type.kind {
        case "Pod":
            return [name,
                    Column(name: "Ready") { object, _ in
                        let total = containers(object["spec"]).count
                        let ready = (object[path: ["status", "containerStatuses"]]?.arrayValue ?? []).filter { $0["ready"]?.boolValue == true }.count
                        return .string("\(ready)/\(total)")
                    },
                    Column(name: "Status") { object, _ in
                        if object[path: ["metadata", "deletionTimestamp"]] != nil { return "Terminating" }
                        return string(object, "status.reason", string(object, "status.phase", "Pending").stringValue ?? "Pending")
                    },
                    Column(name: "Restarts", type: "string") { object, _ in
                        let restarts = (object[path: ["status", "containerStatuses"]]?.arrayValue ?? []).reduce(Int64(0)) { $0 + ($1["restartCount"]?.intValue ?? 0) }
                        return .string(String(restarts))
                    },
                    ageColumn,
                    Column(name: "IP", priority: 1) { object, _ in string(object, "status.podIP") },
                    Column(name: "Node", priority: 1) { object, _ in string(object, "spec.nodeName") },
                    Column(name: "Nominated Node", priority: 1) { object, _ in string(object, "status.nominatedNodeName") },
                    Column(name: "Readiness Gates", priority: 1) { _, _ in "<none>" }]
        case "Deployment":
            return [name,
                    Column(name: "Ready") { object, _ in .string("\(int(object, "status.readyReplicas"))/\(object[path: ["spec", "replicas"]]?.intValue ?? 1)") },
                    Column(name: "Up-to-date", type: "integer") { object, _ in .int(int(object, "status.updatedReplicas")) },
                    Column(name: "Available", type: "integer") { object, _ in .int(int(object, "status.availableReplicas")) },
                    ageColumn] + workloadWide
        case "ReplicaSet", "ReplicationController":
            return [name,
                    Column(name: "Desired", type: "integer") { object, _ in .int(object[path: ["spec", "replicas"]]?.intValue ?? 1) },
                    Column(name: "Current", type: "integer") { object, _ in .int(int(object, "status.replicas")) },
                    Column(name: "Ready", type: "integer") { object, _ in .int(int(object, "status.readyReplicas")) },
                    ageColumn] + workloadWide
        case "StatefulSet":
            return [name,
                    Column(name: "Ready") { object, _ in .string("\(int(object, "status.readyReplicas"))/\(object[path: ["spec", "replicas"]]?.intValue ?? 1)") },
                    ageColumn] + workloadWide
        case "DaemonSet":
            return [name] + ["desiredNumberScheduled": "Desired", "currentNumberScheduled": "Current", "numberReady": "Ready",
                             "updatedNumberScheduled": "Up-to-date", "numberAvailable": "Available"]
                .sorted { order($0.value) < order($1.value) }
                .map { field, title in Column(name: title, type: "integer") { object, _ in .int(int(object, "status.\(field)")) } }
                + [Column(name: "Node Selector") { object, _ in
                    let selector = object[path: ["spec", "template", "spec", "nodeSelector"]]?.stringMap ?? [:]
                    return .string(selector.isEmpty ? "<none>" : selector.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))
                }, ageColumn]
        case "Namespace":
            return [name, Column(name: "Status") { object, _ in string(object, "status.phase", "Active") }, ageColumn]
        case "Node":
            return [name,
                    Column(name: "Status") { object, _ in
                        let ready = (object[path: ["status", "conditions"]]?.arrayValue ?? []).first { $0["type"] == "Ready" }
                        var status = ready?["status"] == "True" ? "Ready" : (ready == nil ? "Unknown" : "NotReady")
                        if object[path: ["spec", "unschedulable"]]?.boolValue == true { status += ",SchedulingDisabled" }
                        return .string(status)
                    },
                    Column(name: "Roles") { object, _ in
                        let roles = (object[path: ["metadata", "labels"]]?.stringMap ?? [:]).keys
                            .filter { $0.hasPrefix("node-role.kubernetes.io/") }.map { String($0.dropFirst(24)) }.sorted()
                        return .string(roles.isEmpty ? "<none>" : roles.joined(separator: ","))
                    },
                    ageColumn,
                    Column(name: "Version") { object, _ in string(object, "status.nodeInfo.kubeletVersion", "") },
                    Column(name: "Internal-IP", priority: 1) { object, _ in
                        let address = (object[path: ["status", "addresses"]]?.arrayValue ?? []).first { $0["type"] == "InternalIP" }
                        return address?["address"] ?? "<none>"
                    }]
        case "Service":
            return [name,
                    Column(name: "Type") { object, _ in string(object, "spec.type", "ClusterIP") },
                    Column(name: "Cluster-IP") { object, _ in string(object, "spec.clusterIP") },
                    Column(name: "External-IP") { object, _ in
                        let ips = (object[path: ["spec", "externalIPs"]]?.arrayValue ?? []).compactMap(\.stringValue)
                        return .string(ips.isEmpty ? "<none>" : ips.joined(separator: ","))
                    },
                    Column(name: "Port(s)") { object, _ in
                        let ports = (object[path: ["spec", "ports"]]?.arrayValue ?? []).map { port -> String in
                            let number = port["port"]?.intValue ?? 0
                            let node = port["nodePort"]?.intValue.map { ":\($0)" } ?? ""
                            return "\(number)\(node)/\(port["protocol"]?.stringValue ?? "TCP")"
                        }
                        return .string(ports.isEmpty ? "<none>" : ports.joined(separator: ","))
                    },
                    ageColumn,
                    Column(name: "Selector", priority: 1) { object, _ in
                        let selector = object[path: ["spec", "selector"]]?.stringMap ?? [:]
                        return .string(selector.isEmpty ? "<none>" : selector.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))
                    }]
        case "ConfigMap":
            return [name, Column(name: "Data", type: "integer") { object, _ in
                .int(Int64((object["data"]?.objectValue?.count ?? 0) + (object["binaryData"]?.objectValue?.count ?? 0)))
            }, ageColumn]
        case "Secret":
            return [name, Column(name: "Type") { object, _ in string(object, "type", "Opaque") },
                    Column(name: "Data", type: "integer") { object, _ in .int(Int64(object["data"]?.objectValue?.count ?? 0)) }, ageColumn]
        case "Endpoints":
            return [name, Column(name: "Endpoints") { object, _ in
                let addresses = (object["subsets"]?.arrayValue ?? []).flatMap { subset -> [String] in
                    let ports = (subset["ports"]?.arrayValue ?? []).compactMap { $0["port"]?.intValue }
                    return (subset["addresses"]?.arrayValue ?? []).compactMap { $0["ip"]?.stringValue }.flatMap { ip in
                        ports.isEmpty ? [ip] : ports.map { "\(ip):\($0)" }
                    }
                }
                return .string(addresses.isEmpty ? "<none>" : addresses.prefix(3).joined(separator: ",") + (addresses.count > 3 ? " + \(addresses.count - 3) more..." : ""))
            }, ageColumn]
        case "Event":
            return [Column(name: "Last Seen") { object, now in
                        let time = object[path: ["series", "lastObservedTime"]]?.stringValue ?? object["lastTimestamp"]?.stringValue
                            ?? object["firstTimestamp"]?.stringValue ?? object["eventTime"]?.stringValue ?? ""
                        return RFC3339.parse(time).map { .string(age(now - $0)) } ?? "<unknown>"
                    },
                    Column(name: "Type") { object, _ in string(object, "type", "") },
                    Column(name: "Reason") { object, _ in string(object, "reason", "") },
                    Column(name: "Object") { object, _ in
                        .string("\((object[path: ["involvedObject", "kind"]]?.stringValue ?? "").lowercased())/\(object[path: ["involvedObject", "name"]]?.stringValue ?? "")")
                    },
                    Column(name: "Message") { object, _ in string(object, "message", "") },
                    Column(name: "Name", format: "name", priority: 1) { object, _ in object[path: ["metadata", "name"]] ?? "" }]
        case "Job":
            return [name,
                    Column(name: "Status") { object, _ in
                        let conditions = object[path: ["status", "conditions"]]?.arrayValue ?? []
                        if conditions.contains(where: { $0["type"] == "Complete" && $0["status"] == "True" }) { return "Complete" }
                        if conditions.contains(where: { $0["type"] == "Failed" && $0["status"] == "True" }) { return "Failed" }
                        return "Running"
                    },
                    Column(name: "Completions") { object, _ in .string("\(int(object, "status.succeeded"))/\(object[path: ["spec", "completions"]]?.intValue ?? 1)") },
                    Column(name: "Duration") { _, _ in "" },
                    ageColumn]
        case "Lease":
            return [name, Column(name: "Holder") { object, _ in string(object, "spec.holderIdentity", "") }, ageColumn]
        default:
            return [name, ageColumn]
        }
    }

    static func order(_ title: String) -> Int {
        ["Desired", "Current", "Ready", "Up-to-date", "Available"].firstIndex(of: title) ?? 9
    }

    static let workloadWide: [Column] = [
        Column(name: "Containers", priority: 1) { object, _ in
            .string(containers(object[path: ["spec", "template", "spec"]]).compactMap { $0["name"]?.stringValue }.joined(separator: ","))
        },
        Column(name: "Images", priority: 1) { object, _ in
            .string(containers(object[path: ["spec", "template", "spec"]]).compactMap { $0["image"]?.stringValue }.joined(separator: ","))
        },
        Column(name: "Selector", priority: 1) { object, _ in .string(selectorText(object[path: ["spec", "selector"]])) },
    ]

    static func definitions(_ columns: [Column]) -> JSONValue {
        .array(columns.map {
            ["name": .string($0.name), "type": .string($0.type), "format": .string($0.format), "description": "",
             "priority": .int(Int64($0.priority))]
        })
    }

    /// The row's `object`, as includeObject asks (Metadata, the default: PartialObjectMetadata; Object: all; None).
    static func rowObject(_ object: JSONValue, include: String) -> JSONValue? {
        switch include {
        case "None": return nil
        case "Object": return object
        default:
            return ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"] ?? [:]]
        }
    }

    static func table(_ objects: [JSONValue], type: ResourceType, now: Double, include: String,
                      listMetadata: JSONValue, withDefinitions: Bool = true) -> JSONValue {
        let columns = columns(type)
        let rows: [JSONValue] = objects.map { object in
            // Columns read the stored form (events.k8s.io Events print as core Events do).
            let shown = type.storageVersion?.toStorage(object) ?? object
            var row: JSONValue = ["cells": .array(columns.map { $0.cell(shown, now) })]
            if let included = rowObject(object, include: include) { row["object"] = included }
            return row
        }
        return ["kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": listMetadata,
                "columnDefinitions": withDefinitions ? definitions(columns) : .array([]), "rows": .array(rows)]
    }
}

/// Event validation, which depends on the API an Event is written through: core/v1 keeps the legacy rules
/// (loose, as the old clients that write core Events need), events.k8s.io/v1 adds the rules of the newer API. The
/// paths are the core/v1 names, as Kubernetes reports them for both.
enum EventRules {
    static let maxShortField = 128
    static let maxNote = 1024

    /// The checks every Event gets: namespace consistency, and for Events with an eventTime (the newer kind) the
    /// reporting fields.
    static func legacy(_ event: JSONValue, reportingField: String) -> [FieldError] {
        var errors: [FieldError] = []
        let namespace = event[path: ["metadata", "namespace"]]?.stringValue ?? ""
        let regarding = event["involvedObject"] ?? event["regarding"]
        let regardingNamespace = regarding?["namespace"]?.stringValue ?? ""
        let hasEventTime = !(event["eventTime"]?.isNull ?? true)
        if !hasEventTime {
            if regardingNamespace.isEmpty ? !(namespace.isEmpty || namespace == "default") : regardingNamespace != namespace {
                errors.append(.invalid("involvedObject.namespace", regardingNamespace, "does not match event.namespace"))
            }
        } else {
            if regardingNamespace.isEmpty, namespace != "default", namespace != "kube-system" {
                errors.append(.invalid("involvedObject.namespace", regardingNamespace, "does not match event.namespace"))
            }
            let controller = (event["reportingComponent"] ?? event["reportingController"])?.stringValue ?? ""
            if controller.isEmpty {
                errors.append(.required(reportingField))
            } else {
                errors += Validation.qualifiedNameProblems(controller).map { .invalid(reportingField, controller, $0) }
            }
            for field in ["reportingInstance", "action", "reason"] {
                let value = event[field]?.stringValue ?? ""
                if value.isEmpty {
                    errors.append(.required(field))
                } else if value.count > maxShortField {
                    errors.append(.invalid(field, "", "can have at most \(maxShortField) characters"))
                }
            }
            let message = (event["message"] ?? event["note"])?.stringValue ?? ""
            if message.utf8.count > maxNote {
                errors.append(.invalid("message", "", "can have at most \(maxNote) characters"))
            }
        }
        return errors
    }

    /// events.k8s.io/v1's own rules on top of the legacy ones.
    static func eventsV1(_ event: JSONValue) -> [FieldError] {
        var errors = legacy(event, reportingField: "reportingController")
        if event["eventTime"]?.isNull ?? true { errors.append(.required("eventTime")) }
        let type = event["type"]?.stringValue ?? ""
        if type != "Normal", type != "Warning" { errors.append(.invalid("type", "", "has invalid value: \(type)")) }
        if let series = event["series"], !series.isNull {
            if (series["count"]?.intValue ?? 0) < 2 { errors.append(.invalid("series.count", "", "should be at least 2")) }
            if series["lastObservedTime"]?.isNull ?? true { errors.append(.required("series.lastObservedTime")) }
        }
        for (newer, legacy) in [("deprecatedFirstTimestamp", "firstTimestamp"), ("deprecatedLastTimestamp", "lastTimestamp"),
                                ("deprecatedCount", "count"), ("deprecatedSource", "source")] {
            let value = event[newer]
            let set: Bool = switch value {
            case nil, .null?: false
            case .int(let count)?: count != 0
            case .object(let fields)?: fields.values.contains { $0 != "" && !$0.isNull }
            case .string(let text)?: !text.isEmpty
            default: true
            }
            if set { errors.append(.invalid(legacy, "", "needs to be unset")) }
        }
        return errors
    }
}

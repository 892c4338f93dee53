/// The form a resource's objects take in the store when it is not the form the resource is served in. Kubernetes
/// keeps one stored version per group of cohabiting resources: events.k8s.io/v1 Events live with core/v1 Events
/// under /registry/events/ as core/v1 objects, so both APIs see every Event, whichever API wrote it.
public enum StorageVersion: Sendable, Hashable {
    /// Stored as a core/v1 Event.
    case coreEvent

    /// The stored form of a served object.
    public func toStorage(_ object: JSONValue) -> JSONValue {
        switch self {
        case .coreEvent: EventConversion.toCore(object)
        }
    }

    /// The served form of a stored object.
    public func fromStorage(_ object: JSONValue) -> JSONValue {
        switch self {
        case .coreEvent: EventConversion.toEventsV1(object)
        }
    }
}

/// events.k8s.io/v1 ⇄ core/v1 Event: the same fields under newer names (regarding for involvedObject, note for
/// message, the deprecated* fields for the legacy ones); nothing is filled in from another field.
public enum EventConversion {
    /// (events.k8s.io/v1 name, core/v1 name) of every field whose name differs.
    static let renames: [(String, String)] = [
        ("regarding", "involvedObject"), ("note", "message"), ("reportingController", "reportingComponent"),
        ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"),
    ]

    public static func toCore(_ event: JSONValue) -> JSONValue {
        guard case .object(var fields) = event else { return event }
        for (newer, legacy) in renames {
            fields[legacy] = fields.removeValue(forKey: newer)
        }
        if fields["eventTime"] == .null { fields["eventTime"] = nil }
        fields["apiVersion"] = "v1"
        fields["kind"] = "Event"
        return .object(fields)
    }

    public static func toEventsV1(_ event: JSONValue) -> JSONValue {
        guard case .object(var fields) = event else { return event }
        for (newer, legacy) in renames {
            fields[newer] = fields.removeValue(forKey: legacy)
        }
        // events.k8s.io/v1 writes eventTime even when unset (the field has no omitempty).
        if fields["eventTime"] == nil { fields["eventTime"] = .null }
        fields["apiVersion"] = "events.k8s.io/v1"
        fields["kind"] = "Event"
        return .object(fields)
    }
}

import Resources

/// A `metadata.ownerReferences` entry: which object owns this one, and whether that owner is its controller (the
/// one object that manages it; at most one per object). Controllers find their pods and ReplicaSets through it,
/// and the garbage collector deletes dependents whose owners are gone.
public struct OwnerReference: Sendable, Equatable {
    public var apiVersion: String
    public var kind: String
    public var name: String
    public var uid: String
    public var controller: Bool
    public var blockOwnerDeletion: Bool

    public init(apiVersion: String, kind: String, name: String, uid: String, controller: Bool = true, blockOwnerDeletion: Bool = true) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.name = name
        self.uid = uid
        self.controller = controller
        self.blockOwnerDeletion = blockOwnerDeletion
    }

    public init?(_ json: JSONValue) {
        guard let uid = json["uid"]?.stringValue, let kind = json["kind"]?.stringValue, let name = json["name"]?.stringValue else {
            return nil
        }
        self.init(apiVersion: json["apiVersion"]?.stringValue ?? "", kind: kind, name: name, uid: uid,
                  controller: json["controller"]?.boolValue ?? false, blockOwnerDeletion: json["blockOwnerDeletion"]?.boolValue ?? false)
    }

    /// The controller reference naming `owner` (an object of `apiVersion`/`kind`).
    public init(controllerOf owner: JSONValue, apiVersion: String, kind: String) {
        self.init(apiVersion: apiVersion, kind: kind, name: owner[path: ["metadata", "name"]]?.stringValue ?? "",
                  uid: owner[path: ["metadata", "uid"]]?.stringValue ?? "")
    }

    public var json: JSONValue {
        ["apiVersion": .string(apiVersion), "kind": .string(kind), "name": .string(name), "uid": .string(uid),
         "controller": .bool(controller), "blockOwnerDeletion": .bool(blockOwnerDeletion)]
    }

    public static func all(of object: JSONValue) -> [OwnerReference] {
        (object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).compactMap(OwnerReference.init)
    }

    /// The object's controller, if it has one.
    public static func controller(of object: JSONValue) -> OwnerReference? {
        all(of: object).first { $0.controller }
    }

    /// The object with `reference` added as its controller (it must have none).
    public static func adopting(_ object: JSONValue, by reference: OwnerReference) -> JSONValue {
        var object = object
        let existing = object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []
        object[path: ["metadata", "ownerReferences"]] = .array(existing + [reference.json])
        return object
    }

    /// The object without the owner reference to `uid`.
    public static func releasing(_ object: JSONValue, from uid: String) -> JSONValue {
        var object = object
        let kept = (object[path: ["metadata", "ownerReferences"]]?.arrayValue ?? []).filter { $0["uid"]?.stringValue != uid }
        object[path: ["metadata", "ownerReferences"]] = kept.isEmpty ? nil : .array(kept)
        return object
    }
}

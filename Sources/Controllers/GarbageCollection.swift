import Resources

/// The garbage collector's core, pure: over the graph of objects and their ownerReferences, which dependents to
/// delete (every owner is gone), which references to drop (some owners are gone, or an owner is being deleted
/// with propagationPolicy Orphan), which dependents to delete first for an owner deleted in the Foreground, and
/// when an owner's `orphan` / `foregroundDeletion` finalizer is done. Owners of a kind it does not watch are never
/// taken for gone.
public enum GarbageCollection {
    public static let orphanFinalizer = "orphan"
    public static let foregroundFinalizer = "foregroundDeletion"

    /// One object of the graph; `type` is its index in the collector's watched types.
    public struct Object: Sendable, Equatable {
        public var type: Int
        public var apiVersion: String
        public var kind: String
        public var namespace: String?
        public var name: String
        public var uid: String
        public var owners: [OwnerReference]
        public var deleting: Bool
        public var finalizers: [String]

        public init(type: Int, apiVersion: String, kind: String, json: JSONValue) {
            self.type = type
            self.apiVersion = apiVersion
            self.kind = kind
            namespace = json[path: ["metadata", "namespace"]]?.stringValue
            name = json[path: ["metadata", "name"]]?.stringValue ?? ""
            uid = json[path: ["metadata", "uid"]]?.stringValue ?? ""
            owners = OwnerReference.all(of: json)
            deleting = json[path: ["metadata", "deletionTimestamp"]] != nil
            finalizers = (json[path: ["metadata", "finalizers"]]?.arrayValue ?? []).compactMap(\.stringValue)
        }
    }

    public enum Action: Sendable, Equatable {
        /// Delete a dependent (after checking, live, that its owners are really gone when `verify`).
        case delete(Object, propagation: String, verify: [OwnerReference])
        /// Drop the references to these owners.
        case release(Object, owners: Set<String>)
        case removeFinalizer(Object, String)
    }

    /// - Parameters: `watched` holds "apiVersion/kind" of every type in the graph.
    public static func plan(_ objects: [Object], watched: Set<String>) -> [Action] {
        var byUID: [String: Object] = [:]
        var dependents: [String: [Object]] = [:]
        for object in objects {
            byUID[object.uid] = object
            for owner in object.owners { dependents[owner.uid, default: []].append(object) }
        }
        var actions: [Action] = []
        var handled = Set<String>()
        // Owners being deleted with a finalizer of ours.
        for owner in objects where owner.deleting {
            let mine = dependents[owner.uid] ?? []
            if owner.finalizers.contains(orphanFinalizer) {
                for dependent in mine {
                    actions.append(.release(dependent, owners: [owner.uid]))
                    handled.insert(dependent.uid)
                }
                if mine.isEmpty { actions.append(.removeFinalizer(owner, orphanFinalizer)) }
            } else if owner.finalizers.contains(foregroundFinalizer) {
                for dependent in mine where !dependent.deleting {
                    let blocking = dependent.owners.first { $0.uid == owner.uid }?.blockOwnerDeletion ?? false
                    actions.append(.delete(dependent, propagation: blocking ? "Foreground" : "Background", verify: []))
                    handled.insert(dependent.uid)
                }
                let blocked = mine.contains { $0.owners.first { $0.uid == owner.uid }?.blockOwnerDeletion == true }
                if !blocked { actions.append(.removeFinalizer(owner, foregroundFinalizer)) }
            }
        }
        // Dependents whose owners are gone.
        for object in objects where !object.owners.isEmpty && !object.deleting && !handled.contains(object.uid) {
            var gone: [OwnerReference] = []
            var present = 0
            for owner in object.owners {
                if let found = byUID[owner.uid], found.kind == owner.kind {
                    present += 1
                } else if watched.contains(owner.apiVersion + "/" + owner.kind) {
                    gone.append(owner)
                } else {
                    present += 1
                }
            }
            guard !gone.isEmpty else { continue }
            if present == 0 {
                actions.append(.delete(object, propagation: "Background", verify: gone))
            } else {
                actions.append(.release(object, owners: Set(gone.map(\.uid))))
            }
        }
        return actions
    }
}

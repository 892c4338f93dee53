import Resources

/// The garbage collector's core, pure: the graph of objects and their ownerReferences, kept up to date one change
/// at a time, and which actions the objects touched since the last plan need — delete dependents whose every
/// owner is gone, drop references to owners that are gone (or being deleted with propagationPolicy Orphan),
/// delete first the dependents of an owner deleted in the Foreground, and remove an owner's `orphan` /
/// `foregroundDeletion` finalizer once that is done. Owners of a kind it does not watch are never taken for gone.
///
/// Planning only what changed (an object, the owners it names, the dependents of an object that went) is what
/// lets one pass cost the size of the change, not of the cluster: with 10,000 pods arriving a whole-graph pass per
/// change was most of a master's CPU.
public struct GarbageCollection: Sendable {
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
            let metadata = json["metadata"]
            namespace = metadata?["namespace"]?.stringValue
            name = metadata?["name"]?.stringValue ?? ""
            uid = metadata?["uid"]?.stringValue ?? ""
            owners = OwnerReference.all(of: json)
            deleting = metadata?["deletionTimestamp"] != nil
            finalizers = (metadata?["finalizers"]?.arrayValue ?? []).compactMap(\.stringValue)
        }
    }

    public enum Action: Sendable, Equatable {
        /// Delete a dependent (after checking, live, that its owners are really gone when `verify`).
        case delete(Object, propagation: String, verify: [OwnerReference])
        /// Drop the references to these owners.
        case release(Object, owners: Set<String>)
        case removeFinalizer(Object, String)

        /// The object the action is about.
        public var object: Object {
            switch self {
            case .delete(let object, _, _), .release(let object, _), .removeFinalizer(let object, _): object
            }
        }
    }

    /// "apiVersion/kind" of every type in the graph.
    public let watched: Set<String>
    private var objects: [String: Object] = [:]
    /// Owner uid → the uids of the objects that name it (whether or not the owner is in the graph).
    private var dependents: [String: Set<String>] = [:]
    /// Uids to look at in the next plan.
    private var dirty: Set<String> = []

    public init(watched: Set<String>) {
        self.watched = watched
    }

    public var count: Int { objects.count }

    /// An object added or changed: it, and every owner it names now or named before, are looked at again.
    public mutating func upsert(_ object: Object) {
        let old = objects.updateValue(object, forKey: object.uid)
        for owner in old?.owners ?? [] where !object.owners.contains(where: { $0.uid == owner.uid }) {
            dependents[owner.uid]?.remove(object.uid)
            if dependents[owner.uid]?.isEmpty == true { dependents[owner.uid] = nil }
            dirty.insert(owner.uid)
        }
        for owner in object.owners {
            dependents[owner.uid, default: []].insert(object.uid)
            dirty.insert(owner.uid)
        }
        dirty.insert(object.uid)
    }

    /// An object gone: its dependents (an owner of theirs went) and its owners (a dependent went) are looked at.
    public mutating func remove(uid: String) {
        guard let old = objects.removeValue(forKey: uid) else { return }
        for owner in old.owners {
            dependents[owner.uid]?.remove(uid)
            if dependents[owner.uid]?.isEmpty == true { dependents[owner.uid] = nil }
            dirty.insert(owner.uid)
        }
        dirty.formUnion(dependents[uid] ?? [])
    }

    /// Every object is looked at in the next plan (a resync, or the first pass).
    public mutating func markAllDirty() {
        dirty.formUnion(objects.keys)
    }

    /// Looks at `uid` again in the next plan (an action on it failed and should be retried).
    public mutating func retry(uid: String) {
        dirty.insert(uid)
    }

    /// The actions the objects changed since the last plan need, in a stable order; clears what it looked at.
    public mutating func plan() -> [Action] {
        let looked = dirty.sorted()
        dirty = []
        var actions: [Action] = []
        var handled = Set<String>()
        // Owners being deleted with a finalizer of ours.
        for uid in looked {
            guard let owner = objects[uid], owner.deleting else { continue }
            let mine = (dependents[uid] ?? []).sorted().compactMap { objects[$0] }
            if owner.finalizers.contains(Self.orphanFinalizer) {
                for dependent in mine {
                    actions.append(.release(dependent, owners: [owner.uid]))
                    handled.insert(dependent.uid)
                }
                if mine.isEmpty { actions.append(.removeFinalizer(owner, Self.orphanFinalizer)) }
            } else if owner.finalizers.contains(Self.foregroundFinalizer) {
                for dependent in mine where !dependent.deleting {
                    let blocking = dependent.owners.first { $0.uid == owner.uid }?.blockOwnerDeletion ?? false
                    actions.append(.delete(dependent, propagation: blocking ? "Foreground" : "Background", verify: []))
                    handled.insert(dependent.uid)
                }
                let blocked = mine.contains { $0.owners.first { $0.uid == owner.uid }?.blockOwnerDeletion == true }
                if !blocked { actions.append(.removeFinalizer(owner, Self.foregroundFinalizer)) }
            }
        }
        // Dependents whose owners are gone.
        for uid in looked where !handled.contains(uid) {
            guard let object = objects[uid], !object.owners.isEmpty, !object.deleting else { continue }
            var gone: [OwnerReference] = []
            var present = 0
            for owner in object.owners {
                if let found = objects[owner.uid], found.kind == owner.kind {
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

    /// The actions a graph of exactly `objects` needs (every object looked at).
    public static func plan(_ objects: [Object], watched: Set<String>) -> [Action] {
        var graph = GarbageCollection(watched: watched)
        for object in objects { graph.upsert(object) }
        return graph.plan()
    }
}

import ClusterClient
import Resources

extension ObjectCache.Indexer {
    /// Files an object under its controller's uid, so that "the pods of this ReplicaSet" needs no scan.
    public static let controller = ObjectCache.Indexer(name: "controller") { object in
        OwnerReference.controller(of: object).map { [$0.uid] } ?? []
    }

    /// Files an object under each of its owners' uids (what the garbage collector asks).
    public static let owners = ObjectCache.Indexer(name: "owners") { object in
        OwnerReference.all(of: object).map(\.uid)
    }
}

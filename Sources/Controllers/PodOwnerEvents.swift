import ClusterClient
import Resources

/// The pod events a controller of `kind` cares about: each pod whose controller is one of its objects (checked by
/// uid against `owners`' cache) notes the event in `control`'s expectations and enqueues the owner's key.
struct PodOwnerEvents: Sendable {
    let kind: String
    let owners: Informer
    let control: PodControl
    let loop: ControllerLoop

    func handle(_ event: Informer.Event) {
        let object: JSONValue
        switch event {
        case .added(let pod), .updated(_, let pod), .deleted(let pod): object = pod
        }
        guard let owner = OwnerReference.controller(of: object), owner.kind == kind else { return }
        let key = ObjectCache.key(namespace: object[path: ["metadata", "namespace"]]?.stringValue, name: owner.name)
        guard owners.cache.object(forKey: key)?[path: ["metadata", "uid"]]?.stringValue == owner.uid else { return }
        control.observed(event, key: key)
        loop.enqueue(key)
    }

    /// The owner's events: enqueue it (and drop its expectations when it is gone).
    func handleOwner(_ event: Informer.Event) {
        switch event {
        case .added(let object), .updated(_, let object):
            loop.enqueue(ObjectCache.key(of: object))
        case .deleted(let object):
            let key = ObjectCache.key(of: object)
            control.forget(key)
            loop.enqueue(key)
        }
    }
}

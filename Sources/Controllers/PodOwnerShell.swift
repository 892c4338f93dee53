import ClusterClient
import Resources

/// What the shells of pod-owning controllers (Job, StatefulSet, DaemonSet) share: pod events routed to their
/// owner's key (checked by uid against the owners' cache) with the expectations they satisfy, owner events, and
/// the start of a sync — the owner, its pods less those being deleted, and whether the cache can be trusted —
/// read in that order (expectations first, so a pod added in between is in the list, never created twice).
struct PodOwnerShell: Sendable {
    let apiVersion: String
    let kind: String
    let owners: Informer
    let pods: Informer
    let control: PodControl
    let loop: ControllerLoop

    /// What a sync starts from.
    struct Observed {
        var object: JSONValue
        var namespace: String
        var owned: [PodView]
        /// The owner as events' involvedObject.
        var involved: JSONValue
        var satisfied: Bool
    }

    init(apiVersion: String, kind: String, owners: Informer, pods: Informer, control: PodControl, loop: ControllerLoop) {
        self.apiVersion = apiVersion
        self.kind = kind
        self.owners = owners
        self.pods = pods
        self.control = control
        self.loop = loop
        let shell = self
        owners.addHandler { shell.handleOwner($0) }
        pods.addHandler { shell.handle($0) }
    }

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

    func enqueueAll() {
        for key in owners.cache.keys { loop.enqueue(key) }
    }

    /// The owner of `key` and its pods; nil (its expectations forgotten) when it is gone.
    func observe(_ key: String) -> Observed? {
        let satisfied = control.isSatisfied(key)
        guard let object = owners.cache.object(forKey: key) else {
            control.forget(key)
            return nil
        }
        let uid = object[path: ["metadata", "uid"]]?.stringValue ?? ""
        let deleting = control.pendingDeletions(key)
        let owned = pods.cache.objects(index: "controller", value: uid).map(PodView.init).filter { !deleting.contains($0.key) }
        return Observed(object: object, namespace: object[path: ["metadata", "namespace"]]?.stringValue ?? "default", owned: owned,
                        involved: reference(to: object, apiVersion: apiVersion, kind: kind), satisfied: satisfied)
    }

    /// The sync's outcome, or a look when unmet expectations lapse.
    func outcome(_ outcome: ControllerLoop.Outcome, for key: String, satisfied: Bool) -> ControllerLoop.Outcome {
        guard !satisfied, let lapse = control.secondsUntilLapse(key) else { return outcome }
        return .requeue(after: max(lapse, 0.1))
    }
}

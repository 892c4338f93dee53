import Controllers
import Resources
import Testing

@Suite struct GarbageCollectionTests {
    static let watched: Set<String> = ["apps/v1/Deployment", "apps/v1/ReplicaSet", "v1/Pod"]

    static func object(_ kind: String, _ name: String, owners: [(kind: String, name: String, block: Bool)] = [],
                       deleting: Bool = false, finalizers: [String] = []) -> GarbageCollection.Object {
        let apiVersion = kind == "Pod" ? "v1" : "apps/v1"
        var json: JSONValue = ["metadata": ["name": .string(name), "namespace": "default", "uid": .string("uid-" + name)]]
        if !owners.isEmpty {
            json[path: ["metadata", "ownerReferences"]] = .array(owners.map { owner in
                OwnerReference(apiVersion: owner.kind == "Pod" ? "v1" : "apps/v1", kind: owner.kind, name: owner.name,
                               uid: "uid-" + owner.name, controller: true, blockOwnerDeletion: owner.block).json
            })
        }
        if deleting { json[path: ["metadata", "deletionTimestamp"]] = "2026-12-02T00:00:00Z" }
        if !finalizers.isEmpty { json[path: ["metadata", "finalizers"]] = .array(finalizers.map { .string($0) }) }
        return GarbageCollection.Object(type: 0, apiVersion: apiVersion, kind: kind, json: json)
    }

    @Test func dependentsOfAGoneOwnerAreDeletedAfterALiveCheck() {
        let set = Self.object("ReplicaSet", "web", owners: [("Deployment", "gone", true)])
        let pod = Self.object("Pod", "web-1", owners: [("ReplicaSet", "web", true)])
        let actions = GarbageCollection.plan([set, pod], watched: Self.watched)
        #expect(actions == [.delete(set, propagation: "Background", verify: set.owners)])
    }

    @Test func aDependentWithAnotherOwnerLeftOnlyLosesTheReference() {
        let pod = Self.object("Pod", "p", owners: [("ReplicaSet", "gone", true), ("ReplicaSet", "here", false)])
        let here = Self.object("ReplicaSet", "here")
        #expect(GarbageCollection.plan([pod, here], watched: Self.watched) == [.release(pod, owners: ["uid-gone"])])
    }

    @Test func ownersOfKindsNotWatchedAreNeverTakenForGone() {
        let pod = Self.object("Pod", "p", owners: [("StatefulSet", "db", true)])
        #expect(GarbageCollection.plan([pod], watched: Self.watched).isEmpty)
    }

    @Test func orphaningReleasesTheDependentsThenTheOwner() {
        let owner = Self.object("ReplicaSet", "web", deleting: true, finalizers: ["orphan"])
        let pod = Self.object("Pod", "web-1", owners: [("ReplicaSet", "web", true)])
        #expect(GarbageCollection.plan([owner, pod], watched: Self.watched) == [.release(pod, owners: ["uid-web"])])
        #expect(GarbageCollection.plan([owner], watched: Self.watched) == [.removeFinalizer(owner, "orphan")])
    }

    @Test func foregroundDeletionWaitsForBlockingDependents() {
        let owner = Self.object("Deployment", "web", deleting: true, finalizers: ["foregroundDeletion"])
        let set = Self.object("ReplicaSet", "web-1", owners: [("Deployment", "web", true)])
        #expect(GarbageCollection.plan([owner, set], watched: Self.watched) == [.delete(set, propagation: "Foreground", verify: [])])
        let going = Self.object("ReplicaSet", "web-1", owners: [("Deployment", "web", true)], deleting: true, finalizers: ["foregroundDeletion"])
        // The dependent is being deleted (its own foreground deletion): the owner still waits.
        #expect(!GarbageCollection.plan([owner, going], watched: Self.watched).contains(.removeFinalizer(owner, "foregroundDeletion")))
        let loose = Self.object("ReplicaSet", "web-2", owners: [("Deployment", "web", false)])
        #expect(GarbageCollection.plan([owner, loose], watched: Self.watched)
            == [.delete(loose, propagation: "Background", verify: []), .removeFinalizer(owner, "foregroundDeletion")])
        #expect(GarbageCollection.plan([owner], watched: Self.watched) == [.removeFinalizer(owner, "foregroundDeletion")])
    }

    @Test func aPassLooksOnlyAtWhatChangedSinceTheLast() {
        var graph = GarbageCollection(watched: Self.watched)
        let set = Self.object("ReplicaSet", "web")
        let pods = (0..<3).map { Self.object("Pod", "web-\($0)", owners: [("ReplicaSet", "web", true)]) }
        graph.upsert(set)
        for pod in pods { graph.upsert(pod) }
        #expect(graph.plan().isEmpty)
        // Nothing changed: nothing to do, and nothing looked at.
        #expect(graph.plan().isEmpty)
        // The owner goes: each dependent is planned for deletion, once.
        graph.remove(uid: set.uid)
        #expect(graph.plan() == pods.map { .delete($0, propagation: "Background", verify: $0.owners) })
        #expect(graph.plan().isEmpty)
        // A dependent that arrives naming the gone owner.
        let late = Self.object("Pod", "web-9", owners: [("ReplicaSet", "web", true)])
        graph.upsert(late)
        #expect(graph.plan() == [.delete(late, propagation: "Background", verify: late.owners)])
    }

    @Test func aFailedActionIsPlannedAgainAfterARetryAndEverythingAfterAResync() {
        var graph = GarbageCollection(watched: Self.watched)
        let pod = Self.object("Pod", "p", owners: [("ReplicaSet", "gone", true)])
        graph.upsert(pod)
        let first = graph.plan()
        #expect(first == [.delete(pod, propagation: "Background", verify: pod.owners)])
        #expect(graph.plan().isEmpty)
        graph.retry(uid: pod.uid)
        #expect(graph.plan() == first)
        graph.markAllDirty()
        #expect(graph.plan() == first)
    }

    @Test func anOrphaningOwnerLosesItsFinalizerOnceItsLastDependentIsReleasedOrGone() {
        var graph = GarbageCollection(watched: Self.watched)
        let owner = Self.object("ReplicaSet", "web", deleting: true, finalizers: ["orphan"])
        let kept = Self.object("Pod", "web-1", owners: [("ReplicaSet", "web", true)])
        let dying = Self.object("Pod", "web-2", owners: [("ReplicaSet", "web", true)])
        graph.upsert(owner)
        graph.upsert(kept)
        graph.upsert(dying)
        #expect(graph.plan() == [.release(kept, owners: ["uid-web"]), .release(dying, owners: ["uid-web"])])
        // The release lands (the informer shows the pod without the reference): the owner, looked at again, still
        // waits for the other pod; which is then deleted.
        graph.upsert(Self.object("Pod", "web-1"))
        #expect(graph.plan() == [.release(dying, owners: ["uid-web"])])
        graph.remove(uid: dying.uid)
        #expect(graph.plan() == [.removeFinalizer(owner, "orphan")])
    }

    @Test func aForegroundOwnerIsFinishedWhenItsBlockingDependentGoes() {
        var graph = GarbageCollection(watched: Self.watched)
        let owner = Self.object("Deployment", "web", deleting: true, finalizers: ["foregroundDeletion"])
        let going = Self.object("ReplicaSet", "web-1", owners: [("Deployment", "web", true)], deleting: true)
        graph.upsert(owner)
        graph.upsert(going)
        #expect(graph.plan().isEmpty)
        graph.remove(uid: going.uid)
        #expect(graph.plan() == [.removeFinalizer(owner, "foregroundDeletion")])
        #expect(graph.count == 1)
    }
}

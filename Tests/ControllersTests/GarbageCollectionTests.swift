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
}

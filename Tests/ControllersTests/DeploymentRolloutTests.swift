import Controllers
import Resources
import Testing

@Suite struct DeploymentRolloutTests {
    /// Rolling updates under random schedules: at no moment more than replicas + maxSurge pods, or fewer than
    /// replicas − maxUnavailable ready ones, and every rollout completes.
    @Test(arguments: 0..<40)
    func aRollingUpdateStaysWithinItsBoundsAndCompletes(seed: Int) {
        var random = SplitMix(seed: UInt64(seed) &* 7919)
        let replicas = Int(random.next() % 12) + 1
        let bounds: [(JSONValue, JSONValue)] = [("25%", "25%"), (1, 0), (0, 1), (3, 2), ("50%", "0%"), ("100%", "100%")]
        let (surge, unavailable) = bounds[Int(random.next() % UInt64(bounds.count))]
        var world = RolloutWorld(deployment: RolloutWorld.deployment(replicas: replicas, maxSurge: surge, maxUnavailable: unavailable),
                                 seed: UInt64(seed))
        let settled1 = world.settle()
        #expect(settled1, "the first rollout never completed")
        let maxSurge = IntOrPercent(surge)?.resolve(replicas, roundUp: true) ?? 0
        var maxUnavailable = IntOrPercent(unavailable)?.resolve(replicas, roundUp: false) ?? 0
        if maxSurge == 0 && maxUnavailable == 0 { maxUnavailable = 1 }
        for version in 2...3 {
            world.setImage("app:\(version)")
            var worst = (most: 0, fewestReady: replicas)
            let done = world.settle { world in
                let active = world.activePods
                worst.most = max(worst.most, active.count)
                worst.fewestReady = min(worst.fewestReady, active.filter(\.isReady).count)
            }
            #expect(done, "seed \(seed): rollout to app:\(version) did not complete")
            #expect(worst.most <= replicas + maxSurge, "seed \(seed): \(worst.most) pods > \(replicas) + \(maxSurge)")
            #expect(worst.fewestReady >= replicas - maxUnavailable, "seed \(seed): \(worst.fewestReady) ready < \(replicas) − \(maxUnavailable)")
            let images = Set(world.activePods.map { $0.object[path: ["spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue ?? "" })
            #expect(images == ["app:\(version)"])
        }
        #expect(world.deployment[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]] == "3")
        // revisionHistoryLimit 2: the current set and at most two old ones.
        #expect(world.sets.count <= 3, "\(world.sets.keys.sorted())")
    }

    @Test func recreateStopsEveryOldPodBeforeStartingNewOnes() {
        var world = RolloutWorld(deployment: RolloutWorld.deployment(replicas: 5, strategy: "Recreate"), seed: 3)
        let settled2 = world.settle()
        #expect(settled2)
        world.setImage("app:2")
        var mixed = false
        let done = world.settle { world in
            let images = Set(world.pods.values.map { $0[path: ["spec", "containers"]]?.arrayValue?.first?["image"]?.stringValue ?? "" })
            if images.count > 1 { mixed = true }
        }
        #expect(done)
        #expect(!mixed, "old and new pods existed at once")
    }

    @Test func aRollbackReusesTheOldReplicaSetUnderTheNextRevision() {
        var world = RolloutWorld(deployment: RolloutWorld.deployment(replicas: 3), seed: 5)
        let settled3 = world.settle()
        #expect(settled3)
        let first = Set(world.sets.keys)
        world.setImage("app:2")
        let settled4 = world.settle()
        #expect(settled4)
        world.setImage("app:1")
        let settled5 = world.settle()
        #expect(settled5)
        let current = world.sets.values.first { ReplicaSetView($0).replicas == 3 }
        #expect(current.map { first.contains($0[path: ["metadata", "name"]]?.stringValue ?? "") } == true)
        #expect(current?[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]] == "3")
        #expect(current?[path: ["metadata", "annotations", "deployment.kubernetes.io/revision-history"]] == "1")
        #expect(world.deployment[path: ["metadata", "annotations", "deployment.kubernetes.io/revision"]] == "3")
    }

    @Test func conditionsSayWhatTheRolloutDid() {
        var world = RolloutWorld(deployment: RolloutWorld.deployment(replicas: 2), seed: 9)
        world.runDeployment()
        let created = world.deployment[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Progressing" }
        #expect(created?["reason"] == "NewReplicaSetCreated")
        #expect(world.events.first?.hasPrefix("ScalingReplicaSet: Scaled up replica set web-") == true)
        let settled6 = world.settle()
        #expect(settled6)
        world.runDeployment()
        let conditions = world.deployment[path: ["status", "conditions"]]?.arrayValue ?? []
        let progressing = conditions.first { $0["type"] == "Progressing" }
        let available = conditions.first { $0["type"] == "Available" }
        #expect(progressing?["reason"] == "NewReplicaSetAvailable" && progressing?["status"] == "True")
        #expect(progressing?["message"]?.stringValue?.hasSuffix("has successfully progressed.") == true)
        #expect(available?["reason"] == "MinimumReplicasAvailable" && available?["status"] == "True")
        // Nothing changes: nothing is written.
        let before = world.deployment
        world.runDeployment()
        #expect(world.deployment == before)
    }

    @Test func aRolloutPastItsDeadlineTimesOutAndAutoRevertGoesBack() {
        var spec = RolloutWorld.deployment(replicas: 3)
        spec[path: ["metadata", "annotations"]] = ["podium.dev/auto-revert": "true"]
        var world = RolloutWorld(deployment: spec, seed: 11)
        let settled7 = world.settle()
        #expect(settled7)
        world.readyDelay = nil
        world.setImage("app:broken")
        for _ in 0..<200 { world.step() }
        #expect(world.events.contains { $0.hasPrefix("AutoReverted: Rolled back to revision 1: revision 2 did not progress within 60 seconds") },
                "\(world.events)")
        let image = world.deployment[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]
        #expect(image == "app:1")
        world.readyDelay = 1...2
        let settled8 = world.settle()
        #expect(settled8)
        let broken = world.sets.values.first { ($0[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"]) == "app:broken" }
        #expect(broken?[path: ["metadata", "annotations", "podium.dev/rollout-failed"]] != nil)
        #expect(ReplicaSetView(broken ?? [:]).replicas == 0)
    }

    @Test func withoutAutoRevertATimedOutRolloutStaysAndSaysSo() {
        var world = RolloutWorld(deployment: RolloutWorld.deployment(replicas: 3), seed: 12)
        let settled9 = world.settle()
        #expect(settled9)
        world.readyDelay = nil
        world.setImage("app:broken")
        for _ in 0..<300 { world.step() }
        let progressing = world.deployment[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Progressing" }
        #expect(progressing?["status"] == "False" && progressing?["reason"] == "ProgressDeadlineExceeded", "\(String(describing: progressing))")
        #expect(world.deployment[path: ["spec", "template", "spec", "containers"]]?.arrayValue?.first?["image"] == "app:broken")
        // Old pods still serve: no more than maxUnavailable (0 of 3 at 25 %) went.
        #expect(world.activePods.filter(\.isReady).count >= 3)
    }

    @Test func aPausedDeploymentDoesNotRollOut() {
        var world = RolloutWorld(deployment: RolloutWorld.deployment(replicas: 2), seed: 13)
        let settled10 = world.settle()
        #expect(settled10)
        world.deployment[path: ["spec", "paused"]] = true
        world.setImage("app:2")
        for _ in 0..<100 { world.step() }
        #expect(world.sets.count == 1)
        let progressing = world.deployment[path: ["status", "conditions"]]?.arrayValue?.first { $0["type"] == "Progressing" }
        #expect(progressing?["reason"] == "DeploymentPaused" && progressing?["status"] == "Unknown")
        world.deployment[path: ["spec", "paused"]] = false
        let settled11 = world.settle()
        #expect(settled11)
        #expect(world.sets.count == 2)
    }

    @Test func hashesAreStableAndDifferByTemplate() {
        var world = RolloutWorld(deployment: RolloutWorld.deployment(replicas: 1), seed: 1)
        world.runDeployment()
        var again = RolloutWorld(deployment: RolloutWorld.deployment(replicas: 1), seed: 2)
        again.runDeployment()
        #expect(Set(world.sets.keys) == Set(again.sets.keys))
        var other = RolloutWorld(deployment: RolloutWorld.deployment(replicas: 1, image: "app:9"), seed: 1)
        other.runDeployment()
        #expect(Set(world.sets.keys) != Set(other.sets.keys))
        let name = world.sets.keys.first ?? ""
        #expect(name.hasPrefix("web-") && name.dropFirst(4).allSatisfy { "bcdfghjklmnpqrstvwxz2456789".contains($0) })
    }

    @Test func percentagesRoundAsKubernetesDoes() {
        #expect(IntOrPercent("25%")?.resolve(10, roundUp: true) == 3)
        #expect(IntOrPercent("25%")?.resolve(10, roundUp: false) == 2)
        #expect(IntOrPercent(.int(2))?.resolve(10, roundUp: true) == 2)
        #expect(IntOrPercent("3")?.resolve(10, roundUp: true) == 3)
        #expect(IntOrPercent("x%") == nil)
    }
}

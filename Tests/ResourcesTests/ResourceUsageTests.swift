import Resources
import Testing

@Suite struct ResourceUsageTests {
    static let pods = ResourceType.find(group: "", version: "v1", plural: "pods")

    @Test func aPodCountsItsRequestsAndLimitsAndInitContainersAtTheirMost() throws {
        let pod: JSONValue = ["spec": [
            "containers": [["resources": ["requests": ["cpu": "250m", "memory": "64Mi"], "limits": ["cpu": "1"]]],
                           ["resources": ["requests": ["cpu": "250m"]]]],
            "initContainers": [["resources": ["requests": ["cpu": "2"]]]],
        ]]
        let usage = ResourceUsage.of(pod, type: try #require(Self.pods))
        #expect(usage["pods"] == 1000 && usage["count/pods"] == 1000)
        #expect(usage["requests.cpu"] == 2000 && usage["cpu"] == 2000)
        let memory: Int64 = 64 * 1024 * 1024 * 1000
        #expect(usage["requests.memory"] == memory)
        #expect(usage["limits.cpu"] == 1000)
        var finished = pod
        finished["status"] = ["phase": "Succeeded"]
        #expect(ResourceUsage.of(finished, type: try #require(Self.pods)).isEmpty)
    }

    @Test func theExceededMessageIsKubernetes() {
        let message = ResourceUsage.exceeded(quota: "compute", hard: ["pods": 2000, "requests.cpu": 1000],
                                             used: ["pods": 2000, "requests.cpu": 600], requested: ["pods": 1000, "requests.cpu": 300])
        #expect(message == "exceeded quota: compute, requested: pods=1, used: pods=2, limited: pods=2")
        #expect(ResourceUsage.exceeded(quota: "q", hard: ["pods": 3000], used: ["pods": 2000], requested: ["pods": 1000]) == nil)
    }

    @Test func amountsFormatAsQuantities() {
        #expect(ResourceUsage.format(500, resource: "requests.cpu") == "500m")
        #expect(ResourceUsage.format(2000, resource: "cpu") == "2")
        #expect(ResourceUsage.format(1024 * 1024 * 1024 * 1000, resource: "limits.memory") == "1Gi")
        #expect(ResourceUsage.format(1536 * 1024 * 1024 * 1000, resource: "memory") == "1536Mi")
    }

    @Test func limitRangesDefaultAndBound() {
        let range: JSONValue = ["spec": ["limits": [["type": "Container", "default": ["cpu": "500m"], "defaultRequest": ["cpu": "100m"],
                                                      "max": ["cpu": "1"]]]]]
        var pod: JSONValue = ["spec": ["containers": [["name": "a"], ["name": "b", "resources": ["limits": ["cpu": "800m"]]]]]]
        #expect(LimitRangeDefaults.apply([range], to: &pod) == nil)
        let containers = pod[path: ["spec", "containers"]]?.arrayValue ?? []
        #expect(containers[0]["resources"] == ["limits": ["cpu": "500m"], "requests": ["cpu": "100m"]])
        // A request left unset takes the range's defaultRequest (the limit only without one).
        #expect(containers[1][path: ["resources", "requests", "cpu"]] == "100m")
        var big: JSONValue = ["spec": ["containers": [["name": "a", "resources": ["limits": ["cpu": "2"]]]]]]
        #expect(LimitRangeDefaults.apply([range], to: &big) == "maximum cpu usage per Container is 1, but limit is 2")
    }
}

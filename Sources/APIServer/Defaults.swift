import Resources

/// The defaults Kubernetes fills in when an object is decoded (its SetDefaults functions), so that what is
/// stored and returned is what kubectl and controllers expect to read back: a Deployment's strategy, a
/// container's pull policy, a Service port's target port.
enum Defaults {
    static func apply(_ object: inout JSONValue, type: ResourceType) {
        switch type.kind {
        case "Pod":
            podSpec(&object, at: ["spec"])
            setIfMissing(&object, ["spec", "serviceAccountName"], "default")
            setIfMissing(&object, ["spec", "priority"], 0)
            // Kubernetes' DefaultTolerationSeconds admission gives 300 s; Podium's store and heartbeats are fast
            // enough that pods of a dead node move after 10 s.
            if (object[path: ["spec", "tolerations"]]?.arrayValue ?? []).isEmpty {
                object[path: ["spec", "tolerations"]] = [
                    ["key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10],
                    ["key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10],
                ]
            }
        case "Deployment":
            setIfMissing(&object, ["spec", "replicas"], 1)
            setIfMissing(&object, ["spec", "strategy", "type"], "RollingUpdate")
            if object[path: ["spec", "strategy", "type"]] == "RollingUpdate" {
                setIfMissing(&object, ["spec", "strategy", "rollingUpdate", "maxUnavailable"], "25%")
                setIfMissing(&object, ["spec", "strategy", "rollingUpdate", "maxSurge"], "25%")
            }
            setIfMissing(&object, ["spec", "revisionHistoryLimit"], 10)
            setIfMissing(&object, ["spec", "progressDeadlineSeconds"], 600)
            template(&object, at: ["spec", "template"])
        case "ReplicaSet", "ReplicationController":
            setIfMissing(&object, ["spec", "replicas"], 1)
            template(&object, at: ["spec", "template"])
        case "StatefulSet":
            setIfMissing(&object, ["spec", "replicas"], 1)
            setIfMissing(&object, ["spec", "podManagementPolicy"], "OrderedReady")
            setIfMissing(&object, ["spec", "updateStrategy", "type"], "RollingUpdate")
            if object[path: ["spec", "updateStrategy", "type"]] == "RollingUpdate" {
                setIfMissing(&object, ["spec", "updateStrategy", "rollingUpdate", "partition"], 0)
            }
            setIfMissing(&object, ["spec", "revisionHistoryLimit"], 10)
            setIfMissing(&object, ["spec", "persistentVolumeClaimRetentionPolicy", "whenDeleted"], "Retain")
            setIfMissing(&object, ["spec", "persistentVolumeClaimRetentionPolicy", "whenScaled"], "Retain")
            template(&object, at: ["spec", "template"])
        case "DaemonSet":
            setIfMissing(&object, ["spec", "updateStrategy", "type"], "RollingUpdate")
            if object[path: ["spec", "updateStrategy", "type"]] == "RollingUpdate" {
                setIfMissing(&object, ["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], 1)
                setIfMissing(&object, ["spec", "updateStrategy", "rollingUpdate", "maxSurge"], 0)
            }
            setIfMissing(&object, ["spec", "revisionHistoryLimit"], 10)
            template(&object, at: ["spec", "template"])
        case "Job":
            job(&object, at: ["spec"], uid: object[path: ["metadata", "uid"]]?.stringValue)
        case "CronJob":
            setIfMissing(&object, ["spec", "concurrencyPolicy"], "Allow")
            setIfMissing(&object, ["spec", "suspend"], false)
            setIfMissing(&object, ["spec", "successfulJobsHistoryLimit"], 3)
            setIfMissing(&object, ["spec", "failedJobsHistoryLimit"], 1)
            job(&object, at: ["spec", "jobTemplate", "spec"], uid: nil)
        case "Service":
            service(&object)
        case "Secret":
            setIfMissing(&object, ["type"], "Opaque")
            // stringData is write-only: merged into data, base64-encoded, and not stored.
            if let strings = object["stringData"]?.stringMap {
                var data = object["data"]?.objectValue ?? [:]
                for (key, value) in strings { data[key] = .string(Base64.encode(Array(value.utf8))) }
                object["data"] = .object(data)
                object["stringData"] = nil
            }
        case "Namespace":
            setIfMissing(&object, ["spec", "finalizers"], ["kubernetes"])
            setIfMissing(&object, ["status", "phase"], "Active")
        case "PersistentVolumeClaim":
            setIfMissing(&object, ["spec", "volumeMode"], "Filesystem")
        default:
            break
        }
    }

    static func setIfMissing(_ object: inout JSONValue, _ path: [String], _ value: JSONValue) {
        if object[path: path] == nil { object[path: path] = value }
    }

    static func template(_ object: inout JSONValue, at path: [String]) {
        guard object[path: path] != nil else { return }
        podSpec(&object, at: path + ["spec"])
    }

    static func job(_ object: inout JSONValue, at path: [String], uid: String?) {
        guard object[path: path] != nil else { return }
        if object[path: path + ["completions"]] == nil, object[path: path + ["parallelism"]] == nil {
            object[path: path + ["completions"]] = 1
        }
        setIfMissing(&object, path + ["parallelism"], 1)
        setIfMissing(&object, path + ["backoffLimit"], 6)
        setIfMissing(&object, path + ["completionMode"], "NonIndexed")
        setIfMissing(&object, path + ["suspend"], false)
        setIfMissing(&object, path + ["podReplacementPolicy"], "TerminatingOrFailed")
        // A Job's pods are selected by its own uid unless it says otherwise, as the Job strategy generates.
        if let uid, object[path: path + ["manualSelector"]]?.boolValue != true, object[path: path + ["selector"]] == nil {
            object[path: path + ["selector"]] = ["matchLabels": ["batch.kubernetes.io/controller-uid": .string(uid)]]
            var labels = object[path: path + ["template", "metadata", "labels"]]?.objectValue ?? [:]
            labels["batch.kubernetes.io/controller-uid"] = .string(uid)
            labels["controller-uid"] = .string(uid)
            labels["batch.kubernetes.io/job-name"] = object[path: ["metadata", "name"]] ?? ""
            labels["job-name"] = object[path: ["metadata", "name"]] ?? ""
            object[path: path + ["template", "metadata", "labels"]] = .object(labels)
        }
        setIfMissing(&object, path + ["template", "spec", "restartPolicy"], "Never")
        template(&object, at: path + ["template"])
    }

    static func podSpec(_ object: inout JSONValue, at path: [String]) {
        guard var spec = object[path: path] else { return }
        setIfMissing(&spec, ["restartPolicy"], "Always")
        setIfMissing(&spec, ["terminationGracePeriodSeconds"], 30)
        setIfMissing(&spec, ["dnsPolicy"], "ClusterFirst")
        setIfMissing(&spec, ["securityContext"], [:])
        setIfMissing(&spec, ["schedulerName"], "default-scheduler")
        setIfMissing(&spec, ["enableServiceLinks"], true)
        for list in ["initContainers", "containers"] {
            guard let containers = spec[list]?.arrayValue else { continue }
            spec[list] = .array(containers.map(container))
        }
        object[path: path] = spec
    }

    static func container(_ value: JSONValue) -> JSONValue {
        var container = value
        setIfMissing(&container, ["terminationMessagePath"], "/dev/termination-log")
        setIfMissing(&container, ["terminationMessagePolicy"], "File")
        setIfMissing(&container, ["resources"], [:])
        if container["imagePullPolicy"] == nil {
            let image = container["image"]?.stringValue ?? ""
            container["imagePullPolicy"] = imageIsLatest(image) ? "Always" : "IfNotPresent"
        }
        if let ports = container["ports"]?.arrayValue {
            container["ports"] = .array(ports.map { port in
                var port = port
                setIfMissing(&port, ["protocol"], "TCP")
                return port
            })
        }
        return container
    }

    /// An image with no tag, or the tag "latest", and no digest.
    static func imageIsLatest(_ image: String) -> Bool {
        if image.contains("@") { return false }
        let lastPart = image.split(separator: "/").last.map(String.init) ?? image
        guard let colon = lastPart.lastIndex(of: ":") else { return true }
        return lastPart[lastPart.index(after: colon)...] == "latest"
    }

    static func service(_ object: inout JSONValue) {
        setIfMissing(&object, ["spec", "type"], "ClusterIP")
        setIfMissing(&object, ["spec", "sessionAffinity"], "None")
        if object[path: ["spec", "type"]] != "ExternalName" {
            setIfMissing(&object, ["spec", "ipFamilyPolicy"], "SingleStack")
            setIfMissing(&object, ["spec", "ipFamilies"], ["IPv4"])
            setIfMissing(&object, ["spec", "internalTrafficPolicy"], "Cluster")
        }
        if let ports = object[path: ["spec", "ports"]]?.arrayValue {
            object[path: ["spec", "ports"]] = .array(ports.map { port in
                var port = port
                setIfMissing(&port, ["protocol"], "TCP")
                if port["targetPort"] == nil || port["targetPort"] == .int(0) || port["targetPort"] == "" {
                    port["targetPort"] = port["port"] ?? .null
                }
                return port
            })
        }
    }
}

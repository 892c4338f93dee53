import Resources
import Testing

/// Kubernetes' protobuf bodies, built here field by field as kubectl 1.32 encodes them.
@Suite struct ProtobufObjectDecoderTests {
    func varint(_ value: UInt64) -> [UInt8] {
        var value = value, out: [UInt8] = []
        while value >= 0x80 { out.append(UInt8(value & 0x7F) | 0x80); value >>= 7 }
        return out + [UInt8(value)]
    }

    func field(_ number: Int, _ bytes: [UInt8]) -> [UInt8] {
        varint(UInt64(number << 3 | 2)) + varint(UInt64(bytes.count)) + bytes
    }

    func field(_ number: Int, _ text: String) -> [UInt8] { field(number, Array(text.utf8)) }

    func number(_ number: Int, _ value: Int64) -> [UInt8] {
        varint(UInt64(number << 3)) + varint(UInt64(bitPattern: value))
    }

    func envelope(_ apiVersion: String, _ kind: String, _ raw: [UInt8]) -> [UInt8] {
        ProtobufObjectDecoder.magic + field(1, field(1, apiVersion) + field(2, kind)) + field(2, raw)
    }

    @Test func aDeploymentFromKubectlCreateDecodes() throws {
        let labels = field(11, field(1, "app") + field(2, "web"))
        let metadata = field(1, "web") + labels
        let container = field(1, "x") + field(2, "nginx") + field(8, field(2, field(1, "cpu") + field(2, field(1, "100m"))))
        let podSpec = field(2, container)
        let template = field(1, labels) + field(2, podSpec)
        let selector = field(1, field(1, "app") + field(2, "web"))
        let strategy = field(2, field(1, number(1, 0) + number(2, 25)))  // maxUnavailable: IntOrString 25
        let spec = number(1, 3) + field(2, selector) + field(3, template) + field(4, strategy)
        let body = envelope("apps/v1", "Deployment", field(1, metadata) + field(2, spec))

        let object = try ProtobufObjectDecoder().decode(body, as: "apps.v1.Deployment")
        #expect(object["apiVersion"] == "apps/v1" && object["kind"] == "Deployment")
        #expect(object[path: ["metadata", "name"]] == "web")
        #expect(object[path: ["metadata", "labels"]] == ["app": "web"])
        #expect(object[path: ["spec", "replicas"]] == 3)
        #expect(object[path: ["spec", "selector", "matchLabels"]] == ["app": "web"])
        #expect(object[path: ["spec", "strategy", "rollingUpdate", "maxUnavailable"]] == 25)
        let containers = object[path: ["spec", "template", "spec", "containers"]]
        #expect(containers == [["name": "x", "image": "nginx", "resources": ["requests": ["cpu": "100m"]]]])
    }

    @Test func secretBytesBecomeBase64() throws {
        let data = field(2, field(1, "password") + field(2, "s3cret"))
        let body = envelope("v1", "Secret", field(1, field(1, "sec")) + data)
        let object = try ProtobufObjectDecoder().decode(body, as: "core.v1.Secret")
        #expect(object["data"] == ["password": "czNjcmV0"])
    }

    @Test func truncatedAndForeignBodiesAreRefused() throws {
        let good = envelope("v1", "Namespace", field(1, field(1, "team-a")))
        #expect(try ProtobufObjectDecoder().decode(good, as: "core.v1.Namespace")[path: ["metadata", "name"]] == "team-a")
        // A body cut anywhere either fails to decode or lacks the name: never a crash or a wrong object.
        for cut in 0..<good.count {
            let decoded = try? ProtobufObjectDecoder().decode(Array(good[..<cut]), as: "core.v1.Namespace")
            #expect(decoded?[path: ["metadata", "name"]] != "team-a")
        }
        #expect(throws: ProtobufObjectDecoder.DecodingError.self) { try ProtobufObjectDecoder().decode(Array("{}".utf8), as: "core.v1.Namespace") }
        #expect(throws: ProtobufObjectDecoder.DecodingError.self) {
            try ProtobufObjectDecoder().decode(ProtobufObjectDecoder.magic + [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], as: "core.v1.Namespace")
        }
    }
}

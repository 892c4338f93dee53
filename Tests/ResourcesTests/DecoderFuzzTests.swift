import Resources
import Testing

/// Random and mutated bytes through every decoder a request body meets: each either decodes or throws its
/// error; none crashes, loops or recurses without bound. Seeded, so a failure replays.
@Suite struct DecoderFuzzTests {
    struct Random: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let seeds = Array(#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"w","labels":{"a":"b"}},"spec":{"replicas":1,"selector":{"matchLabels":{"a":"b"}},"template":{"metadata":{"labels":{"a":"b"}},"spec":{"containers":[{"name":"c","image":"x","resources":{"limits":{"cpu":"1"}},"ports":[{"containerPort":80}]}]}}}}"#.utf8)

    @Test(arguments: 0..<8)
    func mutatedBodiesNeverCrashADecoder(batch: Int) {
        var random = Random(state: UInt64(batch) &* 7919)
        for _ in 0..<400 {
            var bytes = Self.seeds
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                switch Int.random(in: 0..<4, using: &random) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.removeSubrange(Int.random(in: 0..<bytes.count, using: &random)..<bytes.count)
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
                default: if bytes.count > 2 { bytes.swapAt(Int.random(in: 0..<bytes.count, using: &random), Int.random(in: 0..<bytes.count, using: &random)) }
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            if let value = try? JSONParser.parse(bytes) {
                var decoder = ObjectDecoder()
                _ = try? decoder.decode(value, as: "apps.v1.Deployment")
                _ = try? Patch.strategic(value, value, type: "apps.v1.Deployment")
                _ = try? Patch.json(value, value)
                _ = Patch.merge(value, value)
            }
            let protobuf = ProtobufObjectDecoder.magic + bytes
            _ = try? ProtobufObjectDecoder().decode(protobuf, as: "apps.v1.Deployment")
            _ = try? LabelSelector(parsing: String(decoding: bytes.prefix(80), as: UTF8.self))
        }
    }
}

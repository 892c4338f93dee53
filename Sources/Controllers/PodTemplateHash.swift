import Resources

/// The `pod-template-hash` label a Deployment gives each ReplicaSet: a 32-bit FNV-1a hash of the pod template
/// (its canonical JSON, keys sorted) and the collision count, written in the consonant-and-digit alphabet
/// Kubernetes uses for generated names, so that names never spell words.
enum PodTemplateHash {
    static let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")

    static func of(_ template: JSONValue, collisionCount: Int64?) -> String {
        var hash: UInt32 = 2_166_136_261
        func mix(_ bytes: some Sequence<UInt8>) {
            for byte in bytes {
                hash ^= UInt32(byte)
                hash = hash &* 16_777_619
            }
        }
        mix(JSONWriter.bytes(template))
        if let collisionCount { mix(String(collisionCount).utf8) }
        return String(String(hash).utf8.map { alphabet[Int($0) % alphabet.count] })
    }
}

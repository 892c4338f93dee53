import Storage

/// A lease as the store keeps it; how long it has left is the caller's business (see `LeaseDeadlines`).
public struct LeaseInfo: Sendable, Hashable {
    public var id: Int64
    /// The TTL it was granted with, in seconds.
    public var grantedTTL: Int64
    /// The keys attached to it, in key order (filled only when asked for).
    public var keys: [[UInt8]]

    public init(id: Int64, grantedTTL: Int64, keys: [[UInt8]]) {
        self.id = id
        self.grantedTTL = grantedTTL
        self.keys = keys
    }
}

extension MVCCStore {
    func grantLease(id requested: Int64, ttl: Int64, index: UInt64, context: WriteContext, revision: Int64) throws -> LeaseGrantResponse {
        let granted = max(ttl, options.minLeaseTTL)
        var id = requested
        if id == 0 {
            id = try unusedLeaseID(seed: index)
        } else if try database.get(StorageLayout.leaseKey(id), in: leaseFamily) != nil {
            throw MVCCError.leaseExists
        }
        context.batch.put(StorageLayout.leaseKey(id), StorageLayout.bigEndian(granted), in: leaseFamily)
        return LeaseGrantResponse(revision: revision, id: id, ttl: granted)
    }

    private func unusedLeaseID(seed: UInt64) throws -> Int64 {
        var attempt: UInt64 = 0
        while true {
            let id = LeaseID.derived(from: seed, attempt: attempt)
            if try database.get(StorageLayout.leaseKey(id), in: leaseFamily) == nil { return id }
            attempt += 1
        }
    }

    func revokeLease(id: Int64, context: inout WriteContext) throws -> LeaseRevokeResponse {
        guard try database.get(StorageLayout.leaseKey(id), in: leaseFamily) != nil else { throw MVCCError.leaseNotFound }
        for key in try attachedKeys(id) {
            if let kv = try current(key, context: context) {
                delete(kv, context: &context)
            }
        }
        context.batch.delete(StorageLayout.leaseKey(id), in: leaseFamily)
        return LeaseRevokeResponse(revision: context.changed ? context.main : context.main - 1)
    }

    private func attachedKeys(_ id: Int64) throws -> [[UInt8]] {
        let prefix = StorageLayout.leaseKey(id)
        let cursor = database.cursor(in: leaseKeys, lowerBound: prefix, upperBound: StorageLayout.leaseKey(id &+ 1))
        var keys: [[UInt8]] = []
        cursor.seekToFirst()
        while cursor.isValid {
            keys.append(cursor.withKey { [UInt8]($0[8...]) })
            cursor.next()
        }
        try cursor.check()
        return keys
    }

    /// The lease `id`, or nil when it does not exist.
    public func lease(_ id: Int64, withKeys: Bool = false) throws -> LeaseInfo? {
        guard let ttl = try database.get(StorageLayout.leaseKey(id), in: leaseFamily).map(StorageLayout.int64) else { return nil }
        return LeaseInfo(id: id, grantedTTL: ttl, keys: withKeys ? try attachedKeys(id) : [])
    }

    /// Every lease, in ID order (as unsigned big-endian bytes), without keys.
    public func leases() throws -> [LeaseInfo] {
        let cursor = database.cursor(in: leaseFamily)
        var found: [LeaseInfo] = []
        cursor.seekToFirst()
        while cursor.isValid {
            let id = cursor.withKey { Int64(bitPattern: StorageLayout.readBigEndian($0, at: 0)) }
            let ttl = cursor.withValue { Int64(bitPattern: StorageLayout.readBigEndian($0, at: 0)) }
            found.append(LeaseInfo(id: id, grantedTTL: ttl, keys: []))
            cursor.next()
        }
        try cursor.check()
        return found
    }
}

/// How the store chooses a lease ID when a grant leaves it to the store: derived from the entry's Raft index,
/// so every member picks the same one, and well spread so IDs of consecutive grants do not look alike.
public enum LeaseID {
    /// The `attempt`-th candidate for the grant at `index` (a later attempt is used when the ID is taken).
    public static func derived(from index: UInt64, attempt: UInt64) -> Int64 {
        // splitmix64 of the index and attempt; positive and non-zero.
        var z = index &* 0x9E37_79B9_7F4A_7C15 &+ (attempt &+ 1) &* 0xD1B5_4A32_D192_ED03
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let id = Int64(bitPattern: z & 0x7FFF_FFFF_FFFF_FFFF)
        return id == 0 ? 1 : id
    }
}

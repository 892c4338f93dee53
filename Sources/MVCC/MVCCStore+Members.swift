import Storage

extension MVCCStore {
    /// Every member's record, by ID.
    public func members() throws -> [MemberRecord] {
        let cursor = database.cursor(in: memberFamily)
        var found: [MemberRecord] = []
        cursor.seekToFirst()
        while cursor.isValid {
            let key = cursor.withKey { Array($0) }
            if key.count == 8 {
                let id = UInt64(bitPattern: StorageLayout.int64(key))
                found.append(try MemberRecord(id: id, decoding: cursor.withValue { Array($0) }))
            }
            cursor.next()
        }
        try cursor.check()
        return found
    }

    /// The cluster ID the members recorded, or nil before the first one published itself.
    public var clusterID: UInt64? {
        (try? database.get(StorageLayout.clusterIDKey, in: memberFamily)).flatMap { $0 }
            .map { UInt64(bitPattern: StorageLayout.int64($0)) }
    }

    /// Whether member `id` was ever removed. As in etcd, a removed ID never comes back: members that applied the
    /// removal forget the peer (and ignore it), and one of them still behind the entry that re-added it would
    /// never hear the re-added member again.
    public func wasRemoved(_ id: UInt64) throws -> Bool {
        try database.get(StorageLayout.removedMemberKey(id), in: memberFamily) != nil
    }

    /// Every raised alarm.
    public func alarms() throws -> [Alarm] {
        let cursor = database.cursor(in: memberFamily, lowerBound: Alarm.keyPrefix, upperBound: Array("alarm0".utf8))
        var found: [Alarm] = []
        cursor.seekToFirst()
        while cursor.isValid {
            let key = cursor.withKey { Array($0) }
            if key.count == Alarm.keyPrefix.count + 9, let kind = Alarm.Kind(rawValue: key[key.count - 1]) {
                let id = UInt64(bitPattern: StorageLayout.int64(Array(key[Alarm.keyPrefix.count..<key.count - 1])))
                found.append(Alarm(memberID: id, kind: kind))
            }
            cursor.next()
        }
        try cursor.check()
        return found
    }

    func refreshAlarmFlag() {
        noSpaceAlarm.store(((try? alarms()) ?? []).contains { $0.kind == .noSpace }, ordering: .relaxed)
    }

    func updateMember(_ update: MemberRecord.Update, batch: WriteBatch) throws -> MemberRecord {
        let key = StorageLayout.bigEndian(Int64(bitPattern: update.id))
        let existing = try database.get(key, in: memberFamily).map { try MemberRecord(id: update.id, decoding: $0) }
        // Decided here, as every member applies it, not by whichever member took the request.
        if existing == nil, try wasRemoved(update.id) { throw MVCCError.memberRemoved }
        var record = existing ?? MemberRecord(id: update.id)
        if let name = update.name { record.name = name }
        if let peerURLs = update.peerURLs { record.peerURLs = peerURLs }
        if let clientURLs = update.clientURLs { record.clientURLs = clientURLs }
        batch.put(key, record.encoded(), in: memberFamily)
        if update.clusterID != 0, try database.get(StorageLayout.clusterIDKey, in: memberFamily) == nil {
            batch.put(StorageLayout.clusterIDKey, StorageLayout.bigEndian(Int64(bitPattern: update.clusterID)), in: memberFamily)
        }
        return record
    }
}

/// `metadata.managedFields`: which field manager owns which fields, kept as kube-apiserver keeps it. Every write
/// records its manager's fields — an Update (create, replace, patch) takes the fields it changed from whoever
/// had them; an Apply owns exactly the fields of its configuration, fails with a conflict when it would change a
/// field another manager owns (unless forced), and drops the fields it stops setting when no one else owns them.
/// Pure: the caller gives the time and the objects; nothing here reads a clock.
public struct ManagedFields: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var manager: String
        /// "Apply" or "Update".
        public var operation: String
        public var apiVersion: String
        public var time: String?
        public var subresource: String
        public var fields: FieldSet

        public init(manager: String, operation: String, apiVersion: String, time: String?, subresource: String, fields: FieldSet) {
            self.manager = manager
            self.operation = operation
            self.apiVersion = apiVersion
            self.time = time
            self.subresource = subresource
            self.fields = fields
        }

        /// Requests of one manager share an entry: an Apply entry per manager and subresource, an Update entry
        /// per manager, API version and subresource.
        func sameManager(_ other: Entry) -> Bool {
            manager == other.manager && operation == other.operation && subresource == other.subresource
                && (operation == "Apply" || apiVersion == other.apiVersion)
        }

        /// How conflict messages name the manager.
        var described: String {
            var text = "\"\(manager)\""
            if !subresource.isEmpty { text += " with subresource \"\(subresource)\"" }
            if operation == "Update" { text += " using \(apiVersion)" }
            return text
        }

        var json: JSONValue {
            var fields: JSONValue = ["manager": .string(manager), "operation": .string(operation),
                                     "apiVersion": .string(apiVersion), "fieldsType": "FieldsV1",
                                     "fieldsV1": self.fields.fieldsV1]
            if let time { fields["time"] = .string(time) }
            if !subresource.isEmpty { fields["subresource"] = .string(subresource) }
            return fields
        }

        init?(json: JSONValue) {
            guard let manager = json["manager"]?.stringValue, let operation = json["operation"]?.stringValue,
                  operation == "Apply" || operation == "Update",
                  let apiVersion = json["apiVersion"]?.stringValue, !apiVersion.isEmpty,
                  (json["fieldsType"]?.stringValue ?? "FieldsV1") == "FieldsV1",
                  let fields = FieldSet(fieldsV1: json["fieldsV1"] ?? .object([:]))
            else { return nil }
            // Times a client sent ("…+00:00", fractions) are kept in the server's own form, which entries sort by.
            let time = json["time"]?.stringValue.map { text in RFC3339.parse(text).map { RFC3339.format($0.rounded(.down)) } ?? text }
            self.init(manager: manager, operation: operation, apiVersion: apiVersion, time: time,
                      subresource: json["subresource"]?.stringValue ?? "", fields: fields)
        }
    }

    /// Update entries kept; older ones are folded into one "ancient-changes" entry, as Kubernetes does.
    public static let maxUpdateManagers = 10

    public var entries: [Entry]

    public init(entries: [Entry] = []) {
        self.entries = entries
    }

    /// The entries of `object`, or nil when it has none or they do not parse.
    public init?(of object: JSONValue) {
        guard let list = object[path: ["metadata", "managedFields"]]?.arrayValue, !list.isEmpty else { return nil }
        var entries: [Entry] = []
        for item in list {
            guard let entry = Entry(json: item) else { return nil }
            entries.append(entry)
        }
        self.entries = entries
    }

    /// Writes the entries into `object`'s metadata (removing the field when there are none), sorted as
    /// Kubernetes sorts them.
    public func write(into object: inout JSONValue) {
        let sorted = entries.filter { !$0.fields.isEmpty }.sorted { a, b in
            if a.operation != b.operation { return a.operation < b.operation }
            if (a.time ?? "") != (b.time ?? "") { return (a.time ?? "") < (b.time ?? "") }
            if a.manager != b.manager { return a.manager < b.manager }
            if a.apiVersion != b.apiVersion { return a.apiVersion < b.apiVersion }
            return a.subresource < b.subresource
        }
        if sorted.isEmpty {
            object[path: ["metadata", "managedFields"]] = Optional<JSONValue>.none
        } else {
            object[path: ["metadata", "managedFields"]] = .array(sorted.map(\.json))
        }
    }

    // MARK: What no manager owns

    /// Paths never tracked: the type, and the metadata the server sets.
    static let stripped: FieldSet = {
        var set = FieldSet()
        set.insert([.field("apiVersion")])
        set.insert([.field("kind")])
        for name in ["name", "namespace", "creationTimestamp", "selfLink", "uid", "generation", "managedFields", "resourceVersion"] {
            set.insert([.field("metadata"), .field(name)])
        }
        return set
    }()

    /// The part of a set a write through `subresource` may own: a main-resource write of a kind with a status
    /// subresource does not own status; a status write owns only status.
    static func tracked(_ set: FieldSet, subresource: String, hasStatus: Bool) -> FieldSet {
        var result = set.subtracting(stripped)
        result.children[.field("metadata")]?.isMember = false
        if subresource == "status" {
            var only = FieldSet()
            only.children[.field("status")] = result.children[.field("status")]
            return only
        }
        if hasStatus, subresource.isEmpty { result.children[.field("status")] = nil }
        return result
    }

    // MARK: Update

    /// Records an Update by `manager`: the fields it added or changed become its own (and stop being anyone
    /// else's); fields it removed stop being anyone's. `old` nil: the object is being created.
    public mutating func update(old: JSONValue?, new: JSONValue, manager: String, apiVersion: String, subresource: String,
                                schemaType: String, hasStatus: Bool, time: String) {
        let before = old ?? FieldSet.zeroObject(schemaType)
        let changes = FieldSet.changes(from: before, to: new, schemaType: schemaType)
        let changed = Self.tracked(changes.changed, subresource: subresource, hasStatus: hasStatus)
        let removed = Self.tracked(changes.removed, subresource: subresource, hasStatus: hasStatus)
        let probe = Entry(manager: manager, operation: "Update", apiVersion: apiVersion, time: nil, subresource: subresource, fields: FieldSet())
        for index in entries.indices where !entries[index].sameManager(probe) {
            entries[index].fields = entries[index].fields.subtracting(changed).subtracting(removed)
        }
        if let index = entries.firstIndex(where: { $0.sameManager(probe) }) {
            let previous = entries[index].fields
            entries[index].fields = previous.union(changed).subtracting(removed)
            if !changed.isEmpty { entries[index].time = time }
        } else if !changed.isEmpty {
            var entry = probe
            entry.fields = changed
            entry.time = time
            entries.append(entry)
        }
        entries.removeAll { $0.fields.isEmpty }
        capUpdateManagers()
    }

    private mutating func capUpdateManagers() {
        let updates = entries.indices.filter { entries[$0].operation == "Update" && entries[$0].manager != "ancient-changes" }
        guard updates.count > Self.maxUpdateManagers else { return }
        let oldest = updates.sorted { (entries[$0].time ?? "") < (entries[$1].time ?? "") }.prefix(updates.count - Self.maxUpdateManagers)
        for index in oldest {
            let entry = entries[index]
            if let ancient = entries.firstIndex(where: { $0.manager == "ancient-changes" && $0.apiVersion == entry.apiVersion }) {
                entries[ancient].fields = entries[ancient].fields.union(entry.fields)
            } else {
                entries.append(Entry(manager: "ancient-changes", operation: "Update", apiVersion: entry.apiVersion,
                                     time: entry.time, subresource: "", fields: entry.fields))
            }
        }
        let removed = Set(oldest)
        entries = entries.enumerated().filter { !removed.contains($0.offset) }.map(\.element)
    }

    // MARK: Apply

    public struct Conflict: Error, Sendable, Equatable {
        /// (manager as described, field path as described), in a stable order.
        public var fields: [(manager: String, path: String)]

        public static func == (lhs: Conflict, rhs: Conflict) -> Bool {
            lhs.fields.map { $0.manager + $0.path } == rhs.fields.map { $0.manager + $0.path }
        }

        /// Kubernetes' wording: "Apply failed with 1 conflict: conflict with \"m\" using apps/v1: .spec.replicas".
        public var message: String {
            if fields.count == 1, let only = fields.first {
                return "Apply failed with 1 conflict: conflict with \(only.manager): \(only.path)"
            }
            var text = "Apply failed with \(fields.count) conflicts:"
            var lastManager: String?
            for (manager, path) in fields {
                if manager != lastManager {
                    text += (lastManager == nil ? " " : "\n") + "conflicts with \(manager):"
                    lastManager = manager
                }
                text += "\n- \(path)"
            }
            return text
        }
    }

    /// Applies `config` for `manager` onto `live` (already merged by the caller into `merged`): checks
    /// conflicts against the other managers, takes the config's fields, and prunes from `merged` the fields this
    /// manager applied before but no longer sets and no one else owns. Returns the object to store.
    public mutating func apply(live: JSONValue?, merged: JSONValue, config: JSONValue, manager: String, apiVersion: String,
                               subresource: String, schemaType: String, hasStatus: Bool, force: Bool,
                               time: String) throws(Conflict) -> JSONValue {
        if let live, entries.isEmpty {
            // An object no one has applied to yet: what it holds so far is someone's, so an apply cannot
            // silently take it.
            update(old: nil, new: live, manager: "before-first-apply", apiVersion: apiVersion, subresource: subresource,
                   schemaType: schemaType, hasStatus: hasStatus, time: time)
        }
        let configSet = Self.tracked(FieldSet.applied(config, schemaType: schemaType), subresource: subresource, hasStatus: hasStatus)
        let before = live ?? FieldSet.zeroObject(schemaType)
        let changed = Self.tracked(FieldSet.changes(from: before, to: merged, schemaType: schemaType).changed,
                                   subresource: subresource, hasStatus: hasStatus)
        let probe = Entry(manager: manager, operation: "Apply", apiVersion: apiVersion, time: nil, subresource: subresource, fields: FieldSet())
        let forced = force ? changed : Self.lastAppliedFields(live, manager: manager, schemaType: schemaType)
        var conflicts: [(String, String)] = []
        for entry in entries where !entry.sameManager(probe) {
            let clash = entry.fields.intersection(changed).subtracting(forced)
            for path in clash.paths { conflicts.append((entry.described, FieldSet.describe(path))) }
        }
        if !conflicts.isEmpty {
            throw Conflict(fields: conflicts.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map { (manager: $0.0, path: $0.1) })
        }
        let taken = changed.intersection(forced)
        for index in entries.indices where !entries[index].sameManager(probe) {
            entries[index].fields = entries[index].fields.subtracting(taken)
        }
        let previous = entries.first(where: { $0.sameManager(probe) })?.fields ?? FieldSet()
        var othersOwn = FieldSet()
        for entry in entries where !entry.sameManager(probe) { othersOwn = othersOwn.union(entry.fields) }
        let dropped = previous.subtracting(configSet).subtracting(othersOwn)
        let result = dropped.isEmpty ? merged : dropped.removing(from: merged, schemaType: schemaType)
        let objectChanged = live.map { Self.withoutManagedFields($0) != Self.withoutManagedFields(result) } ?? true
        if let index = entries.firstIndex(where: { $0.sameManager(probe) }) {
            entries[index].fields = configSet
            entries[index].apiVersion = apiVersion
            if objectChanged || entries[index].time == nil { entries[index].time = time }
        } else {
            var entry = probe
            entry.fields = configSet
            entry.time = time
            entries.append(entry)
        }
        entries.removeAll { $0.fields.isEmpty }
        return result
    }

    static let lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

    /// kubectl's migration from client-side apply: when the manager is "kubectl" and the object carries a
    /// last-applied-configuration, conflicts are forced on the fields of that configuration that still hold its
    /// values (a field someone changed since — a scale, an autoscaler — still conflicts).
    static func lastAppliedFields(_ live: JSONValue?, manager: String, schemaType: String) -> FieldSet {
        guard manager == "kubectl", let live,
              let text = live[path: ["metadata", "annotations", lastAppliedAnnotation]]?.stringValue,
              let lastApplied = try? JSONParser.parse(text)
        else { return FieldSet() }
        let differing = FieldSet.changes(from: lastApplied, to: live, schemaType: schemaType)
        return FieldSet.applied(lastApplied, schemaType: schemaType).subtracting(differing.modified).subtracting(differing.removed)
    }

    /// After kubectl's server-side apply, an object that carries kubectl's last-applied-configuration gets the
    /// applied configuration there, so a later client-side apply starts from it (as Kubernetes keeps them in step).
    public static func refreshLastApplied(_ object: inout JSONValue, manager: String, applied: JSONValue) {
        guard manager == "kubectl", object[path: ["metadata", "annotations", lastAppliedAnnotation]] != nil else { return }
        object[path: ["metadata", "annotations", lastAppliedAnnotation]] = .string(JSONWriter.string(applied) + "\n")
    }

    static func withoutManagedFields(_ object: JSONValue) -> JSONValue {
        var copy = object
        copy[path: ["metadata", "managedFields"]] = nil
        copy[path: ["metadata", "resourceVersion"]] = nil
        return copy
    }
}

import SkeinSchemas

/// The registry's state, rebuilt from the `_schemas` topic by applying every record in log order.
///
/// Non-Sendable: the shell confines it (one writer at a time; `SchemaRegistryAPI.handle` reads it). Two states are
/// equal (`==`) when they hold the same schemas, configs, modes and id/version high-water marks; the record counters
/// are not compared.
public final class SchemaRegistryState {
    /// A subject and one of its versions.
    struct SubjectVersion: Hashable, Comparable {
        var subject: String
        var version: Int

        static func < (a: SubjectVersion, b: SubjectVersion) -> Bool {
            a.subject != b.subject ? a.subject < b.subject : a.version < b.version
        }
    }

    /// Everything derived from the log.
    struct Contents: Equatable {
        /// Subject -> version -> stored schema (soft-deleted versions included, hard-deleted ones removed).
        var subjects: [String: [Int: StoredSchema]] = [:]
        /// Highest version ever seen per subject, including hard-deleted versions (versions are never reused).
        var maxVersion: [String: Int] = [:]
        /// Highest schema id ever seen, including deleted schemas (ids are never reused).
        var maxId = 0
        /// Global compatibility level, when configured.
        var globalLevel: CompatibilityLevel?
        /// Subject-level compatibility levels.
        var subjectLevels: [String: CompatibilityLevel] = [:]
        /// Global mode, when configured.
        var globalMode: RegistryMode?
        /// Subject-level modes.
        var subjectModes: [String: RegistryMode] = [:]
        /// Schema id -> the subject versions stored with it.
        var idIndex: [Int: Set<SubjectVersion>] = [:]
    }

    private(set) var contents = Contents()

    /// Records skipped because they were malformed, of an unknown key type, or inconsistent (an id reused for a
    /// different schema).
    public private(set) var skippedRecords = 0
    /// Records applied (not skipped), tombstones included.
    public private(set) var appliedRecords = 0

    /// Creates an empty state (global level BACKWARD, mode READWRITE).
    public init() {}

    /// The highest schema id ever seen (0 when none); the next registered schema gets `maxSchemaId + 1`.
    public var maxSchemaId: Int { contents.maxId }

    /// Applies one `_schemas` record in log order (Confluent's JSON key/value formats; nil value = tombstone).
    /// Unknown or malformed records are skipped (counted in `skippedRecords`), never a crash.
    public func apply(key: [UInt8], value: [UInt8]?) {
        guard let decoded = SchemasTopicKey(bytes: key) else { skippedRecords += 1; return }
        switch decoded {
        case .schema(let subject, let version):
            guard let value else { removeVersion(SubjectVersion(subject: subject, version: version)); break }
            guard let stored = StoredSchema(bytes: value, subject: subject, version: version), putVersion(stored) else {
                skippedRecords += 1
                return
            }
        case .config(let subject):
            var level: CompatibilityLevel?
            if let value {
                guard let o = JSONValue.parse(bytes: value)?.objectValue else { skippedRecords += 1; return }
                switch o["compatibilityLevel"] {
                case nil, .null?: level = nil
                case .string(let s)?:
                    guard let l = CompatibilityLevel(rawValue: s.uppercased()) else { skippedRecords += 1; return }
                    level = l
                default: skippedRecords += 1; return
                }
            }
            if let subject { contents.subjectLevels[subject] = level } else { contents.globalLevel = level }
        case .mode(let subject):
            var mode: RegistryMode?
            if let value {
                guard let s = JSONValue.parse(bytes: value)?.objectValue?["mode"]?.stringValue,
                    let m = RegistryMode(rawValue: s.uppercased())
                else { skippedRecords += 1; return }
                mode = m
            }
            if let subject { contents.subjectModes[subject] = mode } else { contents.globalMode = mode }
        case .deleteSubject(let subject):
            if let value {
                guard let o = JSONValue.parse(bytes: value)?.objectValue, let upTo = o["version"]?.intValue,
                    o["subject"]?.stringValue ?? subject == subject
                else { skippedRecords += 1; return }
                for (v, var s) in contents.subjects[subject] ?? [:] where v <= upTo && !s.deleted {
                    s.deleted = true
                    contents.subjects[subject]?[v] = s
                }
            }
        case .clearSubject(let subject):
            if value != nil {
                for (v, s) in contents.subjects[subject] ?? [:] where s.deleted {
                    removeVersion(SubjectVersion(subject: subject, version: v))
                }
            }
        case .noop:
            break
        }
        appliedRecords += 1
    }

    /// Stores a schema version; false (nothing changed) when its id already belongs to a different schema.
    private func putVersion(_ stored: StoredSchema) -> Bool {
        let key = SubjectVersion(subject: stored.subject, version: stored.version)
        if let other = contents.idIndex[stored.id]?.first(where: { $0 != key }),
            let existing = contents.subjects[other.subject]?[other.version], existing.identity != stored.identity
        {
            return false
        }
        removeVersion(key)
        contents.subjects[stored.subject, default: [:]][stored.version] = stored
        contents.idIndex[stored.id, default: []].insert(key)
        contents.maxVersion[stored.subject] = max(contents.maxVersion[stored.subject] ?? 0, stored.version)
        contents.maxId = max(contents.maxId, stored.id)
        return true
    }

    private func removeVersion(_ key: SubjectVersion) {
        guard let old = contents.subjects[key.subject]?[key.version] else { return }
        contents.subjects[key.subject]?[key.version] = nil
        if contents.subjects[key.subject]?.isEmpty == true { contents.subjects[key.subject] = nil }
        contents.idIndex[old.id]?.remove(key)
        if contents.idIndex[old.id]?.isEmpty == true { contents.idIndex[old.id] = nil }
    }

    // MARK: queries

    /// Per subject, the ids of its live (not soft-deleted) versions: what broker-side validation accepts.
    public func liveIdsBySubject() -> [String: Set<Int>] {
        var result: [String: Set<Int>] = [:]
        for (subject, versions) in contents.subjects {
            let ids = Set(versions.values.filter { !$0.deleted }.map(\.id))
            if !ids.isEmpty { result[subject] = ids }
        }
        return result
    }

    /// The versions of `subject`, oldest first, soft-deleted ones only when `includeDeleted`.
    func versions(of subject: String, includeDeleted: Bool) -> [StoredSchema] {
        (contents.subjects[subject]?.values ?? [:].values).filter { includeDeleted || !$0.deleted }
            .sorted { $0.version < $1.version }
    }

    /// One stored version (soft-deleted included).
    func version(_ subject: String, _ version: Int) -> StoredSchema? { contents.subjects[subject]?[version] }

    /// Subject names, sorted; only subjects with a non-deleted version unless `includeDeleted`.
    func subjectNames(includeDeleted: Bool) -> [String] {
        contents.subjects.filter { includeDeleted || $0.value.values.contains { !$0.deleted } }.keys.sorted()
    }

    /// The subject versions stored with schema `id`, sorted.
    func subjectVersions(ofId id: Int) -> [SubjectVersion] { (contents.idIndex[id] ?? []).sorted() }

    /// A stored version carrying schema `id` (the first by subject and version), soft-deleted included.
    func schema(id: Int) -> StoredSchema? {
        guard let first = subjectVersions(ofId: id).first else { return nil }
        return version(first.subject, first.version)
    }

    /// The smallest live id whose schema has this identity.
    func id(for identity: SchemaIdentity) -> Int? {
        contents.idIndex.keys.sorted().first { schema(id: $0)?.identity == identity }
    }

    /// The next global id: one more than the largest id ever seen.
    var nextId: Int { contents.maxId + 1 }

    /// The next version of `subject`: one more than the largest version ever seen under it.
    func nextVersion(of subject: String) -> Int { (contents.maxVersion[subject] ?? 0) + 1 }

    /// The compatibility level applying to `subject` (subject level, else global, else BACKWARD).
    func effectiveLevel(of subject: String?) -> CompatibilityLevel {
        subject.flatMap { contents.subjectLevels[$0] } ?? contents.globalLevel ?? .backward
    }

    /// The mode applying to `subject`: a global READONLY_OVERRIDE wins, else the subject's, else global, else READWRITE.
    func effectiveMode(of subject: String?) -> RegistryMode {
        if contents.globalMode == .readOnlyOverride { return .readOnlyOverride }
        return subject.flatMap { contents.subjectModes[$0] } ?? contents.globalMode ?? .readWrite
    }

    /// Ids of non-deleted schemas that reference `subject` version `version`, sorted and unique.
    func referencedBy(_ subject: String, _ version: Int, excludingSubject: String? = nil) -> [Int] {
        var ids: Set<Int> = []
        for (s, versions) in contents.subjects where s != excludingSubject {
            for stored in versions.values
            where !stored.deleted
                && stored.references.contains(where: { $0.subject == subject && $0.version == version })
            {
                ids.insert(stored.id)
            }
        }
        return ids.sorted()
    }

    // MARK: parsing with references

    /// Parses `text` as `type`, resolving `references` (recursively) from the stored versions.
    func parse(_ text: String, type: SchemaType, references: [SchemaReference]) throws(RegistryError) -> ParsedSchema {
        let avroReferences = try resolveAvroReferences(references, depth: 0)
        do { return try ParsedSchema.parse(text, type: type, avroReferences: avroReferences) } catch {
            throw .invalidSchema("Invalid schema: \(error.description)")
        }
    }

    /// Parses a stored version.
    func parse(_ stored: StoredSchema) throws(RegistryError) -> ParsedSchema {
        try parse(stored.schema, type: stored.type, references: stored.references)
    }

    /// The Avro schemas that `references` point to, dependencies first; a missing reference is an invalid schema.
    private func resolveAvroReferences(_ references: [SchemaReference], depth: Int) throws(RegistryError)
        -> [AvroSchema]
    {
        guard depth < 16 else { throw .invalidSchema("Invalid schema: references nested deeper than 16 levels") }
        var out: [AvroSchema] = []
        for ref in references {
            guard let target = version(ref.subject, ref.version) else {
                throw .invalidSchema(
                    "Invalid schema: reference '\(ref.name)' to subject '\(ref.subject)' version \(ref.version) not found"
                )
            }
            let nested = try resolveAvroReferences(target.references, depth: depth + 1)
            out += nested
            guard target.type == .avro else { continue }
            do {
                let parsed = try ParsedSchema.parse(target.schema, type: .avro, avroReferences: nested)
                if case .avro(let a) = parsed.content { out.append(a) }
            } catch {
                throw .invalidSchema("Invalid schema: referenced schema '\(ref.name)' is invalid: \(error.description)")
            }
        }
        return out
    }
}

extension SchemaRegistryState: Equatable {
    /// True when both states hold the same contents (the record counters are not compared).
    public static func == (lhs: SchemaRegistryState, rhs: SchemaRegistryState) -> Bool { lhs.contents == rhs.contents }
}

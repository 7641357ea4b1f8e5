import SkeinSchemas

/// Confluent Schema Registry's REST API over a `SchemaRegistryState`, as a pure function.
///
/// Reads and refused writes answer `.respond`; accepted writes answer `.write(records, then: response)`: the shell
/// appends the records to `_schemas`, waits until they are committed and applied to the state, then sends the response.
/// Writes must be linearized (one at a time, after every earlier record is applied): new ids and versions are computed
/// from the state alone.
public enum SchemaRegistryAPI {
    /// Handles one request against `state` (which is only read).
    public static func handle(_ request: RegistryRequest, state: SchemaRegistryState) -> RegistryOutcome {
        do { return try route(request, state: state) } catch { return .respond(error.response) }
    }

    /// The schema types this registry accepts (`GET /schemas/types`).
    public static let supportedSchemaTypes: [SchemaType] = [.avro, .json]

    // MARK: routing

    private static func route(_ request: RegistryRequest, state: SchemaRegistryState) throws(RegistryError)
        -> RegistryOutcome
    {
        var rawPath = Substring(request.path)
        if let q = rawPath.firstIndex(of: "?") { rawPath = rawPath[..<q] }
        var segments: [String] = []
        for raw in rawPath.split(separator: "/", omittingEmptySubsequences: true) {
            guard let s = percentDecode(raw) else { throw .notFound }
            segments.append(s)
        }
        let method = request.method.uppercased()
        let ctx = Context(request: request, state: state)
        func allow(_ methods: [String: () throws(RegistryError) -> RegistryOutcome]) throws(RegistryError)
            -> RegistryOutcome
        {
            guard let f = methods[method] else { throw .methodNotAllowed }
            return try f()
        }
        if segments.isEmpty { return try allow(["GET": { () throws(RegistryError) in ok(.object(JSONObject())) }]) }
        switch (segments[0], segments.count) {
        case ("subjects", 1):
            return try allow(["GET": { () throws(RegistryError) in try ctx.listSubjects() }])
        case ("subjects", 2):
            let s = segments[1]
            return try allow([
                "POST": { () throws(RegistryError) in try ctx.lookup(subject: s) },
                "DELETE": { () throws(RegistryError) in try ctx.deleteSubject(s) },
            ])
        case ("subjects", 3) where segments[2] == "versions":
            let s = segments[1]
            return try allow([
                "GET": { () throws(RegistryError) in try ctx.listVersions(subject: s) },
                "POST": { () throws(RegistryError) in try ctx.register(subject: s) },
            ])
        case ("subjects", 4) where segments[2] == "versions":
            let s = segments[1], v = segments[3]
            return try allow([
                "GET": { () throws(RegistryError) in try ctx.getVersion(subject: s, version: v) },
                "DELETE": { () throws(RegistryError) in try ctx.deleteVersion(subject: s, version: v) },
            ])
        case ("subjects", 5) where segments[2] == "versions" && segments[4] == "schema":
            let s = segments[1], v = segments[3]
            return try allow(["GET": { () throws(RegistryError) in try ctx.getVersionSchema(subject: s, version: v) }])
        case ("subjects", 5) where segments[2] == "versions" && segments[4] == "referencedby":
            let s = segments[1], v = segments[3]
            return try allow(["GET": { () throws(RegistryError) in try ctx.referencedBy(subject: s, version: v) }])
        case ("schemas", 2) where segments[1] == "types":
            return try allow([
                "GET": { () throws(RegistryError) in ok(.array(supportedSchemaTypes.map { .string($0.rawValue) })) }
            ])
        case ("schemas", 3) where segments[1] == "ids":
            let id = segments[2]
            return try allow(["GET": { () throws(RegistryError) in try ctx.schemaById(id) }])
        case ("schemas", 4) where segments[1] == "ids" && ["schema", "versions", "subjects"].contains(segments[3]):
            let id = segments[2], what = segments[3]
            return try allow(["GET": { () throws(RegistryError) in try ctx.schemaById(id, detail: what) }])
        case ("config", 1), ("config", 2):
            let s = segments.count == 2 ? segments[1] : nil
            return try allow([
                "GET": { () throws(RegistryError) in try ctx.getConfig(subject: s) },
                "PUT": { () throws(RegistryError) in try ctx.putConfig(subject: s) },
                "DELETE": { () throws(RegistryError) in try ctx.deleteConfig(subject: s) },
            ])
        case ("mode", 1):
            return try allow([
                "GET": { () throws(RegistryError) in try ctx.getMode(subject: nil) },
                "PUT": { () throws(RegistryError) in try ctx.putMode(subject: nil) },
            ])
        case ("mode", 2):
            let s = segments[1]
            return try allow([
                "GET": { () throws(RegistryError) in try ctx.getMode(subject: s) },
                "PUT": { () throws(RegistryError) in try ctx.putMode(subject: s) },
                "DELETE": { () throws(RegistryError) in try ctx.deleteMode(subject: s) },
            ])
        case ("compatibility", 4) where segments[1] == "subjects" && segments[3] == "versions":
            let s = segments[2]
            return try allow([
                "POST": { () throws(RegistryError) in try ctx.testCompatibility(subject: s, version: nil) }
            ])
        case ("compatibility", 5) where segments[1] == "subjects" && segments[3] == "versions":
            let s = segments[2], v = segments[4]
            return try allow(["POST": { () throws(RegistryError) in try ctx.testCompatibility(subject: s, version: v) }]
            )
        default:
            throw .notFound
        }
    }

    /// Percent-decodes one path segment; nil when an escape is malformed or the result is not UTF-8.
    static func percentDecode(_ s: Substring) -> String? {
        guard s.contains("%") else { return String(s) }
        var out: [UInt8] = []
        let bytes = Array(s.utf8)
        var i = 0
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%") {
                guard i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) else { return nil }
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    static func ok(_ json: JSONValue) -> RegistryOutcome { .respond(RegistryResponse(status: 200, body: json.bytes)) }

    static func okResponse(_ json: JSONValue) -> RegistryResponse { RegistryResponse(status: 200, body: json.bytes) }
}

/// A version path parameter: a number, or `latest` / `-1`.
enum VersionSpec: Equatable {
    case latest
    case number(Int)

    init(_ raw: String) throws(RegistryError) {
        if raw == "latest" || raw == "-1" { self = .latest; return }
        guard let n = Int(raw), n >= 1, n <= Int(Int32.max) else { throw .invalidVersion(raw) }
        self = .number(n)
    }
}

/// A parsed registration / lookup / compatibility body.
struct SchemaSubmission {
    var schema: String
    var type: SchemaType
    var references: [SchemaReference]
    var id: Int?
    var version: Int?

    init(body: [UInt8]) throws(RegistryError) {
        guard let json = JSONValue.parse(bytes: body) else { throw .badRequest("Request body is not valid JSON") }
        guard let o = json.objectValue else { throw .unprocessable("Request body must be a JSON object") }
        switch o["schema"] {
        case .string(let s)? where !s.isEmpty: schema = s
        case nil, .null?, .string?: throw .invalidSchema("Empty schema")
        default: throw .unprocessable("Field 'schema' must be a string")
        }
        switch o["schemaType"] {
        case nil, .null?: type = .avro
        case .string(let t)?:
            guard let parsed = SchemaType(rawValue: t.uppercased()) else {
                throw .invalidSchema("Invalid schema type \(t)")
            }
            type = parsed
        default: throw .unprocessable("Field 'schemaType' must be a string")
        }
        references = []
        switch o["references"] {
        case nil, .null?: break
        case .array(let items)?:
            for item in items {
                guard let r = SchemaReference(json: item), r.version >= 1 else {
                    throw .unprocessable("Each reference needs a string 'name', a string 'subject' and a version >= 1")
                }
                references.append(r)
            }
        default: throw .unprocessable("Field 'references' must be an array")
        }
        func optionalInt(_ key: String) throws(RegistryError) -> Int? {
            switch o[key] {
            case nil, .null?: return nil
            case let v?:
                guard let n = v.intValue else { throw .unprocessable("Field '\(key)' must be an integer") }
                return n
            }
        }
        id = try optionalInt("id")
        version = try optionalInt("version")
        if id == -1 || id == 0 { id = nil }
        if version == -1 || version == 0 { version = nil }
    }
}

/// One request being handled.
struct Context {
    let request: RegistryRequest
    let state: SchemaRegistryState

    func flag(_ name: String) -> Bool { request.query[name]?.lowercased() == "true" }

    // MARK: subjects and versions

    func listSubjects() throws(RegistryError) -> RegistryOutcome {
        let prefix = request.query["subjectPrefix"] ?? ""
        let names = state.subjectNames(includeDeleted: flag("deleted")).filter { $0.hasPrefix(prefix) }
        return SchemaRegistryAPI.ok(.array(names.map { .string($0) }))
    }

    func listVersions(subject: String) throws(RegistryError) -> RegistryOutcome {
        let versions = state.versions(of: subject, includeDeleted: flag("deleted"))
        guard !versions.isEmpty else { throw .subjectNotFound(subject) }
        return SchemaRegistryAPI.ok(.array(versions.map { .integer($0.version) }))
    }

    /// Resolves `raw` under `subject`; 40401 when the subject has no (visible) version, 40402 when the version is absent.
    func resolve(subject: String, version raw: String, includeDeleted: Bool) throws(RegistryError) -> StoredSchema {
        let spec = try VersionSpec(raw)
        let versions = state.versions(of: subject, includeDeleted: includeDeleted)
        guard let last = versions.last else { throw .subjectNotFound(subject) }
        switch spec {
        case .latest: return last
        case .number(let n):
            guard let found = versions.first(where: { $0.version == n }) else { throw .versionNotFound(n) }
            return found
        }
    }

    static func schemaJSON(_ s: StoredSchema) -> JSONValue {
        var o = JSONObject([("subject", .string(s.subject)), ("version", .integer(s.version)), ("id", .integer(s.id))])
        if s.type != .avro { o["schemaType"] = .string(s.type.rawValue) }
        if !s.references.isEmpty { o["references"] = .array(s.references.map(\.json)) }
        o["schema"] = .string(s.schema)
        return .object(o)
    }

    func getVersion(subject: String, version: String) throws(RegistryError) -> RegistryOutcome {
        SchemaRegistryAPI.ok(
            Context.schemaJSON(try resolve(subject: subject, version: version, includeDeleted: flag("deleted"))))
    }

    func getVersionSchema(subject: String, version: String) throws(RegistryError) -> RegistryOutcome {
        let s = try resolve(subject: subject, version: version, includeDeleted: flag("deleted"))
        return .respond(RegistryResponse(status: 200, body: Array(s.schema.utf8)))
    }

    func referencedBy(subject: String, version: String) throws(RegistryError) -> RegistryOutcome {
        let s = try resolve(subject: subject, version: version, includeDeleted: true)
        return SchemaRegistryAPI.ok(.array(state.referencedBy(s.subject, s.version).map { .integer($0) }))
    }

    // MARK: registration and lookup

    /// The submitted schema parsed with its references, and the text to store.
    func prepare(_ submission: SchemaSubmission) throws(RegistryError) -> (parsed: ParsedSchema, stored: String) {
        let parsed = try state.parse(submission.schema, type: submission.type, references: submission.references)
        let stored = flag("normalize") && parsed.type == .json ? parsed.canonicalString : parsed.compactString
        return (parsed, stored)
    }

    func register(subject: String) throws(RegistryError) -> RegistryOutcome {
        let submission = try SchemaSubmission(body: request.body)
        let mode = state.effectiveMode(of: subject)
        if mode.isReadOnly { throw .operationNotPermitted("Subject \(subject) is in read-only mode") }
        let (parsed, text) = try prepare(submission)
        let identity = SchemaIdentity(
            type: parsed.type, text: SchemaIdentity.compact(text), references: submission.references)
        let live = state.versions(of: subject, includeDeleted: false)
        if let existing = live.last(where: { $0.identity == identity }),
            submission.id == nil || submission.id == existing.id,
            submission.version == nil || submission.version == existing.version
        {
            return SchemaRegistryAPI.ok(.object(JSONObject([("id", .integer(existing.id))])))
        }
        let id: Int
        let version: Int
        if mode == .import {
            if let wanted = submission.id {
                guard wanted >= 1, wanted <= Int(Int32.max) else { throw .unprocessable("Invalid schema id \(wanted)") }
                if let other = state.schema(id: wanted), other.identity != identity {
                    throw .idDoesNotMatch("Overwrite new schema with id \(wanted) is not permitted.")
                }
                id = wanted
            } else {
                id = state.id(for: identity) ?? state.nextId
            }
            if let wanted = submission.version {
                guard wanted >= 1, wanted <= Int(Int32.max) else { throw .invalidVersion(String(wanted)) }
                if state.version(subject, wanted) != nil {
                    throw .operationNotPermitted("Version \(wanted) of subject \(subject) already exists")
                }
                version = wanted
            } else {
                version = state.nextVersion(of: subject)
            }
        } else {
            if submission.id != nil { throw .operationNotPermitted("Subject \(subject) is not in import mode") }
            version = state.nextVersion(of: subject)
            if let wanted = submission.version, wanted != version { throw .invalidVersion(String(wanted)) }
            let level = state.effectiveLevel(of: subject)
            if let failure = try check(parsed, against: live, level: level) {
                throw .incompatible(
                    "Schema being registered is incompatible with an earlier schema for subject \"\(subject)\", details: ["
                        + failure.joined(separator: ", ") + "]")
            }
            id = state.id(for: identity) ?? state.nextId
        }
        let stored = StoredSchema(
            subject: subject, version: version, id: id, type: parsed.type, schema: text,
            references: submission.references, deleted: false)
        return .write([stored.record], then: SchemaRegistryAPI.okResponse(.object(JSONObject([("id", .integer(id))]))))
    }

    /// Checks `parsed` against `previous` (non-deleted, oldest first) at `level`; nil when compatible, else Confluent's
    /// verbose messages (issues, `{oldSchemaVersion: n}`, `{oldSchema: '...'}`, `{compatibility: 'LEVEL'}`).
    func check(_ parsed: ParsedSchema, against previous: [StoredSchema], level: CompatibilityLevel)
        throws(RegistryError) -> [String]?
    {
        guard level != .none, !previous.isEmpty else { return nil }
        let candidates = level.isTransitive ? previous : [previous[previous.count - 1]]
        var parsedPrevious: [ParsedSchema] = []
        for p in candidates {
            do { parsedPrevious.append(try state.parse(p)) } catch {
                throw .storeError("Error while checking compatibility: stored schema id \(p.id) cannot be parsed")
            }
        }
        let result = parsed.checkCompatibility(previous: parsedPrevious, level: level)
        guard !result.isCompatible else { return nil }
        var messages = result.issues.map(\.confluentMessage)
        if let i = result.failedAgainstIndex {
            messages.append("{oldSchemaVersion: \(candidates[i].version)}")
            messages.append("{oldSchema: '\(candidates[i].schema)'}")
        }
        messages.append("{compatibility: '\(level.rawValue)'}")
        return messages
    }

    func lookup(subject: String) throws(RegistryError) -> RegistryOutcome {
        let submission = try SchemaSubmission(body: request.body)
        let versions = state.versions(of: subject, includeDeleted: flag("deleted"))
        guard !versions.isEmpty else { throw .subjectNotFound(subject) }
        let (parsed, text) = try prepare(submission)
        let identity = SchemaIdentity(
            type: parsed.type, text: SchemaIdentity.compact(text), references: submission.references)
        guard let found = versions.last(where: { $0.identity == identity }) else { throw .schemaNotFound() }
        return SchemaRegistryAPI.ok(Context.schemaJSON(found))
    }

    // MARK: deletes

    func checkWritable(_ subject: String) throws(RegistryError) {
        if state.effectiveMode(of: subject).isReadOnly {
            throw .operationNotPermitted("Subject \(subject) is in read-only mode")
        }
    }

    func checkNotReferenced(_ s: StoredSchema, excludingSubject: String? = nil) throws(RegistryError) {
        if !state.referencedBy(s.subject, s.version, excludingSubject: excludingSubject).isEmpty {
            throw .referenceExists(
                "One or more references exist to the schema "
                    + "{magic=1,keytype=SCHEMA,subject=\(s.subject),version=\(s.version)}.")
        }
    }

    func deleteSubject(_ subject: String) throws(RegistryError) -> RegistryOutcome {
        try checkWritable(subject)
        let all = state.versions(of: subject, includeDeleted: true)
        guard !all.isEmpty else { throw .subjectNotFound(subject) }
        let live = all.filter { !$0.deleted }
        let body = JSONValue.array((flag("permanent") ? all : live).map { .integer($0.version) })
        if flag("permanent") {
            guard live.isEmpty else { throw .subjectNotSoftDeleted(subject) }
            for s in all { try checkNotReferenced(s, excludingSubject: subject) }
            let records = all.map { SchemasTopicRecords.schemaTombstone(subject: subject, version: $0.version) }
            return .write(records, then: SchemaRegistryAPI.okResponse(body))
        }
        guard let latest = live.last else { throw .subjectSoftDeleted(subject) }
        for s in live { try checkNotReferenced(s, excludingSubject: subject) }
        var records = [SchemasTopicRecords.deleteSubject(subject, upTo: latest.version)]
        if state.contents.subjectModes[subject] != nil {
            records.append(SchemasTopicRecords.mode(subject: subject, mode: nil))
        }
        if state.contents.subjectLevels[subject] != nil {
            records.append(SchemasTopicRecords.config(subject: subject, level: nil))
        }
        return .write(records, then: SchemaRegistryAPI.okResponse(body))
    }

    func deleteVersion(subject: String, version raw: String) throws(RegistryError) -> RegistryOutcome {
        try checkWritable(subject)
        let spec = try VersionSpec(raw)
        let all = state.versions(of: subject, includeDeleted: true)
        guard !all.isEmpty else { throw .subjectNotFound(subject) }
        let permanent = flag("permanent")
        let target: StoredSchema
        switch spec {
        case .latest:
            guard let t = permanent ? all.last : all.last(where: { !$0.deleted }) else {
                throw .subjectNotFound(subject)
            }
            target = t
        case .number(let n):
            guard let t = all.first(where: { $0.version == n }) else { throw .versionNotFound(n) }
            target = t
        }
        try checkNotReferenced(target)
        let body = JSONValue.integer(target.version)
        if permanent {
            guard target.deleted else { throw .versionNotSoftDeleted(subject, target.version) }
            return .write(
                [SchemasTopicRecords.schemaTombstone(subject: subject, version: target.version)],
                then: SchemaRegistryAPI.okResponse(body))
        }
        guard !target.deleted else { throw .versionSoftDeleted(subject, target.version) }
        var deleted = target
        deleted.deleted = true
        return .write([deleted.record], then: SchemaRegistryAPI.okResponse(body))
    }

    // MARK: schemas by id

    func schemaById(_ raw: String, detail: String? = nil) throws(RegistryError) -> RegistryOutcome {
        guard let id = Int(raw) else { throw .notFound }
        guard let s = state.schema(id: id) else { throw .schemaNotFound(id) }
        switch detail {
        case nil:
            var o = JSONObject()
            if s.type != .avro { o["schemaType"] = .string(s.type.rawValue) }
            if !s.references.isEmpty { o["references"] = .array(s.references.map(\.json)) }
            o["schema"] = .string(s.schema)
            return SchemaRegistryAPI.ok(.object(o))
        case "schema"?:
            return .respond(RegistryResponse(status: 200, body: Array(s.schema.utf8)))
        case "versions"?:
            let pairs = visible(state.subjectVersions(ofId: id))
            return SchemaRegistryAPI.ok(
                .array(
                    pairs.map {
                        .object(JSONObject([("subject", .string($0.subject)), ("version", .integer($0.version))]))
                    }))
        default:
            var seen: Set<String> = []
            let names = visible(state.subjectVersions(ofId: id)).map(\.subject).filter { seen.insert($0).inserted }
            return SchemaRegistryAPI.ok(.array(names.map { .string($0) }))
        }
    }

    private func visible(_ pairs: [SchemaRegistryState.SubjectVersion]) -> [SchemaRegistryState.SubjectVersion] {
        let includeDeleted = flag("deleted")
        return pairs.filter { includeDeleted || state.version($0.subject, $0.version)?.deleted == false }
    }

    // MARK: config

    func getConfig(subject: String?) throws(RegistryError) -> RegistryOutcome {
        let level: CompatibilityLevel
        if let subject {
            if let l = state.contents.subjectLevels[subject] {
                level = l
            } else if flag("defaultToGlobal") {
                level = state.effectiveLevel(of: nil)
            } else {
                throw .subjectCompatibilityNotConfigured(subject)
            }
        } else {
            level = state.effectiveLevel(of: nil)
        }
        return SchemaRegistryAPI.ok(.object(JSONObject([("compatibilityLevel", .string(level.rawValue))])))
    }

    func putConfig(subject: String?) throws(RegistryError) -> RegistryOutcome {
        guard let json = JSONValue.parse(bytes: request.body) else {
            throw .badRequest("Request body is not valid JSON")
        }
        guard let raw = (json.objectValue?["compatibility"] ?? json.objectValue?["compatibilityLevel"])?.stringValue,
            let level = CompatibilityLevel(rawValue: raw.uppercased())
        else { throw .invalidCompatibilityLevel }
        let body = SchemaRegistryAPI.okResponse(.object(JSONObject([("compatibility", .string(level.rawValue))])))
        let current = subject.map { state.contents.subjectLevels[$0] } ?? state.contents.globalLevel
        if current == level { return .respond(body) }
        return .write([SchemasTopicRecords.config(subject: subject, level: level)], then: body)
    }

    func deleteConfig(subject: String?) throws(RegistryError) -> RegistryOutcome {
        let current = subject.map { state.contents.subjectLevels[$0] } ?? state.contents.globalLevel
        let previous = current ?? state.effectiveLevel(of: nil)
        if let subject, current == nil {
            if state.versions(of: subject, includeDeleted: true).isEmpty { throw .subjectNotFound(subject) }
            throw .subjectCompatibilityNotConfigured(subject)
        }
        let body = SchemaRegistryAPI.okResponse(
            .object(JSONObject([("compatibilityLevel", .string(previous.rawValue))])))
        guard current != nil else { return .respond(body) }
        return .write([SchemasTopicRecords.config(subject: subject, level: nil)], then: body)
    }

    // MARK: mode

    func getMode(subject: String?) throws(RegistryError) -> RegistryOutcome {
        let mode: RegistryMode
        if let subject {
            if let m = state.contents.subjectModes[subject] {
                mode = m
            } else if flag("defaultToGlobal") {
                mode = state.contents.globalMode ?? .readWrite
            } else {
                throw .subjectModeNotConfigured(subject)
            }
        } else {
            mode = state.contents.globalMode ?? .readWrite
        }
        return SchemaRegistryAPI.ok(.object(JSONObject([("mode", .string(mode.rawValue))])))
    }

    func putMode(subject: String?) throws(RegistryError) -> RegistryOutcome {
        guard let json = JSONValue.parse(bytes: request.body) else {
            throw .badRequest("Request body is not valid JSON")
        }
        guard let raw = json.objectValue?["mode"]?.stringValue, let mode = RegistryMode(rawValue: raw.uppercased())
        else {
            throw .invalidMode
        }
        if mode == .import && !flag("force") {
            let nonEmpty =
                subject.map { !state.versions(of: $0, includeDeleted: true).isEmpty }
                ?? !state.subjectNames(includeDeleted: true).isEmpty
            if nonEmpty { throw .operationNotPermitted("Cannot import since found existing subjects") }
        }
        let body = SchemaRegistryAPI.okResponse(.object(JSONObject([("mode", .string(mode.rawValue))])))
        let current = subject.map { state.contents.subjectModes[$0] } ?? state.contents.globalMode
        if current == mode { return .respond(body) }
        return .write([SchemasTopicRecords.mode(subject: subject, mode: mode)], then: body)
    }

    func deleteMode(subject: String) throws(RegistryError) -> RegistryOutcome {
        guard let current = state.contents.subjectModes[subject] else { throw .subjectModeNotConfigured(subject) }
        let body = SchemaRegistryAPI.okResponse(.object(JSONObject([("mode", .string(current.rawValue))])))
        return .write([SchemasTopicRecords.mode(subject: subject, mode: nil)], then: body)
    }

    // MARK: compatibility

    func testCompatibility(subject: String, version raw: String?) throws(RegistryError) -> RegistryOutcome {
        let submission = try SchemaSubmission(body: request.body)
        let live = state.versions(of: subject, includeDeleted: false)
        var previous: [StoredSchema] = live
        if let raw {
            let spec = try VersionSpec(raw)
            guard !live.isEmpty else { throw .subjectNotFound(subject) }
            if case .number(let n) = spec {
                guard let found = live.first(where: { $0.version == n }) else { throw .versionNotFound(n) }
                previous = [found]
            }
        }
        let (parsed, _) = try prepare(submission)
        let messages = try check(parsed, against: previous, level: state.effectiveLevel(of: subject))
        var o = JSONObject([("is_compatible", .bool(messages == nil))])
        if flag("verbose") { o["messages"] = .array((messages ?? []).map { .string($0) }) }
        return SchemaRegistryAPI.ok(.object(o))
    }
}

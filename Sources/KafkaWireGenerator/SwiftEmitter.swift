import Foundation

/// Writes the Swift source of one message file. The output is plain, explicitly typed code:
/// one struct per Kafka struct, nested in the message type, with `encode(into:version:)` and
/// `init(from:version:)`. Version checks become comparisons on `version`, simplified against the
/// message's valid versions so that a field present in every version costs no branch.
struct SwiftEmitter {
    let spec: MessageSpec
    let header: String
    private var out: [String] = []
    private var indentLevel = 0

    init(spec: MessageSpec, header: String) {
        self.spec = spec
        self.header = header
    }

    static func render(_ spec: MessageSpec, header: String) -> String {
        var e = SwiftEmitter(spec: spec, header: header)
        e.renderFile()
        return e.out.joined(separator: "\n") + "\n"
    }

    // MARK: output helpers

    private mutating func line(_ s: String = "") {
        out.append(s.isEmpty ? "" : String(repeating: "    ", count: indentLevel) + s)
    }
    private mutating func open(_ s: String) {
        line(s + " {")
        indentLevel += 1
    }
    private mutating func close(_ suffix: String = "") {
        indentLevel -= 1
        line("}" + suffix)
    }
    private mutating func doc(_ text: String?) {
        guard let text, !text.isEmpty else { return }
        for part in wrap(text, width: 110 - indentLevel * 4) { line("/// " + part) }
    }

    // MARK: file

    private mutating func renderFile() {
        for l in header.split(separator: "\n", omittingEmptySubsequences: false) { out.append(String(l)) }
        line("// Source: \(spec.fileName). Do not edit: run `swift run kafka-wire-gen` instead.")
        line()
        line("import NIOCore")
        line("import SkeinModel")
        line()
        let protocolName: String
        switch spec.kind {
        case .request: protocolName = "KafkaRequest"
        case .response: protocolName = "KafkaResponse"
        case .header, .data: protocolName = "KafkaMessage"
        }
        doc(
            "Kafka's `\(spec.name)` (\(spec.kind.rawValue)), valid versions \(spec.validVersions), "
                + "flexible versions \(spec.flexibleVersions).")
        open("public struct \(spec.name): \(protocolName)")
        renderMetadata()
        line()
        renderStructBody(name: spec.name, fields: spec.fields, topLevel: true)
        for s in spec.allStructs {
            line()
            doc(structDoc(s))
            open("public struct \(s.name): KafkaStruct")
            renderStructBody(name: s.name, fields: s.fields, topLevel: false)
            close()
        }
        close()
    }

    private func structDoc(_ s: StructSpec) -> String {
        let keys = s.fields.filter(\.mapKey).map { lowerCamel($0.name) }
        var text = "A `\(s.name)` of `\(spec.name)`."
        if !keys.isEmpty {
            text +=
                " Kafka keys these by \(keys.map { "`\($0)`" }.joined(separator: ", ")) (mapKey):"
                + " at most one element per key is expected."
        }
        return text
    }

    private mutating func renderMetadata() {
        line("public static let messageName: String = \(quote(spec.name))")
        let lo = spec.validVersions.lowest ?? 0
        let hi = spec.validVersions.highest ?? lo
        line("public static let validVersions: ClosedRange<Int16> = \(lo)...\(hi)")
        line(
            "public static let lowestFlexibleVersion: Int16? = \(spec.flexibleVersions.lowest.map(String.init) ?? "nil")"
        )
        if spec.kind == .request || spec.kind == .response {
            let key = apiCaseName(spec)
            line("public static let apiKey: ApiKey = .\(key)")
            if let dlo = spec.deprecatedVersions.lowest {
                line(
                    "public static let deprecatedVersions: ClosedRange<Int16>? = \(dlo)...\(spec.deprecatedVersions.highest ?? hi)"
                )
            } else {
                line("public static let deprecatedVersions: ClosedRange<Int16>? = nil")
            }
        }
        if spec.kind == .request {
            line("public static let latestVersionUnstable: Bool = \(spec.latestVersionUnstable)")
            line("public typealias Response = \(spec.name.dropLast("Request".count))Response")
        }
    }

    // MARK: struct body

    private mutating func renderStructBody(name: String, fields: [FieldSpec], topLevel: Bool) {
        for f in fields {
            var about = f.about ?? ""
            let notes = fieldNotes(f)
            if !notes.isEmpty { about += (about.isEmpty ? "" : " ") + "(\(notes))" }
            doc(about)
            line("public var \(swiftName(f)): \(swiftType(f))")
        }
        line("/// Tagged fields this version of the code does not know, kept so that they survive a re-encode.")
        line("public var unknownTaggedFields: [TaggedField]")
        line()
        // Memberwise initializer with Kafka's defaults.
        if fields.isEmpty {
            open("public init(unknownTaggedFields: [TaggedField] = [])")
        } else {
            line("public init(")
            indentLevel += 1
            for f in fields { line("\(swiftName(f)): \(swiftType(f)) = \(defaultExpr(f)),") }
            line("unknownTaggedFields: [TaggedField] = []")
            indentLevel -= 1
            open(")")
        }
        for f in fields { line("self.\(swiftName(f)) = \(swiftName(f))") }
        line("self.unknownTaggedFields = unknownTaggedFields")
        close()
        line()
        renderDecode(name: name, fields: fields, topLevel: topLevel)
        line()
        renderEncode(name: name, fields: fields, topLevel: topLevel)
    }

    private func fieldNotes(_ f: FieldSpec) -> String {
        var notes = ["versions \(f.versions)"]
        if !f.nullableVersions.isEmpty { notes.append("nullable \(f.nullableVersions)") }
        if !f.taggedVersions.isEmpty { notes.append("tag \(f.tag ?? -1) in \(f.taggedVersions)") }
        if f.ignorable { notes.append("ignorable") }
        if f.mapKey { notes.append("map key") }
        if let e = f.entityType { notes.append("entity \(e)") }
        return notes.joined(separator: "; ")
    }

    // MARK: decode

    private mutating func renderDecode(name: String, fields: [FieldSpec], topLevel: Bool) {
        open("public init(from buffer: inout ByteBuffer, version: Int16) throws")
        if topLevel {
            open("guard Self.validVersions.contains(version) else")
            line("throw WireError.unsupportedVersion(message: Self.messageName, version: version)")
            close()
        }
        line("self.init()")
        let anyFlexible = !spec.flexibleVersions.isEmpty
        if anyFlexible { line("let flexible: Bool = \(cond(spec.flexibleVersions))") }
        for f in fields where !f.versions.intersection(spec.validVersions).isEmpty {
            let positional = positionalRange(f)
            if positional.isEmpty { continue }
            let c = cond(positional)
            if c == "true" {
                emitReadField(f, into: "self.\(swiftName(f))")
            } else {
                open("if \(c)")
                emitReadField(f, into: "self.\(swiftName(f))")
                close()
            }
        }
        let tagged = fields.filter { !$0.taggedVersions.intersection($0.versions).isEmpty }
        if anyFlexible && tagged.isEmpty {
            open("if flexible")
            line("try buffer.readKafkaUnknownTaggedFields(into: &self.unknownTaggedFields)")
            close()
        } else if anyFlexible {
            open("if flexible")
            line("let taggedCount: Int = try buffer.readKafkaTaggedFieldCount()")
            open("for _ in 0..<taggedCount")
            line("let (tag, size): (UInt32, Int) = try buffer.readKafkaTaggedFieldHeader()")
            open("guard var field: ByteBuffer = buffer.readSlice(length: size) else")
            line("throw WireError.truncated")
            close()
            do {
                open("switch tag")
                for f in tagged.sorted(by: { ($0.tag ?? 0) < ($1.tag ?? 0) }) {
                    let c = cond(f.taggedVersions.intersection(f.versions))
                    line("case \(f.tag ?? 0) where \(c):")
                    indentLevel += 1
                    emitReadField(f, into: "self.\(swiftName(f))", buffer: "field", flexible: "true")
                    line("try field.expectKafkaTaggedFieldConsumed(tag: tag)")
                    indentLevel -= 1
                }
                line("default:")
                indentLevel += 1
                line("self.unknownTaggedFields.append(TaggedField(tag: tag, data: field))")
                indentLevel -= 1
                close()
            }
            close()
            close()
        }
        close()
    }

    /// Emits statements that read one field value (handling nullability per version) into `target`.
    private mutating func emitReadField(
        _ f: FieldSpec, into target: String, buffer: String = "buffer",
        flexible flexibleOverride: String? = nil
    ) {
        let flex = flexibleOverride ?? flexibleExpr(f)
        let nullable = f.nullableVersions.intersection(f.versions)
        let optionalType = isOptional(f)
        let nullCond = cond(nullable, within: f.versions)
        switch f.type {
        case .array(let element):
            let count = "count\(swiftName(f).capitalizedFirst)"
            if nullCond == "false" {
                line(
                    "let \(count): Int = try \(buffer).readKafkaArrayCount(flexible: \(flex), field: \(quote(f.name)))")
            } else {
                line("let \(count): Int? = try \(buffer).readKafkaNullableArrayCount(flexible: \(flex))")
                if nullCond != "true" {
                    open("if \(count) == nil && !(\(nullCond))")
                    line("throw WireError.unexpectedNull(field: \(quote(f.name)))")
                    close()
                }
                open("if let \(count)")
            }
            let elementType = swiftElementType(element, entity: f.entityType)
            let items = "items\(swiftName(f).capitalizedFirst)"
            line("var \(items): [\(elementType)] = []")
            line("\(items).reserveCapacity(Swift.min(\(count), \(buffer).readableBytes))")
            open("for _ in 0..<\(count)")
            line("\(items).append(\(readExpr(element, entity: f.entityType, buffer: buffer, flexible: flex)))")
            close()
            line("\(target) = \(items)")
            if nullCond != "false" {
                close(" else {")
                indentLevel += 1
                line("\(target) = nil")
                close()
            }
        case .structure(let n):
            if nullCond == "false" {
                line("\(target) = try \(n)(from: &\(buffer), version: version)")
            } else {
                // Nullable structs carry an int8 marker: -1 null, 1 present.
                line("let marker\(swiftName(f).capitalizedFirst): Int8 = try \(buffer).readKafkaInteger(as: Int8.self)")
                open("if marker\(swiftName(f).capitalizedFirst) < 0")
                if nullCond != "true" {
                    open("guard \(nullCond) else")
                    line("throw WireError.unexpectedNull(field: \(quote(f.name)))")
                    close()
                }
                line("\(target) = nil")
                close(" else {")
                indentLevel += 1
                line("\(target) = try \(n)(from: &\(buffer), version: version)")
                close()
            }
        case .string, .bytes, .records, .uuid:
            let base: String
            switch f.type {
            case .string: base = "String"
            case .bytes, .records: base = "Bytes"
            default: base = "UUID"
            }
            if f.type == .uuid {
                // UUIDs have no null encoding on the wire; a nullable uuid reads as a value.
                line("\(target) = try \(buffer).readKafkaUUID()")
            } else if nullCond == "false" {
                line("\(target) = try \(buffer).readKafka\(base)(flexible: \(flex), field: \(quote(f.name)))")
            } else if nullCond == "true" || optionalType {
                if nullCond == "true" {
                    line("\(target) = try \(buffer).readKafkaNullable\(base)(flexible: \(flex))")
                } else {
                    open("if \(nullCond)")
                    line("\(target) = try \(buffer).readKafkaNullable\(base)(flexible: \(flex))")
                    close(" else {")
                    indentLevel += 1
                    line("\(target) = try \(buffer).readKafka\(base)(flexible: \(flex), field: \(quote(f.name)))")
                    close()
                }
            }
        default:
            line("\(target) = \(readExpr(f.type, entity: f.entityType, buffer: buffer, flexible: flex))")
        }
    }

    /// An expression reading one non-null value of a scalar, string, bytes or struct element.
    private func readExpr(_ type: FieldType, entity: String?, buffer: String, flexible: String) -> String {
        switch type {
        case .bool: return "try \(buffer).readKafkaBool()"
        case .int8: return "try \(buffer).readKafkaInteger(as: Int8.self)"
        case .int16: return "try \(buffer).readKafkaInteger(as: Int16.self)"
        case .uint16: return "try \(buffer).readKafkaInteger(as: UInt16.self)"
        case .int32:
            if entity == "brokerId" { return "BrokerId(rawValue: try \(buffer).readKafkaInteger(as: Int32.self))" }
            return "try \(buffer).readKafkaInteger(as: Int32.self)"
        case .uint32: return "try \(buffer).readKafkaInteger(as: UInt32.self)"
        case .int64:
            if entity == "producerId" { return "ProducerId(rawValue: try \(buffer).readKafkaInteger(as: Int64.self))" }
            return "try \(buffer).readKafkaInteger(as: Int64.self)"
        case .float64: return "try \(buffer).readKafkaFloat64()"
        case .string: return "try \(buffer).readKafkaString(flexible: \(flexible), field: \"element\")"
        case .uuid: return "try \(buffer).readKafkaUUID()"
        case .bytes, .records: return "try \(buffer).readKafkaBytes(flexible: \(flexible), field: \"element\")"
        case .structure(let n): return "try \(n)(from: &\(buffer), version: version)"
        case .array: return "<nested arrays are not used by Kafka>"
        }
    }

    // MARK: encode

    private mutating func renderEncode(name: String, fields: [FieldSpec], topLevel: Bool) {
        open("public func encode(into buffer: inout ByteBuffer, version: Int16) throws")
        if topLevel {
            open("guard Self.validVersions.contains(version) else")
            line("throw WireError.unsupportedVersion(message: Self.messageName, version: version)")
            close()
        }
        let anyFlexible = !spec.flexibleVersions.isEmpty
        if anyFlexible { line("let flexible: Bool = \(cond(spec.flexibleVersions))") }
        for f in fields {
            let present = f.versions.intersection(spec.validVersions)
            let positional = positionalRange(f)
            // A non-default value the version cannot carry is an error unless Kafka marks it ignorable.
            if !f.ignorable, cond(present) != "true" {
                let c = cond(present)
                open("if \(negate(c)), self.\(swiftName(f)) != \(defaultExpr(f))")
                line(
                    "throw WireError.unsupportedField(message: \(quote(name)), field: \(quote(f.name)), version: version)"
                )
                close()
            }
            if positional.isEmpty { continue }
            let c = cond(positional)
            if c == "true" {
                emitWriteField(f, value: "self.\(swiftName(f))")
            } else {
                open("if \(c)")
                emitWriteField(f, value: "self.\(swiftName(f))")
                close()
            }
        }
        if anyFlexible {
            let tagged = fields.filter { !$0.taggedVersions.intersection($0.versions).isEmpty }
            open("if flexible")
            if tagged.isEmpty {
                line("try buffer.writeKafkaTaggedFields(self.unknownTaggedFields)")
            } else {
                line("var tagged: [TaggedField] = self.unknownTaggedFields")
                for f in tagged.sorted(by: { ($0.tag ?? 0) < ($1.tag ?? 0) }) {
                    let c = cond(f.taggedVersions.intersection(f.versions))
                    open("if \(c), self.\(swiftName(f)) != \(defaultExpr(f))")
                    line("var field: ByteBuffer = ByteBuffer()")
                    emitWriteField(f, value: "self.\(swiftName(f))", buffer: "field", flexible: "true")
                    line("tagged.append(TaggedField(tag: \(f.tag ?? 0), data: field))")
                    close()
                }
                line("try buffer.writeKafkaTaggedFields(tagged)")
            }
            close()
        }
        close()
    }

    private mutating func emitWriteField(
        _ f: FieldSpec, value: String, buffer: String = "buffer",
        flexible flexibleOverride: String? = nil
    ) {
        let flex = flexibleOverride ?? flexibleExpr(f)
        let nullable = f.nullableVersions.intersection(f.versions)
        let nullCond = cond(nullable, within: f.versions)
        let optional = isOptional(f)
        var local = "v" + swiftName(f).capitalizedFirst.replacingOccurrences(of: "`", with: "")
        // Resolve the optional: either write null where allowed, or require a value.
        var needsClose = false
        if optional && f.type != .uuid {
            if nullCond == "false" {
                open("guard let \(local) = \(value) else")
                line("throw WireError.nullNotAllowed(field: \(quote(f.name)), version: version)")
                close()
            } else {
                open("if let \(local) = \(value)")
                needsClose = true
            }
        } else {
            local = value
        }
        switch f.type {
        case .array(let element):
            line("try \(buffer).writeKafkaArrayCount(\(local).count, flexible: \(flex))")
            open("for item in \(local)")
            emitWriteScalar(element, entity: f.entityType, value: "item", buffer: buffer, flexible: flex)
            close()
        case .structure:
            if nullCond != "false" { line("\(buffer).writeInteger(Int8(1))") }
            line("try \(local).encode(into: &\(buffer), version: version)")
        default:
            emitWriteScalar(f.type, entity: f.entityType, value: local, buffer: buffer, flexible: flex)
        }
        if needsClose {
            close(" else {")
            indentLevel += 1
            if nullCond != "true" {
                open("guard \(nullCond) else")
                line("throw WireError.nullNotAllowed(field: \(quote(f.name)), version: version)")
                close()
            }
            switch f.type {
            case .array: line("\(buffer).writeKafkaNullArrayCount(flexible: \(flex))")
            case .structure: line("\(buffer).writeInteger(Int8(-1))")
            case .string: line("\(buffer).writeKafkaNullString(flexible: \(flex))")
            default: line("\(buffer).writeKafkaNullBytes(flexible: \(flex))")
            }
            close()
        }
    }

    private mutating func emitWriteScalar(
        _ type: FieldType, entity: String?, value: String, buffer: String, flexible: String
    ) {
        switch type {
        case .bool: line("\(buffer).writeInteger(\(value) ? UInt8(1) : UInt8(0))")
        case .int8, .int16, .uint16, .uint32:
            line("\(buffer).writeInteger(\(value))")
        case .int32:
            line("\(buffer).writeInteger(\(value)\(entity == "brokerId" ? ".rawValue" : ""))")
        case .int64:
            line("\(buffer).writeInteger(\(value)\(entity == "producerId" ? ".rawValue" : ""))")
        case .float64: line("\(buffer).writeInteger(\(value).bitPattern)")
        case .string: line("try \(buffer).writeKafkaString(\(value), flexible: \(flexible))")
        case .uuid: line("\(buffer).writeKafkaUUID(\(value))")
        case .bytes, .records: line("try \(buffer).writeKafkaBytes(\(value), flexible: \(flexible))")
        case .structure: line("try \(value).encode(into: &\(buffer), version: version)")
        case .array: line("<nested arrays are not used by Kafka>")
        }
    }

    // MARK: types, names, defaults

    private func positionalRange(_ f: FieldSpec) -> VersionRange {
        // Versions where the field is present and not tagged. Tagged versions are open-ended, so this is a range.
        let present = f.versions.intersection(spec.validVersions)
        guard let tlo = f.taggedVersions.lowest else { return present }
        guard let lo = present.lowest, lo < tlo else { return .none }
        return present.intersection(VersionRange(lowest: lo, highest: tlo - 1))
    }

    private func flexibleExpr(_ f: FieldSpec) -> String {
        if let override = f.flexibleVersions { return cond(override) }
        return spec.flexibleVersions.isEmpty ? "false" : "flexible"
    }

    /// A Swift condition on `version` for a version range, simplified within the message's valid versions.
    func cond(_ r: VersionRange, within outer: VersionRange? = nil) -> String {
        let scope = outer.map { $0.intersection(spec.validVersions) } ?? spec.validVersions
        let within = r.intersection(scope)
        guard let lo = within.lowest else { return "false" }
        let vlo = scope.lowest ?? 0
        let vhi = scope.highest ?? Int.max
        let hi = within.highest ?? vhi
        var parts: [String] = []
        if lo > vlo { parts.append("version >= \(lo)") }
        if hi < vhi { parts.append("version <= \(hi)") }
        if lo == hi && parts.count == 2 { return "version == \(lo)" }
        return parts.isEmpty ? "true" : parts.joined(separator: " && ")
    }

    /// The negation of a condition made by `cond`, kept readable for the simple forms.
    private func negate(_ c: String) -> String {
        if c == "false" { return "true" }
        if c.hasPrefix("version >= "), !c.contains("&&") { return "version < " + c.dropFirst("version >= ".count) }
        if c.hasPrefix("version <= "), !c.contains("&&") { return "version > " + c.dropFirst("version <= ".count) }
        return "!(\(c))"
    }

    private func isOptional(_ f: FieldSpec) -> Bool {
        if f.type == .records { return true }
        if f.type == .uuid { return false }
        return !f.nullableVersions.intersection(f.versions).isEmpty
    }

    func swiftName(_ f: FieldSpec) -> String { escape(lowerCamel(f.name)) }

    private func swiftElementType(_ t: FieldType, entity: String?) -> String {
        switch t {
        case .bool: return "Bool"
        case .int8: return "Int8"
        case .int16: return "Int16"
        case .uint16: return "UInt16"
        case .int32: return entity == "brokerId" ? "BrokerId" : "Int32"
        case .uint32: return "UInt32"
        case .int64: return entity == "producerId" ? "ProducerId" : "Int64"
        case .float64: return "Double"
        case .string: return "String"
        case .uuid: return "KafkaUUID"
        case .bytes, .records: return "ByteBuffer"
        case .array(let inner): return "[\(swiftElementType(inner, entity: entity))]"
        case .structure(let n): return n
        }
    }

    func swiftType(_ f: FieldSpec) -> String {
        let base = swiftElementType(f.type, entity: f.entityType)
        return isOptional(f) ? base + "?" : base
    }

    func defaultExpr(_ f: FieldSpec) -> String {
        let d = f.defaultValue
        if d == "null" { return "nil" }
        switch f.type {
        case .bool: return d == "true" ? "true" : "false"
        case .int8, .int16, .uint16, .int32, .uint32, .int64:
            let n = d.flatMap(parseInteger) ?? 0
            if f.type == .int32 && f.entityType == "brokerId" { return "BrokerId(rawValue: \(n))" }
            if f.type == .int64 && f.entityType == "producerId" { return "ProducerId(rawValue: \(n))" }
            return String(n)
        case .float64: return String(Double(d ?? "0") ?? 0)
        case .string: return quote(d ?? "")
        case .uuid: return "KafkaUUID.zero"
        case .bytes: return isOptional(f) && d == nil ? "nil" : "ByteBuffer()"
        case .records: return "nil"
        case .array: return "[]"
        case .structure(let n): return "\(n)()"
        }
    }

    private func parseInteger(_ s: String) -> Int64? {
        let t = s.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("0x") || t.hasPrefix("0X") { return Int64(t.dropFirst(2), radix: 16) }
        if t.hasPrefix("-0x") { return Int64(t.dropFirst(3), radix: 16).map { -$0 } }
        return Int64(t)
    }
}

// MARK: - naming helpers shared by the generator

func lowerCamel(_ name: String) -> String {
    if name.hasPrefix("KRaft") { return "kraft" + name.dropFirst(5) }
    guard let first = name.first else { return name }
    return first.lowercased() + name.dropFirst()
}

private let swiftKeywords: Set<String> = [
    "associatedtype", "class", "deinit", "enum", "extension", "fileprivate", "func", "import", "init", "inout",
    "internal", "let", "open", "operator", "private", "protocol", "public", "rethrows", "static", "struct",
    "subscript", "typealias", "var", "break", "case", "continue", "default", "defer", "do", "else", "fallthrough",
    "for", "guard", "if", "in", "repeat", "return", "switch", "where", "while", "as", "catch", "false", "is",
    "nil", "super", "self", "throw", "throws", "true", "try", "Any", "Self",
]

func escape(_ name: String) -> String { swiftKeywords.contains(name) ? "`\(name)`" : name }

func quote(_ s: String) -> String {
    var r = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": r += "\\\""
        case "\\": r += "\\\\"
        case "\n": r += "\\n"
        default: r.unicodeScalars.append(c)
        }
    }
    return r + "\""
}

func apiCaseName(_ spec: MessageSpec) -> String {
    var n = spec.name
    if n.hasSuffix("Request") {
        n.removeLast("Request".count)
    } else if n.hasSuffix("Response") {
        n.removeLast("Response".count)
    }
    return lowerCamel(n)
}

func apiBaseName(_ spec: MessageSpec) -> String {
    var n = spec.name
    if n.hasSuffix("Request") {
        n.removeLast("Request".count)
    } else if n.hasSuffix("Response") {
        n.removeLast("Response".count)
    }
    return n
}

func wrap(_ text: String, width: Int) -> [String] {
    let words = text.replacingOccurrences(of: "\n", with: " ").split(separator: " ")
    var lines: [String] = []
    var current = ""
    for w in words {
        if current.isEmpty {
            current = String(w)
        } else if current.count + 1 + w.count > width {
            lines.append(current)
            current = String(w)
        } else {
            current += " " + w
        }
    }
    if !current.isEmpty { lines.append(current) }
    return lines
}

extension String {
    var capitalizedFirst: String {
        let s = self.replacingOccurrences(of: "`", with: "")
        guard let f = s.first else { return s }
        return f.uppercased() + s.dropFirst()
    }
}

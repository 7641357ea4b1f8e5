import ArgumentParser
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Options of the commands that talk to a node's Schema Registry.
struct RegistryOptions: ParsableArguments {
    @Option(help: "Schema Registry URL (any node's HTTP port). Default: $SKEIN_REGISTRY, else http://127.0.0.1:9644.")
    var registry: String = ProcessInfo.processInfo.environment["SKEIN_REGISTRY"] ?? "http://127.0.0.1:9644"

    /// Sends one request; returns the decoded JSON body, or exits with the registry's error.
    func call(_ method: String, _ path: String, query: [String: String] = [:], body: Any? = nil) async throws -> Any {
        var components = URLComponents(string: registry.hasSuffix("/") ? String(registry.dropLast()) : registry)
        guard components != nil else { throw ValidationError("--registry: '\(registry)' is not a URL") }
        components?.percentEncodedPath += path
        if !query.isEmpty {
            components?.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
        }
        guard let url = components?.url else { throw ValidationError("--registry: '\(registry)' is not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.setValue("application/vnd.schemaregistry.v1+json", forHTTPHeaderField: "Content-Type")
        if let body { request.httpBody = try JSONSerialization.data(withJSONObject: body) }
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            fail("cannot reach the Schema Registry at \(registry): \(error.localizedDescription)")
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let json = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        guard (200..<300).contains(status) else {
            if let error = json as? [String: Any], let message = error["message"] {
                fail("\(message) (HTTP \(status), error code \(error["error_code"] ?? status))")
            }
            fail("HTTP \(status): \(String(decoding: data, as: UTF8.self))")
        }
        return json ?? [:]
    }
}

/// Percent-encodes one path segment (a subject name may hold '/', ':' and spaces).
func pathSegment(_ s: String) -> String {
    var allowed = CharacterSet.urlPathAllowed
    allowed.remove(charactersIn: "/")
    return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
}

/// JSON as text: compact when `pretty` is false.
func jsonText(_ value: Any, pretty: Bool = true) -> String {
    guard JSONSerialization.isValidJSONObject(value),
        let data = try? JSONSerialization.data(
            withJSONObject: value, options: pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys])
    else { return "\(value)" }
    return String(decoding: data, as: UTF8.self)
}

/// `skein schema ...`: the Schema Registry from the command line.
struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Register, fetch, list, check, configure and delete schemas in the Schema Registry.",
        subcommands: [Register.self, Get.self, List.self, Check.self, Config.self, Delete.self]
    )

    /// A schema from --file or --schema.
    struct SchemaInput: ParsableArguments {
        @Option(help: "Read the schema from this file ('-' for stdin).") var file: String?
        @Option(help: "The schema text.") var schema: String?
        @Option(help: "AVRO (default) or JSON.") var type: String = "AVRO"

        func body() throws -> [String: Any] {
            let text: String
            switch (file, schema) {
            case (let path?, nil):
                if path == "-" {
                    text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                } else {
                    guard let data = FileManager.default.contents(atPath: path) else {
                        throw ValidationError("cannot read \(path)")
                    }
                    text = String(decoding: data, as: UTF8.self)
                }
            case (nil, let given?): text = given
            default: throw ValidationError("give the schema with exactly one of --file or --schema")
            }
            var body: [String: Any] = ["schema": text]
            if type.uppercased() != "AVRO" { body["schemaType"] = type.uppercased() }
            return body
        }
    }

    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a schema under a subject (checked against the subject's compatibility level).")
        @OptionGroup var registry: RegistryOptions
        @Argument(help: "Subject, e.g. orders-value.") var subject: String
        @OptionGroup var input: SchemaInput

        func run() async throws {
            let answer = try await registry.call(
                "POST", "/subjects/\(pathSegment(subject))/versions", body: try input.body())
            let id = (answer as? [String: Any])?["id"] ?? "?"
            let latest = try await registry.call("POST", "/subjects/\(pathSegment(subject))", body: try input.body())
            let version = (latest as? [String: Any])?["version"] ?? "?"
            print("registered \(subject) version \(version), schema id \(id)")
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a subject's version (latest by default) or a schema by id.")
        @OptionGroup var registry: RegistryOptions
        @Argument(help: "Subject (omit with --id).") var subject: String?
        @Option(help: "Version number or 'latest'.") var version: String = "latest"
        @Option(help: "A schema id instead of a subject.") var id: Int?

        func run() async throws {
            if let id {
                print(jsonText(try await registry.call("GET", "/schemas/ids/\(id)")))
                return
            }
            guard let subject else { throw ValidationError("give a subject or --id") }
            print(jsonText(try await registry.call("GET", "/subjects/\(pathSegment(subject))/versions/\(version)")))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List subjects, or a subject's versions.")
        @OptionGroup var registry: RegistryOptions
        @Argument(help: "A subject: list its versions.") var subject: String?
        @Flag(help: "Include soft-deleted subjects or versions.") var deleted = false

        func run() async throws {
            let query = deleted ? ["deleted": "true"] : [:]
            let path = subject.map { "/subjects/\(pathSegment($0))/versions" } ?? "/subjects"
            let answer = try await registry.call("GET", path, query: query)
            for item in answer as? [Any] ?? [] { print(item) }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a schema against a subject's versions under its compatibility level; exit 1 if not.")
        @OptionGroup var registry: RegistryOptions
        @Argument(help: "Subject.") var subject: String
        @Option(help: "Version to check against, or 'latest'.") var version: String = "latest"
        @OptionGroup var input: SchemaInput

        func run() async throws {
            let answer = try await registry.call(
                "POST", "/compatibility/subjects/\(pathSegment(subject))/versions/\(version)",
                query: ["verbose": "true"], body: try input.body())
            let result = answer as? [String: Any] ?? [:]
            if result["is_compatible"] as? Bool == true {
                print("compatible")
                return
            }
            print("incompatible")
            for message in result["messages"] as? [Any] ?? [] { print("  \(message)") }
            throw ExitCode(1)
        }
    }

    struct Config: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show or set the compatibility level, global or of a subject.")
        @OptionGroup var registry: RegistryOptions
        @Argument(help: "Subject (omit for the global level).") var subject: String?
        @Option(help: "Set the level: BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE, NONE.")
        var set: String?

        func run() async throws {
            let path = subject.map { "/config/\(pathSegment($0))" } ?? "/config"
            if let set {
                let answer = try await registry.call("PUT", path, body: ["compatibility": set.uppercased()])
                print((answer as? [String: Any])?["compatibility"] ?? set)
                return
            }
            let answer = try await registry.call("GET", path, query: subject == nil ? [:] : ["defaultToGlobal": "true"])
            print((answer as? [String: Any])?["compatibilityLevel"] ?? jsonText(answer))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a subject or one version: soft by default, --permanent after a soft delete.")
        @OptionGroup var registry: RegistryOptions
        @Argument(help: "Subject.") var subject: String
        @Option(help: "Only this version (a number or 'latest').") var version: String?
        @Flag(help: "Delete for good (the subject or version must be soft-deleted first).") var permanent = false

        func run() async throws {
            var path = "/subjects/\(pathSegment(subject))"
            if let version { path += "/versions/\(version)" }
            let answer = try await registry.call("DELETE", path, query: permanent ? ["permanent": "true"] : [:])
            let what = (answer as? [Any]).map { "versions " + $0.map { "\($0)" }.joined(separator: ",") } ?? "version \(answer)"
            print("deleted \(subject) \(what)" + (permanent ? " permanently" : ""))
        }
    }
}

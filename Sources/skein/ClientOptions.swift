import ArgumentParser
import Foundation
import KafkaRecords
import NIOCore
import SkeinClient

/// Options shared by the commands that talk to a cluster.
struct ClientOptions: ParsableArguments {
    @Option(help: "Bootstrap brokers, host:port[,host:port...]. Default: $SKEIN_BROKERS, else 127.0.0.1:9092.")
    var brokers: String = ProcessInfo.processInfo.environment["SKEIN_BROKERS"] ?? "127.0.0.1:9092"

    @Option(help: "Timeout of each request in milliseconds.")
    var timeoutMs: Int = 30_000

    /// Runs `body` with a connected client; Kafka and connection errors become one line on stderr and exit 1.
    func withClient<T>(_ body: (KafkaClient) async throws -> T) async throws -> T {
        let client: KafkaClient
        do {
            client = try KafkaClient(
                bootstrap: brokers, clientId: "skein-cli", requestTimeout: .milliseconds(timeoutMs))
        } catch {
            throw ValidationError("\(error)")
        }
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch let error as KafkaError {
            await client.close()
            fail("\(error)")
        } catch let error as KafkaClientError {
            await client.close()
            fail("\(error)")
        }
    }
}

/// Prints `message` as one line on stderr and exits with status 1.
func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("skein: error: \(message)\n".utf8))
    Foundation.exit(1)
}

/// Splits `k=v` arguments; the value may contain `=`.
func parseKeyValues(_ items: [String], option: String) throws -> [(String, String)] {
    try items.map { item in
        guard let eq = item.firstIndex(of: "="), eq != item.startIndex else {
            throw ValidationError("\(option) expects key=value, got '\(item)'")
        }
        return (String(item[..<eq]), String(item[item.index(after: eq)...]))
    }
}

extension CompressionCodec: ExpressibleByArgument {
    public init?(argument: String) {
        guard let codec = CompressionCodec.allCases.first(where: { $0.description == argument.lowercased() }) else {
            return nil
        }
        self = codec
    }

    public static var allValueStrings: [String] { allCases.map(\.description) }
}

extension Acks: ExpressibleByArgument {
    public init?(argument: String) {
        switch argument.lowercased() {
        case "0": self = .none
        case "1": self = .leader
        case "all", "-1": self = .all
        default: return nil
        }
    }

    public static var allValueStrings: [String] { ["0", "1", "all"] }
}

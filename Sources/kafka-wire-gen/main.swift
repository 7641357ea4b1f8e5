import ArgumentParser
import Foundation
import KafkaWireGenerator

/// Regenerates `Sources/KafkaWire/Generated` from Kafka's message definitions.
@main
struct KafkaWireGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kafka-wire-gen",
        abstract: "Generate Swift codecs from Kafka's JSON message definitions."
    )

    @Option(help: "The kafka-protocol folder (holding messages/ and README.md).")
    var protocolDir: String = "../shared/kafka-protocol"

    @Option(help: "Where the generated Swift goes.")
    var output: String = "Sources/KafkaWire/Generated"

    @Flag(help: "Only check that the output is up to date; exit 1 on any difference.")
    var check = false

    func run() throws {
        let generator = try WireGenerator(protocolDirectory: URL(fileURLWithPath: protocolDir))
        let outputURL = URL(fileURLWithPath: output)
        if check {
            let diffs = try generator.differences(from: outputURL)
            if diffs.isEmpty {
                print("kafka-wire-gen: \(output) is up to date (\(generator.specs.count) message files)")
                return
            }
            for d in diffs { print("kafka-wire-gen: \(d)") }
            print("kafka-wire-gen: generated code is stale; run `swift run kafka-wire-gen`")
            throw ExitCode(1)
        }
        let changed = try generator.write(to: outputURL)
        print("kafka-wire-gen: \(generator.specs.count) message files, \(changed.count) files written to \(output)")
    }
}

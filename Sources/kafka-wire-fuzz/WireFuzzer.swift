import Foundation
import KafkaWire
import NIOCore

/// libFuzzer's entry point: every request and response decoder of every version. The first byte picks the
/// API key, the second the version, the third (bit 0) request or response; the rest is the body. The whole
/// input is also tried as a request frame.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKafkaWire(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    WireFuzz.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

enum WireFuzz {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 3 else { return }
        let api = ApiKey.allCases[Int(bytes[0]) % ApiKey.allCases.count]
        let type: any KafkaApiMessage.Type = bytes[2] & 1 == 0 ? api.requestType : api.responseType
        let versions = type.validVersions
        let version = versions.lowerBound + Int16(Int(bytes[1]) % versions.count)
        var body = ByteBuffer(bytes: bytes[3...])
        check(type, &body, version: version)
        if let frame = try? KafkaRequestFrame(parsing: ByteBuffer(bytes: bytes)) {
            _ = try? frame.decodeBody()
        }
    }

    /// Whatever decodes must encode, and its encoding must be a fixed point.
    static func check<T: KafkaMessage>(_ type: T.Type, _ body: inout ByteBuffer, version: Int16) {
        guard let message = try? T(from: &body, version: version),
            let encoded = try? message.encoded(version: version)
        else { return }
        guard let again = try? T.decodeWhole(encoded, version: version),
            (try? again.encoded(version: version)) == encoded
        else {
            fatalError("\(T.messageName) v\(version): encoding is not a fixed point")
        }
    }
}

#if SKEIN_LIBFUZZER
    // SwiftPM links every executable with `main` aliased to `<module>_main`; give it one that hands control to
    // libFuzzer's driver (exported by libFuzzer since LLVM 11).
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<CInt>,
        _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
    ) -> CInt

    @_cdecl("kafka_wire_fuzz_main")
    func kafkaWireFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
        var count = argc
        var arguments: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = argv
        return LLVMFuzzerRunDriver(&count, &arguments, fuzzKafkaWire)
    }
#else
    /// Without libFuzzer: replay the files named on the command line (crash reproducers, corpus entries).
    @main
    struct Replay {
        static func main() throws {
            let paths = CommandLine.arguments.dropFirst()
            if paths.isEmpty {
                print("usage: kafka-wire-fuzz FILE...  (see docs/protocol.md for libFuzzer runs)")
            }
            for path in paths {
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                data.withUnsafeBytes { WireFuzz.run($0) }
                print("ok: \(path)")
            }
        }
    }
#endif

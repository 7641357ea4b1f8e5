// swift-tools-version: 6.1
// Skein: a Kafka-compatible event streaming cluster. Layers (dependencies point down only):
// model -> pure cores (KafkaWire, KafkaRecords, ...) -> I/O -> composition -> executables.
import PackageDescription

let package = Package(
    name: "skein",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "skein", targets: ["skein"]),
        .executable(name: "kafka-wire-gen", targets: ["kafka-wire-gen"]),
        .library(name: "KafkaWire", targets: ["KafkaWire"]),
        .library(name: "KafkaRecords", targets: ["KafkaRecords"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // MARK: model
        .target(name: "SkeinModel"),

        // MARK: C and system libraries
        .target(name: "CSkeinCRC32C"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CSnappy", providers: [.apt(["libsnappy-dev"])]),

        // MARK: pure cores
        .target(
            name: "KafkaWire",
            dependencies: ["SkeinModel", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "KafkaRecords",
            dependencies: [
                "SkeinModel", "CSkeinCRC32C", "CZlib", "CZstd", "CLZ4", "CSnappy",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // MARK: code generation (Foundation only; reads ../shared/kafka-protocol/messages)
        .target(name: "KafkaWireGenerator"),
        .executableTarget(
            name: "kafka-wire-gen",
            dependencies: ["KafkaWireGenerator", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),

        // MARK: executables
        .executableTarget(
            name: "kafka-wire-fuzz",
            dependencies: ["KafkaWire", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .executableTarget(
            name: "skein",
            dependencies: [
                "KafkaWire", "KafkaRecords", "SkeinModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: tests
        .testTarget(
            name: "KafkaWireTests",
            dependencies: ["KafkaWire", "KafkaRecords", "KafkaWireGenerator", .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "KafkaRecordsTests",
            dependencies: ["KafkaRecords", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(name: "KafkaWireGeneratorTests", dependencies: ["KafkaWireGenerator"]),
    ]
)

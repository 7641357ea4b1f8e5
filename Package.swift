// swift-tools-version: 6.1
// Skein: a Kafka-compatible event streaming cluster. Layers (dependencies point down only):
// model -> pure cores (KafkaWire, KafkaRecords, ...) -> I/O (SkeinTransport, ...) -> composition -> executables.
import PackageDescription

let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioPosix = Target.Dependency.product(name: "NIOPosix", package: "swift-nio")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")

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
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
    ],
    targets: [
        // MARK: model
        .target(name: "SkeinModel", exclude: ["README.md"]),

        // MARK: C and system libraries
        .target(name: "CSkeinCRC32C"),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .systemLibrary(name: "CSnappy", providers: [.apt(["libsnappy-dev"])]),

        // MARK: pure cores
        .target(name: "KafkaWire", dependencies: ["SkeinModel", nioCore], exclude: ["README.md"]),
        .target(
            name: "KafkaRecords",
            dependencies: ["SkeinModel", "CSkeinCRC32C", "CZlib", "CZstd", "CLZ4", "CSnappy", nioCore],
            exclude: ["README.md"]
        ),

        .target(name: "SkeinRaft", dependencies: ["SkeinModel"], exclude: ["README.md"]),
        .target(name: "SkeinTransactions", dependencies: ["SkeinModel"], exclude: ["README.md"]),
        .target(name: "SkeinGossip", dependencies: ["SkeinModel"], exclude: ["README.md"]),
        .target(
            name: "SkeinReplication",
            dependencies: [
                "SkeinModel", "SkeinRaft", "KafkaRecords", "SkeinStorage", "SkeinTransactions", nioCore, logging,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            exclude: ["README.md"]
        ),

        // MARK: I/O
        .target(
            name: "SkeinTransport", dependencies: ["KafkaWire", nioCore, nioPosix, logging, nioSSL],
            exclude: ["README.md"]),
        .target(
            name: "SkeinTLS",
            dependencies: [
                "SkeinModel", nioSSL,
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["README.md"]),
        .target(
            name: "SkeinRPC",
            dependencies: [
                "SkeinModel", "SkeinTLS", nioCore, nioPosix, nioSSL, logging,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            exclude: ["README.md"]),
        .target(name: "SkeinGroups", dependencies: ["SkeinModel"], exclude: ["README.md"]),
        .target(
            name: "SkeinSchemas", dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            exclude: ["README.md"]),
        .target(name: "SkeinRegistry", dependencies: ["SkeinSchemas"], exclude: ["README.md"]),
        .target(
            name: "SkeinGossipTransport",
            dependencies: [
                "SkeinGossip", "SkeinModel", nioCore, nioPosix, logging,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            exclude: ["README.md"]),
        .target(
            name: "SkeinStorage",
            dependencies: [
                "SkeinModel", "KafkaRecords", "SkeinTransactions", nioCore,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            exclude: ["README.md"]
        ),

        // MARK: composition
        .target(
            name: "SkeinBroker",
            dependencies: [
                "SkeinModel", "KafkaWire", "KafkaRecords", "SkeinStorage", "SkeinTransport", "SkeinReplication",
                "SkeinGroups", "SkeinRegistry", "SkeinTransactions", nioCore, nioPosix, logging,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "SkeinClient",
            dependencies: [
                "KafkaWire", "KafkaRecords", "SkeinModel", "SkeinTransport", nioCore, nioPosix,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            exclude: ["README.md"]
        ),
        .target(
            name: "SkeinNode",
            dependencies: [
                "SkeinBroker", "SkeinTransport", "SkeinModel", "SkeinTLS", "SkeinRPC", "SkeinReplication", "SkeinStorage",
                "SkeinGroups", "SkeinRegistry", "SkeinTransactions", "SkeinGossip", "SkeinGossipTransport", nioCore,
                nioPosix, logging, nioSSL,
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ],
            exclude: ["README.md"]
        ),

        // MARK: code generation (Foundation only; reads ../shared/kafka-protocol/messages)
        .target(name: "KafkaWireGenerator", exclude: ["README.md"]),
        .executableTarget(name: "kafka-wire-gen", dependencies: ["KafkaWireGenerator", argumentParser]),

        // MARK: executables
        .executableTarget(name: "kafka-wire-fuzz", dependencies: ["KafkaWire", nioCore]),
        .executableTarget(
            name: "skein",
            dependencies: [
                "KafkaWire", "KafkaRecords", "SkeinModel", "SkeinNode", "SkeinClient", "SkeinTLS", "SkeinGossipTransport",
                nioCore, argumentParser, logging,
            ]
        ),

        // MARK: tests
        .target(name: "SkeinSimulation", dependencies: ["SkeinRaft", "SkeinModel"], exclude: ["README.md"]),
        .target(
            name: "SkeinGossipSimulation", dependencies: ["SkeinGossip", "SkeinModel"], exclude: ["README.md"]),
        .executableTarget(name: "gossip-sim", dependencies: ["SkeinGossipSimulation", "SkeinGossip"]),
        .testTarget(name: "SkeinRaftTests", dependencies: ["SkeinRaft", "SkeinSimulation", "SkeinModel"]),
        .testTarget(name: "SkeinTransactionsTests", dependencies: ["SkeinTransactions", "SkeinModel"]),
        .testTarget(name: "SkeinSchemasTests", dependencies: ["SkeinSchemas"]),
        .testTarget(name: "SkeinRegistryTests", dependencies: ["SkeinRegistry", "SkeinSchemas"]),
        .testTarget(name: "SkeinGroupsTests", dependencies: ["SkeinGroups", "SkeinModel"]),
        .testTarget(
            name: "SkeinGossipTests",
            dependencies: ["SkeinGossip", "SkeinGossipSimulation", "SkeinGossipTransport", "SkeinModel", nioPosix, logging]
        ),
        .testTarget(
            name: "KafkaWireTests",
            dependencies: ["KafkaWire", "KafkaRecords", "KafkaWireGenerator", nioCore],
            exclude: ["Fixtures"]
        ),
        .testTarget(name: "KafkaRecordsTests", dependencies: ["KafkaRecords", nioCore]),
        .testTarget(name: "KafkaWireGeneratorTests", dependencies: ["KafkaWireGenerator"]),
        .testTarget(
            name: "SkeinClientTests",
            dependencies: [
                "SkeinClient", "SkeinNode", "SkeinTransport", "KafkaWire", "KafkaRecords", "SkeinModel", nioCore,
                nioPosix, logging,
            ]
        ),
        .testTarget(
            name: "SkeinBrokerTests",
            dependencies: [
                "SkeinBroker", "SkeinNode", "SkeinTransport", "KafkaWire", "KafkaRecords", "SkeinModel", "SkeinTLS",
                nioCore, logging, nioPosix,
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SkeinReplicationTests",
            dependencies: [
                "SkeinReplication", "SkeinRaft", "SkeinStorage", "KafkaRecords", "SkeinModel", nioCore, nioPosix, logging,
            ]
        ),
        .testTarget(
            name: "SkeinStorageTests", dependencies: ["SkeinStorage", "SkeinModel", "KafkaRecords", "SkeinTransactions", nioCore]),
        .testTarget(
            name: "SkeinTransportTests",
            dependencies: [
                "SkeinTransport", "KafkaWire", "SkeinModel", "SkeinTLS", nioCore, nioPosix, logging, nioSSL,
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SkeinRPCTests",
            dependencies: [
                "SkeinRPC", "SkeinTLS", "SkeinModel", nioCore, nioPosix, nioSSL, logging,
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTestUtils", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
            ]
        ),
    ]
)

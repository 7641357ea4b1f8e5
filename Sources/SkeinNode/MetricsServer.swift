import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import SkeinBroker
import SkeinRegistry

/// The node's HTTP port: Prometheus `/metrics`, `/v1/cluster` (JSON: this node, the controller leader as this
/// node knows it, and the gossip members with their state) for `skein cluster status`, and the Schema Registry's
/// REST API (Confluent's paths: `/subjects`, `/schemas`, `/config`, `/mode`, `/compatibility`, `/`).
final class MetricsServer: Sendable {
    let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    static func bind(
        host: String, port: Int, group: any EventLoopGroup, broker: Broker,
        clusterStatus: @escaping @Sendable () -> String?
    ) async throws -> MetricsServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(broker: broker, clusterStatus: clusterStatus))
                }
            }
            .bind(host: host, port: port)
            .get()
        return MetricsServer(channel: channel)
    }

    func close() async { try? await channel.close() }
}

final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let broker: Broker
    let clusterStatus: @Sendable () -> String?
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var bodyTooLarge = false
    /// The largest request body taken (a schema is text; Confluent's default limit is far below this).
    static let maxBodyBytes = 16 << 20

    static let registryPrefixes = ["/subjects", "/schemas", "/config", "/mode", "/compatibility"]

    static func isRegistryPath(_ path: String) -> Bool {
        path == "/" || registryPrefixes.contains { path == $0 || path.hasPrefix($0 + "/") }
    }

    /// The path (still percent-encoded) and the decoded query parameters of a request URI.
    static func split(_ uri: String) -> (path: String, query: [String: String]) {
        guard let q = uri.firstIndex(of: "?") else { return (uri, [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: q)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            guard let key = parts.first, !key.isEmpty else { continue }
            query[key] = parts.count > 1 ? parts[1] : ""
        }
        return (String(uri[..<q]), query)
    }

    init(broker: Broker, clusterStatus: @escaping @Sendable () -> String?) {
        self.broker = broker
        self.clusterStatus = clusterStatus
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body.clear()
            bodyTooLarge = false
        case .body(var part):
            if body.readableBytes + part.readableBytes > Self.maxBodyBytes { bodyTooLarge = true } else {
                body.writeBuffer(&part)
            }
        case .end:
            guard let head else { return }
            let (path, query) = Self.split(head.uri)
            if Self.isRegistryPath(path) {
                self.head = nil
                if bodyTooLarge {
                    write(
                        context: context, head: head, status: .payloadTooLarge,
                        contentType: RegistryResponse.schemaRegistryContentType,
                        body: ByteBuffer(string: "{\"error_code\":413,\"message\":\"Request body too large\"}"))
                    return
                }
                let request = RegistryRequest(
                    method: head.method.rawValue, path: path, query: query, body: Array(buffer: body))
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                broker.registry.handle(request).hop(to: context.eventLoop).whenComplete { result in
                    let (handler, context) = bound.value
                    let response =
                        (try? result.get())
                        ?? RegistryResponse(status: 500, body: Array("{\"error_code\":50001,\"message\":\"Error in the backend\"}".utf8))
                    handler.write(
                        context: context, head: head, status: HTTPResponseStatus(statusCode: response.status),
                        contentType: response.contentType, body: ByteBuffer(bytes: response.body))
                }
                return
            }
            let (status, body, type): (HTTPResponseStatus, String, String)
            if head.method == .GET && (head.uri == "/metrics" || head.uri.hasPrefix("/metrics?")) {
                (status, body, type) = (.ok, PrometheusText.render(broker), "text/plain; version=0.0.4; charset=utf-8")
            } else if head.method == .GET && head.uri == "/v1/cluster" {
                if let json = clusterStatus() {
                    (status, body, type) = (.ok, json, "application/json")
                } else {
                    (status, body, type) = (.notFound, "{\"error\": \"not in cluster mode\"}", "application/json")
                }
            } else {
                (status, body, type) = (.notFound, "not found: \(head.uri)\n", "text/plain; charset=utf-8")
            }
            write(context: context, head: head, status: status, contentType: type, body: ByteBuffer(string: body))
            self.head = nil
        }
    }

    private func write(
        context: ChannelHandlerContext, head: HTTPRequestHead, status: HTTPResponseStatus, contentType: String,
        body: ByteBuffer
    ) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))),
            promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if !head.isKeepAlive { context.close(promise: nil) }
    }
}

/// The Prometheus text format (version 0.0.4) of the broker's metrics.
enum PrometheusText {
    static func render(_ broker: Broker) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        let apis = broker.metrics.snapshot()
        family("skein_kafka_requests_total", "counter", "Kafka requests answered, by API.")
        for a in apis { out += "skein_kafka_requests_total{api=\"\(a.api)\"} \(a.requests)\n" }
        family(
            "skein_kafka_request_duration_seconds", "summary", "Time from a decoded request to its response, by API.")
        for a in apis {
            out += "skein_kafka_request_duration_seconds_sum{api=\"\(a.api)\"} \(a.seconds)\n"
            out += "skein_kafka_request_duration_seconds_count{api=\"\(a.api)\"} \(a.requests)\n"
        }
        let bytes = broker.metrics.recordBytes
        family("skein_record_bytes_in_total", "counter", "Record batch bytes appended by Produce.")
        out += "skein_record_bytes_in_total \(bytes.in)\n"
        family("skein_record_bytes_out_total", "counter", "Record batch bytes returned by Fetch.")
        out += "skein_record_bytes_out_total \(bytes.out)\n"
        family("skein_partition_size_bytes", "gauge", "Bytes on disk of each partition's log.")
        let partitions = broker.partitionStatistics()
        for p in partitions {
            out += "skein_partition_size_bytes{topic=\"\(p.topic)\",partition=\"\(p.partition)\"} \(p.sizeBytes)\n"
        }
        family("skein_partition_log_end_offset", "gauge", "The next offset of each partition.")
        for p in partitions {
            out +=
                "skein_partition_log_end_offset{topic=\"\(p.topic)\",partition=\"\(p.partition)\"} \(p.logEndOffset)\n"
        }
        family("skein_partition_log_start_offset", "gauge", "The first offset of each partition.")
        for p in partitions {
            out +=
                "skein_partition_log_start_offset{topic=\"\(p.topic)\",partition=\"\(p.partition)\"} \(p.logStartOffset)\n"
        }
        return out
    }
}

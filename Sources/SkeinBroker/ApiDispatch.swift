import KafkaWire
import Logging
import NIOCore
import SkeinModel
import SkeinTransport

/// The versions of each API this node serves. ApiVersions advertises exactly these; each range sits next
/// to its handler's reasoning. Floors follow KIP-896 (Kafka 4.0), except Produce, which stays advertised
/// from v0 because librdkafka checks for it (batches must still be v2).
enum ServedVersions {
    static let table: [ApiKey: ClosedRange<Int16>] = [
        .apiVersions: 0...4,
        .metadata: 0...12,
        .createTopics: 2...7,
        .deleteTopics: 1...6,
        .describeCluster: 0...1,
        .produce: 0...11,
        .fetch: 4...17,
        .listOffsets: 1...10,
        .offsetForLeaderEpoch: 2...4,
        .describeConfigs: 1...4,
        .alterConfigs: 0...2,
        .incrementalAlterConfigs: 0...1,
        .createPartitions: 0...3,
        .deleteRecords: 0...2,
        .initProducerId: 0...5,
        // Transactions at transaction version 1: AddPartitionsToTxn v4+ are broker-to-broker, EndTxn v5 is
        // KIP-890 part 2 (an epoch bump per transaction), which needs the transaction.version feature.
        .addPartitionsToTxn: 0...3,
        .addOffsetsToTxn: 0...4,
        .endTxn: 0...4,
        .txnOffsetCommit: 0...4,
        .describeTransactions: 0...0,
        .listTransactions: 0...1,
        .describeProducers: 0...0,
        .findCoordinator: 1...5,
        .joinGroup: 2...9,
        .syncGroup: 0...5,
        .heartbeat: 0...4,
        .leaveGroup: 0...5,
        .offsetCommit: 2...9,
        .offsetFetch: 1...9,
        .offsetDelete: 0...0,
        .describeGroups: 0...5,
        .listGroups: 0...5,
        .deleteGroups: 1...2,
        // v1 (KIP-1082: the client picks its member id) is what librdkafka 2.1x requires for group.protocol=consumer.
        .consumerGroupHeartbeat: 0...1,
        // Kafka 4.0 serves v0-1 (v1 adds the members' MemberType, KIP-1099); the message definitions Skein's codecs
        // are generated from (a 4.0.0 snapshot of 2024-10) define v0 only, which is what librdkafka 2.16 asks for.
        .consumerGroupDescribe: 0...0,
    ]

    static func range(for key: ApiKey) -> ClosedRange<Int16>? { table[key] }

    /// What cluster mode does not serve yet (their handlers still work on the single-node registry): not
    /// advertised, so clients report them as unsupported by the broker. Empty today.
    static let notInClusterMode: Set<ApiKey> = []
}

/// A request handler's answer: a response message, or no response (acks=0).
enum HandlerResult: Sendable {
    case response(any KafkaResponse)
    /// A response whose record sets are sent from segment files (Fetch on plaintext connections).
    case responseWithFiles(any KafkaResponse, [RecordsSplice])
    case noResponse
}

extension Broker {
    /// Kafka's order of checks: an unknown key or an unsupported version closes the connection, except
    /// ApiVersions, which answers UNSUPPORTED_VERSION in the v0 layout with the versions served.
    public func handle(request: ByteBuffer, connection: KafkaConnectionInfo, eventLoop: any EventLoop)
        -> EventLoopFuture<KafkaRequestOutcome>
    {
        // An ApiVersions version we do not serve is answered before the rest of the header is parsed: the
        // correlation id sits at a fixed place whatever the header version, and a newer client's header may
        // carry fields we cannot know.
        if let key: Int16 = request.getInteger(at: request.readerIndex), key == ApiKey.apiVersions.rawValue,
            let version: Int16 = request.getInteger(at: request.readerIndex + 2),
            let correlationId: Int32 = request.getInteger(at: request.readerIndex + 4),
            let served = servedRange(for: .apiVersions), !served.contains(version)
        {
            let response = apiVersionsResponse(errorCode: .unsupportedVersion)
            return eventLoop.makeSucceededFuture(encode(response, version: 0, correlationId: correlationId))
        }
        let frame: KafkaRequestFrame
        do {
            frame = try KafkaRequestFrame(parsing: request)
        } catch {
            return eventLoop.makeSucceededFuture(.close(reason: "unreadable request header: \(error)"))
        }
        let version = frame.header.requestApiVersion
        let correlationId = frame.header.correlationId
        guard let apiKey = frame.apiKey, let served = servedRange(for: apiKey) else {
            return eventLoop.makeSucceededFuture(.close(reason: "API key \(frame.rawApiKey) is not served"))
        }
        guard served.contains(version) else {
            return eventLoop.makeSucceededFuture(.close(reason: "\(apiKey.name) v\(version) is not served"))
        }
        let body: any KafkaRequest
        do {
            body = try frame.decodeBody()
        } catch {
            return eventLoop.makeSucceededFuture(.close(reason: "malformed \(apiKey.name) v\(version): \(error)"))
        }
        metrics.requestStarted(apiKey)
        let started = ContinuousClock.now
        // A request still unanswered after 5 s is logged (and again when it ends): every request must get an answer.
        let logger = self.logger
        let clientId = frame.header.clientId ?? ""
        // JoinGroup waits for the rebalance by design, and Fetch for its maxWaitMs.
        let watched = apiKey != .joinGroup && apiKey != .syncGroup && apiKey != .fetch
        let watchdog =
            watched
            ? eventLoop.scheduleTask(in: .seconds(5)) {
                logger.warning(
                    "request unanswered after 5 s",
                    metadata: ["api": "\(apiKey.name)", "version": "\(version)", "client": "\(clientId)"])
            } : nil
        return dispatch(
            apiKey: apiKey, body: body, version: version, header: frame.header, connection: connection,
            eventLoop: eventLoop
        ).always { _ in watchdog?.cancel() }.map { result in
            let took = ContinuousClock.now - started
            self.metrics.requestFinished(apiKey, duration: took)
            if took > .seconds(3) {
                self.logger.info(
                    "slow request",
                    metadata: [
                        "api": "\(apiKey.name)", "version": "\(version)", "took_ms": "\(took.components.seconds * 1000 + took.components.attoseconds / 1_000_000_000_000_000)",
                        "client": "\(clientId)",
                    ])
            }
            switch result {
            case .noResponse:
                return .noResponse
            case .response(let response):
                return self.encode(response, version: version, correlationId: correlationId)
            case .responseWithFiles(let response, let splices):
                guard case .response(let frame) = self.encode(response, version: version, correlationId: correlationId)
                else {
                    return .close(reason: "response encoding failed")
                }
                do {
                    return .responseParts(
                        try FetchSplicer.splice(
                            frame: frame, splices: splices, flexible: apiKey.isFlexible(version: version)))
                } catch {
                    self.logger.error("cannot splice a fetch response", metadata: ["error": "\(error)"])
                    return .close(reason: "fetch response splicing failed: \(error)")
                }
            }
        }
    }

    func encode(_ response: any KafkaResponse, version: Int16, correlationId: Int32) -> KafkaRequestOutcome {
        do {
            return .response(try response.encodeFrame(version: version, correlationId: correlationId))
        } catch {
            logger.error("cannot encode a response", metadata: ["error": "\(error)"])
            return .close(reason: "response encoding failed: \(error)")
        }
    }

    /// Whether this node may serve: in cluster mode, once its own registration is in the metadata it has (a
    /// node that just started knows no brokers, topics or controller yet; Kafka keeps such a broker fenced).
    func isServing(_ cluster: ClusterContext) -> Bool {
        cluster.controller.knowsItself
    }

    func dispatch(
        apiKey: ApiKey, body: any KafkaRequest, version: Int16, header: RequestHeader, connection: KafkaConnectionInfo,
        eventLoop: any EventLoop
    ) -> EventLoopFuture<HandlerResult> {
        if let cluster, !(body is ApiVersionsRequest), !isServing(cluster) {
            // Held until the node has caught up with the controller (up to 10 s, then answered from what it has):
            // an answer from an empty view would name no brokers and place replicas on too few nodes.
            return eventLoop.makeFutureWithTask {
                let deadline = ContinuousClock.now + .seconds(10)
                while !self.isServing(cluster) && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                return ()
            }.flatMap {
                self.dispatchServing(
                    apiKey: apiKey, body: body, version: version, header: header, connection: connection,
                    eventLoop: eventLoop)
            }
        }
        return dispatchServing(
            apiKey: apiKey, body: body, version: version, header: header, connection: connection, eventLoop: eventLoop)
    }

    func dispatchServing(
        apiKey: ApiKey, body: any KafkaRequest, version: Int16, header: RequestHeader, connection: KafkaConnectionInfo,
        eventLoop: any EventLoop
    ) -> EventLoopFuture<HandlerResult> {
        if let cluster {
            switch body {
            case let r as MetadataRequest:
                return eventLoop.makeSucceededFuture(
                    .response(
                        handleClusterMetadata(
                            r, version: version, listenerName: connection.listenerName, cluster: cluster)
                    ))
            case let r as ProduceRequest:
                return produceWithSchemaValidation(r, version: version, eventLoop: eventLoop) { r in
                    self.withTransactionVerification(r, version: version, eventLoop: eventLoop) { verification in
                        self.handleClusterProduce(
                            r, version: version, cluster: cluster, eventLoop: eventLoop, verification: verification)
                    }
                }
            case let r as CreateTopicsRequest:
                return eventLoop.makeFutureWithTask {
                    .response(await self.handleClusterCreateTopics(r, version: version, cluster: cluster))
                }
            case let r as DeleteTopicsRequest:
                return eventLoop.makeFutureWithTask {
                    .response(await self.handleClusterDeleteTopics(r, version: version, cluster: cluster))
                }
            case let r as DeleteRecordsRequest:
                return eventLoop.makeFutureWithTask {
                    .response(await self.handleClusterDeleteRecords(r, cluster: cluster))
                }
            default:
                break
            }
        }
        if let groupResult = dispatchGroupRequest(
            body, version: version, header: header, connection: connection, eventLoop: eventLoop)
        {
            return groupResult
        }
        if let txnResult = dispatchTxnRequest(body, version: version, eventLoop: eventLoop) {
            return txnResult
        }
        switch body {
        case is ApiVersionsRequest:
            return eventLoop.makeSucceededFuture(.response(apiVersionsResponse(errorCode: .none)))
        case let r as MetadataRequest:
            return eventLoop.makeSucceededFuture(
                .response(handleMetadata(r, version: version, listenerName: connection.listenerName)))
        case let r as CreateTopicsRequest:
            return eventLoop.makeSucceededFuture(.response(handleCreateTopics(r, version: version)))
        case let r as DeleteTopicsRequest:
            return eventLoop.makeSucceededFuture(.response(handleDeleteTopics(r, version: version)))
        case let r as ProduceRequest:
            return produceWithSchemaValidation(r, version: version, eventLoop: eventLoop) { r in
                self.withTransactionVerification(r, version: version, eventLoop: eventLoop) { verification in
                    eventLoop.makeSucceededFuture(self.handleProduce(r, version: version, verification: verification))
                }
            }
        case let r as FetchRequest:
            return handleFetch(
                r, version: version, zeroCopy: connection.supportsFileRegions && zeroCopyFetch, eventLoop: eventLoop)
        case let r as ListOffsetsRequest:
            return eventLoop.makeSucceededFuture(.response(handleListOffsets(r, version: version)))
        case let r as OffsetForLeaderEpochRequest:
            return eventLoop.makeSucceededFuture(.response(handleOffsetForLeaderEpoch(r)))
        case let r as DescribeConfigsRequest:
            return eventLoop.makeSucceededFuture(.response(handleDescribeConfigs(r, version: version)))
        case let r as AlterConfigsRequest:
            return eventLoop.makeFutureWithTask { .response(await self.handleAlterConfigs(r)) }
        case let r as IncrementalAlterConfigsRequest:
            return eventLoop.makeFutureWithTask { .response(await self.handleIncrementalAlterConfigs(r)) }
        case let r as CreatePartitionsRequest:
            return eventLoop.makeFutureWithTask { .response(await self.handleCreatePartitions(r)) }
        case let r as InitProducerIdRequest:
            return eventLoop.makeFutureWithTask { .response(await self.handleInitProducerId(r)) }
        case let r as DeleteRecordsRequest:
            return eventLoop.makeSucceededFuture(.response(handleDeleteRecords(r)))
        case let r as DescribeClusterRequest:
            return eventLoop.makeSucceededFuture(
                .response(handleDescribeCluster(r, listenerName: connection.listenerName)))
        default:
            return eventLoop.makeFailedFuture(WireError.unknownApiKey(apiKey.rawValue))
        }
    }

    func servedRange(for key: ApiKey) -> ClosedRange<Int16>? {
        if cluster != nil && ServedVersions.notInClusterMode.contains(key) { return nil }
        return ServedVersions.range(for: key)
    }

    func apiVersionsResponse(errorCode: KafkaErrorCode) -> ApiVersionsResponse {
        let keys = ServedVersions.table.filter { servedRange(for: $0.key) != nil }.sorted {
            $0.key.rawValue < $1.key.rawValue
        }.map { key, range in
            ApiVersionsResponse.ApiVersion(
                apiKey: key.rawValue, minVersion: range.lowerBound, maxVersion: range.upperBound)
        }
        return ApiVersionsResponse(errorCode: errorCode.rawValue, apiKeys: keys, throttleTimeMs: 0)
    }
}

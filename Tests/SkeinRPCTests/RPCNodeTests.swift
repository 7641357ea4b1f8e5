import NIOCore
import SkeinModel
import SkeinRPC
import SkeinTLS
import Testing

@Suite struct RPCNodeTests {
    /// Sends probes every 10 ms until one arrives (bounded by 15 s).
    static func sendUntilDelivered(from sender: RPCNode, to id: BrokerId, handler: RecordingHandler) async -> Bool {
        await eventually(timeout: .seconds(15)) {
            sender.send(to: id, kind: 1, payload: ByteBuffer(string: "probe"))
            return !handler.messages.isEmpty
        }
    }

    @Test func threeNodesExchangeOneWayMessagesAndRequests() async throws {
        try await TestCluster.with([1, 2, 3]) { cluster in
            cluster.connectAll()
            let ids: [BrokerId] = [1, 2, 3]
            for round in 0..<20 {
                for from in ids {
                    for to in ids where to != from {
                        cluster.nodes[from]!.send(
                            to: to, kind: 7, payload: ByteBuffer(string: "\(from)>\(to)#\(round)"))
                    }
                }
            }
            for to in ids {
                let handler = cluster.handlers[to]!
                #expect(await eventually { handler.messages.count == 40 }, "node \(to) got \(handler.messages.count)")
                for from in ids where from != to {
                    // `from` is the sender's certificate identity, and each sender's messages arrive in order.
                    #expect(handler.messages(from: from) == (0..<20).map { "\(from)>\(to)#\($0)" })
                }
                #expect(handler.messages.allSatisfy { $0.kind == 7 })
            }
            for from in ids {
                for to in ids where to != from {
                    let response = try await cluster.nodes[from]!.request(
                        to: to, kind: 1, payload: ByteBuffer(string: "ping"), timeout: .seconds(60))
                    #expect(String(buffer: response) == "\(to) got ping from \(from)")
                }
            }
            for id in ids {
                let counters = cluster.nodes[id]!.counters
                #expect(counters.messagesSent == 42)  // 40 one-way + 2 requests
                #expect(counters.messagesReceived == 42)
                #expect(counters.messagesDropped == 0)
                #expect(counters.handshakeFailures == 0)
                #expect(counters.connectionsEstablished == 2)
            }
        }
    }

    @Test func concurrentRequestsEachGetTheirOwnResponse() async throws {
        try await TestCluster.with([1, 2]) { cluster in
            cluster.connectAll()
            let node = cluster.nodes[1]!
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for i in 0..<200 {
                    group.addTask {
                        let response = try await node.request(
                            to: 2, kind: 1, payload: ByteBuffer(string: "r\(i)"), timeout: .seconds(60))
                        return (i, String(buffer: response))
                    }
                }
                for try await (i, response) in group {
                    #expect(response == "2 got r\(i) from 1")
                }
            }
        }
    }

    @Test func largePayloadsArriveIntact() async throws {
        try await TestCluster.with([1, 2]) { cluster in
            cluster.connectAll()
            let big = String(repeating: "0123456789abcdef", count: 200_000)  // 3.2 MB
            cluster.nodes[1]!.send(to: 2, kind: 5, payload: ByteBuffer(string: big))
            cluster.nodes[1]!.send(to: 2, kind: 5, payload: ByteBuffer(string: "after"))
            let handler = cluster.handlers[2]!
            #expect(await eventually { handler.messages.count == 2 })
            #expect(handler.messages(from: 1) == [big, "after"])
            let echoed = try await cluster.nodes[1]!.request(
                to: 2, kind: 1, payload: ByteBuffer(string: big), timeout: .seconds(60))
            #expect(String(buffer: echoed) == "2 got \(big) from 1")
        }
    }

    @Test func sendsResumeAfterThePeerRestartsOnTheSamePort() async throws {
        try await TestCluster.with([1, 2]) { cluster in
            cluster.connectAll()
            cluster.nodes[1]!.send(to: 2, kind: 1, payload: ByteBuffer(string: "before"))
            let first = cluster.handlers[2]!
            #expect(await eventually { first.messages.count == 1 })
            let port = cluster.port(2)
            try await cluster.nodes[2]!.close()
            cluster.handlers[2] = RecordingHandler(nodeId: 2)
            try await cluster.start(2, port: port)
            let second = cluster.handlers[2]!
            // Messages sent while the connection is down or in backoff are dropped; keep sending as Raft would.
            #expect(await Self.sendUntilDelivered(from: cluster.nodes[1]!, to: 2, handler: second))
            // Probes still in flight arrive first; everything after them arrives, in order.
            let expected = (0..<50).map { "m\($0)" }
            for message in expected { cluster.nodes[1]!.send(to: 2, kind: 1, payload: ByteBuffer(string: message)) }
            #expect(
                await eventually { Array(second.messages(from: 1).suffix(50)) == expected },
                "got \(second.messages(from: 1).suffix(50)); sender: \(cluster.nodes[1]!.counters)")
            #expect(second.messages(from: 1).dropLast(50).allSatisfy { $0 == "probe" })
            let response = try await cluster.nodes[1]!.request(
                to: 2, kind: 1, payload: ByteBuffer(string: "again"), timeout: .seconds(60))
            #expect(String(buffer: response) == "2 got again from 1")
        }
    }

    @Test func aRequestTimesOutAndTheConnectionStaysUsable() async throws {
        try await TestCluster.with([1, 2]) { cluster in
            cluster.connectAll()
            let node = cluster.nodes[1]!
            await #expect(throws: RPCError.timeout(peer: 2, after: .milliseconds(200))) {
                _ = try await node.request(to: 2, kind: 3, payload: ByteBuffer(), timeout: .milliseconds(200))
            }
            #expect(node.counters.requestTimeouts == 1)
            await cluster.handlers[2]!.gate.openGate()  // the late response finds no request and is ignored
            let response = try await node.request(
                to: 2, kind: 1, payload: ByteBuffer(string: "x"), timeout: .seconds(60))
            #expect(String(buffer: response) == "2 got x from 1")
            #expect(node.counters.connectionsEstablished == 1)
        }
    }

    @Test func aThrowingHandlerAnswersWithARemoteError() async throws {
        try await TestCluster.with([1, 2]) { cluster in
            cluster.connectAll()
            await #expect(throws: RPCError.remote("deliberate failure")) {
                _ = try await cluster.nodes[1]!.request(to: 2, kind: 2, payload: ByteBuffer(), timeout: .seconds(60))
            }
        }
    }

    @Test func aPeerWithoutAddressOrListenerFailsFastAndCounts() async throws {
        try await TestCluster.with([1, 2]) { cluster in
            let node = cluster.nodes[1]!
            await #expect(throws: RPCError.unreachable(peer: 9, reason: "no address known")) {
                _ = try await node.request(to: 9, kind: 1, payload: ByteBuffer(), timeout: .seconds(60))
            }
            node.send(to: 9, kind: 1, payload: ByteBuffer())
            #expect(node.counters.messagesDropped == 2)
            // A port nobody listens on: the queued request fails when the connect fails, not by its timeout (that
            // would be RPCError.timeout; unreachable is the connect's failure).
            let port = cluster.port(2)
            try await cluster.nodes[2]!.close()
            node.setPeerAddress(2, host: "127.0.0.1", port: port)
            do {
                _ = try await node.request(to: 2, kind: 1, payload: ByteBuffer(), timeout: .seconds(30))
                Issue.record("a request to a closed port succeeded")
            } catch let error as RPCError {
                guard case .unreachable(peer: 2, _) = error else {
                    Issue.record("unexpected \(error)")
                    return
                }
            }
        }
    }

    @Test func closingFailsPendingRequests() async throws {
        try await TestCluster.with([1, 2]) { cluster in
            cluster.connectAll()
            let node = cluster.nodes[1]!
            async let pending = node.request(to: 2, kind: 3, payload: ByteBuffer(), timeout: .seconds(30))
            #expect(await eventually { node.counters.messagesSent == 1 })
            try await cluster.nodes[2]!.close()  // the connection that carried the request closes
            do {
                _ = try await pending
                Issue.record("the request succeeded")
            } catch let error as RPCError {
                #expect(error == .connectionClosed(peer: 2))
            }
            try await node.close()
            await #expect(throws: RPCError.nodeClosed) {
                _ = try await node.request(to: 2, kind: 1, payload: ByteBuffer(), timeout: .seconds(1))
            }
            await cluster.handlers[2]!.gate.openGate()
        }
    }

    @Test func changingAnAddressMovesTheConnection() async throws {
        try await TestCluster.with([1, 2]) { cluster in
            cluster.connectAll()
            cluster.nodes[1]!.send(to: 2, kind: 1, payload: ByteBuffer(string: "a"))
            #expect(await eventually { cluster.handlers[2]!.messages.count == 1 })
            // Node 2 moves to another port: a second instance with the same certificate.
            let old = cluster.nodes[2]!
            let moved = try await cluster.start(2)
            cluster.nodes[1]!.setPeerAddress(2, host: "127.0.0.1", port: moved.localAddress!.port!)
            try await old.close()
            let response = try await cluster.nodes[1]!.request(
                to: 2, kind: 1, payload: ByteBuffer(string: "b"), timeout: .seconds(60))
            #expect(String(buffer: response) == "2 got b from 1")
            #expect(cluster.nodes[1]!.counters.connectionsEstablished == 2)
        }
    }
}

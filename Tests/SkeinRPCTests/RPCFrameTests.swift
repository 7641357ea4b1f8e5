import NIOCore
import NIOTestUtils
import SkeinRPC
import Testing

@Suite struct RPCFrameTests {
    static func frame(_ type: RPCFrameType, _ id: UInt64, _ kind: UInt16, _ payload: String) -> RPCFrame {
        RPCFrame(type: type, correlationId: id, kind: kind, payload: ByteBuffer(string: payload))
    }

    @Test func framesSurviveAnySplitOfTheStream() throws {
        let frames = [
            Self.frame(.oneWay, 0, 1, "hello"), Self.frame(.request, 42, 9, ""), Self.frame(.response, 42, 9, "ok"),
            Self.frame(.error, UInt64.max, UInt16.max, "boom"),
        ]
        let pairs = frames.map { frame -> (ByteBuffer, [RPCFrame]) in
            var buffer = ByteBuffer()
            frame.encode(into: &buffer)
            return (buffer, [frame])
        }
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            RPCFrameDecoder(maxFrameSize: 1024)
        }
    }

    @Test func theWireLayoutIsLengthTypeCorrelationKindPayload() {
        var buffer = ByteBuffer()
        Self.frame(.request, 0x0102_0304_0506_0708, 0x0a0b, "xy").encode(into: &buffer)
        #expect(
            Array(buffer.readableBytesView) == [0, 0, 0, 13, 2, 1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b, 0x78, 0x79])
    }

    @Test func malformedLengthsAndTypesAreRefused() throws {
        var decoder = RPCFrameDecoder(maxFrameSize: 100)
        var tooLarge = ByteBuffer(bytes: [0, 0, 0, 101])
        #expect(throws: RPCFrameError.frameTooLarge(length: 101, limit: 100)) { try decoder.decode(buffer: &tooLarge) }
        var tooShort = ByteBuffer(bytes: [0, 0, 0, 10])
        #expect(throws: RPCFrameError.frameTooShort(length: 10)) { try decoder.decode(buffer: &tooShort) }
        // The type is refused before the rest of the frame arrives.
        var unknown = ByteBuffer(bytes: [0, 0, 0, 50, 7])
        #expect(throws: RPCFrameError.unknownType(7)) { try decoder.decode(buffer: &unknown) }
        var partial = ByteBuffer(bytes: [0, 0, 0, 50, 1, 0])
        #expect(try decoder.decode(buffer: &partial) == nil)
    }
}

import Testing
@testable import SkeinSchemas

@Suite struct JSONValueTests {
    @Test func keepsIntegerAndDoubleForms() throws {
        let v = try JSONValue.parse(#"[1, 1.0, -0, 12345678901234567890, 1e3, -2.5E-3]"#)
        guard case .array(let items) = v else { Issue.record("not an array"); return }
        #expect(items[0].numberValue?.int64Value == 1)
        #expect(items[1].numberValue?.isIntegerLiteral == false)
        #expect(items[1].numberValue?.text == "1.0")
        #expect(items[2].numberValue?.int64Value == 0)
        #expect(items[3].numberValue?.int64Value == nil)
        #expect(items[3].numberValue?.isIntegerLiteral == true)
        #expect(items[4].numberValue?.doubleValue == 1000)
        #expect(v.compactString == "[1,1.0,-0,12345678901234567890,1e3,-2.5E-3]")
    }

    @Test func preservesKeyOrderAndSorts() throws {
        let v = try JSONValue.parse(#"{"b": 1, "a": {"d": true, "c": null}}"#)
        #expect(v.compactString == #"{"b":1,"a":{"d":true,"c":null}}"#)
        #expect(v.sortedCompactString == #"{"a":{"c":null,"d":true},"b":1}"#)
    }

    @Test func stringEscapes() throws {
        let v = try JSONValue.parse(#""a\"b\\c\/d\n\u00e9\ud83d\ude00\u0001""#)
        #expect(v.stringValue == "a\"b\\c/d\né😀\u{01}")
        #expect(v.compactString == #""a\"b\\c/d\né😀\u0001""#)
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "1.", "-", "tru", "\"abc", "\"\\x\"", "\"\\ud800\"", "[1] 2", "{\"a\":1,}", "nul", "\"\u{01}\""])
    func rejectsMalformed(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test func objectEqualityIgnoresOrder() throws {
        #expect(try JSONValue.parse(#"{"a":1,"b":2}"#) == JSONValue.parse(#"{"b":2,"a":1}"#))
        #expect(try JSONValue.parse("1").semanticallyEquals(JSONValue.parse("1.0")))
    }
}

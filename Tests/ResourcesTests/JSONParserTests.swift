import Resources
import Testing

@Suite struct JSONParserTests {
    @Test func valuesRoundTripWithIntegersKeptExact() throws {
        let text = #"{"a":[1,-2,9223372036854775807,1.5,2e-1],"b":{"c":"x\"y\\z\u00e9\n"},"d":true,"e":null}"#
        let value = try JSONParser.parse(text)
        #expect(value["a"] == [1, -2, .int(Int64.max), .double(1.5), .double(0.2)])
        #expect(value[path: ["b", "c"]] == .string("x\"y\\zé\n"))
        let again = try JSONParser.parse(JSONWriter.string(value))
        #expect(again == value)
        #expect(JSONWriter.string(["z": 1, "a": "b"]) == #"{"a":"b","z":1}"#, "keys sorted, as Go writes maps")
    }

    @Test(arguments: [
        ("{", "unexpected end of JSON input"),
        (#"{"a":}"#, "invalid character '}' looking for beginning of value"),
        (#"{"a" 1}"#, "invalid character '1' after object key"),
        (#"{"a":1,}"#, "invalid character '}' looking for beginning of object key string"),
        ("[1 2]", "invalid character '2' after array element"),
        (#"{"a":1}x"#, "invalid character 'x' after top-level value"),
        ("tru", "unexpected end of JSON input"),
        ("nul!", "invalid character '!' in literal null (expecting 'l')"),
        ("-", "unexpected end of JSON input"),
        ("01", "invalid character '1' after top-level value"),
        ("\"a\u{01}\"", "invalid character '\\x1' in string literal"),
    ])
    func malformedJSONIsRefusedInGosWords(text: String, message: String) {
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(text) }
        do {
            _ = try JSONParser.parse(text)
        } catch {
            #expect(error.message == message)
        }
    }

    @Test func nestingIsBounded() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: JSONParser.SyntaxError.self) { try JSONParser.parse(deep) }
    }

    @Test func duplicateKeysAreReported() throws {
        let (_, duplicates) = try JSONParser.parseNoting(Array(#"{"metadata":{"name":"a","name":"b"}}"#.utf8))
        #expect(duplicates == ["metadata.name"])
    }
}

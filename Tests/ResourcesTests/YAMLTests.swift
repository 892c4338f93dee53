import Resources
import Testing

@Suite struct YAMLTests {
    func parse(_ text: String) throws -> JSONValue { try YAMLParser.parse(text) }

    @Test func aDeploymentManifestReadsAsItsJSON() throws {
        let yaml = """
        # a comment before the document
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web   # trailing comment
          labels: {app: web, tier: "front"}
          annotations:
            note: |
              line one
              line two
        spec:
          replicas: 3
          selector:
            matchLabels:
              app: web
          template:
            metadata:
              labels:
                app: web
            spec:
              containers:
              - name: nginx
                image: nginx:1.25
                args: ["--port", '8080']
                ports:
                  - containerPort: 80
                    protocol: TCP
                resources:
                  limits: {cpu: 500m, memory: 1Gi}
        """
        let json = #"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","labels":{"app":"web","tier":"front"},"annotations":{"note":"line one\nline two\n"}},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.25","args":["--port","8080"],"ports":[{"containerPort":80,"protocol":"TCP"}],"resources":{"limits":{"cpu":"500m","memory":"1Gi"}}}]}}}}"#
        #expect(try parse(yaml) == JSONParser.parse(json))
    }

    @Test func plainScalarsResolveAsGoYAMLv2Does() throws {
        let cases: [(String, JSONValue)] = [
            ("~", .null), ("null", .null), ("", .null), ("yes", .bool(true)), ("Off", .bool(false)),
            ("n", .bool(false)), ("TRUE", .bool(true)), ("12", .int(12)), ("-7", .int(-7)), ("+3", .int(3)),
            ("0x1F", .int(31)), ("0755", .int(493)), ("0b101", .int(5)), ("1_000", .int(1000)),
            ("1.5", .double(1.5)), ("-.5e3", .int(-500)), ("2.0", .int(2)), (".inf", .double(.infinity)),
            ("9223372036854775808", .double(9223372036854775808)),
            ("2024-01-02T03:04:05Z", .string("2024-01-02T03:04:05Z")), ("1.2.3", .string("1.2.3")),
            ("0.0.0.0/0", .string("0.0.0.0/0")), ("500m", .string("500m")),
            ("a b", .string("a b")), ("x:y", .string("x:y")), ("a#b", .string("a#b")),
        ]
        for (text, expected) in cases {
            #expect(try parse("v: \(text)")["v"] == expected, "\(text)")
        }
    }

    @Test func quotedScalarsEscapeAndFold() throws {
        #expect(try parse(#"a: "tab\there \u00e9 \"q\" \\ \x41""#)["a"] == "tab\there é \"q\" \\ A")
        #expect(try parse("a: 'it''s'")["a"] == "it's")
        #expect(try parse("a: \"one\n  two\n\n  three\"")["a"] == "one two\nthree")
        #expect(try parse("a: \"joined\\\n   line\"")["a"] == "joinedline")
        #expect(try parse("a: '123'")["a"] == "123")
    }

    @Test func blockScalarsChompAndFold() throws {
        #expect(try parse("a: |-\n  x\n  y\n\nb: 1")["a"] == "x\ny")
        #expect(try parse("a: |+\n  x\n\nb: 1")["a"] == "x\n\n")
        #expect(try parse("a: >\n  folded\n  text\n\n  para\n    kept\n  end\n")["a"] == "folded text\npara\n  kept\nend\n")
        #expect(try parse("a: |2\n    indented\n  base\n")["a"] == "  indented\nbase\n")
        #expect(try parse("- |\n  in a list\n- b") == ["in a list\n", "b"])
    }

    @Test func multiLinePlainScalarsFold() throws {
        #expect(try parse("a: one\n  two\n\n  three\nb: x") == ["a": "one two\nthree", "b": "x"])
    }

    @Test func sequencesAtTheKeysIndentationAndNested() throws {
        #expect(try parse("a:\n- 1\n- - 2\n  - 3\nb: []") == ["a": [1, [2, 3]], "b": []])
        #expect(try parse("- a: 1\n  b: 2\n- c") == [["a": 1, "b": 2], "c"])
    }

    @Test func flowCollectionsIncludingJSON() throws {
        let json = #"{"a": [1, 2.5, "x", true, null, {"b": {}}], "c":"d"}"#
        #expect(try parse(json) == JSONParser.parse(json))
        #expect(try parse("{a: 1, b: [x, y z],\n  c: {d: e}}") == ["a": 1, "b": ["x", "y z"], "c": ["d": "e"]])
        #expect(try parse("[a: 1, b]") == [["a": 1], "b"])
        #expect(try parse("{a: }") == ["a": .null])
    }

    @Test func anchorsAliasesAndMergeKeys() throws {
        let value = try parse("base: &b {cpu: 1, mem: 2}\nuse: *b\nmerged:\n  <<: *b\n  mem: 3\n")
        #expect(value["use"] == ["cpu": 1, "mem": 2])
        #expect(value["merged"] == ["cpu": 1, "mem": 3])
    }

    @Test func tagsAndNonStringKeys() throws {
        #expect(try parse("a: !!str 123\nb: !!float 1\n1: x\ntrue: y\n~: z") == ["a": "123", "b": .double(1), "1": "x", "true": true, "null": "z"])
    }

    @Test func documentsMarkersAndOnlyTheFirstIsRead() throws {
        #expect(try parse("%YAML 1.1\n---\na: 1\n...\n---\nb: 2") == ["a": 1])
        #expect(try parse("--- \na: 1\n---\nb: 2") == ["a": 1])
        #expect(try parse("") == .null)
        #expect(try parse("# only a comment\n") == .null)
    }

    @Test func duplicatedKeysAreNoted() throws {
        let (value, duplicates) = try YAMLParser.parseNoting(Array("a: 1\nm:\n  x: 1\n  x: 2\na: 3".utf8))
        #expect(value == ["a": 3, "m": ["x": 2]])
        #expect(duplicates == ["m.x", "a"])
    }

    @Test func malformedDocumentsAreRefusedWithALine() {
        let bad = [
            "a: b: c", "a:\n\t- b", "a: \"open", "a: 'open", "a: 1\n  b: 2", "- a\nb: 1", "a: [1, 2", "{a: 1",
            "a: *missing", "a: @x", "key\nother: 1", "a: - b", "a: \"\\q\"", "? complex\n: x",
        ]
        for text in bad {
            #expect(throws: YAMLParser.SyntaxError.self, "\(text)") { try YAMLParser.parse(text) }
        }
        do {
            _ = try YAMLParser.parse("a: 1\nb: 2\n  c: 3\n")
            Issue.record("accepted a bad indentation")
        } catch {
            #expect(error.message.hasPrefix("yaml: line "), "\(error.message)")
        }
    }

    @Test func depthAndAliasExpansionAreBounded() {
        let deep = String(repeating: "[", count: YAMLParser.maxDepth + 1)
        #expect(throws: YAMLParser.SyntaxError.self) { try YAMLParser.parse(deep) }
        var laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...9 {
            let previous = String(UnicodeScalar(UInt8(ascii: "a") + UInt8(level - 1)))
            let name = String(UnicodeScalar(UInt8(ascii: "a") + UInt8(level)))
            laughs += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        #expect(throws: YAMLParser.SyntaxError.self) { try YAMLParser.parse(laughs) }
        // Aliases nest their whole value where they stand: chained, they may not go deeper than a document may.
        var chain = "a: &a " + String(repeating: "[", count: 200) + String(repeating: "]", count: 200) + "\n"
        chain += "b: &b " + String(repeating: "[", count: 100) + "*a" + String(repeating: "]", count: 100) + "\n"
        #expect(throws: YAMLParser.SyntaxError.self) { try YAMLParser.parse(chain) }
    }

    @Test func longRunsOfBlanksAreReadInLinearTime() throws {
        let blanks = "a: 1\n" + String(repeating: " ", count: 200_000) + String(repeating: "\t", count: 200_000) + "\nb: 2\n"
        #expect(try YAMLParser.parse(blanks) == ["a": 1, "b": 2])
        var repeats = "{" + Array(repeating: "a: 1", count: 50_000).joined(separator: ", ") + "}"
        #expect(try YAMLParser.parseNoting(Array(repeats.utf8)).duplicateFields.count == JSONParser.maxReportedDuplicates)
        repeats = "{" + Array(repeating: "\"a\": 1", count: 50_000).joined(separator: ", ") + "}"
        #expect(try JSONParser.parseNoting(Array(repeats.utf8)).duplicateFields.count == JSONParser.maxReportedDuplicates)
    }

    @Test func writerOutputReadsBackAsTheSameValue() throws {
        let value: JSONValue = [
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": "c", "labels": [:], "resourceVersion": "123", "finalizers": []],
            "data": ["yes": "no", "empty": "", "colon": "a: b", "hash": "x #y", "multi": "l1\nl2\n", "strip": "a\nb",
                     "lead": " sp", "quote": "it's", "dash": "- x", "tab": "a\tb", "ctl": "\u{1}", "num": "1e3",
                     "null": "~", "keep": "k\n\n\n"],
            "list": [1, .double(2.5), true, .null, ["nested": ["- a", [1]]], [], [[:]]],
        ]
        let text = YAMLWriter.string(value)
        #expect(try YAMLParser.parse(text) == value, "\(text)")
        #expect(text.contains("resourceVersion: \"123\""))
        #expect(text.contains("list:\n- 1\n"))
    }

    @Test(arguments: 0..<4)
    func randomValuesRoundTrip(seed: Int) throws {
        var random = DecoderFuzzTests.Random(state: UInt64(seed) &* 104_729 &+ 1)
        let alphabet = Array("ab :#-'\"\n\t{}[],&*!|>%@`?yNo01.~ é")
        func string() -> String {
            String((0..<Int.random(in: 0...8, using: &random)).map { _ in alphabet.randomElement(using: &random) ?? "a" })
        }
        func value(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &random) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &random))
            case 2: return .int(Int64.random(in: -1000...1000, using: &random))
            case 3: return .double(Double(Int.random(in: -100...100, using: &random)) / 8 + 0.0625)
            case 4: return .string(string())
            case 5: return .array((0..<Int.random(in: 0...3, using: &random)).map { _ in value(depth + 1) })
            default:
                var fields: [String: JSONValue] = [:]
                for _ in 0..<Int.random(in: 0...3, using: &random) { fields[string()] = value(depth + 1) }
                return .object(fields)
            }
        }
        for _ in 0..<300 {
            let original = value(0)
            let text = YAMLWriter.string(original)
            #expect(try YAMLParser.parse(text) == original, "\(text)")
        }
    }

    @Test(arguments: 0..<4)
    func mutatedDocumentsNeverCrash(batch: Int) {
        var random = DecoderFuzzTests.Random(state: UInt64(batch) &* 6_271)
        let seed = Array("a: &x {b: [1, 'two', \"th\\u0072ee\"]}\nc: *x\nd: |\n  text\n- e\n<<: *x\nf: >-\n  g\n".utf8)
        for _ in 0..<500 {
            var bytes = seed
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &random)] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.insert(UInt8.random(in: 0...127, using: &random), at: Int.random(in: 0...bytes.count, using: &random))
                default: bytes.removeSubrange(Int.random(in: 0..<bytes.count, using: &random)..<bytes.count)
                }
                if bytes.isEmpty { bytes = [0x2D] }
            }
            _ = try? YAMLParser.parse(bytes)
        }
    }
}

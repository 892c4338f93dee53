/// A YAML reader for request bodies (`application/yaml`, and the YAML of server-side apply). It turns the first
/// document into the same `JSONValue` tree a JSON body gives, resolving plain scalars as kube-apiserver's YAML
/// library (go-yaml v2, through sigs.k8s.io/yaml) does: `yes`/`no`/`on`/`off` are booleans, `0x1F` and `0755`
/// are integers, `~` and an empty value are null, and timestamps stay strings. Block and flow collections,
/// plain/quoted/literal/folded scalars, comments, anchors, aliases and merge keys (`<<`) are understood.
///
/// Bounded like `JSONParser`: nesting deeper than `maxDepth` is refused, and aliases may not expand to more than
/// `maxAliasExpansion` nodes (the "billion laughs" document), so no body can exhaust the stack or memory.
public struct YAMLParser {
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var line: Int
        public var description: String { message }
    }

    public static let maxDepth = 256
    public static let maxAliasExpansion = 1_000_000

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0
    private var depth = 0
    private var nodes = 0
    private var aliasNodes = 0
    private var anchors: [String: (value: JSONValue, nodes: Int, depth: Int)] = [:]
    /// The line whose indentation `indentationEnd` was measured on, and where that indentation ends.
    private var measuredLine = -1
    private var measuredEnd = 0
    private var path: [String] = []
    /// Keys given twice in one mapping, as dotted paths (Strict field validation refuses them).
    public private(set) var duplicateFields: [String] = []

    private init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Parses the first document of `bytes`.
    public static func parse(_ bytes: [UInt8]) throws(SyntaxError) -> JSONValue {
        try parseNoting(bytes).value
    }

    public static func parse(_ text: String) throws(SyntaxError) -> JSONValue {
        try parse(Array(text.utf8))
    }

    /// Parses and also reports the duplicated keys.
    public static func parseNoting(_ bytes: [UInt8]) throws(SyntaxError) -> (value: JSONValue, duplicateFields: [String]) {
        var parser = YAMLParser(bytes)
        let value = try parser.document()
        return (value, parser.duplicateFields)
    }

    // MARK: Documents

    private mutating func document() throws(SyntaxError) -> JSONValue {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { index = 3; lineStart = 3 }
        while true {
            _ = try skipToContent()
            guard column == 0, current == UInt8(ascii: "%") else { break }
            skipLine()
        }
        if atDocumentMarker("---") { index += 3 }
        let root = try blockNode(parentIndent: -1, allowImplicitMapping: true)
        _ = try skipToContent()
        if index < bytes.count, !atDocumentMarker("---"), !atDocumentMarker("...") {
            throw error(current == UInt8(ascii: "-") ? "did not find expected <document start>" : "did not find expected key")
        }
        return root
    }

    // MARK: Block context

    /// A node in block context, its content no further left than `parentIndent + 1`. `allowImplicitMapping` is
    /// false for a value on its key's line ("a: b: c" is not YAML).
    private mutating func blockNode(parentIndent: Int, allowImplicitMapping: Bool) throws(SyntaxError) -> JSONValue {
        let startLine = line
        _ = try skipToContent()
        if ended(parentIndent: parentIndent, sameLine: line == startLine) { return .null }
        var anchor: String?
        var tag: String?
        var allowMapping = allowImplicitMapping || line != startLine
        while readProperty(anchor: &anchor, tag: &tag) {
            let propertyLine = line
            _ = try skipToContent()
            if line != propertyLine { allowMapping = true }
            if ended(parentIndent: parentIndent, sameLine: line == propertyLine) {
                return try finish(.null, raw: nil, tag: tag, anchor: anchor, nodesBefore: nodes)
            }
        }
        let nodesBefore = nodes
        let col = column
        var value: JSONValue
        var raw: String?
        switch current {
        case UInt8(ascii: "*"):
            value = try alias()
        case UInt8(ascii: "-") where isBlank(at: index + 1):
            guard allowMapping else { throw error("block sequence entries are not allowed in this context") }
            value = try blockSequence(col: col)
        case UInt8(ascii: "|"), UInt8(ascii: ">"):
            let text = try blockScalar(parentIndent: parentIndent)
            value = .string(text)
            raw = text
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            value = try flowNode()
        case UInt8(ascii: "?") where isBlank(at: index + 1):
            throw error("complex mapping keys are not supported")
        default:
            let keyLine = line
            let scalar = try scalarStart(flow: false)
            skipSpaces()
            if current == UInt8(ascii: ":"), isBlank(at: index + 1), line == keyLine {
                guard allowMapping else { throw error("mapping values are not allowed in this context") }
                let key = try keyString(scalar, tag: tag)
                value = try blockMapping(col: col, firstKey: key)
                tag = nil
            } else if scalar.quoted {
                value = .string(scalar.text)
                raw = scalar.text
            } else {
                let text = try plainContinuation(scalar.text, parentIndent: parentIndent)
                raw = text
                value = Self.resolve(text)
            }
        }
        nodes += 1
        return try finish(value, raw: raw, tag: tag, anchor: anchor, nodesBefore: nodesBefore)
    }

    /// True when the node about to be read has no content: the input or document ended, or (on a new line) the
    /// next content is not indented past the parent.
    private func ended(parentIndent: Int, sameLine: Bool) -> Bool {
        if index >= bytes.count || atDocumentMarker("---") || atDocumentMarker("...") { return true }
        return !sameLine && column <= parentIndent
    }

    private mutating func finish(_ value: JSONValue, raw: String?, tag: String?, anchor: String?,
                                 nodesBefore: Int) throws(SyntaxError) -> JSONValue {
        var value = value
        if let tag { value = try applyTag(tag, to: value, raw: raw) }
        if let anchor { anchors[anchor] = (value, max(1, nodes - nodesBefore), Self.nesting(of: value)) }
        return value
    }

    private mutating func blockMapping(col: Int, firstKey: String) throws(SyntaxError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        var fields: [String: JSONValue] = [:]
        var merges: [JSONValue] = []
        var key = firstKey
        while true {
            index += 1  // the ':'
            path.append(key)
            let value = try mappingValue(col: col)
            path.removeLast()
            if key == "<<" {
                merges.append(value)
            } else {
                if fields[key] != nil { noteDuplicate(key) }
                fields[key] = value
            }
            _ = try skipToContent()
            if index >= bytes.count || atDocumentMarker("---") || atDocumentMarker("...") || column < col { break }
            guard firstOnLine, column == col else { throw error("did not find expected key") }
            if current == UInt8(ascii: "-"), isBlank(at: index + 1) { throw error("did not find expected key") }
            if current == UInt8(ascii: "?"), isBlank(at: index + 1) { throw error("complex mapping keys are not supported") }
            var tag: String?
            if current == UInt8(ascii: "!") {
                tag = readTag()
                skipSpaces()
            }
            let keyLine = line
            let scalar: Scalar
            if current == UInt8(ascii: "*") {
                let aliased = try alias()
                scalar = Scalar(text: Self.keyText(aliased), quoted: true)
            } else {
                scalar = try scalarStart(flow: false)
            }
            skipSpaces()
            guard current == UInt8(ascii: ":"), isBlank(at: index + 1), line == keyLine else {
                throw error("could not find expected ':'")
            }
            key = try keyString(scalar, tag: tag)
        }
        for merge in merges {
            for source in (merge.arrayValue ?? [merge]) {
                guard case .object(let inherited) = source else {
                    throw error("map merge requires map or sequence of maps as the value")
                }
                for (name, value) in inherited where fields[name] == nil { fields[name] = value }
            }
        }
        return .object(fields)
    }

    /// The value after a mapping key's ':' — on the same line, on the lines below indented past the key, or a
    /// block sequence at the key's own indentation.
    private mutating func mappingValue(col: Int) throws(SyntaxError) -> JSONValue {
        skipSpaces()
        if index < bytes.count, !isBreak(current), current != UInt8(ascii: "#") {
            return try blockNode(parentIndent: col, allowImplicitMapping: false)
        }
        _ = try skipToContent()
        if index >= bytes.count || atDocumentMarker("---") || atDocumentMarker("...") { return .null }
        if column == col, current == UInt8(ascii: "-"), isBlank(at: index + 1) {
            nodes += 1
            return try blockSequence(col: col)
        }
        if column > col { return try blockNode(parentIndent: col, allowImplicitMapping: true) }
        return .null
    }

    private mutating func blockSequence(col: Int) throws(SyntaxError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        var items: [JSONValue] = []
        while true {
            index += 1  // the '-'
            path.append(String(items.count))
            items.append(try blockNode(parentIndent: col, allowImplicitMapping: true))
            path.removeLast()
            _ = try skipToContent()
            if index >= bytes.count || atDocumentMarker("---") || atDocumentMarker("...") || column < col { break }
            guard firstOnLine, column == col else { throw error("did not find expected '-' indicator") }
            guard current == UInt8(ascii: "-"), isBlank(at: index + 1) else { break }
        }
        return .array(items)
    }

    // MARK: Scalars

    private struct Scalar {
        var text: String
        var quoted: Bool
    }

    /// A quoted scalar, or the first line of a plain one.
    private mutating func scalarStart(flow: Bool) throws(SyntaxError) -> Scalar {
        switch current {
        case UInt8(ascii: "'"): return Scalar(text: try singleQuoted(), quoted: true)
        case UInt8(ascii: "\""): return Scalar(text: try doubleQuoted(), quoted: true)
        case UInt8(ascii: "@"), UInt8(ascii: "`"), UInt8(ascii: "%"):
            throw error("found character that cannot start any token")
        case UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: ","):
            if flow { return Scalar(text: "", quoted: false) }
            throw error("did not find expected node content")
        case UInt8(ascii: "|"), UInt8(ascii: ">"), UInt8(ascii: "&"), UInt8(ascii: "*"), UInt8(ascii: "!"):
            throw error("did not find expected node content")
        default:
            return Scalar(text: plainLine(flow: flow), quoted: false)
        }
    }

    /// Reads plain scalar text up to the end of the line, a ": ", a " #" or (in flow context) a flow indicator.
    private mutating func plainLine(flow: Bool) -> String {
        let start = index
        var end = index
        while index < bytes.count {
            let byte = bytes[index]
            if isBreak(byte) { break }
            if byte == UInt8(ascii: ":"), isBlank(at: index + 1) || (flow && isFlowIndicator(at: index + 1)) { break }
            if byte == UInt8(ascii: "#"), index > start, isWhite(bytes[index - 1]) { break }
            if flow, isFlowIndicator(at: index) { break }
            index += 1
            if !isWhite(byte) { end = index }
        }
        return String(decoding: bytes[start..<end], as: UTF8.self)
    }

    /// Joins the continuation lines of a multi-line plain scalar (indented past `parentIndent`) to its first
    /// line, folding line breaks as YAML does (one break → a space; n blank lines → n newlines).
    private mutating func plainContinuation(_ first: String, parentIndent: Int) throws(SyntaxError) -> String {
        var text = first
        while true {
            let saved = (index, line, lineStart)
            skipSpaces()
            guard index < bytes.count, isBreak(current) else {
                (index, line, lineStart) = saved
                return text
            }
            var blankLines = 0
            consumeBreak()
            while true {
                skipSpaces()
                guard index < bytes.count, isBreak(current) else { break }
                consumeBreak()
                blankLines += 1
            }
            if index >= bytes.count || column <= parentIndent || current == UInt8(ascii: "#")
                || atDocumentMarker("---") || atDocumentMarker("...") || current == UInt8(ascii: "\t") {
                (index, line, lineStart) = saved
                return text
            }
            let next = plainLine(flow: false)
            if current == UInt8(ascii: ":"), isBlank(at: index + 1) {
                throw error("mapping values are not allowed in this context")
            }
            text += blankLines == 0 ? " " : String(repeating: "\n", count: blankLines)
            text += next
        }
    }

    private mutating func singleQuoted() throws(SyntaxError) -> String {
        index += 1
        var out: [UInt8] = []
        while true {
            guard index < bytes.count else { throw error("found unexpected end of stream") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "'") {
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "'") {
                    out.append(byte)
                    index += 2
                    continue
                }
                index += 1
                return String(decoding: out, as: UTF8.self)
            }
            if isBreak(byte) {
                try foldQuotedBreak(into: &out)
                continue
            }
            out.append(byte)
            index += 1
        }
    }

    private mutating func doubleQuoted() throws(SyntaxError) -> String {
        index += 1
        var out: [UInt8] = []
        while true {
            guard index < bytes.count else { throw error("found unexpected end of stream") }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw error("found unexpected end of stream") }
                let escape = bytes[index]
                if isBreak(escape) {
                    consumeBreak()
                    while index < bytes.count, isWhite(bytes[index]) { index += 1 }
                    continue
                }
                index += 1
                switch escape {
                case UInt8(ascii: "0"): out.append(0)
                case UInt8(ascii: "a"): out.append(0x07)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "t"), 0x09: out.append(0x09)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "v"): out.append(0x0B)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "e"): out.append(0x1B)
                case UInt8(ascii: " "), UInt8(ascii: "\""), UInt8(ascii: "/"), UInt8(ascii: "\\"): out.append(escape)
                case UInt8(ascii: "N"): out += [0xC2, 0x85]
                case UInt8(ascii: "_"): out += [0xC2, 0xA0]
                case UInt8(ascii: "L"): out += [0xE2, 0x80, 0xA8]
                case UInt8(ascii: "P"): out += [0xE2, 0x80, 0xA9]
                case UInt8(ascii: "x"): try appendCodePoint(hexDigits: 2, to: &out)
                case UInt8(ascii: "u"): try appendCodePoint(hexDigits: 4, to: &out)
                case UInt8(ascii: "U"): try appendCodePoint(hexDigits: 8, to: &out)
                default: throw error("found unknown escape character while parsing a quoted scalar")
                }
            default:
                if isBreak(byte) {
                    try foldQuotedBreak(into: &out)
                } else {
                    out.append(byte)
                    index += 1
                }
            }
        }
    }

    private mutating func appendCodePoint(hexDigits: Int, to out: inout [UInt8]) throws(SyntaxError) {
        guard index + hexDigits <= bytes.count,
              let value = UInt32(String(decoding: bytes[index..<index + hexDigits], as: UTF8.self), radix: 16)
        else { throw error("did not find expected hexdecimal number") }
        guard let scalar = Unicode.Scalar(value) else { throw error("found invalid Unicode character escape code") }
        index += hexDigits
        out += Array(String(Character(scalar)).utf8)
    }

    /// A line break inside a quoted scalar: trailing spaces dropped, one break folded to a space, each blank line
    /// kept as a newline.
    private mutating func foldQuotedBreak(into out: inout [UInt8]) throws(SyntaxError) {
        while let last = out.last, isWhite(last) { out.removeLast() }
        var blankLines = 0
        consumeBreak()
        while true {
            while index < bytes.count, isWhite(bytes[index]) { index += 1 }
            guard index < bytes.count, isBreak(bytes[index]) else { break }
            consumeBreak()
            blankLines += 1
        }
        if atDocumentMarker("---") || atDocumentMarker("...") {
            throw error("found unexpected document indicator while scanning a quoted scalar")
        }
        if blankLines == 0 { out.append(UInt8(ascii: " ")) } else { out += Array(repeating: 0x0A, count: blankLines) }
    }

    /// A literal (`|`) or folded (`>`) block scalar, with its chomping (`+`/`-`) and indentation indicators.
    private mutating func blockScalar(parentIndent: Int) throws(SyntaxError) -> String {
        let folded = current == UInt8(ascii: ">")
        index += 1
        var chomping: UInt8 = 0
        var increment = 0
        for _ in 0..<2 where index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-"), chomping == 0 {
                chomping = byte
                index += 1
            } else if byte >= UInt8(ascii: "1"), byte <= UInt8(ascii: "9"), increment == 0 {
                increment = Int(byte - UInt8(ascii: "0"))
                index += 1
            }
        }
        skipSpaces()
        if index < bytes.count, current == UInt8(ascii: "#") { skipLine() }
        guard index >= bytes.count || isBreak(current) else {
            throw error("did not find expected comment or line break")
        }
        if index < bytes.count { consumeBreak() }
        var indent = increment > 0 ? max(parentIndent, 0) + increment : 0
        if indent == 0 {
            // The first non-empty line sets the indentation.
            var probe = index
            var spaces = 0
            while probe < bytes.count {
                if bytes[probe] == UInt8(ascii: " ") {
                    spaces += 1
                    probe += 1
                } else if isBreak(bytes[probe]) {
                    spaces = 0
                    probe += 1
                } else {
                    break
                }
            }
            indent = max(spaces, parentIndent + 1)
        }
        var sawContent = false
        var trailingBlank = 0
        var text = ""
        var previousMoreIndented = false
        while index < bytes.count {
            let lineBegin = index
            var spaces = 0
            while index < bytes.count, bytes[index] == UInt8(ascii: " "), spaces < indent {
                index += 1
                spaces += 1
            }
            if index >= bytes.count || isBreak(bytes[index]) {
                if index < bytes.count { consumeBreak() }
                trailingBlank += 1
                continue
            }
            if spaces < indent || (indent == 0 && (atDocumentMarker("---") || atDocumentMarker("..."))) {
                index = lineBegin
                break
            }
            let start = index
            while index < bytes.count, !isBreak(bytes[index]) { index += 1 }
            let content = String(decoding: bytes[start..<index], as: UTF8.self)
            let moreIndented = bytes[start] == UInt8(ascii: " ") || bytes[start] == UInt8(ascii: "\t")
            if sawContent {
                if folded, !moreIndented, !previousMoreIndented {
                    text += trailingBlank == 0 ? " " : String(repeating: "\n", count: trailingBlank)
                } else {
                    text += String(repeating: "\n", count: trailingBlank + 1)
                }
            } else {
                text += String(repeating: "\n", count: trailingBlank)
            }
            text += content
            sawContent = true
            trailingBlank = 0
            previousMoreIndented = moreIndented
            if index < bytes.count { consumeBreak() } else { break }
        }
        let endedWithBreak = index <= bytes.count && (index == 0 || isBreak(bytes[index - 1]))
        switch chomping {
        case UInt8(ascii: "-"):
            return text
        case UInt8(ascii: "+"):
            return !sawContent ? String(repeating: "\n", count: trailingBlank)
                : text + String(repeating: "\n", count: trailingBlank + (endedWithBreak ? 1 : 0))
        default:
            return !sawContent || !endedWithBreak ? text : text + "\n"
        }
    }

    // MARK: Flow context

    private mutating func flowNode() throws(SyntaxError) -> JSONValue {
        _ = try skipToContent()
        guard index < bytes.count else { throw error("did not find expected node content") }
        var anchor: String?
        var tag: String?
        while readProperty(anchor: &anchor, tag: &tag) {
            _ = try skipToContent()
        }
        let nodesBefore = nodes
        var value: JSONValue
        var raw: String?
        switch current {
        case UInt8(ascii: "*"):
            value = try alias()
        case UInt8(ascii: "["):
            value = try flowSequence()
        case UInt8(ascii: "{"):
            value = try flowMapping()
        default:
            let scalar = try scalarStart(flow: true)
            if scalar.quoted {
                value = .string(scalar.text)
                raw = scalar.text
            } else {
                var text = scalar.text
                // A plain scalar may go on over lines in flow context too.
                while true {
                    let saved = (index, line, lineStart)
                    let crossed = try skipToContent()
                    if crossed, index < bytes.count, !isFlowIndicator(at: index),
                       !(current == UInt8(ascii: ":") && (isBlank(at: index + 1) || isFlowIndicator(at: index + 1))) {
                        text += " " + plainLine(flow: true)
                    } else {
                        (index, line, lineStart) = saved
                        break
                    }
                }
                raw = text
                value = Self.resolve(text)
            }
        }
        nodes += 1
        return try finish(value, raw: raw, tag: tag, anchor: anchor, nodesBefore: nodesBefore)
    }

    private mutating func flowSequence() throws(SyntaxError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        var items: [JSONValue] = []
        while true {
            _ = try skipToContent()
            guard index < bytes.count else { throw error("did not find expected ',' or ']'") }
            if current == UInt8(ascii: "]") {
                index += 1
                return .array(items)
            }
            path.append(String(items.count))
            var item = try flowNode()
            _ = try skipToContent()
            if current == UInt8(ascii: ":") {
                // A single-pair mapping inside a sequence: [a: 1].
                index += 1
                let value = try flowValue()
                item = .object([Self.keyText(item): value])
            }
            path.removeLast()
            items.append(item)
            try flowSeparator(closing: "]")
        }
    }

    /// After a flow item: a ',' (taken) or the collection's closing bracket (left for the loop to see).
    private mutating func flowSeparator(closing: Unicode.Scalar) throws(SyntaxError) {
        _ = try skipToContent()
        if current == UInt8(ascii: ",") {
            index += 1
        } else if current != UInt8(ascii: closing) {
            throw error("did not find expected ',' or '\(closing)'")
        }
    }

    private mutating func flowMapping() throws(SyntaxError) -> JSONValue {
        try enter()
        defer { depth -= 1 }
        index += 1
        var fields: [String: JSONValue] = [:]
        while true {
            _ = try skipToContent()
            guard index < bytes.count else { throw error("did not find expected ',' or '}'") }
            if current == UInt8(ascii: "}") {
                index += 1
                return .object(fields)
            }
            let key = Self.keyText(try flowNode())
            _ = try skipToContent()
            var value = JSONValue.null
            if current == UInt8(ascii: ":") {
                index += 1
                path.append(key)
                value = try flowValue()
                path.removeLast()
            }
            if fields[key] != nil { noteDuplicate(key) }
            fields[key] = value
            try flowSeparator(closing: "}")
        }
    }

    /// A flow mapping's value after ':', which may be empty ("{a: }").
    private mutating func flowValue() throws(SyntaxError) -> JSONValue {
        _ = try skipToContent()
        if index < bytes.count, current == UInt8(ascii: ",") || current == UInt8(ascii: "}") || current == UInt8(ascii: "]") {
            return .null
        }
        return try flowNode()
    }

    // MARK: Properties and aliases

    /// Reads a node property (`&anchor` or `!tag`) if one is here.
    private mutating func readProperty(anchor: inout String?, tag: inout String?) -> Bool {
        if current == UInt8(ascii: "&") {
            anchor = readName()
        } else if current == UInt8(ascii: "!") {
            tag = readTag()
        } else {
            return false
        }
        return true
    }

    private mutating func readName() -> String {
        index += 1
        let start = index
        while index < bytes.count, !isBlank(at: index), !isFlowIndicator(at: index) { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func readTag() -> String {
        let start = index
        while index < bytes.count, !isBlank(at: index) { index += 1 }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func alias() throws(SyntaxError) -> JSONValue {
        let name = readName()
        guard let anchored = anchors[name] else { throw error("unknown anchor '\(name)' referenced") }
        // An alias puts its whole value here: nested in what holds it, it may not go deeper than a document may.
        guard depth + anchored.depth <= Self.maxDepth else { throw error("exceeded max depth of \(Self.maxDepth)") }
        aliasNodes += anchored.nodes
        guard aliasNodes <= Self.maxAliasExpansion else { throw error("document contains excessive aliasing") }
        nodes += anchored.nodes
        return anchored.value
    }

    private func applyTag(_ tag: String, to value: JSONValue, raw: String?) throws(SyntaxError) -> JSONValue {
        switch tag {
        case "!!str", "tag:yaml.org,2002:str":
            if let raw { return .string(raw) }
            if case .null = value { return .string("") }
            return value
        case "!!int", "tag:yaml.org,2002:int":
            if case .int = value { return value }
            throw error("cannot decode !!str `\(raw ?? "")` as a !!int")
        case "!!float", "tag:yaml.org,2002:float":
            if case .int(let number) = value { return .double(Double(number)) }
            if case .double = value { return value }
            throw error("cannot decode !!str `\(raw ?? "")` as a !!float")
        case "!!bool", "tag:yaml.org,2002:bool":
            if case .bool = value { return value }
            throw error("cannot decode !!str `\(raw ?? "")` as a !!bool")
        case "!!null", "tag:yaml.org,2002:null":
            return .null
        default:
            return value
        }
    }

    // MARK: Keys

    private func keyString(_ scalar: Scalar, tag: String?) throws(SyntaxError) -> String {
        if scalar.quoted { return scalar.text }
        var value = Self.resolve(scalar.text)
        if let tag { value = try applyTag(tag, to: value, raw: scalar.text) }
        return Self.keyText(value)
    }

    /// A mapping key as JSON spells it: scalars by their text form, as sigs.k8s.io/yaml converts them.
    private static func keyText(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): return text
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .int(let number): return String(number)
        case .double(let number): return JSONWriter.string(.double(number))
        case .array, .object: return JSONWriter.string(value)
        }
    }

    // MARK: Scalar resolution

    /// The type of a plain scalar, by go-yaml v2's rules (YAML 1.1 booleans, base prefixes, .inf/.nan).
    static func resolve(_ text: String) -> JSONValue {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE": return .bool(true)
        case "n", "N", "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .double(.infinity)
        case "-.inf", "-.Inf", "-.INF": return .double(-.infinity)
        case ".nan", ".NaN", ".NAN": return .double(.nan)
        default: break
        }
        guard let first = text.utf8.first,
              first == UInt8(ascii: "-") || first == UInt8(ascii: "+") || first == UInt8(ascii: ".")
                || (first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9"))
        else { return .string(text) }
        let plain = text.replacing("_", with: "")
        if let number = integer(plain) { return .int(number) }
        if isFloat(plain), let number = Double(plain) {
            // An integral float reaches JSON as an integer (Go prints 1.0 as 1), which integer fields accept.
            if number == number.rounded(), abs(number) < 9.2e18 { return .int(Int64(number)) }
            return .double(number)
        }
        return .string(text)
    }

    /// An integer as Go's strconv.ParseInt with base 0 reads it: optional sign, then 0x/0o/0b or a leading 0
    /// for octal.
    private static func integer(_ text: String) -> Int64? {
        var digits = Substring(text)
        var negative = false
        if let sign = digits.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return nil }
        var radix = 10
        let lower = digits.lowercased()
        if lower.hasPrefix("0x") {
            radix = 16
            digits = digits.dropFirst(2)
        } else if lower.hasPrefix("0o") {
            radix = 8
            digits = digits.dropFirst(2)
        } else if lower.hasPrefix("0b") {
            radix = 2
            digits = digits.dropFirst(2)
        } else if digits.count > 1, digits.first == "0" {
            radix = 8
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isHexDigit }),
              let magnitude = UInt64(digits, radix: radix)
        else { return nil }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// go-yaml v2's float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
    private static func isFloat(_ text: String) -> Bool {
        var bytes = Substring(text).utf8[...]
        if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
        func digits(_ part: inout Substring.UTF8View.SubSequence) -> Int {
            var count = 0
            while let byte = part.first, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                part = part.dropFirst()
                count += 1
            }
            return count
        }
        let whole = digits(&bytes)
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            let fraction = digits(&bytes)
            if whole == 0, fraction == 0 { return false }
        } else if whole == 0 {
            return false
        }
        if let e = bytes.first, e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if let sign = bytes.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") { bytes = bytes.dropFirst() }
            if digits(&bytes) == 0 { return false }
        }
        return bytes.isEmpty
    }

    // MARK: Scanning

    private var current: UInt8 { index < bytes.count ? bytes[index] : 0 }
    private var column: Int { index - lineStart }
    /// Whether nothing but indentation comes before the current position on its line.
    private var firstOnLine: Bool {
        mutating get { index <= indentationEnd() }
    }

    /// Where the current line's leading spaces end (measured once per line).
    private mutating func indentationEnd() -> Int {
        if measuredLine != lineStart {
            var end = lineStart
            while end < bytes.count, bytes[end] == 0x20 { end += 1 }
            measuredLine = lineStart
            measuredEnd = end
        }
        return measuredEnd
    }

    /// How deeply collections nest in `value` (a scalar: 0).
    private static func nesting(of value: JSONValue) -> Int {
        switch value {
        case .array(let items): return 1 + (items.lazy.map(nesting).max() ?? 0)
        case .object(let fields): return 1 + (fields.values.lazy.map(nesting).max() ?? 0)
        default: return 0
        }
    }

    private func error(_ problem: String) -> SyntaxError {
        SyntaxError(message: "yaml: line \(line): \(problem)", line: line)
    }

    /// Duplicated keys are reported up to `JSONParser.maxReportedDuplicates` (a body of repeats is refused
    /// just the same, without building a path for each).
    private mutating func noteDuplicate(_ key: String) {
        guard duplicateFields.count < JSONParser.maxReportedDuplicates else { return }
        duplicateFields.append((path + [key]).joined(separator: "."))
    }

    private mutating func enter() throws(SyntaxError) {
        depth += 1
        guard depth <= Self.maxDepth else { throw error("exceeded max depth of \(Self.maxDepth)") }
    }

    private func isBreak(_ byte: UInt8) -> Bool { byte == 0x0A || byte == 0x0D }
    private func isWhite(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }

    private func isBlank(at position: Int) -> Bool {
        position >= bytes.count || isWhite(bytes[position]) || isBreak(bytes[position])
    }

    private func isFlowIndicator(at position: Int) -> Bool {
        guard position < bytes.count else { return false }
        switch bytes[position] {
        case UInt8(ascii: ","), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"), UInt8(ascii: "}"): return true
        default: return false
        }
    }

    private func atDocumentMarker(_ marker: StaticString) -> Bool {
        guard index == lineStart, index + 3 <= bytes.count else { return false }
        let expected = marker.withUTF8Buffer { Array($0) }
        return Array(bytes[index..<index + 3]) == expected && isBlank(at: index + 3)
    }

    private mutating func consumeBreak() {
        if bytes[index] == 0x0D, index + 1 < bytes.count, bytes[index + 1] == 0x0A { index += 1 }
        index += 1
        line += 1
        lineStart = index
    }

    private mutating func skipSpaces() {
        while index < bytes.count, isWhite(bytes[index]) { index += 1 }
    }

    private mutating func skipLine() {
        while index < bytes.count, !isBreak(bytes[index]) { index += 1 }
    }

    /// Skips spaces, comments and line breaks; true when a line break was crossed. A tab where a line's
    /// indentation should be is refused, as YAML does.
    private mutating func skipToContent() throws(SyntaxError) -> Bool {
        var crossed = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x20 {
                index += 1
            } else if byte == 0x09 {
                // A tab in a line's indentation, before content, is refused; the whole run of blanks is
                // looked at once.
                var probe = index
                while probe < bytes.count, isWhite(bytes[probe]) { probe += 1 }
                if index <= indentationEnd(), probe < bytes.count, !isBreak(bytes[probe]), bytes[probe] != UInt8(ascii: "#") {
                    throw error("found character that cannot start any token")
                }
                index = probe
            } else if byte == UInt8(ascii: "#") {
                skipLine()
            } else if isBreak(byte) {
                consumeBreak()
                crossed = true
            } else {
                break
            }
        }
        return crossed
    }
}

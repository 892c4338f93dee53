/// A label selector, from a query's `labelSelector` ("app=web,tier!=db,env in (a,b),!canary") or from an
/// object's `metav1.LabelSelector` (matchLabels, matchExpressions): lists, watches and controllers select with it.
public struct LabelSelector: Sendable, Equatable, CustomStringConvertible {
    public enum Requirement: Sendable, Equatable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, Set<String>)
        case notIn(String, Set<String>)
        case exists(String)
        case doesNotExist(String)
        /// Matches nothing (an object selector's empty matchExpressions value list for In, say).
        case nothing

        func matches(_ labels: [String: String]) -> Bool {
            switch self {
            case .equals(let key, let value): labels[key] == value
            case .notEquals(let key, let value): labels[key] != value
            case .isIn(let key, let values): labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): !(labels[key].map(values.contains) ?? false)
            case .exists(let key): labels[key] != nil
            case .doesNotExist(let key): labels[key] == nil
            case .nothing: false
            }
        }
    }

    public var requirements: [Requirement]

    /// Selects everything.
    public static let everything = LabelSelector(requirements: [])

    public init(requirements: [Requirement]) {
        self.requirements = requirements
    }

    public var isEverything: Bool { requirements.isEmpty }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Parses the query syntax, with label keys and values checked as Kubernetes checks them.
    public init(parsing text: String) throws(ParseError) {
        var requirements: [Requirement] = []
        var scanner = Scanner(Array(text.utf8))
        scanner.skipSpaces()
        while !scanner.isAtEnd {
            requirements.append(try scanner.requirement())
            scanner.skipSpaces()
            guard !scanner.isAtEnd else { break }
            guard scanner.take(",") else { throw ParseError(message: "found '\(scanner.rest)', expected: ',' or 'end of string'") }
            scanner.skipSpaces()
            if scanner.isAtEnd { throw ParseError(message: "found '', expected: !, identifier, or 'end of string'") }
        }
        self.requirements = requirements
    }

    /// The selector of an object's `metav1.LabelSelector` (nil or {} selects everything, as Kubernetes).
    public init(object: JSONValue?) throws(ParseError) {
        var requirements: [Requirement] = []
        for (key, value) in (object?["matchLabels"]?.stringMap ?? [:]).sorted(by: { $0.key < $1.key }) {
            requirements.append(.equals(key, value))
        }
        for expression in object?["matchExpressions"]?.arrayValue ?? [] {
            guard let key = expression["key"]?.stringValue, let op = expression["operator"]?.stringValue else {
                throw ParseError(message: "a matchExpression needs a key and an operator")
            }
            let values = (expression["values"]?.arrayValue ?? []).compactMap(\.stringValue)
            switch op {
            case "In":
                guard !values.isEmpty else { throw ParseError(message: "for 'in', 'notin' operators, values set can't be empty") }
                requirements.append(.isIn(key, Set(values)))
            case "NotIn":
                guard !values.isEmpty else { throw ParseError(message: "for 'in', 'notin' operators, values set can't be empty") }
                requirements.append(.notIn(key, Set(values)))
            case "Exists":
                guard values.isEmpty else { throw ParseError(message: "values set must be empty for exists and does not exist") }
                requirements.append(.exists(key))
            case "DoesNotExist":
                guard values.isEmpty else { throw ParseError(message: "values set must be empty for exists and does not exist") }
                requirements.append(.doesNotExist(key))
            default:
                throw ParseError(message: "\"\(op)\" is not a valid label selector operator")
            }
        }
        self.requirements = requirements
    }

    public var description: String {
        requirements.map { requirement in
            switch requirement {
            case .equals(let key, let value): "\(key)=\(value)"
            case .notEquals(let key, let value): "\(key)!=\(value)"
            case .isIn(let key, let values): "\(key) in (\(values.sorted().joined(separator: ",")))"
            case .notIn(let key, let values): "\(key) notin (\(values.sorted().joined(separator: ",")))"
            case .exists(let key): key
            case .doesNotExist(let key): "!\(key)"
            case .nothing: ""
            }
        }.joined(separator: ",")
    }

    struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
        }

        var isAtEnd: Bool { index >= bytes.count }
        var rest: String { String(decoding: bytes[index...], as: UTF8.self) }

        mutating func skipSpaces() {
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") { index += 1 }
        }

        mutating func take(_ text: String) -> Bool {
            let token = Array(text.utf8)
            guard index + token.count <= bytes.count, Array(bytes[index..<index + token.count]) == token else { return false }
            index += token.count
            return true
        }

        static func isWordByte(_ byte: UInt8) -> Bool {
            !(byte == UInt8(ascii: " ") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: "=")
              || byte == UInt8(ascii: "!") || byte == UInt8(ascii: "(") || byte == UInt8(ascii: ")"))
        }

        mutating func word() -> String {
            let start = index
            while index < bytes.count, Self.isWordByte(bytes[index]) { index += 1 }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        mutating func requirement() throws(ParseError) -> Requirement {
            if take("!") {
                skipSpaces()
                let key = word()
                try Self.checkKey(key)
                return .doesNotExist(key)
            }
            let key = word()
            try Self.checkKey(key)
            skipSpaces()
            if isAtEnd || bytes[index] == UInt8(ascii: ",") { return .exists(key) }
            if take("==") || take("=") {
                skipSpaces()
                let value = word()
                try Self.checkValue(value)
                return .equals(key, value)
            }
            if take("!=") {
                skipSpaces()
                let value = word()
                try Self.checkValue(value)
                return .notEquals(key, value)
            }
            let op = word()
            guard op == "in" || op == "notin" else {
                throw ParseError(message: "found '\(op)', expected: '=', '!=', '==', 'in', notin'")
            }
            skipSpaces()
            guard take("(") else { throw ParseError(message: "found '\(rest)', expected: '('") }
            var values = Set<String>()
            while true {
                skipSpaces()
                let value = word()
                try Self.checkValue(value)
                if !value.isEmpty { values.insert(value) }
                skipSpaces()
                if take(")") { break }
                guard take(",") else { throw ParseError(message: "found '\(rest)', expected: ',', ')' or identifier") }
            }
            return op == "in" ? .isIn(key, values) : .notIn(key, values)
        }

        static func checkKey(_ key: String) throws(ParseError) {
            if let problem = Validation.qualifiedNameProblems(key).first {
                throw ParseError(message: "key: Invalid value: \"\(key)\": \(problem)")
            }
        }

        static func checkValue(_ value: String) throws(ParseError) {
            if let problem = Validation.labelValueProblems(value).first {
                throw ParseError(message: "values[0]: Invalid value: \"\(value)\": \(problem)")
            }
        }
    }
}

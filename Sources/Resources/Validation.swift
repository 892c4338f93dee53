/// The checks Kubernetes applies to names, labels, annotations and other common values, with its messages
/// (kubectl shows them verbatim). Kind-specific validation builds on these.
public enum Validation {
    static let subdomainMessage = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    static let labelMessage = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    static let qualifiedNameMessage = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    static let labelValueMessage = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    static let dns1035Message = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"

    /// The most bytes all of an object's annotations may take (keys and values).
    public static let totalAnnotationBytes = 256 * 1024

    static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isLowerAlphanumeric(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
    }

    public static func isDNS1123Label(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, let last = bytes.last, isLowerAlphanumeric(first), isLowerAlphanumeric(last) else { return false }
        return bytes.allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "-") }
    }

    public static func dns1123LabelProblems(_ text: String) -> [String] {
        var problems: [String] = []
        if text.utf8.count > 63 { problems.append("must be no more than 63 characters") }
        if !isDNS1123Label(text) { problems.append(labelMessage) }
        return problems
    }

    public static func dns1035LabelProblems(_ text: String) -> [String] {
        var problems: [String] = []
        if text.utf8.count > 63 { problems.append("must be no more than 63 characters") }
        let bytes = Array(text.utf8)
        if !(isDNS1123Label(text) && (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(bytes[0])) { problems.append(dns1035Message) }
        return problems
    }

    public static func dns1123SubdomainProblems(_ text: String) -> [String] {
        var problems: [String] = []
        if text.utf8.count > 253 { problems.append("must be no more than 253 characters") }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        if text.isEmpty || !parts.allSatisfy({ isDNS1123Label(String($0)) }) { problems.append(subdomainMessage) }
        return problems
    }

    /// A label or annotation key: an optional DNS subdomain prefix and "/", then a name of at most 63 characters.
    public static func qualifiedNameProblems(_ text: String) -> [String] {
        var name = Substring(text)
        var problems: [String] = []
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2 {
            let prefix = String(parts[0])
            name = parts[1]
            if prefix.isEmpty {
                problems.append("prefix part must be non-empty")
            } else {
                problems += dns1123SubdomainProblems(prefix).map { "prefix part " + $0 }
            }
        } else if parts.count > 2 {
            return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
        }
        if name.isEmpty {
            problems.append("name part must be non-empty")
        } else {
            if name.utf8.count > 63 { problems.append("name part must be no more than 63 characters") }
            let bytes = Array(name.utf8)
            let ok = isAlphanumeric(bytes[0]) && isAlphanumeric(bytes[bytes.count - 1])
                && bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
            if !ok { problems.append(qualifiedNameMessage) }
        }
        return problems
    }

    public static func labelValueProblems(_ text: String) -> [String] {
        guard !text.isEmpty else { return [] }
        var problems: [String] = []
        if text.utf8.count > 63 { problems.append("must be no more than 63 characters") }
        let bytes = Array(text.utf8)
        let ok = isAlphanumeric(bytes[0]) && isAlphanumeric(bytes[bytes.count - 1])
            && bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
        if !ok { problems.append(labelValueMessage) }
        return problems
    }

    public static func labels(_ labels: [String: String], at field: String) -> [FieldError] {
        var errors: [FieldError] = []
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) {
            errors += qualifiedNameProblems(key).map { .invalid(field, key, $0) }
            errors += labelValueProblems(value).map { .invalid("\(field)[\(key)]", value, $0) }
        }
        return errors
    }

    public static func annotations(_ annotations: [String: String], at field: String) -> [FieldError] {
        var errors: [FieldError] = []
        var total = 0
        for (key, value) in annotations.sorted(by: { $0.key < $1.key }) {
            errors += qualifiedNameProblems(key.lowercased()).map { .invalid(field, key, $0) }
            total += key.utf8.count + value.utf8.count
        }
        if total > totalAnnotationBytes {
            errors.append(.tooLong(field, "must have at most \(totalAnnotationBytes) bytes"))
        }
        return errors
    }

    /// A port number (1–65535).
    public static func port(_ value: Int64, at field: String) -> [FieldError] {
        (1...65_535).contains(value) ? [] : [.invalid(field, number: value, "must be between 1 and 65535, inclusive")]
    }
}

/// One thing wrong with an object, at a field path, as Kubernetes' field.Error: what a 422 Invalid answer
/// lists as its causes.
public struct FieldError: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case invalid = "FieldValueInvalid"
        case required = "FieldValueRequired"
        case duplicate = "FieldValueDuplicate"
        case notSupported = "FieldValueNotSupported"
        case tooLong = "FieldValueTooLong"
        case tooMany = "FieldValueTooMany"
        case forbidden = "FieldValueForbidden"
    }

    public var kind: Kind
    public var field: String
    /// The value as the message shows it (already quoted if a string), or nil.
    public var value: String?
    public var detail: String

    public init(kind: Kind, field: String, value: String?, detail: String) {
        self.kind = kind
        self.field = field
        self.value = value
        self.detail = detail
    }

    public static func invalid(_ field: String, _ value: String, _ detail: String) -> FieldError {
        FieldError(kind: .invalid, field: field, value: quote(value), detail: detail)
    }

    public static func invalid(_ field: String, number: Int64, _ detail: String) -> FieldError {
        FieldError(kind: .invalid, field: field, value: String(number), detail: detail)
    }

    public static func required(_ field: String, _ detail: String = "") -> FieldError {
        FieldError(kind: .required, field: field, value: nil, detail: detail)
    }

    public static func duplicate(_ field: String, _ value: String) -> FieldError {
        FieldError(kind: .duplicate, field: field, value: quote(value), detail: "")
    }

    public static func notSupported(_ field: String, _ value: String, supported: [String]) -> FieldError {
        FieldError(kind: .notSupported, field: field, value: quote(value),
                   detail: "supported values: " + supported.map { quote($0) }.joined(separator: ", "))
    }

    public static func forbidden(_ field: String, _ detail: String) -> FieldError {
        FieldError(kind: .forbidden, field: field, value: nil, detail: detail)
    }

    public static func tooLong(_ field: String, _ detail: String) -> FieldError {
        FieldError(kind: .tooLong, field: field, value: nil, detail: detail)
    }

    static func quote(_ text: String) -> String {
        JSONWriter.string(.string(text))
    }

    /// The cause's message, as Kubernetes words it ("Invalid value: \"Bad_Name\": a lowercase …").
    public var message: String {
        switch kind {
        case .invalid: "Invalid value: \(value ?? "null")" + (detail.isEmpty ? "" : ": \(detail)")
        case .required: "Required value" + (detail.isEmpty ? "" : ": \(detail)")
        case .duplicate: "Duplicate value: \(value ?? "")"
        case .notSupported: "Unsupported value: \(value ?? "")" + (detail.isEmpty ? "" : ": \(detail)")
        case .tooLong: "Too long: \(detail)"
        case .tooMany: "Too many: \(detail)"
        case .forbidden: "Forbidden: \(detail)"
        }
    }

    public var description: String { "\(field): \(message)" }
}

/// Field roles and limits of the event decoder.
///
/// An event is a flat JSON object. The id, label and timestamp fields have roles; fields in ``ignoredFields`` are
/// skipped (any JSON value); every other number or boolean is a numeric feature, every other string a categorical
/// feature, and `null` marks a feature as missing. An object under ``featuresField`` holds features too.
public struct EventDecoderConfiguration: Sendable, Hashable, Codable {
    /// The id field (a string or an integer). Default `id`.
    public var idField: String = "id"
    /// The label field: `0`, `1`, `true` or `false`. Default `label`.
    public var labelField: String = "label"
    /// The timestamp field: epoch milliseconds or an RFC 3339 string. Default `ts`; `nil` for none.
    public var timestampField: String? = "ts"
    /// A nested object whose members are features. Default `features`.
    public var featuresField: String = "features"
    /// Fields skipped whatever their value.
    public var ignoredFields: Set<String> = []
    /// The largest document accepted, in bytes. Default 65,536.
    public var maxDocumentBytes: Int = 65_536
    /// The longest string (key or value) accepted, in bytes after unescaping. Default 1,024.
    public var maxStringBytes: Int = 1_024
    /// The most fields (features included) accepted. Default 256.
    public var maxFields: Int = 256
    /// The deepest nesting of arrays and objects accepted in an ignored field's value. Default 32.
    public var maxDepth: Int = 32

    public init() {}
}

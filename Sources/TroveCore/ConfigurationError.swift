/// A configuration value that Trove cannot use, with the option it belongs to.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    /// The option's dotted name, e.g. `object_storage.listen`.
    public var option: String
    public var message: String

    public init(option: String, message: String) {
        self.option = option
        self.message = message
    }

    public var description: String {
        "configuration option \(self.option): \(self.message)"
    }
}

import GRPCCore

/// What a caller may do. Roles grant levels in order: `readonly` reads and searches,
/// `datawriter` also writes, `admin` also manages collections, keys and retention.
public enum Permission: Int, Sendable, Comparable, CustomStringConvertible {
    /// Needs no key (health checks).
    case open
    case read
    case write
    case admin

    public static func < (lhs: Permission, rhs: Permission) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    public var description: String {
        switch self {
        case .open: "open"
        case .read: "read"
        case .write: "write"
        case .admin: "admin"
        }
    }
}

/// What one request addresses: the collections it reads or changes, for keys limited to some
/// collections, and the ids an audit record names.
public struct RequestTargets: Sendable, Equatable {
    /// The collections the request acts on; `nil` when it names none (a request by document id,
    /// say), which a key limited to collections may not make.
    public var collections: [String]?
    /// Ids of what the request acts on (collection names, document, chunk, key or object ids).
    public var ids: [String]

    public init(collections: [String]?, ids: [String]) {
        self.collections = collections
        self.ids = ids
    }

    /// A request about one collection, named by `collection`.
    public static func collection(_ collection: String, ids: [String] = []) -> RequestTargets {
        RequestTargets(collections: [collection], ids: [collection] + ids)
    }

    /// A request that names no collection.
    public static func ids(_ ids: [String]) -> RequestTargets {
        RequestTargets(collections: nil, ids: ids)
    }

    /// A request that names nothing (lists, stats).
    public static let none = RequestTargets(collections: nil, ids: [])
}

/// The permission one method needs, and how to read what its request addresses.
public struct AccessRule: Sendable {
    public var permission: Permission
    /// Whether calls are written to the audit trail (writes and admin actions are, unless they
    /// are the services' own plumbing: key lookups, audit writes).
    public var isAudited = true
    /// Reads the targets of a request message. For a client stream, only the first message
    /// (the header) is read.
    public var targets: @Sendable (Any) -> RequestTargets

    public init<Request>(_ permission: Permission, targets: @escaping @Sendable (Request) -> RequestTargets) {
        self.permission = permission
        self.targets = { message in
            guard let request = message as? Request else { return .none }
            return targets(request)
        }
    }

    /// A method whose requests address nothing in particular.
    public init(_ permission: Permission) {
        self.permission = permission
        self.targets = { _ in .none }
    }
}

/// The rule for every method of every service. A method without a rule is refused: a new RPC
/// is closed until someone decides who may call it.
public struct AccessPolicy: Sendable {
    public private(set) var rules: [MethodDescriptor: AccessRule]

    public init(rules: [MethodDescriptor: AccessRule] = [:]) {
        self.rules = rules
    }

    public subscript(method: MethodDescriptor) -> AccessRule? {
        self.rules[method]
    }

    /// Adds the rule for `method`, whose request message is `Request`.
    public mutating func add<Request>(
        _ method: MethodDescriptor,
        _ permission: Permission,
        request: Request.Type,
        targets: @escaping @Sendable (Request) -> RequestTargets
    ) {
        precondition(self.rules[method] == nil, "two rules for \(method)")
        self.rules[method] = AccessRule(permission, targets: targets)
    }

    /// Adds the rule for `method`, whose requests address nothing in particular.
    public mutating func add(_ method: MethodDescriptor, _ permission: Permission) {
        precondition(self.rules[method] == nil, "two rules for \(method)")
        self.rules[method] = AccessRule(permission)
    }

    /// Keeps calls of `method` out of the audit trail.
    public mutating func exemptFromAudit(_ method: MethodDescriptor) {
        precondition(self.rules[method] != nil, "no rule for \(method)")
        self.rules[method]?.isAudited = false
    }
}

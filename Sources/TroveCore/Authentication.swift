import Crypto
import Foundation
import GRPCCore
import Synchronization
import TroveContracts

/// Who is calling, once their key has been checked.
public struct Caller: Sendable, Equatable {
    /// The key's public id; "service" for Trove's own services; empty when auth is off.
    public var keyID: String
    public var permission: Permission
    /// The collections the key is limited to; empty: every collection.
    public var collections: [String]
    /// The caller presented the service credential.
    public var isService: Bool

    /// Every caller when auth is off.
    public static let anonymous = Caller(keyID: "", permission: .admin, collections: [], isService: false)
    /// A Trove service calling another.
    public static let service = Caller(keyID: "service", permission: .admin, collections: [], isService: true)

    /// The caller a stored key stands for; nil for a key without a usable role.
    public init?(key: Trove_V1_ApiKey) {
        let permission: Permission
        switch key.role {
        case .readonly: permission = .read
        case .datawriter: permission = .write
        case .admin: permission = .admin
        // The service role belongs to the configured credential, never to a stored key.
        case .service, .unspecified, .UNRECOGNIZED: return nil
        }
        self.init(keyID: key.id, permission: permission, collections: key.collections, isService: false)
    }

    public init(keyID: String, permission: Permission, collections: [String], isService: Bool) {
        self.keyID = keyID
        self.permission = permission
        self.collections = collections
        self.isService = isService
    }
}

/// Checks the key a call presents in its `authorization` metadata (`Bearer KEY`).
///
/// The service credential is compared in constant time; any other key is looked up by the
/// metadata service (`resolve`), and what it says is kept for `cacheTTL` so that a call does
/// not cost a second call. A revoked key therefore stops working within `cacheTTL`.
public struct Authenticator: Sendable {
    /// Looks a secret up: the key, nil when it is unknown or revoked; throws when the answer
    /// cannot be had (the metadata service is down).
    public typealias Resolve = @Sendable (_ secret: String) async throws -> Trove_V1_ApiKey?

    private let serviceKeyDigest: [UInt8]
    private let resolve: Resolve
    private let cache: KeyCache

    public init(serviceKey: String, cacheTTL: Duration, resolve: @escaping Resolve) {
        self.serviceKeyDigest = Array(SHA256.hash(data: Data(serviceKey.utf8)))
        self.resolve = resolve
        self.cache = KeyCache(ttl: cacheTTL)
    }

    /// The caller behind `metadata`'s key.
    ///
    /// - Throws: UNAUTHENTICATED when no key, a malformed one or an unknown or revoked one is
    ///   presented; UNAVAILABLE when the key cannot be checked.
    public func caller(presenting metadata: Metadata) async throws -> Caller {
        guard let header = metadata[stringValues: "authorization"].first(where: { _ in true }) else {
            throw RPCError(code: .unauthenticated, message: "no API key: send the metadata 'authorization: Bearer KEY'")
        }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer", !parts[1].isEmpty else {
            throw RPCError(code: .unauthenticated, message: "malformed authorization metadata: expected 'Bearer KEY'")
        }
        let secret = String(parts[1])
        let digest = Array(SHA256.hash(data: Data(secret.utf8)))
        if Self.constantTimeEqual(digest, self.serviceKeyDigest) {
            return .service
        }
        let cacheKey = digest.lowercaseHex
        if let cached = self.cache[cacheKey] {
            return try Self.caller(from: cached)
        }
        let key: Trove_V1_ApiKey?
        do {
            key = try await self.resolve(secret)
        } catch {
            throw RPCError(code: .unavailable, message: "cannot check the API key: \(Self.describe(error))")
        }
        let entry: KeyCache.Entry = key.flatMap(Caller.init(key:)).map { .known($0) } ?? .unknown
        self.cache[cacheKey] = entry
        return try Self.caller(from: entry)
    }

    /// Equal digests, compared without stopping at the first difference.
    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices {
            difference |= a[index] ^ b[index]
        }
        return difference == 0
    }

    private static func caller(from entry: KeyCache.Entry) throws -> Caller {
        switch entry {
        case .known(let caller): return caller
        case .unknown: throw RPCError(code: .unauthenticated, message: "the API key is unknown or revoked")
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let error = error as? RPCError {
            return "metadata service: \(error.code): \(error.message)"
        }
        return "\(error)"
    }
}

/// What the metadata service said about keys lately, by the SHA-256 of the secret (so the
/// process does not hold every secret it has seen). Bounded: when full, it starts afresh.
final class KeyCache: Sendable {
    enum Entry: Sendable {
        case known(Caller)
        case unknown
    }

    private let ttl: Duration
    private let entries = Mutex<[String: (entry: Entry, expires: ContinuousClock.Instant)]>([:])
    private static let capacity = 10_000

    init(ttl: Duration) {
        self.ttl = ttl
    }

    subscript(key: String) -> Entry? {
        get {
            self.entries.withLock { entries in
                guard let cached = entries[key], cached.expires > .now else { return nil }
                return cached.entry
            }
        }
        set {
            guard self.ttl > .zero, let newValue else { return }
            let expires = ContinuousClock.now + self.ttl
            self.entries.withLock { entries in
                if entries.count >= Self.capacity {
                    entries.removeAll(keepingCapacity: true)
                }
                entries[key] = (newValue, expires)
            }
        }
    }
}

/// Adds a key to every call a client makes: the service credential on the clients services use
/// to reach each other, a user's key in the command line.
public struct BearerTokenInterceptor: ClientInterceptor {
    private let header: String

    public init(key: String) {
        self.header = "Bearer " + key
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>,
        context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        request.metadata.replaceOrAddString(self.header, forKey: "authorization")
        return try await next(request, context)
    }
}

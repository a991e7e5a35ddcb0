import Foundation
import GRPCCore
import Synchronization
import TroveContracts

/// The one place every call to a Trove listener is let in or refused, and written to the audit
/// trail.
///
/// - A method without a rule in the policy is refused (PERMISSION_DENIED), so a new RPC is
///   closed until someone decides who may call it.
/// - `.open` methods (health) pass without a key.
/// - With an authenticator, the caller's key decides: none, malformed, unknown or revoked →
///   UNAUTHENTICATED; a role below what the method needs → PERMISSION_DENIED. A key limited to
///   some collections may only make requests that name collections, and only those (read from
///   the first request message, the header of a client stream).
/// - Writes and admin actions are recorded in the audit trail with their outcome, refused ones
///   included. Writes that services make with the service credential follow from a call already
///   recorded and are not recorded again; admin actions are, whoever makes them.
public struct AccessInterceptor: ServerInterceptor {
    let policy: AccessPolicy
    let authenticator: Authenticator?
    let auditTrail: AuditTrail?

    public init(policy: AccessPolicy, authenticator: Authenticator?, auditTrail: AuditTrail?) {
        self.policy = policy
        self.authenticator = authenticator
        self.auditTrail = auditTrail
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        let method = context.descriptor
        guard let rule = self.policy[method] else {
            throw RPCError(code: .permissionDenied, message: "\(method.fullyQualifiedMethod) has no access rule, so nobody may call it")
        }
        if rule.permission == .open {
            return try await next(request, context)
        }

        // Reads are not recorded: no record is made for them.
        let audit = rule.isAudited && rule.permission >= .write ? self.auditTrail.map { trail in
            AuditRecord(trail: trail, method: method, requestID: RequestScope.current?.requestID ?? "")
        } : nil
        let caller: Caller
        do {
            caller = try await self.authenticator?.caller(presenting: request.metadata) ?? .anonymous
        } catch {
            // Refused writes are recorded too: someone tried.
            audit?.finish(caller: nil, outcome: error)
            throw error
        }
        let record = !caller.isService || rule.permission == .admin ? audit : nil

        guard caller.permission >= rule.permission else {
            let error = RPCError(
                code: .permissionDenied,
                message: "key \(caller.keyID) may \(caller.permission) but \(method.fullyQualifiedMethod) needs \(rule.permission)"
            )
            record?.finish(caller: caller, outcome: error)
            throw error
        }

        // The first message is read only for a collection limit or an audit record's targets.
        guard !caller.collections.isEmpty || record != nil else {
            return try await next(request, context)
        }
        var request = request
        request.messages = RPCAsyncSequence(
            wrapping: FirstMessageCheck(base: request.messages) { message in
                let targets = rule.targets(message)
                record?.targets = targets.ids
                try Self.check(caller: caller, mayReach: targets, method: method)
            }
        )
        guard let record else {
            return try await next(request, context)
        }
        return try await callObservingOutcome(next, request: request, context: context) { error in
            record.finish(caller: caller, outcome: error)
        }
    }

    static func check(caller: Caller, mayReach targets: RequestTargets, method: MethodDescriptor) throws {
        guard !caller.collections.isEmpty else { return }
        guard let collections = targets.collections, !collections.isEmpty else {
            throw RPCError(
                code: .permissionDenied,
                message: "key \(caller.keyID) is limited to collections \(caller.collections) and \(method.fullyQualifiedMethod) here names no collection"
            )
        }
        if let outside = collections.first(where: { !caller.collections.contains($0) }) {
            throw RPCError(
                code: .permissionDenied,
                message: "key \(caller.keyID) is limited to collections \(caller.collections); collection '\(outside)' is not one of them"
            )
        }
    }
}

/// Passes a request's messages through, calling `check` on the first before handing it on.
struct FirstMessageCheck<Base: AsyncSequence & Sendable>: AsyncSequence, Sendable where Base.Element: Sendable {
    typealias Element = Base.Element
    typealias Failure = any Error

    let base: Base
    let check: @Sendable (Base.Element) throws -> Void

    struct AsyncIterator: AsyncIteratorProtocol {
        var base: Base.AsyncIterator
        let check: @Sendable (Base.Element) throws -> Void
        var checked = false

        mutating func next() async throws -> Base.Element? {
            guard let message = try await self.base.next() else { return nil }
            if !self.checked {
                self.checked = true
                try self.check(message)
            }
            return message
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: self.base.makeAsyncIterator(), check: self.check)
    }
}

/// One audited call: what it targeted becomes known when its first message is read, its outcome
/// when it ends; recorded once.
final class AuditRecord: Sendable {
    private let trail: AuditTrail
    private let method: MethodDescriptor
    private let requestID: String
    private let state = Mutex<(targets: [String], finished: Bool)>(([], false))

    init(trail: AuditTrail, method: MethodDescriptor, requestID: String) {
        self.trail = trail
        self.method = method
        self.requestID = requestID
    }

    var targets: [String] {
        get { self.state.withLock { $0.targets } }
        set { self.state.withLock { $0.targets = Array(newValue.prefix(32)) } }
    }

    func finish(caller: Caller?, outcome error: (any Error)?) {
        let targets: [String]? = self.state.withLock { state in
            guard !state.finished else { return nil }
            state.finished = true
            return state.targets
        }
        guard let targets else { return }
        let outcome = error.map(statusName(of:)) ?? "ok"
        self.trail.record(
            .with { event in
                event.time = .init(date: Date())
                event.keyID = caller?.keyID ?? ""
                event.service = self.method.service.fullyQualifiedService
                event.method = self.method.method
                event.targetIds = targets
                event.outcome = outcome
                event.requestID = self.requestID
            }
        )
    }
}

/// Refuses calls beyond `limit` in progress on a listener with RESOURCE_EXHAUSTED, so a flood
/// is answered instead of queueing until memory runs out. Health checks always pass.
public struct ConcurrencyLimitInterceptor: ServerInterceptor {
    private let limit: Int
    private let counter: InProgress

    /// A reference, so copies of the interceptor share one count.
    private final class InProgress: Sendable {
        let count = Atomic<Int>(0)
    }

    public init(limit: Int) {
        self.limit = limit
        self.counter = InProgress()
    }

    public func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingServerRequest<Input>,
        context: ServerContext,
        next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
    ) async throws -> StreamingServerResponse<Output> {
        if context.descriptor.service.fullyQualifiedService == "grpc.health.v1.Health" {
            return try await next(request, context)
        }
        let counter = self.counter
        let now = counter.count.wrappingAdd(1, ordering: .relaxed).newValue
        guard now <= self.limit else {
            counter.count.wrappingSubtract(1, ordering: .relaxed)
            throw RPCError(
                code: .resourceExhausted,
                message: "\(now - 1) calls are in progress, the most this listener takes (max_concurrent_calls); retry with backoff"
            )
        }
        return try await callObservingOutcome(next, request: request, context: context) { _ in
            counter.count.wrappingSubtract(1, ordering: .relaxed)
        }
    }
}

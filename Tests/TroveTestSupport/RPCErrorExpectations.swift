import GRPCCore
import Testing

/// Expects `body` to fail with `code` and a message that starts with `field` and a colon (and
/// contains `text`, when given): how Trove's services name the field a request got wrong.
public func expectRPCError(
    _ code: RPCError.Code,
    field: String,
    containing text: String? = nil,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected \(code) naming '\(field)', but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as RPCError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.message.hasPrefix(field + ":"), "message '\(error.message)' should start with '\(field):'", sourceLocation: sourceLocation)
        if let text {
            #expect(error.message.contains(text), "message '\(error.message)' should contain '\(text)'", sourceLocation: sourceLocation)
        }
    } catch {
        Issue.record("expected an RPCError, got \(error)", sourceLocation: sourceLocation)
    }
}

/// Expects `body` to fail with `code`, whatever the message.
public func expectRPCError(
    _ code: RPCError.Code,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () async throws -> Void
) async {
    do {
        try await body()
        Issue.record("expected \(code), but the call succeeded", sourceLocation: sourceLocation)
    } catch let error as RPCError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected an RPCError, got \(error)", sourceLocation: sourceLocation)
    }
}

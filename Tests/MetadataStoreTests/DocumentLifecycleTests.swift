import MetadataStore
import Testing

@Suite("Document lifecycle")
struct DocumentLifecycleTests {
    static let legal: Set<[DocumentStatus]> = [
        [.pending, .processing], [.processing, .completed], [.processing, .failed], [.failed, .pending],
        [.processing, .pending], [.completed, .pending],
    ]

    static let illegal: [(DocumentStatus, DocumentStatus)] = [
        (.pending, .pending), (.pending, .completed), (.pending, .failed),
        (.processing, .processing),
        (.completed, .processing), (.completed, .completed), (.completed, .failed),
        (.failed, .processing), (.failed, .completed), (.failed, .failed),
    ]

    @Test("the illegal list is exactly every pair that is not legal")
    func illegalListIsComplete() {
        var expected: [[DocumentStatus]] = []
        for from in DocumentStatus.allCases {
            for to in DocumentStatus.allCases where !Self.legal.contains([from, to]) {
                expected.append([from, to])
            }
        }
        #expect(expected.count == 10)
        #expect(Set(expected) == Set(Self.illegal.map { [$0.0, $0.1] }))
    }

    @Test("legal transitions", arguments: [
        (DocumentStatus.pending, DocumentStatus.processing), (.processing, .completed), (.processing, .failed), (.failed, .pending),
        (.processing, .pending), (.completed, .pending),
    ])
    func legalTransition(from: DocumentStatus, to: DocumentStatus) throws {
        #expect(DocumentLifecycle.isAllowed(from: from, to: to))
        let next = try DocumentLifecycle(status: from, attempts: 2, errorMessage: "earlier").moving(to: to, errorMessage: "why")
        #expect(next.status == to)
    }

    @Test("illegal transitions are failed preconditions naming both states", arguments: illegal)
    func illegalTransition(from: DocumentStatus, to: DocumentStatus) {
        #expect(!DocumentLifecycle.isAllowed(from: from, to: to))
        let state = DocumentLifecycle(status: from, attempts: 1, errorMessage: nil)
        #expect {
            _ = try state.moving(to: to)
        } throws: { error in
            guard let error = error as? MetadataStoreError else { return false }
            return error.code == .failedPrecondition && error.field == "status"
                && error.message.contains(from.rawValue) && error.message.contains(to.rawValue)
        }
    }

    @Test("processing counts attempts, failing records the error, a retry keeps it, completing replaces it")
    func effects() throws {
        var state = DocumentLifecycle(status: .pending, attempts: 0, errorMessage: nil)
        state = try state.moving(to: .processing)
        #expect(state.attempts == 1)
        state = try state.moving(to: .failed, errorMessage: "embedding service unavailable")
        #expect(state.errorMessage == "embedding service unavailable")
        state = try state.moving(to: .pending)
        #expect(state.errorMessage == "embedding service unavailable")
        #expect(state.attempts == 1)
        state = try state.moving(to: .processing)
        #expect(state.attempts == 2)
        state = try state.moving(to: .completed)
        #expect(state.errorMessage == nil)
        #expect(state.status == .completed)
        // Reprocessing, then an attempt cut short: back to pending each time, saying why.
        state = try state.moving(to: .pending, errorMessage: "reprocessing requested")
        #expect(state.errorMessage == "reprocessing requested")
        state = try state.moving(to: .processing)
        state = try state.moving(to: .pending, errorMessage: "attempt 3 was interrupted")
        #expect(state.errorMessage == "attempt 3 was interrupted")
        #expect(state.attempts == 3)
    }
}

/// Where a document is in ingestion.
public enum DocumentStatus: String, Sendable, Hashable, CaseIterable {
    case pending
    case processing
    case completed
    case failed
}

/// The document lifecycle as a value type: pending → processing → completed | failed; back to
/// pending for a retry (from failed), for an attempt cut short by a crash (from processing) and
/// for reprocessing (from completed). Everything else — including a status to itself — is illegal.
public struct DocumentLifecycle: Sendable, Hashable {
    public var status: DocumentStatus
    /// How many times processing started.
    public var attempts: Int
    /// Why the last attempt failed, or why a completed document was not embedded.
    public var errorMessage: String?

    public init(status: DocumentStatus, attempts: Int, errorMessage: String?) {
        self.status = status
        self.attempts = attempts
        self.errorMessage = errorMessage
    }

    /// True when a document may move from `from` to `to`.
    public static func isAllowed(from: DocumentStatus, to: DocumentStatus) -> Bool {
        switch (from, to) {
        case (.pending, .processing), (.processing, .completed), (.processing, .failed),
            (.failed, .pending), (.processing, .pending), (.completed, .pending):
            return true
        default:
            return false
        }
    }

    /// The state after moving to `status`, or a failed-precondition error for an illegal move.
    ///
    /// Starting to process counts an attempt; failing records the error; completing records the
    /// message given (or clears it); going back to pending records the message given (why) or
    /// keeps the last error so it stays visible.
    public func moving(to status: DocumentStatus, errorMessage: String? = nil) throws(MetadataStoreError) -> DocumentLifecycle {
        guard Self.isAllowed(from: self.status, to: status) else {
            throw MetadataStoreError(
                .failedPrecondition,
                field: "status",
                "a document cannot move from \(self.status.rawValue) to \(status.rawValue)"
            )
        }
        var next = self
        next.status = status
        switch status {
        case .processing:
            next.attempts += 1
        case .failed:
            next.errorMessage = errorMessage ?? "failed"
        case .completed:
            next.errorMessage = errorMessage
        case .pending:
            if let errorMessage { next.errorMessage = errorMessage }
        }
        return next
    }
}

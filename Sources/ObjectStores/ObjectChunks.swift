import Foundation

/// The bytes of an object, as a sequence of chunks read on demand.
///
/// Backends produce it from whatever they read from (a file, an HTTP body); it holds no more
/// than one chunk at a time.
public struct ObjectChunks: AsyncSequence, Sendable {
    public typealias Element = Data
    public typealias Failure = any Error

    private let nextChunk: @Sendable () async throws -> Data?

    /// Creates a sequence that calls `nextChunk` until it returns `nil`.
    public init(nextChunk: @escaping @Sendable () async throws -> Data?) {
        self.nextChunk = nextChunk
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        fileprivate let nextChunk: @Sendable () async throws -> Data?

        public mutating func next() async throws -> Data? {
            try await self.nextChunk()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(nextChunk: self.nextChunk)
    }
}

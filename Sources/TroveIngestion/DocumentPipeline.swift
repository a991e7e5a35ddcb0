import Crypto
import Foundation
import GRPCCore
import Logging
import Metrics
import ServiceLifecycle
import SwiftProtobuf
import Synchronization
import TextProcessing
import TroveContracts
import TroveCore

/// Turns stored documents into chunks and vectors, one attempt at a time.
///
/// The job is durable because its state is the document's status in the metadata service: a
/// document is queued while `pending`, taken by moving it to `processing` (which counts an
/// attempt), and left `completed` or `failed`. At start-up every `pending` document, and every
/// `processing` one (an attempt a crash cut short), is queued again. Every write an attempt
/// makes is idempotent — chunk and vector ids are derived from the document id and the chunk's
/// sequence — so redoing an attempt replaces what a cut-short one wrote instead of adding to it.
///
/// One ingestion process per metadata database: status changes are version-checked, but a
/// second process starting up would take the first one's `processing` documents back to
/// `pending` (there is no lease on an attempt yet).
final class DocumentPipeline: Service, Sendable {
    struct Configuration: Sendable {
        var workers: Int
        /// The most bytes of documents in hand at once (a larger document runs alone).
        var maxBytesInHand: Int
        /// The most bytes of queued documents kept from their ingest, so that processing need
        /// not read them back from object storage; past it, queued documents are read back.
        var maxQueuedBytes: Int
        var maxAttempts: Int
        var retryBackoff: Duration
        var maxDocumentBytes: Int
        var embedBatchSize: Int
        var defaultChunking: ChunkingPolicy
        var orphanSweep: OrphanSweep.Configuration
        /// How long a graceful shutdown waits for the documents in hand before cutting them short.
        var shutdownGrace: Duration
    }

    /// Where processing time goes, summed over workers since start-up.
    enum Stage: String, CaseIterable, Sendable {
        /// Reading the object back from object storage (and, at ingest, storing it).
        case storage
        case extract
        /// Segmenting and counting tokens (a Tokenize call).
        case chunk
        case embed
        /// Upserting and deleting vectors.
        case index
        /// Status changes, chunks, relationships and embedding records.
        case metadata
    }

    private struct State {
        /// Documents queued or being processed, with the attempt count at which their current
        /// run of attempts began (retries are counted from there).
        var jobs: [String: Int] = [:]
        /// What the ingest of a queued document had in hand, until its first attempt takes it.
        var handed: [String: Handed] = [:]
        var handedBytes = 0
        var stageTime: [Stage: Duration] = [:]
    }

    /// What an ingest call read or wrote moments before queueing a document: its first attempt
    /// starts from these instead of asking for them again. A later change to the document (a
    /// delete, a reprocess) makes the attempt's first status change fail its version check, and
    /// the document is read again.
    struct Handed: Sendable {
        var document: Trove_V1_Document
        var collection: Trove_V1_Collection
        /// The stored bytes, whose SHA-256 is the document's; nil when the queue already holds
        /// `maxQueuedBytes`.
        var bytes: [UInt8]?
    }

    let configuration: Configuration
    private let downstream: IngestionService.Downstream
    private let events: IngestionEvents
    private let cache: SearchCache
    private let logger: Logger
    private let state = Mutex(State())
    private let budget: ByteBudget
    private let queue: AsyncStream<String>
    private let queueInput: AsyncStream<String>.Continuation

    init(
        configuration: Configuration,
        downstream: IngestionService.Downstream,
        events: IngestionEvents,
        cache: SearchCache,
        logger: Logger
    ) {
        self.configuration = configuration
        self.budget = ByteBudget(limit: configuration.maxBytesInHand)
        self.downstream = downstream
        self.events = events
        self.cache = cache
        self.logger = logger
        (self.queue, self.queueInput) = AsyncStream.makeStream(of: String.self)
    }

    /// Documents waiting or being processed.
    var queuedJobs: Int {
        self.state.withLock { $0.jobs.count }
    }

    /// Time per stage since start-up, summed over workers.
    var stageTimes: [Stage: Duration] {
        self.state.withLock { $0.stageTime }
    }

    /// Queues a document (once: a document already queued or in progress is not queued twice),
    /// with what its ingest had in hand, if anything.
    func enqueue(_ documentID: String, attempts: Int, handed: Handed? = nil) {
        let added = self.state.withLock { state in
            guard state.jobs[documentID] == nil else { return false }
            state.jobs[documentID] = attempts
            if var handed {
                if let bytes = handed.bytes, state.handedBytes + bytes.count <= self.configuration.maxQueuedBytes {
                    state.handedBytes += bytes.count
                } else {
                    handed.bytes = nil
                }
                state.handed[documentID] = handed
            }
            return true
        }
        if added {
            self.queueInput.yield(documentID)
        }
    }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    await withDiscardingTaskGroup { workers in
                        workers.addTask { await self.resume() }
                        workers.addTask {
                            await OrphanSweep(configuration: self.configuration.orphanSweep, downstream: self.downstream, logger: self.logger).run()
                        }
                        for _ in 0..<self.configuration.workers {
                            workers.addTask {
                                for await documentID in self.queue {
                                    await self.process(documentID)
                                }
                            }
                        }
                    }
                }
                group.addTask {
                    // A document can take minutes (a slow embedding provider, a large file):
                    // past the grace, the attempts in hand are cut short. Those documents stay
                    // `processing` and are taken up again, as interrupted, at the next start.
                    guard (try? await gracefulShutdown()) != nil else { return }
                    try? await Task.sleep(for: self.configuration.shutdownGrace)
                    if !Task.isCancelled {
                        self.logger.info("shutdown grace over: cutting the documents in hand short", metadata: ["in_hand": "\(self.queuedJobs)"])
                    }
                }
                // Whichever ends first: the workers (every document in hand finished) or the grace.
                await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            // Workers finish the document in hand (within the grace); what is still queued stays
            // pending and is resumed at the next start. Watchers' streams end so they do not hold
            // the server open.
            self.queueInput.finish()
            self.events.endAll()
        }
    }

    /// Queues every document a previous run left pending or processing, once the metadata
    /// service answers.
    private func resume() async {
        var delay = Duration.milliseconds(100)
        while !Task.isCancelled {
            do {
                var resumed = 0
                for status in [Trove_V1_DocumentStatus.processing, .pending] {
                    for document in try await self.downstream.allDocuments(status: status) {
                        self.enqueue(document.id, attempts: Int(document.attempts))
                        resumed += 1
                    }
                }
                if resumed > 0 {
                    self.logger.info("resuming documents left unfinished", metadata: ["documents": "\(resumed)"])
                }
                return
            } catch {
                self.logger.debug("waiting for the metadata service to resume documents", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    // MARK: One document

    private func process(_ documentID: String) async {
        let (firstAttempt, handed) = self.state.withLock { state in
            let handed = state.handed.removeValue(forKey: documentID)
            state.handedBytes -= handed?.bytes?.count ?? 0
            return (state.jobs[documentID] ?? 0, handed)
        }
        var retry: Retry?
        defer {
            self.state.withLock { _ = $0.jobs.removeValue(forKey: documentID) }
            if let retry {
                Task {
                    try? await Task.sleep(for: retry.delay)
                    self.enqueue(documentID, attempts: retry.firstAttempt)
                }
            }
        }
        var document: Trove_V1_Document
        do {
            if let handed, handed.document.status == .pending {
                document = handed.document
            } else {
                document = try await self.timed(.metadata) {
                    try await self.downstream.metadata.getDocument(.with { $0.id = documentID }).document
                }
            }
            switch document.status {
            case .pending:
                break
            case .processing:
                document = try await self.setStatus(
                    document, .pending, message: "attempt \(document.attempts) was interrupted; resuming")
            default:
                return
            }
        } catch {
            retry = self.cannotStart(documentID, error: error, firstAttempt: firstAttempt)
            return
        }
        let pending = document
        do {
            retry = try await self.budget.withBytes(Int(clamping: pending.sizeBytes)) {
                await self.attempt(pending, handed: handed, firstAttempt: firstAttempt)
            }
        } catch {
            // Cut short (shutdown) while waiting for room in the budget: the document is still
            // pending and is resumed at the next start.
        }
    }

    /// Takes a pending document to `processing` and runs one attempt; when to queue it again,
    /// if at all.
    private func attempt(_ pending: Trove_V1_Document, handed: Handed?, firstAttempt: Int) async -> Retry? {
        let document: Trove_V1_Document
        do {
            document = try await self.setStatus(pending, .processing)
        } catch {
            return self.cannotStart(pending.id, error: error, firstAttempt: firstAttempt)
        }
        do {
            try await self.runAttempt(document, handed: handed)
            return nil
        } catch let error as UnconfirmedCompletion {
            // The change to `completed` may have been made with only its answer lost (the
            // metadata service killed between committing and answering). Undoing the attempt's
            // writes now could leave a completed document without its vectors, so nothing is
            // undone: the document is read again later — completed, it is done; still
            // processing, it is taken up as interrupted and the next attempt replaces the writes.
            guard !Task.isCancelled else { return nil }
            self.logger.warning(
                "cannot confirm that a document was completed; reading it again later",
                metadata: ["document": "\(document.id)", "error": "\(error.underlying)"]
            )
            return self.uncountedRetry(after: Int(document.attempts) - firstAttempt + 1, firstAttempt: firstAttempt)
        } catch {
            return await self.handleFailure(error, document: document, attempt: Int(document.attempts), firstAttempt: firstAttempt)
        }
    }

    /// A document that could not be taken up: deleted meanwhile (nothing to do), or the
    /// metadata service is away — the document is still pending there and is tried again.
    private func cannotStart(_ documentID: String, error: any Error, firstAttempt: Int) -> Retry? {
        guard (error as? RPCError)?.code != .notFound else { return nil }
        self.logger.warning("cannot start processing", metadata: ["document": "\(documentID)", "error": "\(error)"])
        return Retry(delay: self.configuration.retryBackoff, firstAttempt: firstAttempt)
    }

    /// When a document is queued again, and the attempt count from which its attempts count.
    private struct Retry {
        var delay: Duration
        var firstAttempt: Int
    }

    /// A retry that does not count the attempt against `maxAttempts` (a dependency away, an
    /// outcome unknown): after the backoff for retry `retry`, at most 30 seconds.
    private func uncountedRetry(after retry: Int, firstAttempt: Int) -> Retry {
        Retry(delay: min(self.backoff(retry: retry), .seconds(30)), firstAttempt: firstAttempt + 1)
    }

    /// One attempt: the object (back from storage, unless handed over by the ingest) → text →
    /// chunks → vectors → chunks saved → completed.
    private func runAttempt(_ start: Trove_V1_Document, handed: Handed?) async throws {
        var document = start
        let id = document.id
        let collection: Trove_V1_Collection
        if let handed {
            collection = handed.collection
        } else {
            collection = try await self.timed(.metadata) {
                try await self.downstream.metadata.getCollection(.with { $0.name = start.collection })
            }
        }
        self.publish(document, .extracting)
        let bytes: [UInt8]
        if let handedBytes = handed?.bytes {
            bytes = handedBytes
        } else {
            (_, bytes) = try await self.timed(.storage) {
                try await self.downstream.getObject(start.location, limit: self.configuration.maxDocumentBytes)
            }
            let digest = SHA256.hash(data: bytes).lowercaseHex
            guard digest == document.sha256 else {
                throw PipelineError.permanent(
                    code: .dataLoss,
                    "the stored object \(document.location.bucket)/\(document.location.key) has SHA-256 \(digest), not the document's \(document.sha256)"
                )
            }
        }
        guard TextExtractor.canExtract(mimeType: document.mimeType) else {
            try await self.complete(document, chunks: 0, message: "stored but not embedded: no text extractor for \(document.mimeType)")
            return
        }
        let text = try self.timedSync(.extract) {
            do {
                return try TextExtractor.extract(bytes, mimeType: document.mimeType).text
            } catch {
                throw PipelineError.permanent(code: .invalidArgument, "cannot extract text: \(error)")
            }
        }

        self.publish(document, .chunking)
        let policy = self.chunkingPolicy(document: document, collection: collection)
        let model = collection.embeddingModel
        let counter: (@Sendable ([Substring]) async throws -> [Int])? =
            policy.unit == .tokens ? { @Sendable pieces in try await self.countTokens(pieces, model: model) } : nil
        let chunks = try await self.timed(.chunk) {
            try await Chunker(policy: policy).chunk(text, countTokens: counter)
        }
        // A previous attempt (cut short, or with other options) may have left vectors and chunks.
        if document.attempts > 1 || document.chunkCount > 0 {
            try await self.removeWrites(of: document)
        }
        if chunks.isEmpty {
            try await self.complete(document, chunks: 0, message: "no text to embed")
            return
        }

        let total = UInt32(chunks.count)
        self.publish(document, .embedding, done: 0, total: total)
        let chunkIDs = chunks.map { Self.chunkID(document: id, sequence: $0.sequence) }
        var payloadBase = Google_Protobuf_Struct()
        payloadBase.fields[PayloadField.documentID] = .init(stringValue: id)
        payloadBase.fields[PayloadField.collection] = .init(stringValue: document.collection)
        payloadBase.fields[PayloadField.filename] = .init(stringValue: document.filename)
        payloadBase.fields[PayloadField.metadata] = .init(structValue: document.metadata)
        var tokenCounts = [UInt32](repeating: 0, count: chunks.count)
        var done = 0
        while done < chunks.count {
            let batch = done..<min(chunks.count, done + self.configuration.embedBatchSize)
            let embedded = try await self.timed(.embed) {
                try await self.downstream.embedding.embed(.with {
                    $0.model = model
                    $0.texts = batch.map { chunks[$0].text }
                })
            }
            guard embedded.embeddings.count == batch.count, embedded.dimension == collection.dimension else {
                throw PipelineError.permanent(
                    code: .internalError,
                    "the embedding service answered \(embedded.embeddings.count) vectors of dimension \(embedded.dimension) for \(batch.count) texts; the collection's dimension is \(collection.dimension)"
                )
            }
            var vectors: [Trove_V1_Vector] = []
            vectors.reserveCapacity(batch.count)
            for (offset, index) in batch.enumerated() {
                tokenCounts[index] = embedded.embeddings[offset].tokenCount
                var payload = payloadBase
                payload.fields[PayloadField.chunk] = .init(numberValue: Double(index))
                vectors.append(.with {
                    $0.id = chunkIDs[index]
                    $0.values = embedded.embeddings[offset].values
                    $0.payload = payload
                })
            }
            _ = try await self.timed(.index) {
                try await self.downstream.vectorSearch.upsert(.with {
                    $0.collection = document.collection
                    $0.vectors = vectors
                })
            }
            done = batch.upperBound
            self.publish(document, .indexing, done: UInt32(done), total: total)
        }

        self.publish(document, .savingChunks, done: total, total: total)
        // The chunks, their next/previous links and their embedding records in one transaction.
        var links: [Trove_V1_ChunkRelationship] = []
        links.reserveCapacity(2 * (chunkIDs.count - 1))
        for index in chunkIDs.indices.dropFirst() {
            links.append(.with {
                $0.sourceChunkID = chunkIDs[index - 1]
                $0.targetChunkID = chunkIDs[index]
                $0.type = "next"
            })
            links.append(.with {
                $0.sourceChunkID = chunkIDs[index]
                $0.targetChunkID = chunkIDs[index - 1]
                $0.type = "previous"
            })
        }
        _ = try await self.timed(.metadata) {
            try await self.downstream.metadata.putChunks(.with {
                $0.documentID = id
                $0.replaceExisting = true
                $0.chunks = chunks.enumerated().map { index, chunk in
                    .with {
                        $0.id = chunkIDs[index]
                        $0.documentID = id
                        $0.sequence = UInt32(chunk.sequence)
                        $0.content = chunk.text
                        $0.startOffset = UInt64(chunk.startOffset)
                        $0.endOffset = UInt64(chunk.endOffset)
                        $0.tokenCount = policy.unit == .tokens ? UInt32(chunk.size) : tokenCounts[index]
                    }
                }
                $0.relationships = links
                $0.embeddingRecords = chunkIDs.map { chunkID in
                    .with {
                        $0.chunkID = chunkID
                        $0.model = model
                        $0.dimension = collection.dimension
                        $0.vectorCollection = document.collection
                        $0.vectorID = chunkID
                    }
                }
            })
        }
        document.chunkCount = total
        try await self.complete(document, chunks: total, message: nil)
    }

    /// Undoes what an attempt wrote, records the failure, and says when to retry: after a
    /// backoff while the error may pass and attempts remain. An attempt cut short because a
    /// service it needs could not be reached (UNAVAILABLE: down, restarting) is not counted:
    /// the document waits for it, retrying at most every 30 seconds, rather than failing
    /// because of a restart. If the failure cannot even be recorded, the attempt is retried
    /// as interrupted.
    private func handleFailure(_ error: any Error, document: Trove_V1_Document, attempt: Int, firstAttempt: Int) async -> Retry? {
        if Task.isCancelled {
            // Cut short by shutdown: nothing is undone or recorded now. The document stays
            // `processing`; the next start takes it up as interrupted, and that attempt removes
            // what this one wrote.
            self.logger.info("document processing interrupted by shutdown", metadata: ["document": "\(document.id)", "attempt": "\(attempt)"])
            return nil
        }
        let (message, retryable) = Self.describe(error)
        let unreachable = (error as? RPCError)?.code == .unavailable
        do {
            try await self.removeWrites(of: document)
        } catch {
            // The next attempt (or a delete) removes them: every attempt after the first starts so.
            self.logger.warning("cannot undo a failed attempt", metadata: ["document": "\(document.id)", "error": "\(error)"])
        }
        let attemptsInRun = attempt - firstAttempt + 1
        let retry: Retry?
        if unreachable {
            retry = self.uncountedRetry(after: attempt, firstAttempt: firstAttempt)
        } else if retryable && attemptsInRun < self.configuration.maxAttempts {
            retry = Retry(delay: self.backoff(retry: attemptsInRun), firstAttempt: firstAttempt)
        } else {
            retry = nil
        }
        let failure = "attempt \(attempt) failed: \(message)"
        do {
            // One status change: `failed` only when final; a document to be retried goes back to
            // `pending` with the failure recorded, so that nobody polling sees it failed for a
            // moment, and a crash between two changes cannot leave it failed and never retried.
            self.logger.warning(
                "document processing failed",
                metadata: ["document": "\(document.id)", "attempt": "\(attempt)", "retrying": "\(retry != nil)", "error": "\(message)"]
            )
            guard let retry else {
                let failed = try await self.setStatus(document, .failed, message: failure)
                Counter(label: TroveMetrics.documentsIngested, dimensions: [("outcome", "failed")]).increment()
                self.publish(failed, .failed, message: failure)
                return nil
            }
            let pending = try await self.setStatus(document, .pending, message: failure + "; retrying")
            self.publish(pending, .retrying, message: "\(failure); retrying in \(retry.delay)")
            return retry
        } catch {
            // Gone (deleted while processing): nothing to do. The metadata service away: the
            // document is still processing there; it is taken up again as interrupted.
            guard (error as? RPCError)?.code != .notFound else { return nil }
            self.logger.warning("cannot record a failed attempt", metadata: ["document": "\(document.id)", "error": "\(error)"])
            return self.uncountedRetry(after: attemptsInRun, firstAttempt: firstAttempt)
        }
    }

    /// Removes a document's vectors and chunks (with their relationships and embedding records).
    private func removeWrites(of document: Trove_V1_Document) async throws {
        _ = try await self.timed(.index) {
            try await self.downstream.deleteVectors(ofDocument: document.id, collection: document.collection)
        }
        _ = try await self.timed(.metadata) {
            do {
                return try await self.downstream.metadata.deleteChunks(.with { $0.documentID = document.id }).chunksDeleted
            } catch let error as RPCError where error.code == .notFound {
                return 0
            }
        }
    }

    /// Moves the document to `completed`; throws `UnconfirmedCompletion` when the change may have
    /// been made although no answer said so.
    private func complete(_ document: Trove_V1_Document, chunks: UInt32, message: String?) async throws {
        let completed: Trove_V1_Document
        do {
            completed = try await self.setStatus(document, .completed, message: message)
        } catch let error as RPCError where UnconfirmedCompletion.outcomeUnknown(error.code) {
            throw UnconfirmedCompletion(underlying: error)
        }
        Counter(label: TroveMetrics.documentsIngested, dimensions: [("outcome", "completed")]).increment()
        self.cache.invalidate(collection: document.collection)
        self.publish(completed, .completed, done: chunks, total: chunks, message: message ?? "")
    }

    private func setStatus(_ document: Trove_V1_Document, _ status: Trove_V1_DocumentStatus, message: String? = nil) async throws -> Trove_V1_Document {
        try await self.timed(.metadata) {
            try await self.downstream.metadata.updateDocumentStatus(.with {
                $0.id = document.id
                $0.status = status
                $0.expectedVersion = document.version
                $0.errorMessage = message ?? ""
            })
        }
    }

    private func countTokens(_ pieces: [Substring], model: String) async throws -> [Int] {
        // Pieces are sentences and words; one that is enormous (a megabyte without a sentence end)
        // is not sent: an over-estimate makes the chunker split it into words.
        let limit = 1 << 16
        var counts = [Int](repeating: 0, count: pieces.count)
        var sent: [Int] = []
        sent.reserveCapacity(pieces.count)
        for (index, piece) in pieces.enumerated() {
            if piece.utf8.count > limit {
                counts[index] = piece.utf8.count
            } else {
                sent.append(index)
            }
        }
        var start = 0
        while start < sent.count {
            let batch = sent[start..<min(sent.count, start + 1024)]
            let response = try await self.downstream.embedding.tokenize(.with {
                $0.model = model
                $0.texts = batch.map { String(pieces[$0]) }
            })
            guard response.texts.count == batch.count else {
                throw PipelineError.permanent(code: .internalError, "the embedding service tokenized \(response.texts.count) of \(batch.count) texts")
            }
            for (index, tokenized) in zip(batch, response.texts) {
                // Without the [CLS] and [SEP] every text is given.
                counts[index] = max(0, Int(tokenized.tokenCount) - 2)
            }
            start += batch.count
        }
        return counts
    }

    private func chunkingPolicy(document: Trove_V1_Document, collection: Trove_V1_Collection) -> ChunkingPolicy {
        let options = document.chunking.size > 0 ? document.chunking : collection.chunking
        guard options.size > 0 else { return self.configuration.defaultChunking }
        let unit: ChunkUnit = options.unit == .characters ? .characters : .tokens
        return ChunkingPolicy(unit: unit, size: Int(options.size), overlap: Int(options.overlap))
    }

    /// The wait before retry `retry` (1, 2, …): the backoff doubled each time, with up to a
    /// quarter of random jitter so documents that failed together do not retry together.
    private func backoff(retry: Int) -> Duration {
        let base = self.configuration.retryBackoff * (1 << min(retry - 1, 16))
        return base + base * Double.random(in: 0...0.25)
    }

    /// A message for the document's record, and whether another attempt may succeed.
    static func describe(_ error: any Error) -> (message: String, retryable: Bool) {
        switch error {
        case let error as PipelineError:
            return (error.message, false)
        case let error as RPCError:
            switch error.code {
            case .unavailable, .deadlineExceeded, .resourceExhausted, .aborted, .internalError, .unknown, .cancelled:
                return ("\(error.code): \(error.message)", true)
            default:
                return ("\(error.code): \(error.message)", false)
            }
        case let error as ChunkingError:
            return ("cannot chunk: \(error)", false)
        default:
            return ("\(error)", true)
        }
    }

    /// The id of a document's chunk (and of its vector): a UUID (version 8) derived from the
    /// document id and the sequence, so every attempt writes the same ids.
    static func chunkID(document: String, sequence: Int) -> String {
        var bytes = Array(SHA256.hash(data: Array("trove-chunk/\(document)/\(sequence)".utf8)).prefix(16))
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.lowercaseHex
        var text = ""
        text.reserveCapacity(36)
        for (index, character) in hex.enumerated() {
            if index == 8 || index == 12 || index == 16 || index == 20 { text.append("-") }
            text.append(character)
        }
        return text
    }

    // MARK: Events and timing

    private func publish(
        _ document: Trove_V1_Document,
        _ stage: Trove_V1_IngestionStage,
        done: UInt32 = 0,
        total: UInt32 = 0,
        message: String = ""
    ) {
        guard self.events.subscriberCount > 0 else { return }
        self.events.publish(.with {
            $0.documentID = document.id
            $0.collection = document.collection
            $0.stage = stage
            $0.status = document.status
            $0.attempt = document.attempts
            $0.chunksDone = done
            $0.chunksTotal = total
            $0.message = message
        })
    }

    func timed<T: Sendable>(_ stage: Stage, _ body: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        defer { self.record(stage, since: start) }
        return try await body()
    }

    private func timedSync<T>(_ stage: Stage, _ body: () throws -> T) throws -> T {
        let start = ContinuousClock.now
        defer { self.record(stage, since: start) }
        return try body()
    }

    private func record(_ stage: Stage, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        self.state.withLock { $0.stageTime[stage, default: .zero] += elapsed }
    }
}

/// The change of a document to `completed` failed in a way that does not say whether the
/// metadata service made it: the call was cut off, timed out or failed inside the service.
struct UnconfirmedCompletion: Error {
    var underlying: RPCError

    /// Codes after which the change may or may not have been made; the others are the service's
    /// answer that it refused it.
    static func outcomeUnknown(_ code: RPCError.Code) -> Bool {
        switch code {
        case .unavailable, .deadlineExceeded, .cancelled, .unknown, .internalError, .dataLoss:
            return true
        default:
            return false
        }
    }
}

/// A failure no retry can mend: the content cannot be read as text, the stored object is not
/// the document's, an answer broke the contract.
struct PipelineError: Error, CustomStringConvertible {
    var code: RPCError.Code
    var message: String

    static func permanent(code: RPCError.Code, _ message: String) -> PipelineError {
        PipelineError(code: code, message: message)
    }

    var description: String { self.message }
}

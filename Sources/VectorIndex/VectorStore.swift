import CVectorKernels
import Foundation
import Synchronization

/// Every vector collection under one directory, with one memory budget across them.
///
/// Each collection is a subdirectory named after it. Opening the store opens every collection
/// (snapshot + log replay). Under `.interval` durability a background thread fsyncs the logs.
public final class VectorStore: Sendable {
    public struct Options: Sendable {
        public var durability: Durability
        /// Resident bytes all collections together may use; loads and inserts beyond it are refused.
        public var memoryBudgetBytes: Int
        /// A snapshot is written (and the log emptied) when a collection's log grows past this.
        public var snapshotAfterLogBytes: Int

        public init(durability: Durability = .everyWrite, memoryBudgetBytes: Int = .max, snapshotAfterLogBytes: Int = 256 << 20) {
            self.durability = durability
            self.memoryBudgetBytes = memoryBudgetBytes
            self.snapshotAfterLogBytes = snapshotAfterLogBytes
        }
    }

    public let directory: String
    public let options: Options
    private let collections: Mutex<[String: VectorCollection]>
    private let stopped = Atomic<Bool>(false)

    /// Longest collection name.
    public static let maximumNameLength = 128

    public init(directory: String, options: Options = Options()) throws(VectorIndexError) {
        self.directory = directory
        self.options = options
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw VectorIndexError(.ioError, "cannot create \(directory): \(error)")
        }
        self.collections = Mutex([:])
        var opened: [String: VectorCollection] = [:]
        var memory = 0
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for name in entries.sorted() {
            if name.hasSuffix(".creating") || name.hasSuffix(".dropping") {
                // Left by a crash during create or drop: never acknowledged, or already dropped.
                try? FileManager.default.removeItem(atPath: directory + "/" + name)
                continue
            }
            let path = directory + "/" + name
            guard FileManager.default.fileExists(atPath: path + "/" + VectorCollection.configurationFile) else { continue }
            let collection = try VectorCollection(
                directory: path,
                durability: options.durability,
                snapshotAfterLogBytes: options.snapshotAfterLogBytes,
                memoryHeadroom: self.headroomProvider
            )
            memory += collection.memoryBytes
            guard memory <= options.memoryBudgetBytes else {
                throw VectorIndexError(
                    .resourceExhausted,
                    "loading '\(name)' brings the collections to \(memory) bytes, over the memory budget of \(options.memoryBudgetBytes) bytes"
                )
            }
            opened[collection.configuration.name] = collection
        }
        self.collections.withLock { [opened] in $0 = opened }
        if case .interval(let milliseconds) = options.durability {
            let thread = Thread { [weak self] in
                trove_name_current_thread("trove.wal-sync")
                while let store = self, !store.stopped.load(ordering: .relaxed) {
                    for collection in store.list() { try? collection.syncLog() }
                    Thread.sleep(forTimeInterval: Double(milliseconds) / 1000)
                }
            }
            thread.name = "trove.wal-sync"
            thread.start()
        }
    }

    deinit {
        self.stopped.store(true, ordering: .relaxed)
    }

    /// Stops the background log sync after fsyncing every log.
    public func close() {
        self.stopped.store(true, ordering: .relaxed)
        for collection in self.list() { try? collection.syncLog() }
    }

    public func create(_ configuration: CollectionConfiguration) throws(VectorIndexError) -> VectorCollection {
        try Self.validate(configuration)
        return try self.collections.withLock { (collections) throws(VectorIndexError) in
            guard collections[configuration.name] == nil else {
                throw VectorIndexError(.alreadyExists, field: "name", "a vector collection named '\(configuration.name)' exists")
            }
            let collection = try VectorCollection.create(
                configuration,
                directory: self.directory + "/" + configuration.name,
                durability: self.options.durability,
                snapshotAfterLogBytes: self.options.snapshotAfterLogBytes,
                memoryHeadroom: self.headroomProvider
            )
            collections[configuration.name] = collection
            return collection
        }
    }

    public func collection(_ name: String, field: String = "collection") throws(VectorIndexError) -> VectorCollection {
        guard let collection = self.collections.withLock({ $0[name] }) else {
            throw VectorIndexError(.notFound, field: field, "no vector collection named '\(name)'")
        }
        return collection
    }

    public func list() -> [VectorCollection] {
        self.collections.withLock { Array($0.values) }.sorted { $0.configuration.name < $1.configuration.name }
    }

    /// Removes a collection and its files.
    public func drop(_ name: String) throws(VectorIndexError) {
        try self.collections.withLock { (collections) throws(VectorIndexError) in
            guard let collection = collections[name] else {
                throw VectorIndexError(.notFound, field: "name", "no vector collection named '\(name)'")
            }
            let dropping = collection.directory + ".dropping"
            guard rename(collection.directory, dropping) == 0 else { throw PosixFile.error("rename", collection.directory) }
            try PosixFile.syncDirectory(self.directory)
            collections[name] = nil
            try? FileManager.default.removeItem(atPath: dropping)
        }
    }

    /// How a collection asks for the budget's headroom before an insert (without keeping the
    /// store alive).
    private var headroomProvider: @Sendable () -> Int {
        { [weak self] in self?.memoryHeadroom ?? .max }
    }

    /// Bytes the memory budget still allows.
    public var memoryHeadroom: Int {
        let used = self.list().reduce(0) { $0 + $1.memoryBytes }
        return self.options.memoryBudgetBytes == .max ? .max : self.options.memoryBudgetBytes - used
    }

    static func validate(_ configuration: CollectionConfiguration) throws(VectorIndexError) {
        let name = configuration.name
        guard !name.isEmpty, name.count <= Self.maximumNameLength, name != ".", name != "..",
            name.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }),
            !name.hasSuffix(".creating"), !name.hasSuffix(".dropping")
        else {
            throw VectorIndexError.invalid("name", "must be 1 to \(Self.maximumNameLength) characters of A-Z, a-z, 0-9, '-', '_' or '.', not '\(name)'")
        }
        guard (1...65_536).contains(configuration.dimension) else {
            throw VectorIndexError.invalid("dimension", "must be 1 to 65,536, not \(configuration.dimension)")
        }
        let parameters = configuration.parameters
        guard (2...128).contains(parameters.m) else { throw VectorIndexError.invalid("hnsw.m", "must be 2 to 128, not \(parameters.m)") }
        guard (1...10_000).contains(parameters.efConstruction) else {
            throw VectorIndexError.invalid("hnsw.ef_construction", "must be 1 to 10,000, not \(parameters.efConstruction)")
        }
        guard (1...100_000).contains(parameters.efSearch) else {
            throw VectorIndexError.invalid("hnsw.ef_search", "must be 1 to 100,000, not \(parameters.efSearch)")
        }
    }
}

import Dispatch
import Foundation
import JSONFilter
import MetadataStore
import SigV4
import TextEmbedding
import VectorIndex

/// What the fuzzers run, one function per target: libFuzzer drives them from `Fuzz/` (see
/// `Scripts/fuzz.sh`), and FuzzCorpusTests replays the committed corpora `Fuzz/Corpus/<target>/`
/// through them in every test run. Each checks properties that must hold for any input and
/// throws a `FuzzFinding` when one does not; a crash is a finding too.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// WordPiece: bounded ids from the vocabulary, `[CLS] … [SEP]`, truncation consistent with
    /// the untruncated tokens.
    case tokenizer
    /// The shared filter: the in-memory evaluation and the metadata store's SQL select the same
    /// documents (or both refuse the filter).
    case filter
    /// JSON values: what parses is written back as text that parses to the same value.
    case json
    /// SigV4's canonical encoding: decoding undoes encoding; only unreserved characters and
    /// escapes come out; signing is deterministic.
    case sigv4
    /// The vector log read at start-up: damaged bytes are refused or cut, never a crash.
    case wal
    /// The vector snapshot read at start-up: damaged bytes are DATA_LOSS, never a crash.
    case snapshot

    public func run(_ data: Data) throws {
        switch self {
        case .tokenizer: try TokenizerTarget.shared.run(data)
        case .filter: try FilterTarget.shared.run(data)
        case .json: try JSONTarget.run(data)
        case .sigv4: try SigV4Target.run(data)
        case .wal: try VectorFileTarget.shared.run(data, as: "wal.log")
        case .snapshot: try VectorFileTarget.shared.run(data, as: "snapshot.hnsw")
        }
    }
}

/// A property that failed for an input.
public struct FuzzFinding: Error, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Reads fuzz bytes as a stream of choices.
struct FuzzInput {
    private let bytes: [UInt8]
    private var position = 0

    init(_ data: Data) {
        self.bytes = Array(data)
    }

    var isAtEnd: Bool { self.position >= self.bytes.count }

    mutating func byte() -> UInt8 {
        defer { self.position += 1 }
        return self.position < self.bytes.count ? self.bytes[self.position] : 0
    }

    mutating func choice(_ count: Int) -> Int {
        Int(self.byte()) % count
    }

    /// Up to `maxLength` bytes as text (invalid UTF-8 repaired, as a server's decoder does).
    mutating func text(maxLength: Int = 24) -> String {
        let length = self.choice(maxLength + 1)
        var raw: [UInt8] = []
        for _ in 0..<length where !self.isAtEnd { raw.append(self.byte()) }
        return String(decoding: raw, as: UTF8.self)
    }

    mutating func double() -> Double {
        switch self.choice(8) {
        case 0: return Double(Int8(bitPattern: self.byte()))
        case 1: return .nan
        case 2: return .infinity
        case 3: return -1e308
        case 4: return Double(Int(self.byte()) - 128) / 4
        default:
            var bits: UInt64 = 0
            for _ in 0..<8 { bits = bits << 8 | UInt64(self.byte()) }
            return Double(bitPattern: bits)
        }
    }
}

/// The outcome of async work, handed from its task to the waiting thread.
private final class ResultBox<Value>: @unchecked Sendable {
    var result: Result<Value, any Error>?
}

/// Runs async work from the fuzzers' synchronous entry point.
func blocking<Value: Sendable>(_ body: @escaping @Sendable () async throws -> Value) throws -> Value {
    let box = ResultBox<Value>()
    let done = DispatchSemaphore(value: 0)
    Task {
        do {
            box.result = .success(try await body())
        } catch {
            box.result = .failure(error)
        }
        done.signal()
    }
    done.wait()
    return try box.result!.get()
}

// MARK: Tokenizer

final class TokenizerTarget: Sendable {
    static let shared = TokenizerTarget()
    let tokenizer: WordPieceTokenizer

    /// The model's vocabulary when it is installed (TROVE_MODEL_DIR or .trove-model), else a
    /// small one of the same shape.
    private init() {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let directory = ProcessInfo.processInfo.environment["TROVE_MODEL_DIR"] ?? repository.appendingPathComponent(MiniLMEmbedder.defaultModelPath).path
        if let tokenizer = try? WordPieceTokenizer(vocabularyFile: URL(fileURLWithPath: directory + "/vocab.txt")) {
            self.tokenizer = tokenizer
        } else {
            let words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "##s", "sat", "un", "##aff", "##able", ",", ".", "!", "東", "京", "é", "e", "##e"]
            self.tokenizer = try! WordPieceTokenizer(vocabulary: words)
        }
    }

    func run(_ data: Data) throws {
        let text = String(decoding: data, as: UTF8.self)
        let maxLength = 2 + Int(data.first ?? 0) % 64
        let encoded = self.tokenizer.encode(text, maxLength: maxLength)
        let all = self.tokenizer.tokenIDs(text)
        guard encoded.ids.count <= maxLength, encoded.ids.count >= 2 else {
            throw FuzzFinding("\(encoded.ids.count) ids for at most \(maxLength)")
        }
        guard encoded.ids.first == self.tokenizer.id(of: "[CLS]"), encoded.ids.last == self.tokenizer.id(of: "[SEP]") else {
            throw FuzzFinding("not framed by [CLS] and [SEP]: \(encoded.ids)")
        }
        guard encoded.ids.allSatisfy({ self.tokenizer.token(of: $0) != nil }) else {
            throw FuzzFinding("an id outside the vocabulary: \(encoded.ids)")
        }
        let inner = Array(encoded.ids.dropFirst().dropLast())
        if encoded.isTruncated {
            guard all.count > maxLength - 2, inner == Array(all.prefix(maxLength - 2)) else {
                throw FuzzFinding("truncated to \(inner.count) ids that are not the first of the text's \(all.count)")
            }
        } else {
            guard inner == all else {
                throw FuzzFinding("encode gives \(inner.count) ids, tokenIDs \(all.count)")
            }
        }
    }
}

// MARK: Filter

/// Twelve documents whose metadata covers the types a filter meets, in a SQLite file, and the
/// same objects in memory.
final class FilterTarget: Sendable {
    static let shared = FilterTarget()
    let store: SQLiteMetadataStore
    let objects: [String: JSONObject]
    static let fields = ["n", "s", "b", "t", "a", "o.k", "x", "n.m"]

    private init() {
        let path = FileManager.default.temporaryDirectory.path + "/trove-fuzz-filter-\(getpid()).sqlite"
        try? FileManager.default.removeItem(atPath: path)
        self.store = try! SQLiteMetadataStore(configuration: .init(path: path, synchronous: .normal))
        let objects: [String: JSONObject] = [
            "empty": [:],
            "int": ["n": .number(3), "s": .string("3")],
            "negative": ["n": .number(-2.5), "b": .bool(false)],
            "big": ["n": .number(1e300), "s": .string("zebra")],
            "text": ["s": .string("Café"), "t": .string("2024-05-01T10:00:00Z")],
            "time": ["t": .string("2024-05-01T10:00:00.250+02:00"), "n": .null],
            "badtime": ["t": .string("not a time"), "x": .bool(true)],
            "array": ["a": .array([.number(1), .string("1")]), "s": .string("")],
            "nested": ["o": .object(["k": .string("v")]), "n": .number(0)],
            "nested2": ["o": .object(["k": .number(1)]), "x": .null],
            "unicode": ["s": .string("e\u{301}"), "b": .bool(true)],
            "object": ["n": .object(["m": .number(7)]), "s": .string("zebra")],
        ]
        self.objects = objects
        let store = self.store
        try! blocking {
            _ = try await store.createCollection(DocumentCollection(name: "fuzz", embeddingModel: "m", dimension: 4))
            for (index, (name, metadata)) in objects.sorted(by: { $0.key < $1.key }).enumerated() {
                _ = try await store.createDocument(NewDocument(collection: "fuzz", filename: name, sha256: String(format: "%064x", index), metadata: metadata))
            }
        }
    }

    func run(_ data: Data) throws {
        var input = FuzzInput(data)
        let filter = Self.filter(&input, depth: 0)
        let compiled: CompiledFilter
        do {
            compiled = try filter.compiled()
        } catch {
            // The store must refuse it as well.
            let refused = (try? blocking { [store] in try await store.listDocuments(DocumentQuery(collection: "fuzz", filter: filter), page: PageRequest(size: 100)) }) == nil
            guard refused else { throw FuzzFinding("compiled() refused \(filter) but SQL ran it") }
            return
        }
        let inMemory = Set(self.objects.filter { compiled.matches($0.value) }.keys)
        let page = try blocking { [store] in
            try await store.listDocuments(DocumentQuery(collection: "fuzz", filter: filter), page: PageRequest(size: 100))
        }
        let inSQL = Set(page.items.map(\.filename))
        guard inMemory == inSQL else {
            throw FuzzFinding("\(filter): in memory \(inMemory.sorted()), SQL \(inSQL.sorted())")
        }
    }

    static func filter(_ input: inout FuzzInput, depth: Int) -> MetadataFilter {
        func field() -> String {
            input.choice(10) == 0 ? input.text(maxLength: 6) : Self.fields[input.choice(Self.fields.count)]
        }
        func value() -> JSONValue {
            switch input.choice(6) {
            case 0: .null
            case 1: .bool(input.byte() & 1 == 1)
            case 2, 3: .number(input.double())
            default: .string(input.choice(3) == 0 ? ["3", "zebra", "Café", "e\u{301}", "", "v", "1"][input.choice(7)] : input.text(maxLength: 8))
            }
        }
        func bound() -> Double? { input.choice(2) == 0 ? nil : input.double() }
        func instant() -> Date? {
            input.choice(2) == 0 ? nil : Date(timeIntervalSince1970: 1_714_557_600 + Double(Int(input.byte()) - 128) * 3600 + Double(input.choice(4)) * 0.125)
        }
        switch input.isAtEnd ? 0 : input.choice(depth > 40 ? 5 : 8) {
        case 0: return .equals(field: field(), value: value())
        case 1: return .isIn(field: field(), values: (0..<input.choice(4)).map { _ in value() })
        case 2: return .numberRange(field: field(), NumberRange(greaterThan: bound(), greaterThanOrEqual: bound(), lessThan: bound(), lessThanOrEqual: bound()))
        case 3: return .timeRange(field: field(), TimeRange(after: instant(), atOrAfter: instant(), before: instant(), atOrBefore: instant()))
        case 4: return .exists(field: field(), input.byte() & 1 == 1)
        case 5: return .allOf((0..<input.choice(4)).map { _ in Self.filter(&input, depth: depth + 1) })
        case 6: return .anyOf((0..<input.choice(4)).map { _ in Self.filter(&input, depth: depth + 1) })
        default: return .not(Self.filter(&input, depth: depth + 1))
        }
    }
}

// MARK: JSON

enum JSONTarget {
    static func run(_ data: Data) throws {
        let text = String(decoding: data, as: UTF8.self)
        guard let value = try? JSONValue(jsonText: text) else { return }
        let written = value.jsonText
        guard let again = try? JSONValue(jsonText: written) else {
            throw FuzzFinding("\(text) parsed, but its text \(written) does not")
        }
        guard Self.same(again, value) else {
            throw FuzzFinding("\(text) → \(written) → \(again.jsonText)")
        }
    }

    /// Equality in which a NaN or infinity (written as null) equals null.
    static func same(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.null, .number(let number)), (.number(let number), .null): return !number.isFinite
        case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy(same)
        case (.object(let x), .object(let y)): return x.keys == y.keys && x.allSatisfy { same($0.value, y[$0.key]!) }
        default: return a == b
        }
    }
}

// MARK: SigV4

enum SigV4Target {
    static let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%".unicodeScalars)

    static func run(_ data: Data) throws {
        var input = FuzzInput(data)
        let path = "/" + input.text(maxLength: 40)
        let query = (0..<input.choice(4)).map { _ in (name: input.text(maxLength: 8), value: input.text(maxLength: 12)) }
        let header = input.text(maxLength: 16)
        for keepSlash in [false, true] {
            let encoded = SigV4Encoding.encode(path, keepSlash: keepSlash)
            guard encoded.unicodeScalars.allSatisfy({ Self.unreserved.contains($0) || (keepSlash && $0 == "/") }) else {
                throw FuzzFinding("encode(\(path.debugDescription)) = \(encoded) holds a reserved character")
            }
            guard SigV4Encoding.decode(encoded) == path else {
                throw FuzzFinding("decode(encode(\(path.debugDescription))) = \(String(describing: SigV4Encoding.decode(encoded)))")
            }
        }
        let signer = SigV4Signer(
            credentials: SigV4Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            configuration: .s3(region: "us-east-1"),
            clock: { Date(timeIntervalSince1970: 1_440_938_160) }
        )
        let request = SigV4Request(method: "GET", path: path, query: query, headers: [("Host", "example.amazonaws.com"), ("X-Amz-Meta-Fuzz", header)])
        let first = signer.signHeaders(request, payload: .empty)
        let second = signer.signHeaders(request, payload: .empty)
        guard first.signature == second.signature, first.canonicalRequest == second.canonicalRequest else {
            throw FuzzFinding("signing \(path.debugDescription) twice gave two signatures")
        }
        guard first.signature.count == 64, first.signature.allSatisfy({ $0.isHexDigit }) else {
            throw FuzzFinding("signature \(first.signature) is not 64 hex digits")
        }
        // S3 signs the path as sent: encoded once, not normalised.
        let canonicalPath = first.canonicalRequest.split(separator: "\n", omittingEmptySubsequences: false).dropFirst().first.map(String.init)
        guard first.encodedPath == SigV4Encoding.encode(path, keepSlash: true), canonicalPath == first.encodedPath else {
            throw FuzzFinding("path \(path.debugDescription) sent as \(first.encodedPath), signed as \(canonicalPath ?? "nothing")")
        }
    }
}

// MARK: Vector files

/// A collection directory made once by the engine (its `collection.json`), into which the
/// input is written as the log or the snapshot before the store opens it.
final class VectorFileTarget: Sendable {
    static let shared = VectorFileTarget()
    let template: String

    private init() {
        self.template = FileManager.default.temporaryDirectory.path + "/trove-fuzz-vectors-\(getpid())"
        try? FileManager.default.removeItem(atPath: self.template)
        let store = try! VectorStore(directory: self.template)
        let collection = try! store.create(CollectionConfiguration(name: "fuzz", dimension: 4, metric: .l2))
        _ = try! collection.upsert((0..<8).map { VectorRecord(id: "v\($0)", values: [Float($0), 1, 2, 3], payload: ["i": .number(Double($0))]) })
        _ = try! collection.snapshot()
        _ = try! collection.upsert((8..<12).map { VectorRecord(id: "v\($0)", values: [Float($0), 1, 2, 3], payload: ["i": .number(Double($0))]) })
        store.close()
    }

    func run(_ data: Data, as file: String) throws {
        let directory = FileManager.default.temporaryDirectory.path + "/trove-fuzz-open-\(getpid())"
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory + "/fuzz", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.copyItem(atPath: self.template + "/fuzz/collection.json", toPath: directory + "/fuzz/collection.json")
        try data.write(to: URL(fileURLWithPath: directory + "/fuzz/" + file))
        guard let store = try? VectorStore(directory: directory) else { return }
        defer { store.close() }
        guard let collection = try? store.collection("fuzz") else { return }
        // What was read must be usable.
        _ = try? collection.search(VectorQuery(vector: [0, 1, 2, 3], k: 3))
    }
}

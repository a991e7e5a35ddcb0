import Foundation
import GRPCCore
import Synchronization
import TroveContracts

/// What `trove ingest` knows about its files: uploaded, processed, failed; drawn as a progress
/// bar on a terminal and as one line per file otherwise.
final class IngestProgress: Sendable {
    private struct State {
        var documentForFile: [String: String] = [:]
        var fileForDocument: [String: SelectedFile] = [:]
        /// Final statuses seen before the upload answered (events can overtake the response).
        var earlyOutcomes: [String: (Trove_V1_DocumentStatus, String)] = [:]
        var waiting: Set<String> = []
        var completed = 0
        var duplicates = 0
        var chunks: UInt64 = 0
        var failures: [(String, String)] = []
        var doneBytes = 0
        var lastDraw = ContinuousClock.now - .seconds(1)
    }

    private let state = Mutex(State())
    private let total: Int
    private let totalBytes: Int
    private let interactive: Bool
    private let start = ContinuousClock.now

    init(total: Int, totalBytes: Int, interactive: Bool) {
        self.total = total
        self.totalBytes = totalBytes
        self.interactive = interactive
    }

    func note(_ line: String) {
        self.printLine(line)
    }

    func uploaded(_ file: SelectedFile, response: Trove_V1_IngestDocumentResponse) {
        var line: String?
        self.state.withLock { state in
            state.fileForDocument[response.documentID] = file
            if response.duplicate {
                state.duplicates += 1
                state.doneBytes += file.size
                line = "duplicate  \(file.relativePath) (already ingested as \(response.documentID))"
            } else if let (status, message) = state.earlyOutcomes.removeValue(forKey: response.documentID) {
                line = Self.settle(&state, file: file, status: status, message: message, chunks: 0)
            } else {
                state.waiting.insert(response.documentID)
            }
        }
        if let line { self.printLine(line) }
        self.draw()
    }

    func rejected(_ file: SelectedFile, reason: String) {
        self.state.withLock { state in
            state.failures.append((file.relativePath, reason))
            state.doneBytes += file.size
        }
        self.printLine("failed     \(file.relativePath): \(reason)")
        self.draw()
    }

    /// An event from WatchIngestion.
    func record(_ event: Trove_V1_IngestionEvent) {
        let status: Trove_V1_DocumentStatus
        switch event.stage {
        case .completed: status = .completed
        case .failed: status = .failed
        default: return
        }
        var line: String?
        self.state.withLock { state in
            guard let file = state.fileForDocument[event.documentID] else {
                state.earlyOutcomes[event.documentID] = (status, event.message)
                return
            }
            guard state.waiting.contains(event.documentID) else { return }
            line = Self.settle(&state, file: file, status: status, message: event.message, chunks: UInt64(event.chunksTotal))
            state.waiting.remove(event.documentID)
        }
        if let line { self.printLine(line) }
        self.draw()
    }

    /// Waits until every uploaded document is completed or failed, asking for the status of
    /// those the event stream has not settled (a document that is failed but retrying is not).
    func waitForAll(poll ingestion: Trove_V1_Ingestion.Client<some ClientTransport>, options: CallOptions) async throws {
        var rounds = 0
        while true {
            let waiting = self.state.withLock { $0.waiting }
            if waiting.isEmpty { return }
            try await Task.sleep(for: .milliseconds(250))
            rounds += 1
            guard rounds % 8 == 0 else { continue }
            for id in waiting {
                let document = try await ingestion.getDocumentStatus(.with { $0.documentID = id }, options: options)
                guard document.status == .completed || document.status == .failed else { continue }
                var line: String?
                self.state.withLock { state in
                    guard state.waiting.remove(id) != nil, let file = state.fileForDocument[id] else { return }
                    line = Self.settle(&state, file: file, status: document.status, message: document.errorMessage, chunks: UInt64(document.chunkCount))
                }
                if let line { self.printLine(line) }
            }
            self.draw()
        }
    }

    var failures: [(String, String)] {
        self.state.withLock { $0.failures }
    }

    var summary: String {
        let elapsed = max(0.001, Double((ContinuousClock.now - self.start) / .milliseconds(1)) / 1000)
        return self.state.withLock { state in
            let megabytes = Double(state.doneBytes) / 1_048_576
            return "\(self.total) files in \(Self.format(elapsed, digits: 1)) s (\(Self.format(Double(self.total) / elapsed, digits: 1)) files/s, "
                + "\(Self.format(megabytes / elapsed, digits: 2)) MB/s): \(state.completed) completed (\(state.chunks) chunks), "
                + "\(state.duplicates) duplicate, \(state.failures.count) failed"
        }
    }

    /// Clears the progress bar.
    func finish() {
        if self.interactive {
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
        }
    }

    private static func settle(_ state: inout State, file: SelectedFile, status: Trove_V1_DocumentStatus, message: String, chunks: UInt64) -> String {
        state.doneBytes += file.size
        if status == .completed {
            state.completed += 1
            state.chunks += chunks
            return message.isEmpty ? "completed  \(file.relativePath) (\(chunks) chunks)" : "completed  \(file.relativePath): \(message)"
        }
        state.failures.append((file.relativePath, message))
        return "failed     \(file.relativePath): \(message)"
    }

    /// A line per settled file: above the bar on a terminal, on standard output otherwise.
    private func printLine(_ line: String) {
        if self.interactive {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + "\n").utf8))
        } else {
            print(line)
        }
    }

    private func draw() {
        guard self.interactive else { return }
        let now = ContinuousClock.now
        let text: String? = self.state.withLock { state in
            guard now - state.lastDraw >= .milliseconds(100) else { return nil }
            state.lastDraw = now
            let done = state.completed + state.duplicates + state.failures.count
            let elapsed = max(0.001, Double((now - self.start) / .milliseconds(1)) / 1000)
            let rate = Double(done) / elapsed
            let width = 30
            let filled = self.total == 0 ? width : width * done / self.total
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            let eta = rate > 0 ? Self.clock(Double(self.total - done) / rate) : "--:--"
            return "\r\u{1B}[K\(bar) \(done)/\(self.total) files  \(Self.format(rate, digits: 1)) files/s  "
                + "\(Self.format(Double(state.doneBytes) / 1_048_576 / elapsed, digits: 2)) MB/s  ETA \(eta)"
        }
        if let text { FileHandle.standardError.write(Data(text.utf8)) }
    }

    /// `value` with `digits` decimals.
    static func format(_ value: Double, digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    private static func clock(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        let minutes = total / 60
        let rest = total % 60
        return "\(minutes):" + (rest < 10 ? "0" : "") + "\(rest)"
    }
}

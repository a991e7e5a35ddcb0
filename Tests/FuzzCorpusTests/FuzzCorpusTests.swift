import Foundation
import FuzzTargets
import Testing

/// Every input in the committed corpora (`Fuzz/Corpus/<target>/`, grown by `Scripts/fuzz.sh`)
/// run through its target again: what a fuzzer once found stays fixed.
@Suite("Fuzz corpora")
struct FuzzCorpusTests {
    static let corpus = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/Corpus")

    @Test("Every corpus input passes its target's checks", arguments: FuzzTarget.allCases)
    func replay(_ target: FuzzTarget) throws {
        let directory = Self.corpus.appendingPathComponent(target.rawValue)
        let files = try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
        #expect(files.count >= 3, "Fuzz/Corpus/\(target.rawValue) holds \(files.count) inputs")
        for file in files.sorted(by: { $0.lastPathComponent < $1.lastPathComponent }) {
            do {
                try target.run(try Data(contentsOf: file))
            } catch {
                Issue.record("\(target.rawValue)/\(file.lastPathComponent): \(error)")
            }
        }
    }
}

import Testing
@testable import TroveCore

@Suite("Health status board")
struct HealthStatusBoardTests {
    @Test("Services start not serving, follow setAll, and unknown names are absent")
    func statuses() {
        let board = HealthStatusBoard(services: ["trove.v1.Metadata"])
        #expect(board.status(of: "") == .notServing)
        #expect(board.status(of: "trove.v1.Metadata") == .notServing)
        #expect(board.status(of: "trove.v1.Other") == nil)
        board.setAll(.serving)
        #expect(board.status(of: "") == .serving)
        #expect(board.status(of: "trove.v1.Metadata") == .serving)
        board.set(.notServing, for: "trove.v1.Metadata")
        #expect(board.status(of: "trove.v1.Metadata") == .notServing)
        #expect(board.status(of: "") == .serving)
    }

    @Test("A watcher gets the status now and every change after it")
    func watch() async {
        let board = HealthStatusBoard(services: ["svc"])
        let (updates, stop) = board.watch("svc")
        board.set(.serving, for: "svc")
        var iterator = updates.makeAsyncIterator()
        // The stream keeps only the newest status, so the first read sees SERVING.
        #expect(await iterator.next() == .serving)
        board.set(.notServing, for: "svc")
        #expect(await iterator.next() == .notServing)
        stop()
        #expect(await iterator.next() == nil)
    }
}

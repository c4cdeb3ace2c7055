import Alerting
import DriftDetection
import Foundation
import Synchronization
import Testing

/// A sink that holds every delivery until released.
final class GatedSink: AlertSink {
    let name = "gated"
    private let gate = DispatchSemaphore(value: 0)
    private let delivered = Mutex<[String]>([])
    let entered = DispatchSemaphore(value: 0)

    var ids: [String] { delivered.withLock { $0 } }

    func release(_ count: Int) { for _ in 0..<count { gate.signal() } }

    func deliver(_ alert: Alert) throws {
        entered.signal()
        gate.wait()
        delivered.withLock { $0.append(alert.id) }
    }
}

@Suite("Alert dispatcher")
struct AlertDispatcherTests {
    static func alert(_ episode: Int) -> Alert {
        Alert.from(
            .fired(.warning, episode: episode), detector: "psi", feature: "amount", value: 0.15, policy: .psi,
            window: .init(start: 0, end: 10), model: .init(name: "m", version: "1"), at: Date(timeIntervalSince1970: 0))
    }

    static func fallbackFile() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("fallback-\(UUID().uuidString).jsonl").path
    }

    static func ids(in file: String) -> [String] {
        ((try? String(contentsOfFile: file, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["id"] as? String
        }
    }

    @Test("dispatch returns while a sink is still delivering; alerts arrive in order once it goes on")
    func offTheCallingThread() throws {
        let sink = GatedSink()
        let dispatcher = AlertDispatcher(sinks: [sink], capacity: 16)
        for episode in 1...5 { dispatcher.dispatch(Self.alert(episode)) }  // would deadlock if delivery were inline
        #expect(sink.entered.wait(timeout: .now() + 10) == .success)  // the first is in the sink, held
        #expect(sink.ids.isEmpty)
        sink.release(5)
        let counts = dispatcher.finish(within: .seconds(30))
        #expect(sink.ids == (1...5).map { "m/drift.psi/amount/\($0)" })
        #expect(counts.delivered == 5 && counts.failed == 0 && counts.overflowed == 0 && counts.abandoned == 0)
    }

    @Test("A full queue and a deadline at exit send what is left to the fallback file: nothing is lost")
    func overflowAndDeadline() throws {
        let file = Self.fallbackFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let sink = GatedSink()
        let dispatcher = AlertDispatcher(sinks: [sink], fallback: JSONLinesFileSink(path: file), capacity: 2)
        dispatcher.dispatch(Self.alert(1))
        #expect(sink.entered.wait(timeout: .now() + 10) == .success)  // 1 is in the sink; 2 and 3 queue; 4 overflows
        for episode in 2...4 { dispatcher.dispatch(Self.alert(episode)) }
        #expect(Self.ids(in: file) == ["m/drift.psi/amount/4"])
        let counts = dispatcher.finish(within: .milliseconds(200))  // the sink holds 1 past the deadline
        #expect(counts.overflowed == 1 && counts.abandoned == 3 && !counts.stopped)
        #expect(Set(Self.ids(in: file)) == Set((1...4).map { "m/drift.psi/amount/\($0)" }))
        sink.release(1)
    }

    @Test("A failing sink's alert goes to the fallback once, even when the fallback file is also a sink")
    func noDuplicateFallback() throws {
        struct Failing: AlertSink {
            let name = "failing"
            func deliver(_ alert: Alert) throws { throw AlertSinkError(sink: name, reason: "down") }
        }
        let file = Self.fallbackFile()
        defer { try? FileManager.default.removeItem(atPath: file) }
        let fileSink = JSONLinesFileSink(path: file)
        let dispatcher = AlertDispatcher(sinks: [Failing(), fileSink], fallback: fileSink, backoff: .milliseconds(1))
        dispatcher.dispatch(Self.alert(1))
        let counts = dispatcher.finish()
        #expect(Self.ids(in: file) == ["m/drift.psi/amount/1"])
        #expect(counts.failed == 1 && counts.retried == 2 && counts.delivered == 1)
    }
}

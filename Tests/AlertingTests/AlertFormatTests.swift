import Alerting
import DriftDetection
import Foundation
import Testing

@Suite("Alerts")
struct AlertFormatTests {
    @Test("An alert carries the wire keys; resolved alerts keep the episode's id")
    func alertFormat() throws {
        let model = Alert.Model(name: "fraud", version: "3")
        let fired = Alert.from(
            .fired(.critical, episode: 2), detector: "psi", feature: "amount", value: 0.31, policy: .psi,
            window: .init(start: 100, end: 200), model: model, offsets: ["events/0": 42], at: Date(timeIntervalSince1970: 0))
        let resolved = Alert.from(
            .resolved(episode: 2), detector: "psi", feature: "amount", value: 0.02, policy: .psi,
            window: .init(start: 300, end: 400), model: model, at: Date(timeIntervalSince1970: 60))
        #expect(fired.id == resolved.id)
        #expect(fired.jsonLine() == #"{"at":"1970-01-01T00:00:00Z","detector":"psi","feature":"amount","id":"fraud/drift.psi/amount/2","kind":"drift.psi","model":{"name":"fraud","version":"3"},"offsets":{"events/0":42},"severity":"critical","snapshot":null,"state":"firing","threshold":0.2,"value":0.31,"window":{"end":200,"start":100}}"#)
        #expect(resolved.state == .resolved)
        let body = AlertmanagerSink.body(for: resolved)
        #expect(body.first?["endsAt"] as? String == "1970-01-01T00:01:00.000Z")
    }
}

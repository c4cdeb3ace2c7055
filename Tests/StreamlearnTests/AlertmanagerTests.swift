import Alerting
import DriftDetection
import Foundation
import Testing

@Suite("Alertmanager: firing alerts are sent again until they resolve")
struct AlertmanagerTests {
    @Test("A firing alert is re-sent every interval with its first startsAt; its resolution ends it with endsAt, and the re-sending stops")
    func resendsUntilResolved() throws {
        let recorder = try RecordingHTTPServer()
        defer { recorder.stop() }
        let generator = URL(string: "http://127.0.0.1:9464/model")!
        let sink = AlertmanagerSink(base: recorder.url, resendInterval: .milliseconds(300), generatorURL: generator)
        defer { sink.close() }
        let model = Alert.Model(name: "fraud", version: "7")
        let began = Date(timeIntervalSince1970: 1_800_000_000)
        let fired = Alert.from(
            .fired(.critical, episode: 1), detector: "psi", feature: "amount", value: 0.31, policy: .psi,
            window: .init(start: 0, end: 1000), model: model, at: began)
        try sink.deliver(fired)
        #expect(sink.firingAlerts == [fired.id])
        Thread.sleep(forTimeInterval: 1.1)
        let resolvedAt = began.addingTimeInterval(120)
        let resolved = Alert.from(
            .resolved(episode: 1), detector: "psi", feature: "amount", value: 0.02, policy: .psi,
            window: .init(start: 1000, end: 2000), model: model, at: resolvedAt)
        try sink.deliver(resolved)
        #expect(sink.firingAlerts.isEmpty)
        let atResolution = recorder.requests.count
        Thread.sleep(forTimeInterval: 0.8)
        let posts = recorder.requests
        // The first post, then one per 300 ms for 1.1 s (3, give or take scheduling), then the resolution; none after.
        #expect(posts.count == atResolution, "posts after the resolution: \(posts.count - atResolution)")
        #expect((4...6).contains(posts.count), "\(posts.count) posts")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        for post in posts {
            #expect(post.requestLine == "POST /api/v2/alerts HTTP/1.1")
            let alert = try #require(post.alerts.first)
            #expect(post.alerts.count == 1)
            #expect((alert["labels"] as? [String: String])?["alert_id"] == fired.id)
            #expect(alert["startsAt"] as? String == formatter.string(from: began), "every post keeps when it began")
            #expect(alert["generatorURL"] as? String == generator.absoluteString)
        }
        for post in posts.dropLast() {
            // A firing alert ends by itself four intervals after its last post, should its sender die.
            let text = try #require(post.alerts.first?["endsAt"] as? String)
            let endsAt = try #require(formatter.date(from: text))
            let ahead = endsAt.timeIntervalSince(post.date)
            #expect(ahead > 1.0 && ahead <= 1.2, "endsAt \(ahead) s after the post")
        }
        let last = try #require(posts.last?.alerts.first)
        #expect(last["endsAt"] as? String == formatter.string(from: resolvedAt))
        // The same labels as while firing: Alertmanager resolves the alert it knows.
        #expect((last["labels"] as? [String: String])?["severity"] == "critical")
        // Re-sends are spaced by the interval, not bunched.
        let gaps = zip(posts.dropFirst(), posts).map { $0.at - $1.at }.dropLast()
        for gap in gaps { #expect(gap >= .milliseconds(250), "gap \(gap)") }
    }
}

import Foundation
import OnlineLearning
import StreamPipeline

/// `learn`'s summary, as text or one JSON object.
struct LearnSummary {
    var pipeline: LearningPipeline
    var seconds: Double
    var json: Bool

    func print(_ report: (String) -> Void) {
        let state = pipeline.state
        let counts = pipeline.counts
        let summary = state.classifier.metrics.cumulative.summary
        let rate = Double(counts.records) / seconds
        let join = state.join?.counts
        if json {
            var object: [String: Any] = [
                "events": counts.records, "events_per_second": rate.rounded(), "learned": summary.events,
                "rejected": counts.rejected, "unlabeled": counts.unlabeled, "not_learned": counts.notLearned,
                "f1": summary.f1, "precision": summary.precision, "recall": summary.recall,
                "log_loss": summary.logLoss, "accuracy": summary.accuracy,
                "optimizer": state.classifier.model.configuration.optimizer.name, "alerts": pipeline.raiser.raised,
            ]
            object["roc_auc"] = summary.rocAUC ?? NSNull()
            object["average_precision"] = summary.averagePrecision ?? NSNull()
            object["recall_at_1pct_fpr"] = summary.recallAtFPR ?? NSNull()
            if let rolling = state.classifier.metrics.rolling {
                object["rolling"] = [
                    "window": rolling.window, "roc_auc": rolling.summary.rocAUC ?? NSNull(), "f1": rolling.summary.f1,
                    "log_loss": rolling.summary.logLoss,
                ] as [String: Any]
            }
            object["ks"] = summary.ks ?? NSNull()
            if let join, let waiting = state.join?.waitingCount {
                object["label_join"] = [
                    "label_lines": counts.labelLines, "joined": join.joined, "waiting": waiting, "expired": join.expired,
                    "expired_learned": join.expiredLearned, "orphans": join.orphans, "duplicates": join.duplicates,
                    "duplicate_events": join.duplicateEvents,
                ]
            }
            if let aggregates = state.classifier.aggregates {
                object["aggregates"] = [
                    "keys": aggregates.keyCount, "late": aggregates.counts.late,
                    "untimed": aggregates.counts.untimed, "evicted": aggregates.counts.evicted,
                    "expired": aggregates.counts.expired, "labels": aggregates.counts.labels,
                ]
            }
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
            report(String(decoding: data, as: UTF8.self))
            return
        }
        func figure(_ value: Double?) -> String { value.map { String(format: "%.4f", $0) } ?? "n/a" }
        report(
            "events       \(counts.records) (\(summary.events) learned, \(counts.unlabeled) unlabeled, \(counts.rejected) rejected, \(counts.notLearned) not learned)"
        )
        if let join, let waiting = state.join?.waitingCount, counts.labelLines + join.joined + join.expired + waiting > 0 {
            report(
                "labels       \(join.joined) joined, \(waiting) waiting, \(join.expired) expired\(join.expiredLearned > 0 ? " (\(join.expiredLearned) learned)" : ""), \(join.orphans) orphans, \(join.duplicates) duplicates"
            )
        }
        if let aggregates = state.classifier.aggregates {
            let counts = aggregates.counts
            report(
                "aggregates   \(aggregates.keyCount) keys, \(counts.late) late, \(counts.untimed) untimed, \(counts.evicted) evicted, \(counts.expired) expired, \(counts.labels) labels learned"
            )
        }
        report("events/s     \(Int(rate))")
        report("optimizer    \(state.classifier.model.configuration.optimizer.name)")
        report("roc_auc      \(figure(summary.rocAUC))")
        report("pr_auc       \(figure(summary.averagePrecision))  (average precision)")
        report("recall_1fpr  \(figure(summary.recallAtFPR))  (recall at a 1% false-positive rate)")
        report("log_loss     \(figure(summary.logLoss))")
        report("f1           \(figure(summary.f1))  (threshold \(state.classifier.metrics.cumulative.threshold))")
        report("precision    \(figure(summary.precision))")
        report("recall       \(figure(summary.recall))")
        report("accuracy     \(figure(summary.accuracy))")
        report("ks           \(figure(summary.ks))")
        if let rolling = state.classifier.metrics.rolling {
            let figures = rolling.summary
            report("last \(rolling.window)    roc_auc \(figure(figures.rocAUC)), f1 \(figure(figures.f1)), log_loss \(figure(figures.logLoss))")
        }
        report("alerts       \(pipeline.raiser.raised)")
    }
}

// Allocations per event on StreamLearn's hot paths, counted by ordo-one's malloc-interposer.
// Run: make bench-allocations (LD_PRELOADs the interposer; without it every count reads 0).
import Foundation
import MallocInterposerSwift
import Simulation
import StreamCore

let events = 100_000
var generator = TransactionGenerator(seed: 1)
let documents: [[UInt8]] = (0..<events).map { _ in Array(generator.next().json.utf8) }

/// Runs `body` once to warm up, then counts mallocs over a second pass; returns mallocs per event.
func allocationsPerEvent(_ body: () throws -> Void) rethrows -> Double {
    try body()
    MallocInterposerSwift.initialize()
    MallocInterposerSwift.hook()
    try body()
    MallocInterposerSwift.unhook()
    return Double(MallocInterposerSwift.getStatistics().mallocCount) / Double(events)
}

let decoder = EventDecoder()
let event = DecodedEvent()
var vectorizer = FeatureVectorizer()
var standardizer = OnlineStandardizer()
var vector = FeatureVector()

let foundation = try allocationsPerEvent {
    for document in documents.prefix(events) {
        _ = try JSONSerialization.jsonObject(with: Data(document))
    }
}
let decode = try allocationsPerEvent {
    for document in documents {
        try document.withUnsafeBytes { try decoder.decode($0, into: event) }
    }
}
let full = try allocationsPerEvent {
    for document in documents {
        try document.withUnsafeBytes { try decoder.decode($0, into: event) }
        vectorizer.vectorize(event, into: &vector)
        standardizer.update(vector)
        standardizer.standardize(&vector)
    }
}
print("allocations per event (\(events) generated events, after one warm-up pass)")
print("  Foundation JSONSerialization            \(String(format: "%.2f", foundation))")
print("  EventDecoder                            \(String(format: "%.2f", decode))")
print("  decode + vectorize + standardise        \(String(format: "%.2f", full))")

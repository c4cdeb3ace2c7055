#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Decodes events on a thread of its own, ahead of the thread that learns from them — the parser thread of
/// Vowpal Wabbit's command line, for one ordered stream.
///
/// ``run(decoder:configuration:read:consume:)`` starts the decoding thread, which runs `read`: the reader hands
/// each line (or message) to ``Reader/decode(_:bytes:)``. The calling thread receives every line in order in
/// `consume`, as a decoded event or its rejection. Events cross in batches through a ring of ``Configuration/depth``
/// batches of reusable ``DecodedEvent`` buffers, so once warm nothing is allocated per event and the two threads
/// meet once per batch, not per event. The reader calls ``Reader/flush()`` before it waits for input, so a slow
/// stream is not held back until a batch fills.
///
/// Everything after decoding stays on the calling thread, in input order, so results are the same as decoding
/// inline (``Configuration/threaded`` `false` does exactly that, with the same code path). When the calling thread
/// is the one waiting, it also decodes some lines itself (``Sharing``): the reader hands those over as bytes.
public enum DecodeAhead: Sendable {
    /// How far decoding may run ahead.
    public struct Configuration: Sendable {
        /// Events per batch (default 256).
        public var batchSize = 256
        /// Batches in the ring (default 4): the decoding thread runs at most `batchSize × depth` events ahead.
        public var depth = 4
        /// Decode on a second thread (default `true`); `false` decodes inline on the calling thread. With one
        /// CPU to run on, threads only take turns (and the hand-over's spinning delays the other): pass `false`.
        public var threaded = true
        /// Which lines the calling thread decodes itself, threaded (default ``Sharing/adaptive``).
        public var sharing = Sharing.adaptive

        public init() {}
    }

    /// How the decoding of lines is shared between the two threads. A line left to the calling thread crosses as
    /// its bytes (copied) and is decoded there, by a decoder of the same configuration, just before it is
    /// consumed; the results are the same whichever thread decodes a line.
    public enum Sharing: Sendable, Hashable {
        /// The decoding thread decodes every line.
        case off
        /// Balanced by who waits: each time the calling thread has waited for a batch, the decoding thread leaves
        /// it 8 more lines at the end of each full batch (up to half); each time the decoding thread has waited
        /// for room in the ring, 8 fewer. When learning is the slower side nothing is left.
        case adaptive
        /// The calling thread decodes every `n`th line of each batch (`n` ≥ 1; for tests).
        case every(Int)
    }

    /// The decoding thread's side: hands lines to the decoder.
    public final class Reader {
        fileprivate let decoder: EventDecoder
        fileprivate let ring: Ring?
        /// Inline mode: the consumer, called for each line.
        fileprivate let inline: ((Int, Int64, DecodedEvent, EventDecodingError?) throws -> Void)?
        fileprivate let inlineEvent = DecodedEvent()
        private let threaded: Bool
        /// The batch being filled, and its storage (valid while `filling` is set).
        @exclusivity(unchecked) private var filling: Batch?
        @exclusivity(unchecked) private var fillEvents = UnsafeMutablePointer<Unmanaged<DecodedEvent>>(bitPattern: 8)!
        @exclusivity(unchecked) private var fillLines = UnsafeMutablePointer<Int>(bitPattern: 8)!
        @exclusivity(unchecked) private var fillEnds = UnsafeMutablePointer<Int64>(bitPattern: 8)!
        @exclusivity(unchecked) private var fillRejections = UnsafeMutablePointer<EventDecodingError?>(bitPattern: 8)!
        @exclusivity(unchecked) private var fillDeferred = UnsafeMutablePointer<Bool>(bitPattern: 8)!
        @exclusivity(unchecked) private var fillRaw = UnsafeMutablePointer<GrowableBuffer<UInt8>>(bitPattern: 8)!
        @exclusivity(unchecked) private var fillSize = 0
        @exclusivity(unchecked) private var fillCount = 0
        /// Lines at this index of the batch being filled and after it are left to the calling thread.
        @exclusivity(unchecked) private var deferFrom = Int.max
        /// With ``Sharing/adaptive``: how many lines at the end of a full batch are left to the calling thread.
        @exclusivity(unchecked) private var deferredTail = 0
        private let adaptive: Bool
        /// With ``Sharing/every(_:)``: every `shareEvery`th line is left to the calling thread (0: none).
        private let shareEvery: Int

        fileprivate init(
            decoder: EventDecoder, ring: Ring?, sharing: Sharing = .off,
            inline: ((Int, Int64, DecodedEvent, EventDecodingError?) throws -> Void)?
        ) {
            self.decoder = decoder
            self.ring = ring
            self.inline = inline
            threaded = ring != nil
            adaptive = sharing == .adaptive
            if case .every(let n) = sharing { shareEvery = max(n, 1) } else { shareEvery = 0 }
        }

        /// Whether the consuming side has stopped (it threw): the reader should stop reading. One relaxed atomic
        /// load.
        public var isStopped: Bool { ring?.stopped.load(ordering: .relaxed) ?? false }

        /// Decodes line `number` (`bytes` need only live for the call); `end` is where the line ends in its source
        /// (a byte offset, say), handed to the consumer with it. Inline, this also runs the consumer and rethrows
        /// its error; threaded, it never throws, and lines after the consumer stopped are dropped.
        public func decode(_ number: Int, bytes: UnsafeRawBufferPointer, end: Int64 = 0) throws {
            guard threaded else {
                var rejection: EventDecodingError?
                do { try decoder.decode(bytes, into: inlineEvent) } catch { rejection = error }
                try inline.unsafelyUnwrapped(number, end, inlineEvent, rejection)
                return
            }
            if filling == nil {
                if ring.unsafelyUnwrapped.stopped.load(ordering: .relaxed) { return }
                start(ring.unsafelyUnwrapped.acquireEmpty())
            }
            // The batch's storage through plain pointers kept beside it: no reference is retained per line.
            let index = fillCount
            fillLines[index] = number
            fillEnds[index] = end
            if index >= deferFrom || (shareEvery > 0 && index % shareEvery == shareEvery - 1) {
                // Left to the calling thread: the bytes go along (they live only for this call).
                fillRaw[index].count = 0
                if bytes.count > 0 { fillRaw[index].append(bytes.baseAddress!, count: bytes.count) }
                fillDeferred[index] = true
            } else {
                if fillDeferred[index] { fillDeferred[index] = false }
                let decoded = fillEvents[index]._withUnsafeGuaranteedRef { event in
                    Result { () throws(EventDecodingError) in try decoder.decode(bytes, into: event) }
                }
                switch decoded {
                case .success: if fillRejections[index] != nil { fillRejections[index] = nil }
                case .failure(let error): fillRejections[index] = error
                }
            }
            fillCount = index &+ 1
            if fillCount == fillSize { flush() }
        }

        /// Makes `batch` the one being filled.
        private func start(_ batch: Batch) {
            filling = batch
            fillEvents = batch.events
            fillLines = batch.lines
            fillEnds = batch.ends
            fillRejections = batch.rejections
            fillDeferred = batch.deferred
            fillRaw = batch.raw
            fillSize = batch.size
            fillCount = 0
            if adaptive, let ring {
                // Who waited since the last batch moves the share by 8 lines (a thirty-second of the default batch).
                let step = max(batch.size / 32, 1)
                if ring.consumerWaited.exchange(false, ordering: .relaxed) {
                    deferredTail = min(deferredTail + step, batch.size / 2)
                } else if ring.producerWaited.exchange(false, ordering: .relaxed) {
                    deferredTail = max(deferredTail - step, 0)
                }
                deferFrom = deferredTail > 0 ? batch.size - deferredTail : Int.max
            }
        }

        /// Hands over the lines decoded so far: call it before waiting for input.
        public func flush() {
            guard let ring, let filled = filling else { return }
            filled.count = fillCount
            filling = nil
            ring.publish(filled)
        }

        /// The end of the input: flushes, then marks the last batch.
        fileprivate func finish() {
            guard let ring else { return }
            if filling == nil { start(ring.acquireEmpty()) }
            let last = filling!
            last.count = fillCount
            filling = nil
            last.isLast = true
            ring.publish(last)
        }
    }

    /// Runs `read` on a decoding thread and `consume` on the calling thread for every line it decodes, in order;
    /// returns what `read` returned once every line has been consumed.
    ///
    /// An error thrown by `consume` stops the consumer: ``Reader/isStopped`` turns true, later lines are dropped,
    /// and the error is rethrown once the reader has returned. An error thrown by `read` is rethrown after the
    /// lines read before it have been consumed. If no thread can be started, decoding runs inline.
    ///
    /// - Parameters:
    ///   - read: reads the input and calls `reader.decode` per line; runs on the decoding thread (it must not
    ///     touch what `consume` touches).
    ///   - consume: gets each line's number, its event (valid during the call; reset when rejected) and its
    ///     rejection, if any.
    public static func run<Result>(
        decoder: EventDecoder, configuration: Configuration = Configuration(),
        read: (Reader) throws -> Result,
        consume: (_ line: Int, _ event: DecodedEvent, _ rejection: EventDecodingError?) throws -> Void
    ) throws -> Result {
        try run(decoder: decoder, configuration: configuration, read: read) { line, _, event, rejection in
            try consume(line, event, rejection)
        }
    }

    /// ``run(decoder:configuration:read:consume:)`` whose consumer also gets the `end` each line was read with.
    public static func run<Result>(
        decoder: EventDecoder, configuration: Configuration = Configuration(),
        read: (Reader) throws -> Result,
        consume: (_ line: Int, _ end: Int64, _ event: DecodedEvent, _ rejection: EventDecodingError?) throws -> Void
    ) throws -> Result {
        guard configuration.threaded else {
            return try withoutActuallyEscaping(consume) { consume in
                try read(Reader(decoder: decoder, ring: nil, inline: consume))
            }
        }
        let ring = Ring(batchSize: max(configuration.batchSize, 1), depth: max(configuration.depth, 2))
        let reader = Reader(decoder: decoder, ring: ring, sharing: configuration.sharing, inline: nil)
        // Decodes the lines left to this thread (an EventDecoder belongs to one thread).
        let ownDecoder = configuration.sharing == .off ? nil : EventDecoder(configuration: decoder.configuration)
        return try withoutActuallyEscaping(read) { read in
            let outcome = Outcome<Result>()
            let work = UncheckedTransfer {
                do { outcome.value = .success(try read(reader)) } catch { outcome.value = .failure(error) }
                reader.finish()
            }
            guard let thread = startThread(work) else {
                return try withoutActuallyEscaping(consume) { consume in
                    try read(Reader(decoder: decoder, ring: nil, inline: consume))
                }
            }
            var consumerError: (any Error)?
            while true {
                let batch = ring.acquireFilled()
                if consumerError == nil {
                    // Read once: the batch objects are small and may share a cache line with the one being filled.
                    let (events, lines, rejections, count) = (batch.events, batch.lines, batch.rejections, batch.count)
                    let ends = batch.ends
                    let (deferred, raw) = (batch.deferred, batch.raw)
                    for index in 0..<count {
                        do {
                            try events[index]._withUnsafeGuaranteedRef { event in
                                guard deferred[index], let ownDecoder else {
                                    return try consume(lines[index], ends[index], event, rejections[index])
                                }
                                // As the inline path does: decode, keep the rejection, consume.
                                var rejection: EventDecodingError?
                                do throws(EventDecodingError) {
                                    try ownDecoder.decode(
                                        UnsafeRawBufferPointer(start: raw[index].base, count: raw[index].count), into: event)
                                } catch { rejection = error }
                                try consume(lines[index], ends[index], event, rejection)
                            }
                        } catch {
                            consumerError = error
                            ring.stopped.store(true, ordering: .relaxed)
                            break
                        }
                    }
                }
                let last = batch.isLast
                ring.recycle(batch)
                if last { break }
            }
            pthread_join(thread, nil)
            if let consumerError { throw consumerError }
            return try outcome.value!.get()
        }
    }

    /// Starts `work` on a new thread; `nil` if the system refuses one.
    private static func startThread(_ work: UncheckedTransfer) -> pthread_t? {
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t?
        #endif
        let context = Unmanaged.passRetained(work).toOpaque()
        let status = pthread_create(
            &thread, nil,
            { context in
                let work = Unmanaged<UncheckedTransfer>.fromOpaque(context!).takeRetainedValue()
                work.body()
                return nil
            }, context)
        guard status == 0 else {
            Unmanaged<UncheckedTransfer>.fromOpaque(context).release()
            return nil
        }
        #if canImport(Glibc)
        return thread
        #else
        return thread!
        #endif
    }
}

@available(*, unavailable, message: "a reader belongs to the decoding thread")
extension DecodeAhead.Reader: Sendable {}

/// One batch of decoded lines; reused round the ring. Plain pointers, so handing an event over neither retains it
/// nor checks exclusivity per access: each side touches a batch only between its semaphore operations.
private final class Batch {
    let size: Int
    private let owned: [DecodedEvent]
    let events: UnsafeMutablePointer<Unmanaged<DecodedEvent>>
    let lines: UnsafeMutablePointer<Int>
    let ends: UnsafeMutablePointer<Int64>
    let rejections: UnsafeMutablePointer<EventDecodingError?>
    /// Lines left to the consuming thread, and their bytes.
    let deferred: UnsafeMutablePointer<Bool>
    let raw: UnsafeMutablePointer<GrowableBuffer<UInt8>>
    @exclusivity(unchecked) var count = 0
    @exclusivity(unchecked) var isLast = false

    init(size: Int) {
        self.size = size
        owned = (0..<size).map { _ in DecodedEvent() }
        events = .allocate(capacity: size)
        events.initialize(from: owned.map { Unmanaged.passUnretained($0) }, count: size)
        lines = .allocate(capacity: size)
        lines.initialize(repeating: 0, count: size)
        ends = .allocate(capacity: size)
        ends.initialize(repeating: 0, count: size)
        rejections = .allocate(capacity: size)
        rejections.initialize(repeating: nil, count: size)
        deferred = .allocate(capacity: size)
        deferred.initialize(repeating: false, count: size)
        raw = .allocate(capacity: size)
        for index in 0..<size { (raw + index).initialize(to: GrowableBuffer(capacity: 256)) }
    }

    deinit {
        for index in 0..<size { raw[index].deallocate() }
        raw.deallocate()
        deferred.deallocate()
        rejections.deinitialize(count: size)
        rejections.deallocate()
        lines.deallocate()
        ends.deallocate()
        events.deallocate()
    }
}

/// A single-producer, single-consumer ring of batches. Two counting semaphores (free and filled slots) order the
/// hand-over: the producer fills slot `i` only after the consumer recycled it, and the consumer reads it only
/// after the producer published it, so the semaphores' release/acquire is what makes each batch's contents
/// visible to the other thread.
private final class Ring: @unchecked Sendable {
    let batches: [Batch]
    let stopped = Atomic<Bool>(false)
    /// Set when the consumer or the producer had to wait (a hint for ``DecodeAhead/Sharing/adaptive``).
    let consumerWaited = Atomic<Bool>(false)
    let producerWaited = Atomic<Bool>(false)
    private let free: UnsafeMutablePointer<sem_t>
    private let filled: UnsafeMutablePointer<sem_t>
    // Each index is touched by one side only.
    private var nextEmpty = 0
    private var nextFilled = 0

    init(batchSize: Int, depth: Int) {
        batches = (0..<depth).map { _ in Batch(size: batchSize) }
        free = .allocate(capacity: 1)
        filled = .allocate(capacity: 1)
        sem_init(free, 0, UInt32(depth))
        sem_init(filled, 0, 0)
    }

    deinit {
        sem_destroy(free)
        sem_destroy(filled)
        free.deallocate()
        filled.deallocate()
    }

    /// Producer: the next empty batch, waiting for the consumer to recycle one.
    func acquireEmpty() -> Batch {
        Self.wait(free, noting: producerWaited)
        let batch = batches[nextEmpty]
        nextEmpty = (nextEmpty + 1) % batches.count
        batch.count = 0
        batch.isLast = false
        return batch
    }

    /// Producer: hands a batch over.
    func publish(_ batch: Batch) { sem_post(filled) }

    /// Consumer: the next published batch, waiting for it.
    func acquireFilled() -> Batch {
        Self.wait(filled, noting: consumerWaited)
        let batch = batches[nextFilled]
        nextFilled = (nextFilled + 1) % batches.count
        return batch
    }

    /// Consumer: gives a consumed batch back.
    func recycle(_ batch: Batch) { sem_post(free) }

    /// Takes one from `semaphore`, spinning a while first: the other side usually posts within a batch's time,
    /// and a sleeping thread's wake-up (a futex, and on a VM an idle vCPU to wake) costs more than the spin.
    /// Sets `waited` when the semaphore was not ready at once.
    private static func wait(_ semaphore: UnsafeMutablePointer<sem_t>, noting waited: borrowing Atomic<Bool>) {
        if sem_trywait(semaphore) == 0 { return }
        waited.store(true, ordering: .relaxed)
        for _ in 0..<spinsBeforeSleeping where sem_trywait(semaphore) == 0 { return }
        while sem_wait(semaphore) != 0 && errno == EINTR {}
    }

    /// About 50–100 µs of `sem_trywait` (an atomic load while the count is 0).
    private static let spinsBeforeSleeping = 20_000
}

/// What the decoding thread's `read` returned.
private final class Outcome<Value>: @unchecked Sendable {
    var value: Swift.Result<Value, any Error>?
}

/// Moves the decoding thread's work across: safe because ``DecodeAhead/run(decoder:configuration:read:consume:)``
/// joins the thread before returning, and the reader's state is touched by that thread alone in between.
private final class UncheckedTransfer: @unchecked Sendable {
    let body: () -> Void
    init(_ body: @escaping () -> Void) { self.body = body }
}

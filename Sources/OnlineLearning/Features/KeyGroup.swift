import StreamCore

/// The keys of one key (a field or a tuple of fields) and their records: an open-addressing table of 64-bit key
/// hashes (linear probing, deletion by backward shift), a least-recently-seen list for eviction and expiry, and
/// records in pages of 32 keys, each page one array: a copy of the group (a snapshot's, `POST /score`'s) shares
/// every page, and the loop's next write to a key copies that key's page only (32 records), never the table of
/// records.
///
/// A record is `3 + stride` words: the key, the time it was last seen, its two list links (32 bits each), then
/// the aggregates' values. Keys are identified by their 64-bit hash: two keys collide with probability about
/// n²/2⁶⁵ (1 in 37 million for a million keys).
struct KeyGroup: Sendable {
    static let pageShift = 5
    static let pageSize = 1 << pageShift
    static let header = 3

    /// The key fields' indices in ``KeyedAggregates/fields``.
    let fields: [Int]
    /// Values per record (the header not counted).
    let stride: Int
    let blank: [Double]
    let timeToLive: Int64
    let capacity: Int
    /// Slot → record + 1 (0: empty).
    private var table: [Int32] = Array(repeating: 0, count: 64)
    private var pages: [[Double]] = []
    private(set) var count = 0
    /// Records handed out so far (free ones are reused first).
    private var allocated = 0
    private var free: [Int32] = []
    /// Records ever handed out: at most the capacity, whatever the stream.
    var recordsAllocated: Int { allocated }
    /// The most and least recently seen records.
    private var newest: Int32 = -1
    private var oldest: Int32 = -1

    init(fields: [Int], stride: Int, blank: [Double], timeToLive: Int64, capacity: Int) {
        self.fields = fields
        self.stride = stride
        self.blank = blank
        self.timeToLive = timeToLive
        self.capacity = capacity
    }

    /// The key of an event's field values, or ``KeyedAggregates/missingKey`` when one is missing.
    func keyHash(_ values: [KeyedAggregates.FieldValue]) -> UInt64 {
        var hash: UInt64 = 0x5157_4B45_5953_0001
        for field in fields {
            let value = values[field]
            guard value.present else { return KeyedAggregates.missingKey }
            hash = KeyedAggregates.mix(hash ^ value.hash)
        }
        return hash == KeyedAggregates.missingKey ? hash &- 1 : hash
    }

    @inline(__always) private func page(_ record: Int32) -> Int { Int(record) >> Self.pageShift }
    @inline(__always) private func base(_ record: Int32) -> Int {
        (Int(record) & (Self.pageSize - 1)) * (Self.header + stride)
    }

    @inline(__always) private func word(_ record: Int32, _ offset: Int) -> UInt64 {
        pages[page(record)][base(record) + offset].bitPattern
    }

    @inline(__always) private mutating func setWord(_ record: Int32, _ offset: Int, _ value: UInt64) {
        pages[page(record)][base(record) + offset] = Double(bitPattern: value)
    }

    func key(_ record: Int32) -> UInt64 { word(record, 0) }
    func seen(_ record: Int32) -> Int64 { Int64(bitPattern: word(record, 1)) }

    // MARK: - Table

    func find(_ key: UInt64) -> Int32? {
        table.withUnsafeBufferPointer { table in
            let mask = table.count - 1
            var slot = Int(truncatingIfNeeded: key) & mask
            while table[slot] != 0 {
                let record = table[slot] - 1
                if self.key(record) == key { return record }
                slot = (slot + 1) & mask
            }
            return nil
        }
    }

    private mutating func place(_ record: Int32) {
        let mask = table.count - 1
        var slot = Int(truncatingIfNeeded: key(record)) & mask
        while table[slot] != 0 { slot = (slot + 1) & mask }
        table[slot] = record + 1
    }

    private mutating func unplace(_ record: Int32) {
        let mask = table.count - 1
        var slot = Int(truncatingIfNeeded: key(record)) & mask
        while table[slot] != record + 1 { slot = (slot + 1) & mask }
        // Backward shift: move later entries of the run up so no probe stops early.
        var hole = slot
        var next = (hole + 1) & mask
        while table[next] != 0 {
            let home = Int(truncatingIfNeeded: key(table[next] - 1)) & mask
            // The entry may move to the hole when its home is not in (hole, next].
            if (next > hole && (home <= hole || home > next)) || (next < hole && home <= hole && home > next) {
                table[hole] = table[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        table[hole] = 0
    }

    // MARK: - Keys

    /// A new record for `key`, seen at `now`, as the most recent; evicts the least recent at capacity. Returns
    /// the record and how many keys were evicted (0 or 1).
    mutating func insert(_ key: UInt64, now: Int64) -> (Int32, Int) {
        var evicted = 0
        if count >= capacity, oldest >= 0 {
            remove(oldest)
            evicted = 1
        }
        let record: Int32
        if let reused = free.popLast() {
            record = reused
        } else {
            record = Int32(allocated)
            allocated += 1
            if page(record) == pages.count {
                pages.append([])
                pages[pages.count - 1].reserveCapacity(Self.pageSize * (Self.header + stride))
            }
            pages[page(record)].append(contentsOf: repeatElement(0, count: Self.header))
            pages[page(record)].append(contentsOf: blank)
        }
        let p = page(record)
        let start = base(record)
        pages[p].withUnsafeMutableBufferPointer { words in
            words[start] = Double(bitPattern: key)
            words[start + 1] = Double(bitPattern: UInt64(bitPattern: now))
            for offset in 0..<stride { words[start + Self.header + offset] = blank[offset] }
        }
        count += 1
        if count * 2 > table.count { grow() }
        place(record)
        link(record)
        return (record, evicted)
    }

    /// Marks `record` seen at `now` (keeping the latest time) and makes it the most recent.
    mutating func touch(_ record: Int32, now: Int64) {
        if now > seen(record) { setWord(record, 1, UInt64(bitPattern: now)) }
        guard record != newest else { return }
        unlink(record)
        link(record)
    }

    /// Drops the keys idle longer than the time to live at `now`; returns how many.
    mutating func expire(now: Int64) -> Int {
        var dropped = 0
        while oldest >= 0 && seen(oldest) < now &- timeToLive {
            remove(oldest)
            dropped += 1
        }
        return dropped
    }

    private mutating func remove(_ record: Int32) {
        unplace(record)
        unlink(record)
        free.append(record)
        count -= 1
    }

    private mutating func grow() {
        table = Array(repeating: 0, count: table.count * 2)
        var record = newest
        while record >= 0 {
            place(record)
            record = link(of: record, next: true)
        }
    }

    /// The previous (more recent) or next (less recent) record in the list, `-1` at the ends.
    @inline(__always)
    private func link(of record: Int32, next: Bool) -> Int32 {
        let links = word(record, 2)
        return Int32(bitPattern: UInt32(truncatingIfNeeded: next ? links >> 32 : links))
    }

    @inline(__always)
    private mutating func setLinks(of record: Int32, previous: Int32, next: Int32) {
        setWord(record, 2, UInt64(UInt32(bitPattern: previous)) | UInt64(UInt32(bitPattern: next)) << 32)
    }

    /// Puts `record` at the most recent end.
    private mutating func link(_ record: Int32) {
        setLinks(of: record, previous: -1, next: newest)
        if newest >= 0 { setLinks(of: newest, previous: record, next: link(of: newest, next: true)) }
        newest = record
        if oldest < 0 { oldest = record }
    }

    private mutating func unlink(_ record: Int32) {
        let previous = link(of: record, next: false)
        let next = link(of: record, next: true)
        if previous >= 0 { setLinks(of: previous, previous: link(of: previous, next: false), next: next) } else { newest = next }
        if next >= 0 { setLinks(of: next, previous: previous, next: link(of: next, next: true)) } else { oldest = previous }
    }

    // MARK: - Records

    /// Calls `body` with `record`'s values in place, for reading (nothing is copied).
    func read<Result>(_ record: Int32, _ body: (UnsafePointer<Double>) -> Result) -> Result {
        let start = base(record) + Self.header
        return pages[page(record)].withUnsafeBufferPointer { words in body(words.baseAddress! + start) }
    }

    /// Calls `body` with `record`'s values in place, for writing (a page shared with a copy is copied first).
    mutating func write<Result>(_ record: Int32, _ body: (UnsafeMutablePointer<Double>) -> Result) -> Result {
        let start = base(record) + Self.header
        return pages[page(record)].withUnsafeMutableBufferPointer { words in body(words.baseAddress! + start) }
    }

    /// The keys as columns, least recently seen first.
    func columns() -> KeyedAggregates.GroupColumns {
        var keys: [Int64] = []
        var seen: [Int64] = []
        var values: [Double] = []
        keys.reserveCapacity(count)
        seen.reserveCapacity(count)
        values.reserveCapacity(count * stride)
        var record = oldest
        while record >= 0 {
            keys.append(Int64(bitPattern: key(record)))
            seen.append(self.seen(record))
            read(record) { stored in values.append(contentsOf: UnsafeBufferPointer(start: stored, count: stride)) }
            record = link(of: record, next: false)
        }
        return KeyedAggregates.GroupColumns(keys: keys, seen: seen, records: values)
    }
}

import Logging
import NIOCore
import SkeinModel
import SkeinReplication
import SkeinStorage
import SkeinTransactions

/// The answer to a coordinator request: the coordinator's response, or an error that stands for the whole request
/// (the coordinator is elsewhere, loading, or lost its leadership before the records were durable).
enum CoordinatorOutcome<Response: Sendable>: Sendable {
    case response(Response)
    case error(KafkaErrorCode)
}

/// Hosts one coordinator core (a group or a transaction coordinator) per partition of an internal topic that this
/// node leads, as Kafka's coordinators follow their partitions' leaderships:
/// - a core is loaded once this node leads the partition and the log is committed to its end (everything earlier
///   leaders acknowledged is in); meanwhile requests get COORDINATOR_LOAD_IN_PROGRESS, and NOT_COORDINATOR where
///   this node does not lead;
/// - a new leadership (another Raft term) drops the core and loads a new one;
/// - records are appended with acks=all, and a response waits until every append before it is durable;
/// - a failed append drops the core (its waiting requests get NOT_COORDINATOR), which is rebuilt from the log on
///   the next request, as Kafka resigns the partition.
///
/// Everything runs on `loop`: the services built on it (`GroupService`, `TxnService`) turn their core's directives
/// into `persist` and `respond` calls there.
final class CoordinatorHost<Core: AnyObject, Response: Sendable>: @unchecked Sendable {
    typealias Outcome = CoordinatorOutcome<Response>

    /// A loaded core with what waits on it. Only touched on `loop`.
    final class Slot: @unchecked Sendable {
        let partition: Int32
        let epoch: Int64
        let core: Core
        var pending: [UInt64: EventLoopPromise<Outcome>] = [:]
        /// Completes when every append issued so far is durable; fails when one failed.
        var appended: EventLoopFuture<Void>
        init(partition: Int32, epoch: Int64, core: Core, loop: any EventLoop) {
            self.partition = partition
            self.epoch = epoch
            self.core = core
            appended = loop.makeSucceededVoidFuture()
        }
    }

    let loop: any EventLoop
    let backend: any CoordinatorLogBackend
    private let name: String
    private let logger: Logger
    /// Builds a core from partition `p`'s log, committed up to the leadership's high watermark.
    private let load: (Int32, CoordinatorLeadership) throws -> Core
    /// Runs right after a core is loaded (the service's first directives for it).
    var afterLoad: ((Slot) -> Void)?
    private var slots: [Int32: Slot] = [:]
    private var nextRequestId: UInt64 = 1
    private var ticker: RepeatedTask?
    private(set) var stopped = false

    init(
        backend: any CoordinatorLogBackend, name: String, logger: Logger, loop: any EventLoop,
        load: @escaping (Int32, CoordinatorLeadership) throws -> Core
    ) {
        self.backend = backend
        self.name = name
        self.logger = logger
        self.loop = loop
        self.load = load
    }

    var partitionCount: Int32? { backend.partitionCount }

    /// Runs `tick` on `loop` every `interval` (the service follows leaderships and fires its cores' timers there).
    func start(every interval: TimeAmount, _ tick: @escaping @Sendable () -> Void) {
        loop.execute {
            guard self.ticker == nil, !self.stopped else { return }
            self.ticker = self.loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in tick() }
        }
    }

    /// Stops the timer and drops every core; what waits gets NOT_COORDINATOR, and nothing loads again.
    func stop() {
        loop.execute {
            self.stopped = true
            self.ticker?.cancel()
            self.ticker = nil
            for p in Array(self.slots.keys) { self.unload(p, answering: .notCoordinator) }
        }
    }

    /// Sends a request to the core of partition `p`: `body` gets the slot and the request's id, and hands the core's
    /// directives to the service, which answers through `respond`.
    func submit(partition p: Int32, _ body: @escaping @Sendable (Slot, UInt64) -> Void) -> EventLoopFuture<Outcome> {
        loop.flatSubmit {
            switch self.slot(p) {
            case .failure(let code):
                return self.loop.makeSucceededFuture(.error(code))
            case .success(let slot):
                let id = self.nextRequestId
                self.nextRequestId += 1
                let promise = self.loop.makePromise(of: Outcome.self)
                slot.pending[id] = promise
                body(slot, id)
                return promise.futureResult
            }
        }
    }

    /// Every partition this node leads answers (ListGroups, ListTransactions); loading ones answer an error.
    func submitToAll(_ body: @escaping @Sendable (Slot, UInt64) -> Void) -> EventLoopFuture<[Outcome]> {
        loop.flatSubmit {
            guard let count = self.backend.partitionCount else { return self.loop.makeSucceededFuture([]) }
            var futures: [EventLoopFuture<Outcome>] = []
            for p in 0..<count where self.backend.leadership(p) != nil {
                futures.append(self.submit(partition: p, body))
            }
            return EventLoopFuture.whenAllSucceed(futures, on: self.loop)
        }
    }

    /// On `loop`: follows leaderships (loading what this node now leads, so that sessions and transactions carry
    /// over a failover, dropping what it lost) and calls `body` with every loaded core.
    func forEachLoaded(_ body: (Slot) -> Void) {
        guard let count = backend.partitionCount else { return }
        for p in 0..<count {
            if case .success(let slot) = self.slot(p) { body(slot) }
        }
    }

    /// On `loop`: the loaded core of partition `p`, if any (without loading one).
    func loaded(_ p: Int32) -> Slot? { slots[p] }

    /// On `loop`: whether `slot` is still the loaded core of its partition.
    func isCurrent(_ slot: Slot) -> Bool { slots[slot.partition] === slot }

    // MARK: directives

    /// Appends `batch` to the slot's partition; the responses after it wait for it. A failed append drops the core.
    func persist(_ batch: ByteBuffer, in slot: Slot) {
        let appended = backend.append(slot.partition, batch: batch, on: loop).map { _ in }
        slot.appended = slot.appended.and(appended).map { _ in }
        appended.whenFailure { error in
            // As Kafka resigns: the state may hold what the log does not; rebuild from the log.
            self.logger.warning(
                "\(self.name) records not persisted; reloading",
                metadata: ["partition": "\(slot.partition)", "error": "\(error)"])
            if self.isCurrent(slot) { self.unload(slot.partition, answering: .notCoordinator) }
        }
    }

    /// Answers request `id` once every append before this call is durable (NOT_COORDINATOR if one failed).
    func respond(_ id: UInt64, _ response: Response, in slot: Slot) {
        guard let promise = slot.pending.removeValue(forKey: id) else { return }
        slot.appended.whenComplete { result in
            switch result {
            case .success: promise.succeed(.response(response))
            case .failure: promise.succeed(.error(.notCoordinator))
            }
        }
    }

    /// Answers request `id` at once with an error.
    func fail(_ id: UInt64, _ code: KafkaErrorCode, in slot: Slot) {
        slot.pending.removeValue(forKey: id)?.succeed(.error(code))
    }

    /// Drops the core of `slot` (a record could not be encoded): what waits gets `code`.
    func drop(_ slot: Slot, answering code: KafkaErrorCode) {
        if isCurrent(slot) { unload(slot.partition, answering: code) }
    }

    // MARK: leadership and loading

    private enum SlotResult {
        case success(Slot)
        case failure(KafkaErrorCode)
    }

    private func slot(_ p: Int32) -> SlotResult {
        guard !stopped else { return .failure(.notCoordinator) }
        guard let leadership = backend.leadership(p) else {
            unload(p, answering: .notCoordinator)
            return .failure(.notCoordinator)
        }
        if let slot = slots[p] {
            if slot.epoch == leadership.epoch { return .success(slot) }
            unload(p, answering: .notCoordinator)
        }
        // A new leader serves once its log is committed to the end: everything earlier leaders acknowledged.
        guard leadership.highWatermark >= leadership.log.logEndOffset else { return .failure(.coordinatorLoadInProgress) }
        do {
            let slot = Slot(partition: p, epoch: leadership.epoch, core: try load(p, leadership), loop: loop)
            slots[p] = slot
            logger.info("\(name) coordinator loaded", metadata: ["partition": "\(p)", "epoch": "\(leadership.epoch)"])
            afterLoad?(slot)
            return .success(slot)
        } catch {
            logger.error("cannot load \(name) coordinator", metadata: ["partition": "\(p)", "error": "\(error)"])
            return .failure(.coordinatorLoadInProgress)
        }
    }

    private func unload(_ p: Int32, answering code: KafkaErrorCode) {
        guard let slot = slots.removeValue(forKey: p) else { return }
        for promise in slot.pending.values { promise.succeed(.error(code)) }
        slot.pending = [:]
        logger.info("\(name) coordinator unloaded", metadata: ["partition": "\(p)", "epoch": "\(slot.epoch)"])
    }
}

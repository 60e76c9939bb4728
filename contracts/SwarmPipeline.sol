// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// The part of SwarmLearning this contract reads: who is enrolled in the swarm.
interface ISwarmRegistry {
    function getNode(address node)
        external
        view
        returns (
            uint8 role,
            string memory fileUrl,
            uint64 enrolledAtStep,
            uint64 lastStep,
            bool finished,
            uint64 rejoinedAtStep
        );
}

/// @title SwarmPipeline
/// @notice Shared state of the swarm's pipelines: which pipelines are deployed (the sha256 of
/// their manifest, which names every module archive and global by hash), which worker nodes
/// offer which datasets, each iteration's task assignments, the sha256 of every task's result
/// index and log, the decisions of the scheduler and who made them, and each pipeline's status.
/// Only hashes come here; the files travel between the nodes' file servers.
/// @dev Rules (docs/ARCHITECTURE.md, "Pipelines"):
///  - Tasks are numbered in topological order: a task depends only on lower-numbered tasks, so
///    a deployed graph has no cycle. An iteration is done once every sink task is done.
///  - The contract itself plans each iteration (`startIteration`, callable by any worker), from
///    chain state alone: a task's candidates are the registered workers that hold its datasets
///    and did not miss their last assignment (or the nodes the scheduler chose, or for a fixed
///    task the previous iteration's nodes), ordered by keccak(pipeline, iteration, task, node).
///    An `all` task runs on the first `maximum` of them; an `any` task on one at a time: a
///    candidate claims it, and another may take it over once the holder has been silent for
///    `taskTimeout` seconds. So two nodes never hold the one slot of an `any` task.
///  - An `all` task is done when every planned node has reported, or, `taskTimeout` seconds
///    after it became ready, once `quorum` of them have (`closeTask`); the silent ones are marked
///    as having missed and are not planned again until they register anew. Short of a quorum
///    after the timeout, `closeTask` plans the task again without its silent nodes (`_replan`)
///    and the timeout starts over. An `all` task with
///    `agree` is done on the result hash that a strict majority of its planned nodes produced
///    (after the timeout: a strict majority of those that reported).
contract SwarmPipeline {
    uint8 public constant STATUS_PENDING = 0;
    uint8 public constant STATUS_RUNNING = 1;
    uint8 public constant STATUS_COMPLETED = 2;
    uint8 public constant STATUS_STOPPED = 3;
    uint8 public constant STATUS_FAILED = 4;
    uint8 public constant METHOD_ALL = 0;
    uint8 public constant METHOD_ANY = 1;
    uint8 public constant DECISION_NONE = 0;
    uint8 public constant DECISION_STOP = 1;
    uint8 public constant DECISION_SCHEDULE = 2;
    uint256 public constant MAX_TASKS = 32;
    uint32 public constant FRACTION_ONE = 10000; // maximum given as a fraction, in basis points

    struct Worker {
        uint32 index; // 1 + position in workerList; 0 = not registered
        bool missed;
        uint64 registeredAt;
        string[] datasets;
        bytes32[] datasetIds;
    }

    struct TaskSpec {
        uint8 method;
        bool agree;
        bool fixedNodes;
        uint32 quorum;
        uint32 maxCount; // 0 = no cap
        uint32 maxFraction; // basis points; 0 = no cap
        uint256 deps; // bit d set: depends on task d (< this task)
        bytes32[] datasets; // keccak of each dataset name the task needs
    }

    struct Pipeline {
        address owner;
        bytes32 manifestHash;
        string name;
        uint8 status;
        bool open; // iteration `iterations - 1` is running
        uint64 iterations; // started so far
        uint64 maxIterations; // 0 = until the scheduler stops it
        uint32 taskTimeout;
        uint64 createdAt;
        uint64 endedAt;
        address endedBy;
        uint256 sinks;
        TaskSpec[] tasks;
    }

    struct Iteration {
        uint64 startedAt;
        address startedBy;
        uint256 doneMask;
        uint8 decision;
        address decidedBy;
        uint8 nextTask;
        address[] nextNodes;
    }

    struct Run {
        address[] planned;
        address[] reporters;
        address holder;
        uint64 claimedAt;
        uint64 doneAt;
        bool done;
        bytes32 agreedHash;
        uint64 replannedAt; // when an `all` task short of its quorum was planned again (0: never)
    }

    struct Result {
        bytes32 resultHash;
        bytes32 logHash;
        uint64 at;
    }

    address public registry; // SwarmLearning: who is enrolled
    address public admin;

    mapping(address => Worker) private workers;
    address[] private workerList;
    Pipeline[] private pipelines;
    mapping(uint256 => mapping(uint64 => Iteration)) private iterationOf;
    mapping(uint256 => mapping(uint64 => mapping(uint256 => Run))) private runOf;
    mapping(uint256 => mapping(uint64 => mapping(uint256 => mapping(address => Result)))) private resultOf;
    mapping(uint256 => mapping(uint64 => mapping(uint256 => mapping(bytes32 => uint32)))) private votesOf;

    event WorkerRegistered(address indexed node, string[] datasets);
    event WorkerMissed(address indexed node, uint256 indexed pipeline, uint64 iteration, uint256 task);
    event PipelineDeployed(uint256 indexed pipeline, address indexed owner, bytes32 manifestHash, string name);
    event IterationStarted(uint256 indexed pipeline, uint64 iteration, address startedBy);
    event TaskClaimed(uint256 indexed pipeline, uint64 iteration, uint256 task, address node);
    event ResultSubmitted(
        uint256 indexed pipeline, uint64 iteration, uint256 task, address node, bytes32 resultHash, bytes32 logHash
    );
    event ResultRefused(uint256 indexed pipeline, uint64 iteration, uint256 task, address producer, address refusedBy);
    event TaskReplanned(uint256 indexed pipeline, uint64 iteration, uint256 task, address[] planned);
    event TaskDone(uint256 indexed pipeline, uint64 iteration, uint256 task, bytes32 agreedHash);
    event Decided(uint256 indexed pipeline, uint64 iteration, address node, uint8 decision, uint8 nextTask);
    event IterationDone(uint256 indexed pipeline, uint64 iteration);
    event TaskFailed(uint256 indexed pipeline, uint64 iteration, uint256 task, address node, bytes32 logHash);
    event PipelineEnded(uint256 indexed pipeline, uint8 status, address by);

    constructor(address registry_) {
        registry = registry_;
        admin = msg.sender;
    }

    modifier onlyEnrolled() {
        (uint8 role,,,,,) = ISwarmRegistry(registry).getNode(msg.sender);
        require(role != 0, "node is not enrolled in the swarm");
        _;
    }

    modifier onlyWorker() {
        require(workers[msg.sender].index != 0, "node is not a registered worker");
        _;
    }

    // ------------------------------------------------------------------ workers

    /// Register (or re-register: a restarted node, or one that missed an assignment) as a
    /// worker offering `datasets`.
    function registerWorker(string[] calldata datasets) external onlyEnrolled {
        Worker storage w = workers[msg.sender];
        if (w.index == 0) {
            workerList.push(msg.sender);
            w.index = uint32(workerList.length);
        }
        w.missed = false;
        w.registeredAt = uint64(block.timestamp);
        delete w.datasets;
        delete w.datasetIds;
        for (uint256 i = 0; i < datasets.length; i++) {
            w.datasets.push(datasets[i]);
            w.datasetIds.push(keccak256(bytes(datasets[i])));
        }
        emit WorkerRegistered(msg.sender, datasets);
    }

    // ------------------------------------------------------------------ deployment

    struct TaskInput {
        uint8 method;
        bool agree;
        bool fixedNodes;
        uint32 quorum;
        uint32 maxCount;
        uint32 maxFraction;
        uint256 deps;
        bytes32[] datasets;
    }

    function deployPipeline(
        bytes32 manifestHash,
        string calldata name,
        TaskInput[] calldata tasks,
        uint256 sinks,
        uint32 taskTimeout,
        uint64 maxIterations
    ) external onlyEnrolled returns (uint256 id) {
        require(manifestHash != bytes32(0), "manifest hash is zero");
        require(tasks.length > 0 && tasks.length <= MAX_TASKS, "a pipeline has 1 to 32 tasks");
        require(sinks != 0 && sinks >> tasks.length == 0, "sink tasks out of range");
        require(taskTimeout > 0, "task timeout must be positive");
        id = pipelines.length;
        Pipeline storage p = pipelines.push();
        p.owner = msg.sender;
        p.manifestHash = manifestHash;
        p.name = name;
        p.taskTimeout = taskTimeout;
        p.maxIterations = maxIterations;
        p.createdAt = uint64(block.timestamp);
        p.sinks = sinks;
        for (uint256 t = 0; t < tasks.length; t++) {
            TaskInput calldata input = tasks[t];
            require(input.method <= METHOD_ANY, "unknown task method");
            require(input.deps >> t == 0, "a task may depend only on earlier tasks");
            require(input.maxFraction <= FRACTION_ONE, "maximum fraction above 1");
            require(!input.agree || input.method == METHOD_ALL, "agreement needs method all");
            p.tasks.push(
                TaskSpec({
                    method: input.method,
                    agree: input.agree,
                    fixedNodes: input.fixedNodes,
                    quorum: input.quorum,
                    maxCount: input.maxCount,
                    maxFraction: input.maxFraction,
                    deps: input.deps,
                    datasets: input.datasets
                })
            );
        }
        emit PipelineDeployed(id, msg.sender, manifestHash, name);
    }

    function stopPipeline(uint256 id) external {
        Pipeline storage p = _pipeline(id);
        require(msg.sender == p.owner || msg.sender == admin, "only the pipeline's owner may stop it");
        require(p.status <= STATUS_RUNNING, "pipeline has already ended");
        _end(id, p, STATUS_STOPPED, msg.sender);
    }

    // ------------------------------------------------------------------ iterations

    function startIteration(uint256 id) external onlyWorker {
        Pipeline storage p = _pipeline(id);
        require(p.status <= STATUS_RUNNING, "pipeline has ended");
        require(!p.open, "iteration already open");
        uint64 k = p.iterations;
        Iteration storage it = iterationOf[id][k];
        it.startedAt = uint64(block.timestamp);
        it.startedBy = msg.sender;
        for (uint256 t = 0; t < p.tasks.length; t++) {
            address[] memory chosen = _plan(id, p, k, t);
            require(chosen.length > 0, "no eligible worker for a task yet");
            runOf[id][k][t].planned = chosen;
        }
        p.open = true;
        p.iterations = k + 1;
        p.status = STATUS_RUNNING;
        emit IterationStarted(id, k, msg.sender);
    }

    function claimTask(uint256 id, uint64 k, uint256 t) external {
        (Pipeline storage p, Run storage run) = _readyRun(id, k, t);
        require(p.tasks[t].method == METHOD_ANY, "only an any task is claimed");
        require(_isIn(run.planned, msg.sender), "node is not a candidate for this task");
        require(run.holder != msg.sender, "node already holds this task");
        if (run.holder != address(0)) {
            require(block.timestamp >= run.claimedAt + p.taskTimeout, "task is held by another node");
            _miss(run.holder, id, k, t);
        }
        run.holder = msg.sender;
        run.claimedAt = uint64(block.timestamp);
        emit TaskClaimed(id, k, t, msg.sender);
    }

    struct Decision {
        uint8 kind; // DECISION_NONE, DECISION_STOP or DECISION_SCHEDULE
        uint8 nextTask; // for DECISION_SCHEDULE: the task the next iteration's nodes are for
        address[] nextNodes;
    }

    function submitResult(uint256 id, uint64 k, uint256 t, bytes32 resultHash, bytes32 logHash, Decision calldata decision)
        external
    {
        (Pipeline storage p, Run storage run) = _readyRun(id, k, t);
        require(resultHash != bytes32(0), "result hash is zero");
        TaskSpec storage spec = p.tasks[t];
        _checkReporter(spec, run);
        _record(id, k, t, resultHash, logHash);
        run.reporters.push(msg.sender);
        if (decision.kind != DECISION_NONE) _decide(id, p, k, decision);
        if (spec.method == METHOD_ANY) {
            _complete(id, p, k, t, bytes32(0));
        } else if (spec.agree) {
            uint32 votes = ++votesOf[id][k][t][resultHash];
            if (2 * uint256(votes) > run.planned.length) _complete(id, p, k, t, resultHash);
        } else if (run.reporters.length == run.planned.length) {
            _complete(id, p, k, t, bytes32(0));
        }
    }

    function _checkReporter(TaskSpec storage spec, Run storage run) private view {
        if (spec.method == METHOD_ANY) {
            require(run.holder == msg.sender, "node does not hold this task");
        } else {
            require(_isIn(run.planned, msg.sender), "node is not planned for this task");
        }
    }

    function _record(uint256 id, uint64 k, uint256 t, bytes32 resultHash, bytes32 logHash) private {
        Result storage r = resultOf[id][k][t][msg.sender];
        require(r.at == 0, "node already reported this task");
        r.resultHash = resultHash;
        r.logHash = logHash;
        r.at = uint64(block.timestamp);
        emit ResultSubmitted(id, k, t, msg.sender, resultHash, logHash);
    }

    /// The first decision of an iteration counts; it takes effect when the iteration is done.
    function _decide(uint256 id, Pipeline storage p, uint64 k, Decision calldata decision) private {
        Iteration storage it = iterationOf[id][k];
        if (it.decision != DECISION_NONE) return;
        require(decision.kind <= DECISION_SCHEDULE, "unknown decision");
        require(decision.kind != DECISION_SCHEDULE || decision.nextTask < p.tasks.length, "unknown task to schedule");
        it.decision = decision.kind;
        it.decidedBy = msg.sender;
        it.nextTask = decision.nextTask;
        for (uint256 i = 0; i < decision.nextNodes.length; i++) {
            it.nextNodes.push(decision.nextNodes[i]);
        }
        emit Decided(id, k, msg.sender, decision.kind, decision.nextTask);
    }

    /// An `all` task whose silent nodes have had `taskTimeout` seconds: done with those that
    /// reported, if they are a quorum (and, with agreement, a strict majority of them agree).
    /// Short of a quorum, it is planned again without the silent nodes (see `_replan`).
    function closeTask(uint256 id, uint64 k, uint256 t) external {
        (Pipeline storage p, Run storage run) = _readyRun(id, k, t);
        TaskSpec storage spec = p.tasks[t];
        require(spec.method == METHOD_ALL, "only an all task is closed");
        require(block.timestamp >= readyAt(id, k, t) + p.taskTimeout, "task timeout has not passed");
        uint256 quorum = spec.quorum == 0 || spec.quorum > run.planned.length ? run.planned.length : spec.quorum;
        if (run.reporters.length < quorum) {
            _replan(id, p, k, t, run);
            return;
        }
        bytes32 agreed;
        if (spec.agree) {
            for (uint256 i = 0; i < run.reporters.length; i++) {
                bytes32 h = resultOf[id][k][t][run.reporters[i]].resultHash;
                if (2 * uint256(votesOf[id][k][t][h]) > run.reporters.length) agreed = h;
            }
            require(agreed != bytes32(0), "no strict majority among the results");
        }
        for (uint256 i = 0; i < run.planned.length; i++) {
            if (resultOf[id][k][t][run.planned[i]].at == 0) _miss(run.planned[i], id, k, t);
        }
        _complete(id, p, k, t, agreed);
    }

    /// Plans are made when an iteration starts, so a node that died after that (a worker of the
    /// same iteration, say) can be the only node of a later task: waiting for it would hold the
    /// pipeline forever. The silent nodes are marked missed, and the task goes to the nodes that
    /// reported plus eligible others, as many as a plan made now would hold; its timeout starts
    /// again. Reverts (nothing changes) while no other eligible node exists.
    function _replan(uint256 id, Pipeline storage p, uint64 k, uint256 t, Run storage run) private {
        for (uint256 i = 0; i < run.planned.length; i++) {
            if (resultOf[id][k][t][run.planned[i]].at == 0) _miss(run.planned[i], id, k, t);
        }
        address[] memory fresh = _plan(id, p, k, t);
        uint256 size = fresh.length > run.reporters.length ? fresh.length : run.reporters.length;
        address[] memory next = new address[](size);
        uint256 n = 0;
        for (uint256 i = 0; i < run.reporters.length; i++) {
            next[n++] = run.reporters[i];
        }
        for (uint256 i = 0; i < fresh.length && n < size; i++) {
            if (!_isInMemory(next, n, fresh[i])) next[n++] = fresh[i];
        }
        require(n > run.reporters.length, "fewer results than the task's quorum, and no other eligible worker");
        assembly ("memory-safe") {
            mstore(next, n)
        }
        run.planned = next;
        run.replannedAt = uint64(block.timestamp);
        emit TaskReplanned(id, k, t, next);
    }

    /// A consumer refused a result (its file did not match its hash, or could not be had):
    /// recorded so that everybody can see it; the result is never used by that consumer.
    function refuseResult(uint256 id, uint64 k, uint256 t, address producer) external onlyWorker {
        require(resultOf[id][k][t][producer].at != 0, "no such result");
        emit ResultRefused(id, k, t, producer, msg.sender);
    }

    /// The task's program failed (raised, or broke its limits): the pipeline fails, with the
    /// hash of the task's log for whoever wants to read why.
    function failTask(uint256 id, uint64 k, uint256 t, bytes32 logHash) external {
        (Pipeline storage p, Run storage run) = _readyRun(id, k, t);
        _checkReporter(p.tasks[t], run);
        emit TaskFailed(id, k, t, msg.sender, logHash);
        _end(id, p, STATUS_FAILED, msg.sender);
    }

    // ------------------------------------------------------------------ internals

    function _pipeline(uint256 id) private view returns (Pipeline storage) {
        require(id < pipelines.length, "no such pipeline");
        return pipelines[id];
    }

    function _readyRun(uint256 id, uint64 k, uint256 t) private view returns (Pipeline storage p, Run storage run) {
        p = _pipeline(id);
        require(p.status == STATUS_RUNNING, "pipeline is not running");
        require(p.open && k + 1 == p.iterations, "not the open iteration");
        require(t < p.tasks.length, "no such task");
        run = runOf[id][k][t];
        require(!run.done, "task is already done");
        uint256 deps = p.tasks[t].deps;
        require(iterationOf[id][k].doneMask & deps == deps, "task is not ready");
    }

    function _complete(uint256 id, Pipeline storage p, uint64 k, uint256 t, bytes32 agreed) private {
        Run storage run = runOf[id][k][t];
        run.done = true;
        run.doneAt = uint64(block.timestamp);
        run.agreedHash = agreed;
        Iteration storage it = iterationOf[id][k];
        it.doneMask |= uint256(1) << t;
        emit TaskDone(id, k, t, agreed);
        if (it.doneMask & p.sinks != p.sinks) return;
        p.open = false;
        emit IterationDone(id, k);
        if (it.decision == DECISION_STOP) {
            _end(id, p, STATUS_COMPLETED, it.decidedBy);
        } else if (p.maxIterations != 0 && p.iterations >= p.maxIterations) {
            _end(id, p, STATUS_COMPLETED, address(0));
        }
    }

    function _end(uint256 id, Pipeline storage p, uint8 status, address by) private {
        p.status = status;
        p.open = false;
        p.endedAt = uint64(block.timestamp);
        p.endedBy = by;
        emit PipelineEnded(id, status, by);
    }

    function _miss(address node, uint256 id, uint64 k, uint256 t) private {
        workers[node].missed = true;
        emit WorkerMissed(node, id, k, t);
    }

    function _isIn(address[] storage list, address node) private view returns (bool) {
        for (uint256 i = 0; i < list.length; i++) {
            if (list[i] == node) return true;
        }
        return false;
    }

    function _eligible(address node, TaskSpec storage spec) private view returns (bool) {
        Worker storage w = workers[node];
        if (w.index == 0 || w.missed) return false;
        for (uint256 i = 0; i < spec.datasets.length; i++) {
            bool found = false;
            for (uint256 j = 0; j < w.datasetIds.length && !found; j++) {
                found = w.datasetIds[j] == spec.datasets[i];
            }
            if (!found) return false;
        }
        return true;
    }

    /// The nodes of task t in iteration k, best first (see the contract's rules).
    function _plan(uint256 id, Pipeline storage p, uint64 k, uint256 t) private view returns (address[] memory) {
        TaskSpec storage spec = p.tasks[t];
        address[] memory pool = _pool(id, p, k, t);
        address[] memory chosen = new address[](pool.length);
        uint256[] memory score = new uint256[](pool.length);
        address previousHolder = k > 0 ? runOf[id][k - 1][t].holder : address(0);
        uint256 n = 0;
        for (uint256 i = 0; i < pool.length; i++) {
            if (!_eligible(pool[i], spec) || _isInMemory(chosen, n, pool[i])) continue;
            chosen[n] = pool[i];
            score[n] = (spec.fixedNodes && pool[i] == previousHolder)
                ? 0
                : uint256(keccak256(abi.encode(id, k, t, pool[i])));
            n++;
        }
        uint256 cap = n;
        if (spec.method == METHOD_ALL) {
            if (spec.maxCount != 0 && spec.maxCount < cap) cap = spec.maxCount;
            if (spec.maxFraction != 0) {
                uint256 share = (n * spec.maxFraction) / FRACTION_ONE;
                if (share == 0) share = 1;
                if (share < cap) cap = share;
            }
        }
        // Selection sort of the n candidates by score; the first `cap` are the plan.
        for (uint256 i = 0; i < cap; i++) {
            uint256 best = i;
            for (uint256 j = i + 1; j < n; j++) {
                if (score[j] < score[best]) best = j;
            }
            (chosen[i], chosen[best]) = (chosen[best], chosen[i]);
            (score[i], score[best]) = (score[best], score[i]);
        }
        assembly ("memory-safe") {
            mstore(chosen, cap)
        }
        return chosen;
    }

    /// Where task t's candidates come from: the scheduler's choice for this task, else for a
    /// fixed task the previous iteration's nodes (while any of them is still eligible), else
    /// every registered worker.
    function _pool(uint256 id, Pipeline storage p, uint64 k, uint256 t) private view returns (address[] memory) {
        if (k == 0) return workerList;
        Iteration storage previous = iterationOf[id][k - 1];
        if (previous.decision == DECISION_SCHEDULE && previous.nextTask == t && previous.nextNodes.length > 0) {
            return previous.nextNodes;
        }
        if (p.tasks[t].fixedNodes) {
            address[] storage before = runOf[id][k - 1][t].planned;
            for (uint256 i = 0; i < before.length; i++) {
                if (_eligible(before[i], p.tasks[t])) return before;
            }
        }
        return workerList;
    }

    function _isInMemory(address[] memory list, uint256 n, address node) private pure returns (bool) {
        for (uint256 i = 0; i < n; i++) {
            if (list[i] == node) return true;
        }
        return false;
    }

    // ------------------------------------------------------------------ views

    /// When task t became ready: when its last dependency was done (the iteration's start
    /// for a task without dependencies), or when it was planned again; 0 while it is not ready.
    function readyAt(uint256 id, uint64 k, uint256 t) public view returns (uint64 at) {
        Pipeline storage p = _pipeline(id);
        uint256 deps = p.tasks[t].deps;
        Iteration storage it = iterationOf[id][k];
        if (it.startedAt == 0 || it.doneMask & deps != deps) return 0;
        at = it.startedAt;
        for (uint256 d = 0; d < t; d++) {
            if (deps & (uint256(1) << d) != 0 && runOf[id][k][d].doneAt > at) at = runOf[id][k][d].doneAt;
        }
        if (runOf[id][k][t].replannedAt > at) at = runOf[id][k][t].replannedAt;
    }

    function pipelineCount() external view returns (uint256) {
        return pipelines.length;
    }

    function getPipeline(uint256 id)
        external
        view
        returns (
            address owner,
            bytes32 manifestHash,
            string memory name,
            uint8 status,
            bool open,
            uint64 iterations,
            uint64 maxIterations,
            uint32 taskTimeout,
            uint64 createdAt,
            uint64 endedAt,
            address endedBy,
            uint256 sinks
        )
    {
        Pipeline storage p = _pipeline(id);
        return (
            p.owner,
            p.manifestHash,
            p.name,
            p.status,
            p.open,
            p.iterations,
            p.maxIterations,
            p.taskTimeout,
            p.createdAt,
            p.endedAt,
            p.endedBy,
            p.sinks
        );
    }

    function getTasks(uint256 id) external view returns (TaskSpec[] memory) {
        return _pipeline(id).tasks;
    }

    function getIteration(uint256 id, uint64 k)
        external
        view
        returns (
            uint64 startedAt,
            address startedBy,
            uint256 doneMask,
            uint8 decision,
            address decidedBy,
            uint8 nextTask,
            address[] memory nextNodes
        )
    {
        Iteration storage it = iterationOf[id][k];
        return (it.startedAt, it.startedBy, it.doneMask, it.decision, it.decidedBy, it.nextTask, it.nextNodes);
    }

    function getRun(uint256 id, uint64 k, uint256 t)
        external
        view
        returns (
            address[] memory planned,
            address[] memory reporters,
            address holder,
            uint64 claimedAt,
            uint64 doneAt,
            bool done,
            bytes32 agreedHash,
            uint64 ready
        )
    {
        Run storage run = runOf[id][k][t];
        return (
            run.planned,
            run.reporters,
            run.holder,
            run.claimedAt,
            run.doneAt,
            run.done,
            run.agreedHash,
            readyAt(id, k, t)
        );
    }

    function getResult(uint256 id, uint64 k, uint256 t, address node)
        external
        view
        returns (bytes32 resultHash, bytes32 logHash, uint64 at)
    {
        Result storage r = resultOf[id][k][t][node];
        return (r.resultHash, r.logHash, r.at);
    }

    function getWorkers() external view returns (address[] memory) {
        return workerList;
    }

    function getWorker(address node)
        external
        view
        returns (bool registered, bool missed, uint64 registeredAt, string[] memory datasets)
    {
        Worker storage w = workers[node];
        return (w.index != 0, w.missed, w.registeredAt, w.datasets);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title SwarmLearning
/// @notice Shared state of one swarm-learning training: who is in the swarm, which sync step is
/// open, who checked in with which weight file (sha256), when a step closes, and which merged
/// model the participants agreed on. Weights never come here, only their hashes.
/// @dev Sync-step rules (see docs/ARCHITECTURE.md, "One sync step"):
///  - A learner checks in for the open step with the sha256 of its weight file, its weightage and
///    the hash of the model it started from (the agreed merge of the previous step; zero for
///    step 0). The check-in of a participant of step k-1 doubles as its report of step k-1's merge.
///  - The step closes once `effectiveQuorum()` learners are in and either every live learner is
///    in (closed by that check-in) or `graceSeconds` have passed since the quorum was reached
///    (closed by anyone calling `closeStep`). A step closes only once the previous step's merge is
///    agreed.
///  - The agreed merge of a step is the hash reported by a strict majority of its participants.
///    A participant of step k-1 may check in for step k before that majority exists: its base is
///    then its own vote, recorded as it is. If another hash wins, that contribution stays on
///    record with its stale base, and every node leaves it out of the merge of step k (the rule
///    reads only chain data, so all nodes leave out the same ones).
///  - A participant whose merge reports cannot come (it died) does not block the swarm: once a
///    step has been closed for `graceSeconds`, its merge can be settled by the participants
///    that did report (`settleMerge`, also done by `closeStep` of the next step): the hash most
///    of them name, the first reported of those when counts are equal. Honest learners can
///    disagree (one missed the file of a peer killed mid-transfer that another got); without
///    this a tie would hold the next step closed forever. Whoever reported another hash is left
///    out of the next merge and catches up, as after any lost vote.
///    If not one participant reported (all died between steps), the next step may close
///    without that merge once the grace period is over.
///  - Late work is not thrown away: a learner may check in with a base that is the agreed model
///    of an older step, at most `maxStaleness` steps behind. Its contribution records that
///    staleness s, and every node merges it with weight `weightage / (1 + s)`.
///  - With each merge report a learner also records which participants it left out (a bit per
///    participant, in the order of `getContributions`), so refusals are visible on chain.
///  - The end of the training (docs/ARCHITECTURE.md, "The end of the training"): once one
///    learner has finished, a step waits for the live learners that have not finished, and for
///    those only until its first check-in is `graceSeconds` old (a learner that died without
///    finishing cannot hold the last learners' quorum longer). The training ends, for everyone
///    at once, when a learner has finished, the open step is empty and no unfinished learner is
///    live at it; from then on check-ins are refused, and `finalModel()` names the one model
///    every learner ends with.
///  - Every refusal is a custom error (below), so clients decode which rule refused and with
///    which values from the ABI instead of matching message text.
contract SwarmLearning {
    uint8 public constant ROLE_NONE = 0;
    uint8 public constant ROLE_NETWORK = 1;
    uint8 public constant ROLE_LEARNER = 2;

    struct Node {
        uint8 role;
        bool finished;
        uint64 enrolledAtStep;
        uint64 lastStep; // 1 + the last step checked in for; 0 = never
        uint64 rejoinedAtStep; // 1 + the step of its last check-in after missing steps; 0 = never
        string fileUrl;
    }

    struct Contribution {
        bytes32 weightHash;
        bytes32 baseHash;
        bytes32 mergedHash; // zero until reported
        uint64 weightage;
        uint32 staleness; // steps between the base and the previous step's agreed model
        uint256 rejectedMask; // participants of this step the reporter left out of its merge
    }

    struct Step {
        bool closed;
        uint64 openedAt;
        uint64 quorumAt;
        uint64 closedAt;
        uint64 firstInAt; // time of the first check-in; 0 = nobody yet
        // Counts kept as they change, so that no transaction walks the nodes (see `_live`); in
        // the slot of `firstInAt`, which the step's first check-in writes anyway:
        uint32 seenLast; // unfinished learners whose last check-in (or else enrolment) is here
        uint32 finishedIn; // participants that finished while this step was open
        uint32 liveAtClose; // `liveLearners` when the step closed
        bytes32 agreedHash;
        address[] participants;
        bytes32[] reportedHashes; // distinct merge hashes reported, for settling
        uint32 reports;
    }

    // ------------------------------------------------------------------------------ refusals

    error OnlySentinel(address caller);
    error NotEnrolled(address caller);
    error NotALearner(address caller);
    error ZeroAddress();
    error UnknownRole(uint8 role);
    error AlreadyEnrolled(address node);
    error AlreadyConfigured();
    error MinPeersTooLow(uint32 minPeers);
    error EmptyMergeMethod();
    error NotConfigured();
    error NodeHasFinished(address node);
    error AlreadyFinished(address node);
    error StepNotOpen(uint64 step, uint64 openStep);
    error ZeroWeightHash();
    error ZeroWeightage();
    error AlreadyCheckedIn(uint64 step, address node);
    /// A check-in for step 0 names a base: step 0 starts from no merged model.
    error StaleBaseAtStepZero(bytes32 baseHash);
    /// A check-in after step 0 names no base, though a merge was agreed: it must catch up.
    error StaleBaseMissing(uint64 step);
    /// The base is not the previous step's merge, which is not agreed yet.
    error StaleBaseUnsettled(uint64 step, bytes32 baseHash);
    /// The base is neither the previous step's agreed merge nor acceptable late work.
    error StaleBaseNotAgreed(uint64 step, bytes32 baseHash, bytes32 agreedHash);
    error QuorumNotReached(uint64 step, uint32 checkedIn, uint32 quorum);
    error PreviousMergeNotAgreed(uint64 step);
    error GracePeriodNotOver(uint64 step, uint64 endsAt);
    error StepNotClosed(uint64 step);
    error NotAParticipant(uint64 step, address node);
    error MergeAlreadyReported(uint64 step, address node);
    error MergeAlreadyAgreed(uint64 step);
    error NoMajorityYet(uint64 step);
    error ZeroMergedHash();
    /// The training has ended with step `openStep` open: no step runs any more.
    error TrainingEnded(uint64 openStep);

    address public admin; // not immutable: runtime code then equals the artifact, which nodes verify

    bool public configured;
    uint32 public minPeers;
    uint32 public graceSeconds;
    uint32 public maxStaleness;
    bytes32 public schemaHash; // sha256 of the model layout (tensor names, shapes, dtypes); 0: unset
    string public mergeMethod;
    string public mergeParams;

    uint64 public currentStep;
    uint32 public learnerCount;
    uint32 public finishedCount;
    bool public trainingEnded;
    uint64 public endedAtStep; // the step that was open when the training ended

    mapping(address => Node) private nodes;
    address[] private nodeList;
    mapping(uint64 => Step) private steps;
    mapping(uint64 => mapping(address => Contribution)) private contributions;
    mapping(uint64 => mapping(bytes32 => uint32)) private votes;

    event NodeEnrolled(address indexed node, uint8 role, string fileUrl, uint64 atStep);
    event FileUrlChanged(address indexed node, string fileUrl);
    event TrainingConfigured(
        uint32 minPeers,
        uint32 graceSeconds,
        uint32 maxStaleness,
        bytes32 schemaHash,
        string mergeMethod,
        string mergeParams
    );
    event CheckedIn(
        uint64 indexed step,
        address indexed node,
        bytes32 weightHash,
        bytes32 baseHash,
        uint64 weightage,
        uint32 staleness
    );
    event NodeRejoined(address indexed node, uint64 step);
    event QuorumReached(uint64 indexed step, uint64 at);
    event StepClosed(uint64 indexed step, uint32 participants, uint64 at);
    event MergeReported(uint64 indexed step, address indexed node, bytes32 mergedHash, uint256 rejectedMask);
    event MergeAgreed(uint64 indexed step, bytes32 mergedHash, uint32 votes);
    event NodeFinished(address indexed node, uint64 lastStep);
    event TrainingFinished(uint64 openStep);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert OnlySentinel(msg.sender);
        _;
    }

    modifier onlyEnrolled() {
        if (nodes[msg.sender].role == ROLE_NONE) revert NotEnrolled(msg.sender);
        _;
    }

    modifier onlyLearner() {
        if (nodes[msg.sender].role != ROLE_LEARNER) revert NotALearner(msg.sender);
        _;
    }

    constructor(string memory sentinelFileUrl) {
        admin = msg.sender;
        _enroll(msg.sender, ROLE_NETWORK, sentinelFileUrl);
        steps[0].openedAt = uint64(block.timestamp);
    }

    // ----------------------------------------------------------------------------- membership

    function enroll(address node, uint8 role, string calldata fileUrl) external onlyAdmin {
        if (node == address(0)) revert ZeroAddress();
        if (role != ROLE_NETWORK && role != ROLE_LEARNER) revert UnknownRole(role);
        if (nodes[node].role != ROLE_NONE) revert AlreadyEnrolled(node);
        _enroll(node, role, fileUrl);
    }

    function setFileUrl(string calldata fileUrl) external onlyEnrolled {
        nodes[msg.sender].fileUrl = fileUrl;
        emit FileUrlChanged(msg.sender, fileUrl);
    }

    function _enroll(address node, uint8 role, string memory fileUrl) private {
        Node storage n = nodes[node];
        n.role = role;
        n.fileUrl = fileUrl;
        n.enrolledAtStep = currentStep;
        nodeList.push(node);
        if (role == ROLE_LEARNER) {
            learnerCount += 1;
            steps[currentStep].seenLast += 1;
        }
        emit NodeEnrolled(node, role, fileUrl, currentStep);
    }

    // ------------------------------------------------------------------------------- training

    /// @notice Set once, by the first learner; every later learner must use the same settings
    /// and the same model (`schemaHash_`), which it checks before its first step.
    function configureTraining(
        uint32 minPeers_,
        uint32 graceSeconds_,
        uint32 maxStaleness_,
        bytes32 schemaHash_,
        string calldata mergeMethod_,
        string calldata mergeParams_
    ) public onlyLearner {
        if (configured) revert AlreadyConfigured();
        if (minPeers_ < 1) revert MinPeersTooLow(minPeers_);
        if (bytes(mergeMethod_).length == 0) revert EmptyMergeMethod();
        configured = true;
        minPeers = minPeers_;
        graceSeconds = graceSeconds_;
        maxStaleness = maxStaleness_;
        schemaHash = schemaHash_;
        mergeMethod = mergeMethod_;
        mergeParams = mergeParams_;
        emit TrainingConfigured(minPeers_, graceSeconds_, maxStaleness_, schemaHash_, mergeMethod_, mergeParams_);
    }

    /// @param rejectedMask for a participant of the previous step: which of that step's
    /// participants it left out of its merge (this check-in is also its merge report).
    function checkIn(uint64 step, bytes32 weightHash, uint64 weightage, bytes32 baseHash, uint256 rejectedMask)
        external
        onlyLearner
    {
        Node storage n = nodes[msg.sender];
        if (!configured) revert NotConfigured();
        if (trainingEnded) revert TrainingEnded(endedAtStep);
        if (n.finished) revert NodeHasFinished(msg.sender);
        if (step != currentStep) revert StepNotOpen(step, currentStep);
        if (weightHash == bytes32(0)) revert ZeroWeightHash();
        if (weightage == 0) revert ZeroWeightage();
        if (contributions[step][msg.sender].weightHash != bytes32(0)) revert AlreadyCheckedIn(step, msg.sender);

        uint32 staleness = 0;
        if (step == 0) {
            if (baseHash != bytes32(0)) revert StaleBaseAtStepZero(baseHash);
        } else {
            staleness = _checkBase(step - 1, baseHash, rejectedMask);
        }
        if (n.lastStep != 0 && n.lastStep < step) {
            n.rejoinedAtStep = step + 1; // it missed at least the previous step
            emit NodeRejoined(msg.sender, step);
        }
        uint64 seen = _lastSeen(n);
        if (seen != step) {
            steps[seen].seenLast -= 1;
            steps[step].seenLast += 1;
        }

        Step storage s = steps[step];
        contributions[step][msg.sender] = Contribution({
            weightHash: weightHash,
            baseHash: baseHash,
            mergedHash: bytes32(0),
            weightage: weightage,
            staleness: staleness,
            rejectedMask: 0
        });
        s.participants.push(msg.sender);
        if (s.firstInAt == 0) {
            s.firstInAt = uint64(block.timestamp);
        }
        n.lastStep = step + 1;
        emit CheckedIn(step, msg.sender, weightHash, baseHash, weightage, staleness);

        if (s.quorumAt == 0 && s.participants.length >= _quorum(step)) {
            s.quorumAt = uint64(block.timestamp);
            emit QuorumReached(step, s.quorumAt);
        }
        if (s.quorumAt != 0 && _allLiveIn(step) && _previousAgreed(step)) {
            _close(step);
        }
    }

    /// @dev The base of a check-in for step prev+1: the agreed merge of `prev` (staleness 0),
    /// the sender's own not-yet-settled vote on it, or the agreed merge of an older step at most
    /// `maxStaleness` behind (late work). Returns the staleness.
    function _checkBase(uint64 prev, bytes32 baseHash, uint256 rejectedMask) private returns (uint32) {
        Contribution storage prevC = contributions[prev][msg.sender];
        bool tookPart = prevC.weightHash != bytes32(0);
        if (tookPart && prevC.mergedHash == bytes32(0)) {
            _report(prev, baseHash, rejectedMask);
        }
        bytes32 agreed = steps[prev].agreedHash;
        if (agreed == baseHash || (agreed == bytes32(0) && tookPart)) {
            return 0;
        }
        if (baseHash == bytes32(0)) revert StaleBaseMissing(prev + 1);
        for (uint64 s = 1; s <= maxStaleness && s <= prev; s++) {
            if (steps[prev - s].agreedHash == baseHash) {
                return uint32(s);
            }
        }
        if (agreed == bytes32(0)) revert StaleBaseUnsettled(prev + 1, baseHash);
        revert StaleBaseNotAgreed(prev + 1, baseHash, agreed);
    }

    /// @notice Closes the open step once its quorum is in and the grace period is over (or every
    /// live learner is in). Any enrolled node may call it, so no step waits on one node.
    function closeStep(uint64 step) external onlyEnrolled {
        if (step != currentStep) revert StepNotOpen(step, currentStep);
        Step storage s = steps[step];
        if (s.quorumAt == 0 && s.participants.length >= _quorum(step) && s.participants.length > 0) {
            s.quorumAt = uint64(block.timestamp);
            emit QuorumReached(step, s.quorumAt);
        }
        if (s.quorumAt == 0) revert QuorumNotReached(step, uint32(s.participants.length), _quorum(step));
        if (step > 0 && !_previousAgreed(step)) {
            _settle(step - 1); // participants that died must not block the swarm
        }
        if (!_previousAgreed(step)) revert PreviousMergeNotAgreed(step);
        if (!_allLiveIn(step) && block.timestamp < uint256(s.quorumAt) + graceSeconds) {
            revert GracePeriodNotOver(step, s.quorumAt + graceSeconds);
        }
        _close(step);
    }

    /// @notice Report a merge result without checking in for the next step (the last step, or a
    /// node that stops). A participant reports once per step.
    function reportMerge(uint64 step, bytes32 mergedHash, uint256 rejectedMask) external onlyLearner {
        if (!steps[step].closed) revert StepNotClosed(step);
        Contribution storage c = contributions[step][msg.sender];
        if (c.weightHash == bytes32(0)) revert NotAParticipant(step, msg.sender);
        if (c.mergedHash != bytes32(0)) revert MergeAlreadyReported(step, msg.sender);
        _report(step, mergedHash, rejectedMask);
    }

    /// @notice Settle a step's merge by the participants that reported, once the step has been
    /// closed for the grace period and no strict majority of all participants exists (some
    /// died before reporting, or the reports disagree): the most reported hash, the first
    /// reported among equal counts (a rule on chain data only, so every node sees one result).
    function settleMerge(uint64 step) external onlyEnrolled {
        if (!steps[step].closed) revert StepNotClosed(step);
        if (steps[step].agreedHash != bytes32(0)) revert MergeAlreadyAgreed(step);
        _settle(step);
        if (steps[step].agreedHash == bytes32(0)) revert NoMajorityYet(step);
    }

    function _settle(uint64 step) private {
        Step storage s = steps[step];
        if (!s.closed || s.agreedHash != bytes32(0) || s.reports == 0) {
            return;
        }
        if (block.timestamp < uint256(s.closedAt) + graceSeconds) {
            return;
        }
        (bytes32 best, uint32 count) = _mostReported(step);
        s.agreedHash = best;
        emit MergeAgreed(step, best, count);
    }

    /// @dev The hash most reports of `step` name and their count; among equal counts the first
    /// reported. Zero when nobody reported.
    function _mostReported(uint64 step) private view returns (bytes32 best, uint32 bestCount) {
        bytes32[] storage hashes = steps[step].reportedHashes;
        for (uint256 i = 0; i < hashes.length; i++) {
            uint32 count = votes[step][hashes[i]];
            if (count > bestCount) {
                best = hashes[i];
                bestCount = count;
            }
        }
    }

    /// @notice A learner that is done leaves the quorum count, so the others do not wait on it.
    function finish() external onlyLearner {
        Node storage n = nodes[msg.sender];
        if (n.finished) revert AlreadyFinished(msg.sender);
        uint64 seen = _lastSeen(n);
        steps[seen].seenLast -= 1;
        if (n.lastStep == currentStep + 1) {
            steps[currentStep].finishedIn += 1; // a participant of the open step
        }
        n.finished = true;
        finishedCount += 1;
        emit NodeFinished(msg.sender, n.lastStep);
        _endIfDone();
    }

    /// @dev The training ends once a learner has finished, nobody is in the open step and no
    /// learner that has not finished is live at it: nobody is left who could run a step.
    function _endIfDone() private {
        if (trainingEnded || finishedCount == 0) {
            return;
        }
        if (steps[currentStep].participants.length != 0 || _live(currentStep) != 0) {
            return;
        }
        trainingEnded = true;
        endedAtStep = currentStep;
        emit TrainingFinished(currentStep);
    }

    function _report(uint64 step, bytes32 mergedHash, uint256 rejectedMask) private {
        if (mergedHash == bytes32(0)) revert ZeroMergedHash();
        Contribution storage c = contributions[step][msg.sender];
        c.mergedHash = mergedHash;
        c.rejectedMask = rejectedMask;
        emit MergeReported(step, msg.sender, mergedHash, rejectedMask);
        uint32 count = votes[step][mergedHash] + 1;
        votes[step][mergedHash] = count;
        Step storage s = steps[step];
        s.reports += 1;
        if (count == 1) {
            s.reportedHashes.push(mergedHash);
        }
        if (s.agreedHash == bytes32(0) && uint256(count) * 2 > s.participants.length) {
            s.agreedHash = mergedHash;
            emit MergeAgreed(step, mergedHash, count);
        }
    }

    function _close(uint64 step) private {
        Step storage s = steps[step];
        s.liveAtClose = _live(step);
        s.closed = true;
        s.closedAt = uint64(block.timestamp);
        currentStep = step + 1;
        steps[step + 1].openedAt = uint64(block.timestamp);
        emit StepClosed(step, uint32(s.participants.length), s.closedAt);
        _endIfDone();
    }

    /// @dev The previous step's merge is agreed, or nobody can ever report it: it closed a
    /// grace period ago and not one participant reported (they all died). The swarm then goes
    /// on without it, carried by late work built on older agreed models.
    function _previousAgreed(uint64 step) private view returns (bool) {
        if (step == 0) {
            return true;
        }
        Step storage p = steps[step - 1];
        if (p.agreedHash != bytes32(0)) {
            return true;
        }
        return p.closed && p.reports == 0 && block.timestamp >= uint256(p.closedAt) + graceSeconds;
    }

    /// @dev Every awaited learner has checked in. Which learners, not how many: a participant
    /// that finished is no longer live but is still a participant, and must not stand in for a
    /// live learner that has not checked in yet. Once the wait for the live ones that are not
    /// in is over (`_waitOver`), only those in are awaited, and they are all in.
    function _allLiveIn(uint64 step) private view returns (bool) {
        return _waitOver(step) || _liveIn(step) == _liveCount(step);
    }

    /// @dev Once learners have started finishing, a live learner that is not in is waited for
    /// only until the step's first check-in is a grace period old: it may have died, and the
    /// last learners must not wait for it for ever.
    function _waitOver(uint64 step) private view returns (bool) {
        uint64 firstIn = steps[step].firstInAt;
        return finishedCount != 0 && firstIn != 0 && block.timestamp >= uint256(firstIn) + graceSeconds;
    }

    /// @dev Live learners at `step` (not finished, and in the previous step or this one, or
    /// enrolled then), from the counts: a learner's last sign of life is the step of its last
    /// check-in, or else of its enrolment, and it never lies after the open step, so the live
    /// ones at the open step (or the next) are those last seen there or the step before.
    function _liveCount(uint64 step) private view returns (uint32) {
        uint32 count = steps[step].seenLast;
        if (step > 0) {
            count += steps[step - 1].seenLast;
        }
        return count;
    }

    /// @dev The live learners that are in `step`: its participants that have not finished
    /// (a participant is live, having checked in there, unless it finished since).
    function _liveIn(uint64 step) private view returns (uint32) {
        return uint32(steps[step].participants.length) - steps[step].finishedIn;
    }

    /// @dev The learners `step` waits for (see `liveLearners`), for the open step or a later one.
    function _live(uint64 step) private view returns (uint32) {
        return _waitOver(step) ? _liveIn(step) : _liveCount(step);
    }

    /// @dev The step of a learner's last check-in, or of its enrolment if it never checked in.
    function _lastSeen(Node storage n) private view returns (uint64) {
        return n.lastStep == 0 ? n.enrolledAtStep : n.lastStep - 1;
    }

    /// @dev min_peers; once learners start finishing, lowered to the learners `step` waits for
    /// (at least 1), so the last learners of an uneven training are not left waiting for peers
    /// that are gone for good. Learners that have not enrolled yet never lower it.
    function _quorum(uint64 step) private view returns (uint32) {
        if (finishedCount == 0) {
            return minPeers;
        }
        uint32 awaited = liveLearners(step);
        uint32 q = minPeers < awaited ? minPeers : awaited;
        return q == 0 ? 1 : q;
    }

    /// @dev The merge of a step as its reports decide it: the agreed hash, or else the one
    /// `_settle` would agree on (the most reported, the first among equal counts); zero if
    /// nobody reported.
    function _decidedMerge(uint64 step) private view returns (bytes32) {
        Step storage s = steps[step];
        if (s.agreedHash != bytes32(0)) {
            return s.agreedHash;
        }
        (bytes32 best, ) = _mostReported(step);
        return best;
    }

    // ------------------------------------------------- stopped learners and adaptive sync
    // (docs/ARCHITECTURE.md, "HPE's callback parameters"): new functions and state only, so
    // that the step rules above stay as they are.

    /// Learners that reached their own stopping point but still take part in steps
    /// (`checkinModelOnTrainEnd` snapshot or active) until no learner is training any more.
    mapping(address => bool) public stopped;
    uint32 public stoppedCount;
    bool public syncConfigured;
    uint32 public syncFrequency; // batches between syncs: the start value under adaptive sync
    bool public adaptiveSync;
    /// Validation losses (in millionths) of the step's agreed model, as its participants report
    /// them: the sum and the count. Final once the next step has closed.
    mapping(uint64 => uint256) private validationSum;
    mapping(uint64 => uint32) private validationCount;
    mapping(uint64 => mapping(address => bool)) private validationReported;

    error SyncAlreadyConfigured();
    error SyncFrequencyTooLow(uint32 syncFrequency);
    error AlreadyStopped(address node);
    error ValidationClosed(uint64 step);
    error ValidationAlreadyReported(uint64 step, address node);

    event SyncConfigured(uint32 syncFrequency, bool adaptive);
    event NodeStopped(address indexed node, uint64 atStep);
    event ValidationReported(uint64 indexed step, address indexed node, uint64 lossMicros);

    /// @notice Set once, like `configureTraining`: every learner of an adaptive training must
    /// start from the same interval to compute the same next ones.
    function configureSync(uint32 syncFrequency_, bool adaptive_) external onlyLearner {
        if (syncConfigured) revert SyncAlreadyConfigured();
        if (syncFrequency_ < 1) revert SyncFrequencyTooLow(syncFrequency_);
        syncConfigured = true;
        syncFrequency = syncFrequency_;
        adaptiveSync = adaptive_;
        emit SyncConfigured(syncFrequency_, adaptive_);
    }

    /// @notice This learner has reached its stopping point; it may still check in (its snapshot,
    /// or the merged model untrained) while others train.
    function markStopped() external onlyLearner {
        if (stopped[msg.sender]) revert AlreadyStopped(msg.sender);
        stopped[msg.sender] = true;
        stoppedCount += 1;
        emit NodeStopped(msg.sender, currentStep);
    }

    /// @notice A participant's validation loss of `step`'s agreed model, reported before its
    /// next check-in; refused once the next step has closed, so the figures every learner reads
    /// then are the same.
    function reportValidation(uint64 step, uint64 lossMicros) external onlyLearner {
        if (!steps[step].closed) revert StepNotClosed(step);
        if (steps[step + 1].closed) revert ValidationClosed(step);
        if (contributions[step][msg.sender].weightHash == bytes32(0)) revert NotAParticipant(step, msg.sender);
        if (validationReported[step][msg.sender]) revert ValidationAlreadyReported(step, msg.sender);
        validationReported[step][msg.sender] = true;
        validationSum[step] += lossMicros;
        validationCount[step] += 1;
        emit ValidationReported(step, msg.sender, lossMicros);
    }

    function validation(uint64 step) external view returns (uint256 sum, uint32 count, bool final_) {
        return (validationSum[step], validationCount[step], steps[step + 1].closed);
    }

    /// @notice Learners that may still check in for `step` and have not stopped: live as
    /// `liveLearners` counts them, before any grace-period lapse.
    function trainingLearners(uint64 step) external view returns (uint32 count) {
        for (uint256 i = 0; i < nodeList.length; i++) {
            Node storage n = nodes[nodeList[i]];
            if (
                n.role == ROLE_LEARNER && !n.finished && !stopped[nodeList[i]]
                    && (n.lastStep >= step || n.enrolledAtStep + 1 >= step)
            ) {
                count += 1;
            }
        }
    }

    // ---------------------------------------------------------------------------------- views

    /// @notice The quorum of the open step: min_peers, lowered once learners start finishing
    /// (see `_quorum`).
    function effectiveQuorum() public view returns (uint32) {
        return _quorum(currentStep);
    }

    /// @notice Learners expected at `step`: not finished, and either checked in for the previous
    /// step or this one, or enrolled since the previous step opened. A learner that missed a
    /// whole step is no longer waited for (it must catch up and check in again); once learners
    /// have started finishing, one that is not in stops counting a grace period after the
    /// step's first check-in. For a closed step: the figure when it closed.
    function liveLearners(uint64 step) public view returns (uint32) {
        if (step < currentStep) {
            return steps[step].liveAtClose;
        }
        return _live(step);
    }

    /// @notice Once the training has ended, the model every learner ends with: the merge of the
    /// newest step that its reports decide (`found` false if none does: every learner keeps its
    /// own). At the end every learner still alive has reported (it reports before finishing),
    /// so the reports no longer change and every caller gets the same answer.
    function finalModel()
        external
        view
        returns (bool ended, uint64 openStep, bool found, uint64 step, bytes32 modelHash)
    {
        if (!trainingEnded) {
            return (false, 0, false, 0, bytes32(0));
        }
        for (uint64 k = endedAtStep; k > 0; k--) {
            bytes32 decided = _decidedMerge(k - 1);
            if (decided != bytes32(0)) {
                return (true, endedAtStep, true, k - 1, decided);
            }
        }
        return (true, endedAtStep, false, 0, bytes32(0));
    }

    /// @notice The training's settings in one call (what a joining learner compares with its own).
    function getTrainingConfig()
        external
        view
        returns (
            bool configured_,
            uint32 minPeers_,
            uint32 graceSeconds_,
            uint32 maxStaleness_,
            bytes32 schemaHash_,
            string memory mergeMethod_,
            string memory mergeParams_
        )
    {
        return (configured, minPeers, graceSeconds, maxStaleness, schemaHash, mergeMethod, mergeParams);
    }

    function nodeCount() external view returns (uint256) {
        return nodeList.length;
    }

    function getNodes() external view returns (address[] memory) {
        return nodeList;
    }

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
        )
    {
        Node storage n = nodes[node];
        return (n.role, n.fileUrl, n.enrolledAtStep, n.lastStep, n.finished, n.rejoinedAtStep);
    }

    function getStep(uint64 step)
        external
        view
        returns (
            bool closed,
            uint64 openedAt,
            uint64 quorumAt,
            uint64 closedAt,
            bytes32 agreedHash,
            address[] memory participants
        )
    {
        Step storage s = steps[step];
        return (s.closed, s.openedAt, s.quorumAt, s.closedAt, s.agreedHash, s.participants);
    }

    /// @notice Everything a participant needs to merge a closed step, in one call.
    function getContributions(uint64 step)
        external
        view
        returns (
            address[] memory participants,
            bytes32[] memory weightHashes,
            bytes32[] memory baseHashes,
            uint64[] memory weightages,
            bytes32[] memory mergedHashes,
            uint32[] memory staleness,
            uint256[] memory rejectedMasks
        )
    {
        participants = steps[step].participants;
        uint256 p = participants.length;
        weightHashes = new bytes32[](p);
        baseHashes = new bytes32[](p);
        weightages = new uint64[](p);
        mergedHashes = new bytes32[](p);
        staleness = new uint32[](p);
        rejectedMasks = new uint256[](p);
        for (uint256 i = 0; i < p; i++) {
            Contribution storage c = contributions[step][participants[i]];
            weightHashes[i] = c.weightHash;
            baseHashes[i] = c.baseHash;
            weightages[i] = c.weightage;
            mergedHashes[i] = c.mergedHash;
            staleness[i] = c.staleness;
            rejectedMasks[i] = c.rejectedMask;
        }
    }

    /// @notice What a waiting learner polls: one call instead of five.
    function stepStatus(uint64 step)
        external
        view
        returns (
            uint64 openStep,
            bool closed,
            uint32 checkedIn,
            uint32 quorum,
            uint32 live,
            uint64 quorumAt,
            bool previousAgreed,
            bytes32 agreedHash
        )
    {
        Step storage s = steps[step];
        return (
            currentStep,
            s.closed,
            uint32(s.participants.length),
            _quorum(step),
            liveLearners(step),
            s.quorumAt,
            _previousAgreed(step),
            s.agreedHash
        );
    }

    function votesFor(uint64 step, bytes32 mergedHash) external view returns (uint32) {
        return votes[step][mergedHash];
    }

    // ------------------------------------------------------------------------ sharded merge
    // (docs/ARCHITECTURE.md, "Sharded merge"). Kept apart from the step rules above: a
    // sharded training checks in, closes and reports exactly like an unsharded one; these
    // only record how the model is cut and which merged shards each participant published.

    uint32 public shardCount; // 0: the training merges whole models
    uint32 public shardReplication; // how many participants merge each shard
    mapping(uint64 => mapping(address => bytes32)) private shardRoots;

    event ShardingConfigured(uint32 shards, uint32 replication);
    event ShardsReported(uint64 indexed step, address indexed node, bytes32 root);

    error BadSharding(uint32 shards, uint32 replication);
    error ShardsAlreadyReported(uint64 step, address node);

    /// @notice `configureTraining` with a sharded merge, in one transaction, so that no
    /// learner can ever read the training without its sharding.
    function configureShardedTraining(
        uint32 minPeers_,
        uint32 graceSeconds_,
        uint32 maxStaleness_,
        bytes32 schemaHash_,
        string calldata mergeMethod_,
        string calldata mergeParams_,
        uint32 shards_,
        uint32 replication_
    ) external onlyLearner {
        if (shards_ < 2 || replication_ < 1) revert BadSharding(shards_, replication_);
        configureTraining(minPeers_, graceSeconds_, maxStaleness_, schemaHash_, mergeMethod_, mergeParams_);
        shardCount = shards_;
        shardReplication = replication_;
        emit ShardingConfigured(shards_, replication_);
    }

    /// @notice A participant of a closed step publishes the root (the sha256 of its merged
    /// shards' manifest file) of the shards it merged; once per step.
    function reportShards(uint64 step, bytes32 root) external onlyLearner {
        if (root == bytes32(0)) revert ZeroMergedHash();
        if (!steps[step].closed) revert StepNotClosed(step);
        if (contributions[step][msg.sender].weightHash == bytes32(0)) revert NotAParticipant(step, msg.sender);
        if (shardRoots[step][msg.sender] != bytes32(0)) revert ShardsAlreadyReported(step, msg.sender);
        shardRoots[step][msg.sender] = root;
        emit ShardsReported(step, msg.sender, root);
    }

    function getSharding() external view returns (uint32 shards, uint32 replication) {
        return (shardCount, shardReplication);
    }

    /// @notice The step's participants (in `getContributions` order) and the shard root each
    /// reported (zero: none yet).
    function getShardRoots(uint64 step) external view returns (address[] memory nodes_, bytes32[] memory roots) {
        nodes_ = steps[step].participants;
        roots = new bytes32[](nodes_.length);
        for (uint256 i = 0; i < nodes_.length; i++) {
            roots[i] = shardRoots[step][nodes_[i]];
        }
    }

    // ------------------------------------------------------------------- named trainings
    // (docs/ARCHITECTURE.md, "Concurrent trainings"). Kept only by the swarm's first
    // contract, the one the sentinel deploys at start: every other training is a contract
    // of its own (its members, quorum, steps and final model), which the sentinel deploys
    // when a learner first asks for its name and records here, so that every node finds the
    // swarm's trainings on chain.

    string[] private trainingNames;
    address[] private trainingContracts;
    mapping(bytes32 => address) private trainingByName;

    event TrainingAdded(string name, address at);

    error TrainingNameTaken(string name);

    function addTraining(string calldata name, address at) external onlyAdmin {
        if (at == address(0)) revert ZeroAddress();
        bytes32 key = keccak256(bytes(name));
        if (trainingByName[key] != address(0)) revert TrainingNameTaken(name);
        trainingByName[key] = at;
        trainingNames.push(name);
        trainingContracts.push(at);
        emit TrainingAdded(name, at);
    }

    /// @notice The contract of the training named `name`; zero when there is none.
    function trainingOf(string calldata name) external view returns (address) {
        return trainingByName[keccak256(bytes(name))];
    }

    /// @notice Every named training, in the order they were added.
    function getTrainings() external view returns (string[] memory names, address[] memory at) {
        return (trainingNames, trainingContracts);
    }
}

import SkeinModel
import SkeinRaft
import SkeinSimulation
import Testing

// Interaction tests (etcd's interaction_test.go idea): a short script drives a synchronous network and the full
// message transcript is compared with the expected one, so any change in what goes on the wire shows up in review.

@Suite("Interaction transcripts")
struct InteractionTests {
    @Test("pre-vote election, one proposal, commit spread by the next append")
    func electionAndProposal() {
        var net = RaftTestNetwork(ids: [1, 2, 3])
        net.campaign(1)
        net.propose(1, [0xAB])
        #expect(net.trace == Self.electionAndProposalTranscript)
    }

    @Test("a follower cut off during a proposal is repaired by the next heartbeat round")
    func heartbeatRepairsLaggingFollower() {
        var net = RaftTestNetwork(ids: [1, 2, 3])
        net.campaign(1)
        net.isolate(3)
        net.propose(1, [0xCD])
        net.recover()
        net.trace = []
        net.tick(1)
        #expect(
            net.trace == [
                "1->2 t1 heartbeat commit=1",
                // 3 is only known to match through 0: it may commit no further until an append proves more.
                "1->3 t1 heartbeat commit=0",
                "2->1 t1 heartbeatResponse",
                "3->1 t1 heartbeatResponse",
                "1->3 t1 append prev=0@1 entries=[\"1@1\"] commit=1",
                "3->1 t1 appendResponse accepted match=1",
            ])
        #expect(net.nodes[3]!.commitIndex == 1)
    }

    // Pre-vote round at the would-be term 1, the vote, the leader's noop (commits on 2's ack: 3's probe is still
    // in flight, so only 2 gets the commit at once), the proposal, and its commit broadcast.
    static let electionAndProposalTranscript = [
        "1->2 t1 preVote last=-1@0",
        "1->3 t1 preVote last=-1@0",
        "2->1 t1 preVoteResponse granted",
        "3->1 t1 preVoteResponse granted",
        "1->2 t1 vote last=-1@0",
        "1->3 t1 vote last=-1@0",
        "2->1 t1 voteResponse granted",
        "3->1 t1 voteResponse granted",
        "1->2 t1 append prev=-1@0 entries=[\"0@1noop\"] commit=-1",
        "1->3 t1 append prev=-1@0 entries=[\"0@1noop\"] commit=-1",
        "2->1 t1 appendResponse accepted match=0",
        "3->1 t1 appendResponse accepted match=0",
        "1->2 t1 append prev=0@1 entries=[] commit=0",
        "2->1 t1 appendResponse accepted match=0",
        "1->2 t1 append prev=0@1 entries=[\"1@1\"] commit=0",
        "1->3 t1 append prev=0@1 entries=[\"1@1\"] commit=0",
        "2->1 t1 appendResponse accepted match=1",
        "3->1 t1 appendResponse accepted match=1",
        "1->2 t1 append prev=1@1 entries=[] commit=1",
        "1->3 t1 append prev=1@1 entries=[] commit=1",
        "2->1 t1 appendResponse accepted match=1",
        "3->1 t1 appendResponse accepted match=1",
    ]
}

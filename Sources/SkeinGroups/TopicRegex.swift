/// Regular-expression subscriptions of KIP-848 members (ConsumerGroupHeartbeat v1's SubscribedTopicRegex), as
/// Kafka 4.0's coordinator resolves them: against the names of the cluster's topics, internal topics excluded,
/// each name kept when the whole of it matches (Kafka's `Pattern.matcher(topic).matches()`).
///
/// Kafka compiles the expression with RE2/J; Skein uses Swift's `Regex`, whose syntax is a superset for what
/// clients send (literals, classes, `.`, `*`, `+`, `?`, `{m,n}`, alternation, groups, anchors, `\d`/`\w`/`\s`,
/// `(?i)` and the like are the same). The differences: Swift accepts back-references and look-around, which RE2/J
/// rejects (an expression Kafka answers INVALID_REGULAR_EXPRESSION is then accepted here), and Unicode classes
/// such as `\pN` or POSIX classes inside brackets follow ICU rather than RE2 rules. Both match linearly enough for
/// topic lists.
struct TopicRegexResolver {
    /// Topic names the expressions are resolved against (the cluster's, minus internal ones).
    private(set) var topicNames: Set<String> = []
    private var compiled: [String: Regex<AnyRegexOutput>] = [:]
    private var resolved: [String: Set<String>] = [:]

    /// Kafka's `Topic.isInternal`: never matched by a regex subscription.
    static let internalTopics: Set<String> = ["__consumer_offsets", "__transaction_state", "__share_group_state"]

    /// Kafka's `throwIfRegularExpressionIsInvalid` message when `pattern` does not compile, nil when it does.
    static func validationError(_ pattern: String) -> String? {
        do {
            _ = try Regex(pattern)
            return nil
        } catch {
            return "SubscribedTopicRegex `\(pattern)` is not a valid regular expression: \(error)."
        }
    }

    /// New topic names; resolutions are recomputed on demand when the set changed. True when it changed.
    @discardableResult
    mutating func setTopicNames(_ names: some Sequence<String>) -> Bool {
        let names = Set(names).subtracting(Self.internalTopics)
        guard names != topicNames else { return false }
        topicNames = names
        resolved = [:]
        return true
    }

    /// The topics whose whole name matches `pattern` (none when it does not compile).
    mutating func resolve(_ pattern: String) -> Set<String> {
        if let known = resolved[pattern] { return known }
        let regex: Regex<AnyRegexOutput>
        if let cached = compiled[pattern] {
            regex = cached
        } else {
            guard let made = try? Regex(pattern) else {
                resolved[pattern] = []
                return []
            }
            regex = made
            compiled[pattern] = made
        }
        var matches: Set<String> = []
        for name in topicNames where (try? regex.wholeMatch(in: name)) != nil { matches.insert(name) }
        resolved[pattern] = matches
        return matches
    }

    /// Forgets compiled expressions no member uses any more.
    mutating func retain(_ patterns: Set<String>) {
        compiled = compiled.filter { patterns.contains($0.key) }
        resolved = resolved.filter { patterns.contains($0.key) }
    }
}

extension GroupCoordinator {
    /// The topics a member subscribes to: its names and what its regular expression matches now.
    func subscribedTopics(of member: ConsumerMemberValue) -> Set<String> {
        var topics = Set(member.subscribedTopicNames)
        if let regex = member.subscribedTopicRegex { topics.formUnion(topicRegexes.resolve(regex)) }
        return topics
    }

    /// The topics any member of `group` subscribes to, by name or by regular expression.
    func subscribedTopics(_ group: ConsumerGroup) -> Set<String> {
        var topics: Set<String> = []
        for member in group.members.values { topics.formUnion(subscribedTopics(of: member.value)) }
        return topics
    }
}

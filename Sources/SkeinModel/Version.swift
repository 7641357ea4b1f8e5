/// Skein's own version: gossiped by every node (so that a mixed-version cluster can be seen) and printed by the CLI.
public enum SkeinVersion {
    public static let current = "0.1.0"
}

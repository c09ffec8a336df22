namespace BuildFarm.Messaging.Routing;

/// <summary>
/// A routing class: one system plus a sorted, distinct set of required features. Every class has exactly one
/// durable quorum queue; a build request lands in the queue of its class and nowhere else.
/// </summary>
public sealed record BuildClass
{
    public BuildClass(string system, IEnumerable<string> requiredFeatures)
    {
        var features = requiredFeatures.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        if (Problem(system, features) is { } problem)
            throw new ArgumentException(problem, nameof(system));

        System = system;
        Features = features;
    }

    /// <summary>
    /// Why <paramref name="system"/> and <paramref name="features"/> cannot make a class (and so a routing key and queue
    /// name), or null. Callers on untrusted input check this first and answer 400 rather than catching the throw.
    /// </summary>
    public static string? Problem(string? system, IEnumerable<string>? features)
    {
        // Nix systems are arch-os words (x86_64-linux, aarch64-darwin, builtin); anything else is not a platform.
        if (string.IsNullOrEmpty(system) || system.Length > 64 || !system.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-'))
            return $"system '{system}' must be 1-64 ASCII letters, digits, '_' or '-' (such as x86_64-linux)";
        foreach (var f in features ?? [])
        {
            if (string.IsNullOrEmpty(f) || f.Length > 100 || f.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is '+' or ',' or '<' or '>' or '"' or '\'' or '&'))
                return $"feature '{f}' must be a non-empty word of at most 100 characters without spaces, control characters, '+', ',', '<', '>', quotes or '&'";
        }

        return null;
    }

    public string System { get; }

    /// <summary>Sorted (ordinal) and distinct.</summary>
    public IReadOnlyList<string> Features { get; }

    /// <summary>The class's key, also its routing key: <c>x86_64-linux</c> or <c>x86_64-linux.big-parallel+kvm</c>.</summary>
    public string Key => Features.Count == 0 ? System : System + "." + string.Join('+', Features);

    /// <summary>The quorum queue of this class.</summary>
    public string QueueName => BrokerTopology.BuildQueuePrefix + Key;

    public override string ToString() => Key;

    public bool Equals(BuildClass? other) => other is not null && Key == other.Key;

    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Key);
}

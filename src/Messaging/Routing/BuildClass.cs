namespace BuildFarm.Messaging.Routing;

/// <summary>
/// A routing class: one system plus a sorted, distinct set of required features. Every class has exactly one
/// durable quorum queue; a build request lands in the queue of its class and nowhere else.
/// </summary>
public sealed record BuildClass
{
    public BuildClass(string system, IEnumerable<string> requiredFeatures)
    {
        if (string.IsNullOrWhiteSpace(system) || system.Any(c => char.IsWhiteSpace(c) || c is '.' or '+'))
            throw new ArgumentException($"system '{system}' must be a non-empty word without spaces, '.' or '+'", nameof(system));
        var features = requiredFeatures.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        foreach (var f in features)
        {
            if (f.Length == 0 || f.Any(c => char.IsWhiteSpace(c) || c is '+' or ','))
                throw new ArgumentException($"feature '{f}' must be a non-empty word without spaces, '+' or ','", nameof(requiredFeatures));
        }

        System = system;
        Features = features;
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

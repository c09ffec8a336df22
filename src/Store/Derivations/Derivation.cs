using System.Collections.Immutable;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// A store derivation (the contents of a <c>.drv</c> file) plus its name, which the file itself does not
/// contain (Nix takes it from the <c>.drv</c> path). Collections are sorted the way Nix sorts them, so
/// <see cref="DerivationAterm.Print(Derivation)"/> is canonical. Equality is structural.
/// </summary>
public sealed record Derivation
{
    public required string Name { get; init; }

    public required ImmutableSortedDictionary<string, DerivationOutput> Outputs { get; init; }

    /// <summary>Input derivations (<c>.drv</c> paths) and the output names used from each.</summary>
    public required ImmutableSortedDictionary<StorePath, ImmutableSortedSet<string>> InputDrvs { get; init; }

    public required ImmutableSortedSet<StorePath> InputSrcs { get; init; }

    public required string System { get; init; }

    public required string Builder { get; init; }

    public required ImmutableArray<string> Args { get; init; }

    public required ImmutableSortedDictionary<string, string> Env { get; init; }

    /// <summary>Empty collections with the orderings Nix uses; start here and fill with <c>with</c> or builders.</summary>
    public static ImmutableSortedDictionary<string, DerivationOutput> EmptyOutputs { get; } =
        ImmutableSortedDictionary.Create<string, DerivationOutput>(CodePointComparer.Instance);

    public static ImmutableSortedDictionary<StorePath, ImmutableSortedSet<string>> EmptyInputDrvs { get; } =
        ImmutableSortedDictionary.Create<StorePath, ImmutableSortedSet<string>>(StorePath.Ordinal);

    public static ImmutableSortedSet<StorePath> EmptyInputSrcs { get; } = ImmutableSortedSet.Create(StorePath.Ordinal);

    public static ImmutableSortedSet<string> EmptyNames { get; } = ImmutableSortedSet.Create<string>(CodePointComparer.Instance);

    public static ImmutableSortedDictionary<string, string> EmptyEnv { get; } =
        ImmutableSortedDictionary.Create<string, string>(CodePointComparer.Instance);

    /// <summary>Features a machine must support (env <c>requiredSystemFeatures</c>, whitespace separated).</summary>
    public IReadOnlyList<string> RequiredSystemFeatures =>
        Env.TryGetValue("requiredSystemFeatures", out var features)
            ? features.Split([' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries)
            : [];

    /// <summary>True for a fixed-output derivation (a single output <c>out</c> with a declared content hash).</summary>
    public bool IsFixedOutput => Outputs.Count == 1 && Outputs.TryGetValue("out", out var o) && o.Kind == DerivationOutputKind.Fixed;

    /// <summary>Builders named <c>builtin:…</c> run inside Nix itself (e.g. <c>builtin:fetchurl</c>).</summary>
    public bool IsBuiltin => Builder.StartsWith("builtin:", StringComparison.Ordinal);

    /// <summary>Output paths that are known (all outputs except deferred and floating ones).</summary>
    public IEnumerable<KeyValuePair<string, StorePath>> OutputPaths =>
        Outputs.Where(o => o.Value.Path is not null).Select(o => KeyValuePair.Create(o.Key, o.Value.Path!));

    public bool Equals(Derivation? other) =>
        other is not null
        && Name == other.Name
        && System == other.System
        && Builder == other.Builder
        && Args.SequenceEqual(other.Args)
        && Outputs.SequenceEqual(other.Outputs)
        && InputSrcs.SequenceEqual(other.InputSrcs)
        && Env.SequenceEqual(other.Env)
        && InputDrvs.Count == other.InputDrvs.Count
        && InputDrvs.Zip(other.InputDrvs).All(p => p.First.Key == p.Second.Key && p.First.Value.SequenceEqual(p.Second.Value));

    public override int GetHashCode() => HashCode.Combine(Name, System, Builder, Outputs.Count, Env.Count);
}

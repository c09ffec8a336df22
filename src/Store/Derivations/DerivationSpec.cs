using System.Collections.Immutable;

namespace BuildFarm.Store.Derivations;

/// <summary>
/// A derivation written by hand as JSON, without Nix (see docs/derivation-spec.md). It mirrors the
/// <c>derivation { … }</c> builtin: <see cref="DerivationSpecCompiler"/> turns it into the same <c>.drv</c>
/// that <c>nix-instantiate</c> writes for the equivalent expression.
/// </summary>
public sealed record DerivationSpec
{
    public required string Name { get; init; }

    public required string System { get; init; }

    public required string Builder { get; init; }

    public ImmutableArray<string> Args { get; init; } = [];

    /// <summary>Extra environment; values may contain <c>{{inputs.K}}</c> / <c>{{inputs.K.OUTPUT}}</c>.</summary>
    public ImmutableSortedDictionary<string, string> Env { get; init; } = Derivation.EmptyEnv;

    /// <summary>Source store paths the build reads (become <c>inputSrcs</c>).</summary>
    public ImmutableArray<string> InputSrcs { get; init; } = [];

    /// <summary>Input derivations by a local key that placeholders refer to.</summary>
    public ImmutableSortedDictionary<string, DerivationSpecInput> InputDrvs { get; init; } =
        ImmutableSortedDictionary.Create<string, DerivationSpecInput>(StringComparer.Ordinal);

    /// <summary>Output names in the order given (null: just <c>out</c>, and no <c>outputs</c> env entry).</summary>
    public ImmutableArray<string>? Outputs { get; init; }

    public FixedOutputSpec? FixedOutput { get; init; }

    public ImmutableArray<string>? RequiredSystemFeatures { get; init; }
}

/// <summary>An input derivation: exactly one of an existing <c>.drv</c> path or another spec, plus outputs used.</summary>
public sealed record DerivationSpecInput(string? DrvPath, DerivationSpec? Spec, ImmutableArray<string> Outputs);

/// <summary>
/// The declared content of a fixed output. <see cref="Hash"/> is hex, nix32, base64, <c>algo:…</c> or SRI;
/// <see cref="Algo"/> may be omitted when the hash names it (it becomes env <c>outputHashAlgo</c> only when given).
/// </summary>
public sealed record FixedOutputSpec(string Hash, string? Algo, bool Recursive);

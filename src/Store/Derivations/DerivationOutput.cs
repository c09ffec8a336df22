using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Derivations;

/// <summary>What kind of output a <c>.drv</c> declares (Nix 2.8's <c>DerivationOutput</c> variants).</summary>
public enum DerivationOutputKind
{
    /// <summary>Path fixed by the hash of the derivation (the usual case).</summary>
    InputAddressed,

    /// <summary>Path fixed by the declared content hash (fetchers).</summary>
    Fixed,

    /// <summary>Input-addressed, path not yet computed (blank path, blank hash).</summary>
    Deferred,

    /// <summary>Content-addressed with the hash known only after the build (experimental ca-derivations).</summary>
    Floating,

    /// <summary>Impure derivation output (experimental).</summary>
    Impure,
}

/// <summary>
/// One output of a derivation: its path (null when not known yet), and for content-addressed outputs the
/// <c>hashAlgo</c> (e.g. <c>r:sha256</c>) and <c>hash</c> (lower-case hex) fields as the <c>.drv</c> stores them.
/// </summary>
public sealed record DerivationOutput
{
    private DerivationOutput(DerivationOutputKind kind, StorePath? path, FixedOutputHash? fixedHash, string hashAlgo, string hash)
    {
        Kind = kind;
        Path = path;
        FixedHash = fixedHash;
        HashAlgo = hashAlgo;
        Hash = hash;
    }

    public static DerivationOutput Deferred { get; } = new(DerivationOutputKind.Deferred, null, null, "", "");

    public DerivationOutputKind Kind { get; }

    public StorePath? Path { get; }

    /// <summary>Set exactly when <see cref="Kind"/> is <see cref="DerivationOutputKind.Fixed"/>.</summary>
    public FixedOutputHash? FixedHash { get; }

    /// <summary>The <c>.drv</c> field: empty, or <c>[r:]algo</c>.</summary>
    public string HashAlgo { get; }

    /// <summary>The <c>.drv</c> field: empty, lower-case hex, or <c>impure</c>.</summary>
    public string Hash { get; }

    public static DerivationOutput InputAddressed(StorePath path) => new(DerivationOutputKind.InputAddressed, path, null, "", "");

    /// <summary>A fixed output; <paramref name="path"/> may be null before <see cref="DerivationPaths"/> fills it in.</summary>
    public static DerivationOutput FixedOutput(StorePath? path, FixedOutputHash hash) =>
        new(DerivationOutputKind.Fixed, path, hash, hash.MethodAlgo, hash.Hex);

    /// <summary>A floating content-addressed output; <paramref name="methodAlgo"/> is e.g. <c>r:sha256</c>.</summary>
    public static DerivationOutput Floating(string methodAlgo) => new(DerivationOutputKind.Floating, null, null, methodAlgo, "");

    public static DerivationOutput Impure(string methodAlgo) => new(DerivationOutputKind.Impure, null, null, methodAlgo, "impure");
}

using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Signing;

/// <summary>What Nix signs for a store path: <c>1;&lt;path&gt;;sha256:&lt;nix32&gt;;&lt;narSize&gt;;&lt;sorted refs joined by ','&gt;</c>.</summary>
public static class NarInfoFingerprint
{
    public static string Compute(StorePath path, NixHash narHash, long narSize, IEnumerable<StorePath> references)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (narSize <= 0)
            throw new ArgumentOutOfRangeException(nameof(narSize), narSize, "a NAR is never empty; the size must be positive");
        var refs = string.Join(',', references.Select(r => r.FullPath).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
        return string.Create(System.Globalization.CultureInfo.InvariantCulture, $"1;{path.FullPath};{narHash};{narSize};{refs}");
    }
}

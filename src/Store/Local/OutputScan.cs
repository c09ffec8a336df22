using BuildFarm.Store.Hashing;
using BuildFarm.Store.Nar;
using BuildFarm.Store.Paths;

namespace BuildFarm.Store.Local;

/// <summary>
/// The NAR hash, NAR size and references of a built output before it is registered: what a builder's output
/// checks (allowedReferences, maxSize…) look at before Nix, and the worker, make the path valid.
/// </summary>
public static class OutputScan
{
    /// <summary>Scans the tree at <paramref name="physicalPath"/>; <paramref name="candidates"/> should include the path itself.</summary>
    public static async Task<(NixHash NarHash, long NarSize, IReadOnlyList<StorePath> References)> ScanAsync(
        string physicalPath, IEnumerable<StorePath> candidates, CancellationToken cancellationToken)
    {
        var scanner = new ReferenceScanner(candidates);
        await using var sink = new HashingStream(scanner);
        await NarWriter.WriteAsync(physicalPath, sink, cancellationToken);
        return (sink.GetHash(), sink.BytesCount, scanner.Found);
    }
}

using System.Security.Cryptography;
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
    /// <remarks>
    /// The NAR goes through <see cref="NarHasher"/>'s path (synchronous serialiser, read-ahead on large trees), the
    /// scanner seeing the same chunks the hash does.
    /// </remarks>
    public static Task<(NixHash NarHash, long NarSize, IReadOnlyList<StorePath> References)> ScanAsync(
        string physicalPath, IEnumerable<StorePath> candidates, CancellationToken cancellationToken)
    {
        try
        {
            using var scanner = new ReferenceScanner(candidates);
            var (digest, size) = NarHasher.HashPath(physicalPath, HashAlgorithmName.SHA256, scanner.Write, cancellationToken);
            return Task.FromResult<(NixHash, long, IReadOnlyList<StorePath>)>((new NixHash(digest), size, scanner.Found));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Task.FromCanceled<(NixHash, long, IReadOnlyList<StorePath>)>(cancellationToken);
        }
        catch (Exception e)
        {
            return Task.FromException<(NixHash, long, IReadOnlyList<StorePath>)>(e);
        }
    }
}

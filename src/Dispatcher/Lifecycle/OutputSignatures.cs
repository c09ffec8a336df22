using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;

namespace BuildFarm.Dispatcher.Lifecycle;

/// <summary>
/// Checks a result's outputs without an archive (a dispatcher without <c>Dispatcher:Origin</c>): each output must
/// carry a signature by a trusted worker key over its narinfo fingerprint (path, NAR hash and size, references), as
/// the import would require with an origin.
/// </summary>
internal static class OutputSignatures
{
    /// <summary>Null when every output is signed by a trusted key; otherwise the rejection reason.</summary>
    public static string? Problem(BuildSucceeded e, string storeDirPath, TrustedKeys trusted)
    {
        StoreDirectory storeDir;
        try
        {
            storeDir = new StoreDirectory(storeDirPath);
        }
        catch (ArgumentException ex)
        {
            return $"outputs rejected: the build's store directory '{storeDirPath}' is invalid: {ex.Message}";
        }

        if (e.Outputs.Count == 0)
            return "outputs rejected: the result names no output";
        foreach (var o in e.Outputs)
        {
            if (!StorePath.TryParse(storeDir, o.Path, out var path, out var pathError))
                return $"outputs rejected: output '{o.Name}' path '{o.Path}' is not a path of {storeDir}: {pathError}";
            if (!NixHash.TryParse(o.NarHash, out var narHash))
                return $"outputs rejected: output '{o.Name}' NAR hash '{o.NarHash}' is not sha256:<nix32>";
            if (o.NarSize <= 0)
                return $"outputs rejected: output '{o.Name}' NAR size {o.NarSize} is not positive";
            var references = new List<StorePath>();
            foreach (var r in o.References)
            {
                if (!StorePath.TryParse(storeDir, r, out var reference, out var refError))
                    return $"outputs rejected: output '{o.Name}' reference '{r}' is not a path of {storeDir}: {refError}";
                references.Add(reference!);
            }

            var check = trusted.VerifyAny(NarInfoFingerprint.Compute(path!, narHash, o.NarSize, references), o.Signatures);
            if (!check.IsValid)
                return $"outputs rejected: output '{o.Name}' {o.Path} is not signed by a trusted worker key: {check.Reason}";
        }

        return null;
    }
}

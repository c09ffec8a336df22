using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;

namespace BuildFarm.Worker.Execution;

/// <summary>Reads DrvText with the store's Nix-exact ATerm parser.</summary>
internal sealed class AtermDerivationReader : IDerivationReader
{
    public BuildRecipe? Read(string storeDir, string drvPath, string drvText, out string? error)
    {
        StoreDirectory dir;
        StorePath path;
        try
        {
            dir = new StoreDirectory(storeDir);
        }
        catch (ArgumentException e)
        {
            error = e.Message;
            return null;
        }

        if (!StorePath.TryParse(dir, drvPath, out var parsed, out var pathError) || !parsed!.IsDerivation)
        {
            error = $"DrvPath '{drvPath}' is not a .drv store path of {storeDir}{(pathError is null ? "" : ": " + pathError)}";
            return null;
        }

        path = parsed;
        if (!DrvText.TryToBytes(drvText, out var bytes, out var codecError))
        {
            error = codecError;
            return null;
        }

        Derivation drv;
        try
        {
            drv = DerivationAterm.Parse(dir, bytes, path.Name[..^4]);
        }
        catch (DerivationFormatException e)
        {
            error = $"malformed derivation: {e.Message}";
            return null;
        }

        var unknown = drv.Outputs.Where(o => o.Value.Path is null).Select(o => o.Key).ToList();
        if (unknown.Count > 0)
        {
            error = $"outputs {string.Join(", ", unknown)} have no path (content-addressed or deferred derivations are not supported)";
            return null;
        }

        error = null;
        return new BuildRecipe(
            drv.Outputs.ToDictionary(o => o.Key, o => o.Value.Path!.FullPath, StringComparer.Ordinal),
            [.. drv.InputDrvs.Keys.Select(p => p.FullPath)],
            [.. drv.InputSrcs.Select(p => p.FullPath)],
            drv.System,
            drv.Builder,
            drv.Args,
            drv.Env,
            drv);
    }
}

using BuildFarm.Messaging.Routing;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;

namespace BuildFarm.Dispatcher.Submission;

/// <summary>A submitted derivation, parsed: what routing and the request need.</summary>
internal sealed record IntakeResult(string DrvPath, string DrvText, string System, IReadOnlyList<string> Features, IReadOnlyList<string> Outputs, Derivation Drv);

/// <summary>
/// Turns what a client sent (a .drv store path, the .drv text, or both) into an <see cref="IntakeResult"/>, or a
/// precise error. A path alone is read from the origin store (its physical root first, then the logical path).
/// </summary>
internal sealed class DerivationIntake(StoreLayout layout)
{
    public async Task<(IntakeResult? Result, string? Error)> ResolveAsync(string? drvPath, string? drvText, CancellationToken cancellationToken)
    {
        StorePath? path = null;
        if (!string.IsNullOrEmpty(drvPath))
        {
            if (!StorePath.TryParse(layout.StoreDir, drvPath, out path, out var pathError))
                return (null, $"drvPath '{drvPath}': {pathError}");
            if (!path!.IsDerivation)
                return (null, $"drvPath '{drvPath}' does not end in .drv");
        }

        if (string.IsNullOrEmpty(drvText))
        {
            if (path is null)
                return (null, "give drvPath (a .drv store path) or drvText (the .drv contents), or both");
            var physical = layout.PhysicalPath(path);
            var file = File.Exists(physical) ? physical : path.FullPath;
            if (!File.Exists(file))
                return (null, $"{path} is neither at {physical} nor at {path.FullPath}; send its text as drvText");
            try
            {
                drvText = DrvText.FromBytes(await DerivationFiles.ReadBytesAsync(file, cancellationToken));
            }
            catch (DerivationFormatException e)
            {
                return (null, $"{file}: {e.Message}");
            }
        }

        var name = path is null ? "unknown" : path.Name[..^4];
        if (!DrvText.TryToBytes(drvText, out var drvBytes, out var codecError))
            return (null, $"{path?.FullPath ?? "drvText"}: {codecError}");
        if (!DerivationAterm.TryParse(layout.StoreDir, drvBytes, name, out var drv, out var parseError))
            return (null, $"{path?.FullPath ?? "drvText"}: {parseError!.Message}");
        if (path is null)
        {
            if (!drv!.Env.TryGetValue("name", out var envName))
                return (null, "drvText has no 'name' in its environment; give drvPath too");
            path = DerivationPaths.DrvPath(layout.StoreDir, drv with { Name = envName });
        }

        // Floating content-addressed (ca-derivations) and deferred outputs get their paths only once built: nothing
        // could verify or import them, so they are refused here rather than failed by a worker.
        var pathless = drv!.Outputs.Where(o => o.Value.Path is null).Select(o => $"'{o.Key}'").ToList();
        if (pathless.Count > 0)
            return (null, $"{path.FullPath}: output {string.Join(", ", pathless)} has no path before the build (a content-addressed or deferred derivation, Nix's experimental ca-derivations); BuildFarm builds derivations whose output paths are fixed");
        if (BuildClass.Problem(drv.System, drv.RequiredSystemFeatures) is { } classProblem)
            return (null, $"{path.FullPath}: {classProblem}");
        return (new IntakeResult(path.FullPath, drvText, drv.System, drv.RequiredSystemFeatures, [.. drv.Outputs.Keys], drv), null);
    }
}

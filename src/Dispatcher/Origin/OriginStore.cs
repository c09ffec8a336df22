using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Local;
using BuildFarm.Store.NixDb;
using BuildFarm.Store.Paths;

namespace BuildFarm.Dispatcher.Origin;

/// <summary>
/// The dispatcher's view of its origin store: reads derivations, answers which outputs are valid, and computes the
/// input closure a request carries (every path with the NAR hash and size the origin vouches for). The store is
/// BuildFarm's own <see cref="LocalStore"/>, or with <paramref name="nix"/> the machine's Nix store.
/// </summary>
internal sealed class OriginStore(StoreLayout layout, TimeProvider time, NixOrigin? nix = null) : IDisposable
{
    private readonly SemaphoreSlim _openGate = new(1, 1);
    private IStore? _store;

    public StoreLayout Layout => layout;

    public async Task<IStore> OpenAsync(CancellationToken cancellationToken)
    {
        if (_store is { } open)
            return open;
        await _openGate.WaitAsync(cancellationToken);
        try
        {
            return _store ??= nix is null
                ? await LocalStore.OpenAsync(layout, time, cancellationToken)
                : NixStore.Open(layout, nix.DatabaseFile);
        }
        finally
        {
            _openGate.Release();
        }
    }

    /// <summary>Reads and parses a <c>.drv</c> of the origin store, or says precisely why it cannot.</summary>
    public async Task<(Derivation? Drv, string? Text, string? Error)> ReadDerivationAsync(StorePath drvPath, CancellationToken cancellationToken)
    {
        var physical = layout.PhysicalPath(drvPath);
        if (!File.Exists(physical))
            return (null, null, nix is null
                ? $"derivation {drvPath} is not in the origin store (no file {physical}); import it with: nix-store --export $(nix-store -qR {drvPath}) | buildfarm store import --no-check-sigs"
                : $"derivation {drvPath} is not in the Nix store (no file {physical}); create it with nix-instantiate");
        var bytes = await File.ReadAllBytesAsync(physical, cancellationToken);
        var (drv, error) = ParseDerivation(drvPath, bytes);
        return drv is null ? (null, null, error) : (drv, DrvText.FromBytes(bytes), null);
    }

    /// <summary>Parses the text of the <c>.drv</c> at <paramref name="drvPath"/> (e.g. a build record's), or says where it is malformed.</summary>
    public (Derivation? Drv, string? Error) ParseDerivation(StorePath drvPath, ReadOnlySpan<byte> text) =>
        DerivationAterm.TryParse(layout.StoreDir, text, drvPath.Name[..^4], out var drv, out var error)
            ? (drv, null)
            : (null, $"{drvPath}: {error!.Message}");

    /// <summary>True when every output in <paramref name="outputs"/> has a known path that is valid in the origin store.</summary>
    public async Task<bool> OutputsValidAsync(Derivation drv, IEnumerable<string> outputs, CancellationToken cancellationToken)
    {
        var store = await OpenAsync(cancellationToken);
        foreach (var name in outputs)
        {
            if (!drv.Outputs.TryGetValue(name, out var output) || output.Path is null || !await store.IsValidAsync(output.Path, cancellationToken))
                return false;
        }

        return true;
    }

    /// <summary>The given outputs of <paramref name="drv"/> as built outputs, when every one is valid in the origin store; otherwise null.</summary>
    public async Task<IReadOnlyList<BuiltOutput>?> ValidOutputsAsync(Derivation drv, IEnumerable<string> outputs, CancellationToken cancellationToken)
    {
        var store = await OpenAsync(cancellationToken);
        var valid = new List<BuiltOutput>();
        foreach (var name in outputs)
        {
            if (!drv.Outputs.TryGetValue(name, out var output) || output.Path is null
                || await store.QueryPathInfoAsync(output.Path, cancellationToken) is not { } info)
                return null;
            valid.Add(new BuiltOutput(name, info.Path.FullPath, info.NarHash.ToString(), info.NarSize,
                [.. info.References.Select(r => r.FullPath)], [.. info.Signatures]));
        }

        return valid;
    }

    /// <summary>
    /// The closure of the derivation's input sources and of the outputs it uses of its input derivations, each path
    /// with its NAR hash and size; or an error naming the first input that is not valid in the origin store.
    /// </summary>
    public async Task<(IReadOnlyList<InputPath>? Closure, string? Error)> InputClosureAsync(Derivation drv, CancellationToken cancellationToken)
    {
        var store = await OpenAsync(cancellationToken);
        var roots = new List<StorePath>();
        foreach (var src in drv.InputSrcs)
        {
            if (!await store.IsValidAsync(src, cancellationToken))
                return (null, $"input source {src} is not valid in the origin store at {layout.PhysicalStoreDir}");
            roots.Add(src);
        }

        foreach (var (inputDrvPath, outputNames) in drv.InputDrvs)
        {
            var (inputDrv, _, error) = await ReadDerivationAsync(inputDrvPath, cancellationToken);
            if (inputDrv is null)
                return (null, error);
            foreach (var name in outputNames)
            {
                if (!inputDrv.Outputs.TryGetValue(name, out var output))
                    return (null, $"input derivation {inputDrvPath} has no output '{name}'");
                if (output.Path is null)
                    return (null, $"output '{name}' of input derivation {inputDrvPath} has no fixed path (content-addressed outputs are not supported)");
                if (!await store.IsValidAsync(output.Path, cancellationToken))
                    return (null, $"input {output.Path} (output '{name}' of {inputDrvPath}) is not valid in the origin store at {layout.PhysicalStoreDir}; build it first");
                roots.Add(output.Path);
            }
        }

        var closure = await store.QueryClosureInfoAsync(roots, cancellationToken);
        return ([.. closure.Select(info => new InputPath(info.Path.FullPath, info.NarHash.ToString(), info.NarSize, info.ContentAddress))], null);
    }

    public void Dispose() => _openGate.Dispose();
}

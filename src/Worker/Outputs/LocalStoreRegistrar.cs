using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Worker.Derivations;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Keys;
using BuildFarm.Worker.Storage;

namespace BuildFarm.Worker.Outputs;

/// <summary>
/// Registers outputs in the worker's own <see cref="LocalStore"/> (canonicalised, NAR-hashed, references scanned,
/// row committed) and signs each narinfo fingerprint with the worker's key (stored with the path too).
/// </summary>
internal sealed class LocalStoreRegistrar(WorkerStore workerStore, WorkerKeys keys) : IOutputRegistrar
{

    public async Task<(IDisposable Lock, IReadOnlyList<BuiltOutput>? AlreadyValid)> PrepareAsync(
        BuildPlan plan, IReadOnlyList<string> wantedOutputs, CancellationToken cancellationToken)
    {
        var store = await StoreAsync(cancellationToken);
        var locks = new Locks();
        try
        {
            var valid = new List<BuiltOutput>();
            foreach (var id in wantedOutputs)
            {
                var path = store.ParsePath(plan.Recipe.Outputs[id]);
                locks.Add(await store.LockPathAsync(path, cancellationToken));
                if (await store.QueryPathInfoAsync(path, cancellationToken) is { } info)
                    valid.Add(await SignAsync(store, id, info, cancellationToken));
            }

            return (locks, valid.Count == wantedOutputs.Count ? valid : null);
        }
        catch
        {
            locks.Dispose();
            throw;
        }
    }

    public async Task<IReadOnlyDictionary<string, PathFacts>> QueryFactsAsync(IEnumerable<string> paths, CancellationToken cancellationToken)
    {
        var store = await StoreAsync(cancellationToken);
        var facts = new Dictionary<string, PathFacts>(StringComparer.Ordinal);
        foreach (var p in paths)
        {
            if (StorePath.TryParse(store.StoreDir, p, out var path, out _) && await store.QueryPathInfoAsync(path!, cancellationToken) is { } info)
            {
                facts[p] = new PathFacts(p, info.NarHash.ToString(), info.NarSize, [.. info.References.Select(r => r.FullPath)])
                {
                    DrvOutputs = p.EndsWith(".drv", StringComparison.Ordinal)
                        ? PathFacts.OutputsOf(store.StoreDir, p, await File.ReadAllBytesAsync(store.PhysicalPath(path!), cancellationToken))
                        : null,
                };
            }
        }

        return facts;
    }

    public async Task<IReadOnlyList<BuiltOutput>> RegisterAsync(
        BuildPlan plan, IReadOnlyList<string> wantedOutputs, IReadOnlyList<string> referenceCandidates, CancellationToken cancellationToken)
    {
        var store = await StoreAsync(cancellationToken);
        var candidates = new List<StorePath>();
        foreach (var c in referenceCandidates.Concat(plan.Recipe.Outputs.Values).Distinct(StringComparer.Ordinal))
        {
            if (StorePath.TryParse(store.StoreDir, c, out var p, out _))
                candidates.Add(p!);
        }

        var deriver = StorePath.TryParse(store.StoreDir, plan.DrvPath, out var drv, out _) ? drv : null;
        // Outputs may reference each other (a "dev" output naming "out"), and the store registers a path only
        // when its references are valid: register in passes until none is left, failing only when a pass makes no
        // progress (a reference outside the closure, or outputs that reference each other in a cycle).
        var infos = new Dictionary<string, ValidPathInfo>(StringComparer.Ordinal);
        var pending = wantedOutputs.ToList();
        while (pending.Count > 0)
        {
            var before = pending.Count;
            StoreException? lastError = null;
            foreach (var id in pending.ToList())
            {
                var path = store.ParsePath(plan.Recipe.Outputs[id]);
                try
                {
                    infos[id] = await store.QueryPathInfoAsync(path, cancellationToken)
                        ?? await store.RegisterOutputAsync(path, candidates, deriver, cancellationToken);
                    pending.Remove(id);
                }
                catch (StoreException e) when (pending.Count > 1)
                {
                    lastError = e;
                }
            }

            if (lastError is not null && pending.Count == before)
                throw lastError;
        }

        var outputs = new List<BuiltOutput>();
        foreach (var id in wantedOutputs)
            outputs.Add(await SignAsync(store, id, infos[id], cancellationToken));
        return outputs;
    }

    private async Task<BuiltOutput> SignAsync(LocalStore store, string id, ValidPathInfo info, CancellationToken cancellationToken)
    {
        var signature = keys.SigningKey.Sign(info.Fingerprint);
        await store.AddSignaturesAsync(info.Path, [signature], cancellationToken);
        return new BuiltOutput(id, info.Path.FullPath, info.NarHash.ToString(), info.NarSize,
            [.. info.References.Select(r => r.FullPath)], [signature]);
    }

    private Task<LocalStore> StoreAsync(CancellationToken cancellationToken) => workerStore.GetAsync(cancellationToken);

    private sealed class Locks : IDisposable
    {
        private readonly List<FileLock> _held = [];

        public void Add(FileLock held) => _held.Add(held);

        public void Dispose()
        {
            foreach (var l in _held)
                l.Dispose();
        }
    }
}

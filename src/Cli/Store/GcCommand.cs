using System.CommandLine;
using System.Globalization;
using BuildFarm.Cli.Api;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;

namespace BuildFarm.Cli.Store;

/// <summary>
/// <c>buildfarm store gc</c>: deletes from BuildFarm's own (origin) store every valid path outside the closure of its
/// roots: what the dispatcher's queued and running builds and running graphs need, the outputs of builds that
/// succeeded within <c>--keep-recent</c>, the targets of the symlinks in <c>--roots-dir</c> and the paths of
/// <c>--roots-file</c>. Without an answer from the dispatcher it refuses to run: it cannot know what a queued build needs.
/// Not for the machine's <c>/nix/store</c> (Nix collects its own garbage).
/// </summary>
internal static class GcCommand
{
    /// <summary>The roots that appeared since are asked after this many deletions, so a build submitted meanwhile keeps its inputs.</summary>
    private const int RootsRefresh = 100;

    /// <summary>Paths per page of roots: each page is one short read for the dispatcher (docs/api.md).</summary>
    internal const int RootsPage = 2000;

    public static Command Create(CliGlobals globals)
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "Print what would be deleted (path and NAR bytes) and delete nothing" };
        var keepRecent = new Option<string>("--keep-recent")
        {
            Description = "Keep the outputs of builds that succeeded within this age (e.g. 7d, 12h, 30m, 0 = none)",
            DefaultValueFactory = _ => "7d",
        };
        var rootsDir = new Option<string?>("--roots-dir") { Description = "A directory of symlinks (like Nix's gcroots) whose targets, and their closure, are kept" };
        var rootsFile = new Option<string?>("--roots-file") { Description = "A file of store paths, one a line ('#' comments), kept with their closure" };
        var command = new Command("gc", "Delete the origin store's paths no root needs (asks the dispatcher for what queued and running builds need)")
        {
            dryRun, keepRecent, rootsDir, rootsFile,
        };
        var endpoint = DispatcherClient.AddOptions(command);
        command.SetAction((result, ct) => CliErrorHandler.RunAsync(result, "store gc", async () =>
        {
            var layout = globals.Layout(result);
            if (globals.IsNix(result) || layout.PhysicalStoreDir == "/nix/store")
                throw new CliError("refused: /nix/store is Nix's own store and Nix collects its garbage (nix-collect-garbage, or nix-store --gc with its gcroots); `buildfarm store gc` only collects a BuildFarm store (--root/--store-dir)");
            var age = ParseAge(result.GetValue(keepRecent)!);
            var store = await StoreCli.OpenAsync(globals, result, ct);
            var output = result.InvocationConfiguration.Output;
            using var api = DispatcherClient.Connect(result, endpoint);

            var explicitRoots = ExplicitRoots(result.GetValue(rootsDir), result.GetValue(rootsFile), store.Layout);
            var usage = await store.ListUsageAsync(ct);
            var roots = await StoreRootsWalk.StartAsync(api, (long)age.TotalSeconds, RootsPage, ct);
            var dead = Dead(store, usage, roots.Live.Concat(roots.Recent).Concat(explicitRoots));
            long bytes = 0;
            var deleted = 0;
            foreach (var (path, size) in dead)
            {
                if (!result.GetValue(dryRun))
                {
                    // The roots that appeared since the walk began (a build or graph submitted meanwhile, a build that
                    // succeeded with outputs already valid here): each path is checked against all of them, not only
                    // against those of the last refresh.
                    if (deleted > 0 && deleted % RootsRefresh == 0)
                        await roots.RefreshAsync(ct);
                    if (roots.Appeared.Contains(path.FullPath))
                        throw new CliError($"stopped after {deleted} deletions: {path} became live (a build was submitted meanwhile); run it again");
                    try
                    {
                        await store.DeleteAsync(path, ct);
                    }
                    catch (StoreException e)
                    {
                        // Registered meanwhile: a new path references it. It stays; so does anything it references.
                        await result.InvocationConfiguration.Error.WriteLineAsync($"kept {path}: {e.Message}");
                        continue;
                    }
                }

                deleted++;
                bytes += size;
                await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"{(result.GetValue(dryRun) ? "would delete" : "deleted")} {path.FullPath} {size}"));
            }

            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
                $"{(result.GetValue(dryRun) ? "would delete" : "deleted")} {deleted} of {usage.Count} paths, {bytes} NAR bytes; kept {usage.Count - deleted} (roots: {roots.Live.Count} live, {roots.Recent.Count} recent outputs, {explicitRoots.Count} explicit)"));
            return 0;
        }));
        return command;
    }

    /// <summary>Valid paths outside the closure of the roots, each after every path that references it (safe deletion order).</summary>
    internal static List<(StorePath Path, long NarSize)> Dead(LocalStore store, IReadOnlyList<PathUsage> usage, IEnumerable<string> roots)
    {
        var byPath = usage.ToDictionary(u => u.Path);
        var keep = new HashSet<StorePath>();
        var pending = new Stack<StorePath>();
        foreach (var root in roots)
        {
            if (StorePath.TryParse(store.StoreDir, root, out var p, out _) && byPath.ContainsKey(p!))
                pending.Push(p!);
        }

        while (pending.TryPop(out var p))
        {
            if (keep.Add(p))
            {
                foreach (var r in byPath[p].References)
                    pending.Push(r);
            }
        }

        // Dead paths are closed under referrers (a kept referrer would keep them): delete referrers first.
        var dead = usage.Where(u => !keep.Contains(u.Path)).ToDictionary(u => u.Path);
        var waiting = dead.Keys.ToDictionary(p => p, _ => 0);
        foreach (var u in dead.Values)
        {
            foreach (var r in u.References.Where(r => r != u.Path && waiting.ContainsKey(r)))
                waiting[r]++;
        }

        var order = new List<(StorePath, long)>();
        var ready = new Queue<StorePath>(waiting.Where(kv => kv.Value == 0).Select(kv => kv.Key).Order(StorePath.Ordinal));
        while (ready.TryDequeue(out var p))
        {
            order.Add((p, dead[p].NarSize));
            foreach (var r in dead[p].References.Where(r => r != p && waiting.ContainsKey(r)))
            {
                if (--waiting[r] == 0)
                    ready.Enqueue(r);
            }
        }

        return order;
    }

    /// <summary>The store paths named by the roots directory's symlinks and the roots file (a path inside a store path counts as that path).</summary>
    private static List<string> ExplicitRoots(string? dir, string? file, StoreLayout layout)
    {
        var roots = new List<string>();
        if (dir is not null)
        {
            if (!Directory.Exists(dir))
                throw new CliError($"--roots-dir '{dir}' is not a directory");
            foreach (var link in Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories))
            {
                if (new FileInfo(link).LinkTarget is { } target)
                    roots.Add(StorePathOf(Path.GetFullPath(target, Path.GetDirectoryName(link)!), layout));
            }
        }

        if (file is not null)
        {
            if (!File.Exists(file))
                throw new CliError($"--roots-file '{file}' does not exist");
            roots.AddRange(File.ReadLines(file).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).Select(l => StorePathOf(l, layout)));
        }

        return roots;
    }

    /// <summary>The store path a file or directory belongs to (logical, or physical under the store's root); anything else as given.</summary>
    private static string StorePathOf(string path, StoreLayout layout)
    {
        var storeDir = layout.StoreDir.Path;
        if (layout.Root.Length > 0 && path.StartsWith(layout.PhysicalStoreDir + "/", StringComparison.Ordinal))
            path = storeDir + path[layout.PhysicalStoreDir.Length..];
        if (!path.StartsWith(storeDir + "/", StringComparison.Ordinal))
            return path;
        var rest = path[(storeDir.Length + 1)..];
        var slash = rest.IndexOf('/', StringComparison.Ordinal);
        return storeDir + "/" + (slash < 0 ? rest : rest[..slash]);
    }

    internal static TimeSpan ParseAge(string text)
    {
        if (text == "0")
            return TimeSpan.Zero;
        if (text.Length >= 2 && long.TryParse(text[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            switch (text[^1])
            {
                case 'd': return TimeSpan.FromDays(n);
                case 'h': return TimeSpan.FromHours(n);
                case 'm': return TimeSpan.FromMinutes(n);
                case 's': return TimeSpan.FromSeconds(n);
            }
        }

        throw new CliError($"--keep-recent '{text}' is invalid: give a number with d, h, m or s (e.g. 7d, 12h), or 0");
    }
}

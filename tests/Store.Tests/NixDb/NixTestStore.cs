using BuildFarm.Store.NixDb;
using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.NixDb;

/// <summary>
/// A real Nix store (created and filled by Nix 2.8's own nix-store) in a fresh temp directory
/// (<c>local?store=TMP/nix/store&amp;state=TMP/nix/var/nix</c>), so tests never race each other or the machine's
/// store; or the machine's real /nix/store.
/// </summary>
internal sealed class NixTestStore : IDisposable
{
    private readonly TempDirectory _temp;

    private NixStore? _store;

    private NixTestStore(TempDirectory temp, StoreLayout layout)
    {
        _temp = temp;
        Layout = layout;
    }

    public StoreLayout Layout { get; }

    public NixStore Store => _store ?? throw new InvalidOperationException("not opened");

    private void Open() => _store = NixStore.Open(Layout);

    /// <summary>The <c>--store</c> argument Nix's commands take for this store.</summary>
    public string Uri => Layout.StoreDir.Path == "/nix/store" ? "local" : $"local?store={Layout.StoreDir.Path}&state={Path.GetDirectoryName(Layout.StoreDir.Path)}/var/nix";

    public string Scratch => _temp.Combine("scratch");

    /// <summary>A private store under a temp root, initialised by adding one unique file with nix-store --add.</summary>
    public static async Task<(NixTestStore Store, StorePath Seed)> CreatePrivateAsync() =>
        await CreateAsync(new TempDirectory("bf-nix"), real: false);

    /// <summary>The machine's real /nix/store (initialised by Nix if needed); the seed is a fresh unique path.</summary>
    public static async Task<(NixTestStore Store, StorePath Seed)> OpenRealAsync() =>
        await CreateAsync(new TempDirectory("bf-nix-real"), real: true);

    private static async Task<(NixTestStore, StorePath)> CreateAsync(TempDirectory temp, bool real)
    {
        Directory.CreateDirectory(temp.Combine("scratch"));
        var seedFile = temp.Combine("scratch", "seed-" + Guid.NewGuid().ToString("N"));
        await File.WriteAllTextAsync(seedFile, "seed " + Guid.NewGuid() + "\n");
        var layout = StoreLayout.Create(real ? "/nix/store" : temp.Combine("nix", "store"), "");
        Directory.CreateDirectory(layout.PhysicalStoreDir);
        var store = new NixTestStore(temp, layout);
        var seed = (await store.NixAsync("nix-store", "--add", seedFile)).EnsureSuccess("nix-store --add").Stdout.Trim();
        store.Open();
        return (store, store.Store.ParsePath(seed));
    }

    public Task<ProcessResult> NixAsync(string program, params string[] args) =>
        ProcessRunner.RunAsync(program, ["--store", Uri, .. args]);

    /// <summary>A LocalStore of the same store directory (a worker's, or the farm's own origin) under a temp root.</summary>
    public Task<Local.TestStore> CreateLocalAsync() => Local.TestStore.CreateAsync(Layout.StoreDir.Path);

    /// <summary>Names in the physical store directory, sorted (temp entries included, Nix's .links excluded).</summary>
    public IReadOnlyList<string> PhysicalEntries() =>
        [.. Directory.EnumerateFileSystemEntries(Layout.PhysicalStoreDir).Select(Path.GetFileName).Where(n => n != ".links").Order(StringComparer.Ordinal)!];

    public void Dispose() => _temp.Dispose();
}

using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>The Nix fixture graph, the origin store and its sshd, without a farm: what the offload tests stand on.</summary>
public sealed class OriginFixture : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _dir = new("offload-origin");

    internal SshdServer Sshd { get; private set; } = null!;

    internal OriginStore Origin { get; private set; } = null!;

    internal NixGraph Graph { get; private set; } = null!;

    internal IReadOnlyDictionary<string, string> ReferenceHashes { get; private set; } = null!;

    internal string[] ImportedClosure { get; private set; } = [];

    internal string SecretKeyFile => _dir.Combine("origin.sec");

    internal string PublicKeyFile => _dir.Combine("origin.pub");

    internal string Scratch(string name) => Directory.CreateDirectory(_dir.Combine("scratch", name)).FullName;

    public async Task InitializeAsync()
    {
        var sshd = SshdServer.StartAsync();
        var key = SigningKey.Generate("origin-harness-1");
        await SecretKeyFiles.WriteAsync(SecretKeyFile, key + "\n");
        await File.WriteAllTextAsync(PublicKeyFile, key.PublicKey + "\n");
        Graph = await NixGraph.InstantiateAsync(Scratch("nix"), "", "routed", NixGraph.GraphAttributes);
        ReferenceHashes = await Graph.ReferenceHashesAsync(Graph.GraphDrvs);
        Origin = new OriginStore(_dir.Combine("origin"));
        ImportedClosure = await Origin.ImportFromNixAsync(Graph.GraphDrvs, SecretKeyFile);
        Sshd = await sshd;
    }

    public Task DisposeAsync()
    {
        Sshd?.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _dir.Dispose();
}

public sealed class OriginHarnessTests(OriginFixture fixture) : IClassFixture<OriginFixture>
{
    [Fact]
    public void NixGraph_Realised_HasAReferenceHashForEveryOutputIncludingBothOfMulti()
    {
        // 8 derivations, multi has two outputs: 9 outputs, each with Nix's NAR hash.
        Assert.Equal(9, fixture.ReferenceHashes.Count);
        Assert.All(fixture.ReferenceHashes.Values, h => Assert.StartsWith("sha256:", h, StringComparison.Ordinal));
        Assert.Contains(fixture.ReferenceHashes.Keys, p => p.EndsWith("-multi", StringComparison.Ordinal));
        Assert.Contains(fixture.ReferenceHashes.Keys, p => p.EndsWith("-multi-dev", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ImportFromNix_DrvClosure_IsValidAtTheOriginWithNixHashesAndOriginSignatures()
    {
        var contents = await fixture.Origin.ReadContentsAsync();

        // busybox + 8 .drv files, nothing else: no outputs are at the origin before a farm builds them.
        Assert.Equal(fixture.ImportedClosure.Order(StringComparer.Ordinal), contents.ValidPaths.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(9, contents.ValidPaths.Count);
        Assert.Contains(fixture.Graph.Busybox, contents.ValidPaths.Keys);
        foreach (var path in fixture.ImportedClosure)
            Assert.Equal(await NixOracle.RunTextAsync("nix-store", "-q", "--hash", path), contents.ValidPaths[path]);
        var verify = await fixture.Origin.RunAsync(["store", "verify", "--trusted-keys", fixture.PublicKeyFile, .. fixture.ImportedClosure]);
        Assert.True(verify.ExitCode == 0, verify.Stderr);
    }

    [Fact]
    public async Task RemoteCommand_SignedExportOverOpenSsh_ImportsIntoAnotherStoreWithTheOriginKey()
    {
        var workerRoot = fixture.Scratch("pull-worker");
        var top = fixture.Graph.Drv("top");
        var ssh = $"ssh -p {fixture.Sshd.Port} -i {fixture.Sshd.ClientKeyPath} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes {fixture.Sshd.User}@{fixture.Sshd.Host}";
        var import = $"{RepoPaths.Buildfarm} --store-dir /nix/store --root {workerRoot} store import --trusted-keys {fixture.PublicKeyFile}";

        var result = await ProcessRunner.RunAsync("/bin/bash", ["-o", "pipefail", "-c", $"{ssh} {fixture.Origin.RemoteCommand} store export --signed --closure {top} | {import}"]);

        Assert.True(result.ExitCode == 0, result.Stderr + fixture.Sshd.ReadLog());
        var worker = await StoreContents.ReadAsync(workerRoot);
        var closure = await NixGraph.DrvClosureAsync([top]);
        Assert.Equal(closure.Order(StringComparer.Ordinal), worker.ValidPaths.Keys.Order(StringComparer.Ordinal));
        Assert.Contains(fixture.Origin.Calls(), c => c.StartsWith("store export --signed --closure " + top, StringComparison.Ordinal));
    }
}

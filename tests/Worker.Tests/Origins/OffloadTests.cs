using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Local;
using BuildFarm.Store.Quarantine;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Origins;

/// <summary>
/// The worker side of docs/offload.md end to end: real RabbitMQ, real sshd running the published
/// <c>buildfarm</c> against an origin store, the sandbox, the worker's own empty store.
/// </summary>
public sealed class OffloadTests(FarmFixture farm) : IClassFixture<FarmFixture>
{
    private static readonly TimeSpan ResultTimeout = TimeSpan.FromMinutes(3);

    [Fact]
    public async Task Offload_EmptyWorkerStore_PullsExactlyTheMissingInputsOnceAndQuarantinesSignedOutputs()
    {
        await using var world = await OriginWorld.CreateAsync(farm.StoreDir);
        await using var worker = await StartWorkerAsync("offload-ok", "offloadok-linux", world.WorkerSettings());

        var first = await world.RequestAsync("offloadok-linux", "first");
        await farm.Publisher.PublishAsync(first, farm.DispatcherKey);
        var built = Succeeded(await farm.Events.WaitForResultAsync(first.BuildId, "the first offloaded build", ResultTimeout));

        // Exactly the two missing inputs crossed, in one export; the outputs went to one long-lived quarantine-serve.
        var calls = world.Calls();
        var export = Assert.Single(calls, c => c.Contains(" store export ", StringComparison.Ordinal));
        var exported = export.Split(' ').SkipWhile(a => a != "--signed").Skip(1).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(new[] { world.Busybox.FullPath, world.Source.FullPath }.Order(StringComparer.Ordinal), exported);
        Assert.Single(calls, c => c.Contains("store quarantine-serve", StringComparison.Ordinal));
        Assert.DoesNotContain(calls, c => c.Contains("quarantine-put", StringComparison.Ordinal));
        Assert.True(built.Timings.InputFetch > TimeSpan.Zero);
        var pulledNar = first.InputClosure.Where(i => i.Path == world.Busybox.FullPath || i.Path == world.Source.FullPath).Sum(i => i.NarSize);
        Assert.True(pulledNar > 0, "the request gives the pulled inputs' NAR sizes");
        Assert.Equal(pulledNar, built.InputBytesFetched);
        var workerStore = await LocalStore.OpenAsync(world.WorkerLayout);
        Assert.True(await workerStore.IsValidAsync(world.Busybox, CancellationToken.None));
        Assert.True(await workerStore.IsValidAsync(world.Source, CancellationToken.None));

        // The quarantine file is a signed archive of the outputs only, importable with the worker's key alone.
        var output = Assert.Single(built.Outputs);
        Assert.Contains(world.Busybox.FullPath, output.References);
        await using (var archive = new OutputQuarantine(world.OriginLayout).OpenOrNull(first.BuildId, 1))
        {
            Assert.NotNull(archive);
            var imported = await ArchiveImporter.ImportAsync(world.Origin, archive, new ImportOptions(new TrustedKeys([worker.PublicKey])), CancellationToken.None);
            Assert.Equal([output.Path], imported.Select(p => p.FullPath));
        }

        var info = await world.Origin.GetPathInfoAsync(world.Origin.ParsePath(output.Path), CancellationToken.None);
        Assert.Equal(output.NarHash, info.NarHash.ToString());
        Assert.Equal("hello from the origin\n", await File.ReadAllTextAsync(Path.Combine(world.Origin.PhysicalPath(info.Path), "greeting")));

        // A second build needing the same inputs transfers nothing.
        var second = await world.RequestAsync("offloadok-linux", "second");
        await farm.Publisher.PublishAsync(second, farm.DispatcherKey);
        Assert.Equal(0, Succeeded(await farm.Events.WaitForResultAsync(second.BuildId, "the second offloaded build", ResultTimeout)).InputBytesFetched);
        Assert.Single(world.Calls(), c => c.Contains(" store export ", StringComparison.Ordinal));
        // ... and its outputs travelled over the same quarantine-serve process: no new remote command at all.
        Assert.Single(world.Calls(), c => c.Contains("store quarantine-serve", StringComparison.Ordinal));
        Assert.True(File.Exists(new OutputQuarantine(world.OriginLayout).FileFor(second.BuildId, 1)), "the second attempt's quarantine file");
    }

    [Fact]
    public async Task Offload_WrongPinnedHostKey_RefusedAsInfrastructureNothingFetched()
    {
        await using var world = await OriginWorld.CreateAsync(farm.StoreDir);
        var bogus = BogusFingerprint();
        await using var worker = await StartWorkerAsync("offload-pin", "offloadpin-linux", world.WorkerSettings(pinnedFingerprint: bogus));

        // The dispatcher names the pinned key, but sshd presents another one: the handshake is refused.
        var mismatch = await world.RequestAsync("offloadpin-linux", "mismatch", requestFingerprint: bogus);
        await farm.Publisher.PublishAsync(mismatch, farm.DispatcherKey);
        var failed = Assert.IsType<BuildFailed>(await farm.Events.WaitForResultAsync(mismatch.BuildId, "the build from a wrongly pinned origin", ResultTimeout));
        Assert.Equal(BuildFailureKind.Infrastructure, failed.Kind);
        Assert.Contains($"{world.Sshd.Host}:{world.Sshd.Port}", failed.Reason, StringComparison.Ordinal);
        Assert.Contains(world.Sshd.HostKeyFingerprint, failed.Reason, StringComparison.Ordinal);

        // The request names a key other than the worker's pin: refused before connecting.
        var other = await world.RequestAsync("offloadpin-linux", "other", requestFingerprint: world.Sshd.HostKeyFingerprint);
        await farm.Publisher.PublishAsync(other, farm.DispatcherKey);
        var refused = Assert.IsType<BuildFailed>(await farm.Events.WaitForResultAsync(other.BuildId, "the build naming an unpinned key", ResultTimeout));
        Assert.Equal(BuildFailureKind.Infrastructure, refused.Kind);
        Assert.Contains("is not the one pinned in this worker's config", refused.Reason, StringComparison.Ordinal);

        Assert.Empty(world.Calls());
        var workerStore = await LocalStore.OpenAsync(world.WorkerLayout);
        Assert.False(await workerStore.IsValidAsync(world.Busybox, CancellationToken.None));
        Assert.False(await workerStore.IsValidAsync(world.Source, CancellationToken.None));
    }

    [Fact]
    public async Task Offload_InputNarHashDiffersFromRequest_RefusedAndWorkerStoreUnchanged()
    {
        await using var world = await OriginWorld.CreateAsync(farm.StoreDir);
        await using var worker = await StartWorkerAsync("offload-hash", "offloadhash-linux", world.WorkerSettings());
        var busyboxInfo = await world.Origin.GetPathInfoAsync(world.Busybox, CancellationToken.None);

        var request = await world.RequestAsync("offloadhash-linux", "badhash", sourceNarHash: busyboxInfo.NarHash.ToString());
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
        var failed = Assert.IsType<BuildFailed>(await farm.Events.WaitForResultAsync(request.BuildId, "the build with a wrong input hash", ResultTimeout));

        Assert.Equal(BuildFailureKind.Infrastructure, failed.Kind);
        Assert.Contains(world.Source.FullPath, failed.Reason, StringComparison.Ordinal);
        Assert.Contains("NAR hash", failed.Reason, StringComparison.Ordinal);
        Assert.Contains($"{world.Sshd.Host}:{world.Sshd.Port}", failed.Reason, StringComparison.Ordinal);
        var workerStore = await LocalStore.OpenAsync(world.WorkerLayout);
        Assert.False(await workerStore.IsValidAsync(world.Busybox, CancellationToken.None));
        Assert.False(await workerStore.IsValidAsync(world.Source, CancellationToken.None));
        Assert.Empty(Directory.EnumerateFileSystemEntries(world.WorkerLayout.PhysicalStoreDir));
        Assert.DoesNotContain(world.Calls(), c => c.Contains("quarantine-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Offload_InputFileCorruptInTheOriginStore_RefusedNamingThePathAndWorkerStoreUnchanged()
    {
        await using var world = await OriginWorld.CreateAsync(farm.StoreDir);
        await using var worker = await StartWorkerAsync("offload-rot", "offloadrot-linux", world.WorkerSettings());
        // The origin's file rots after the path was recorded and signed (same size, one bit flipped): its database,
        // signature and the request all still give the old hash. The export does not hash (the worker's import does).
        var file = world.Origin.PhysicalPath(world.Source);
        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var bytes = await File.ReadAllBytesAsync(file);
        bytes[0] ^= 0x20;
        await File.WriteAllBytesAsync(file, bytes);

        var request = await world.RequestAsync("offloadrot-linux", "rot");
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
        var failed = Assert.IsType<BuildFailed>(await farm.Events.WaitForResultAsync(request.BuildId, "the build with an input corrupt at the origin", ResultTimeout));

        Assert.Equal(BuildFailureKind.Infrastructure, failed.Kind);
        Assert.Contains($"path '{world.Source.FullPath}': NAR hash mismatch", failed.Reason, StringComparison.Ordinal);
        Assert.Contains("the sender's copy is corrupt or was altered on the way; nothing imported", failed.Reason, StringComparison.Ordinal);
        var workerStore = await LocalStore.OpenAsync(world.WorkerLayout);
        Assert.False(await workerStore.IsValidAsync(world.Busybox, CancellationToken.None));
        Assert.False(await workerStore.IsValidAsync(world.Source, CancellationToken.None));
        Assert.Empty(Directory.EnumerateFileSystemEntries(world.WorkerLayout.PhysicalStoreDir));
        Assert.DoesNotContain(world.Calls(), c => c.Contains("quarantine-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Offload_InputsSignedByAnUntrustedKey_RejectedAtOnceWithTheReason()
    {
        await using var world = await OriginWorld.CreateAsync(farm.StoreDir);
        var settings = world.WorkerSettings();
        await File.WriteAllTextAsync(settings["Origins:TrustedInputKeysFile"]!, SigningKey.Generate("someone-else-1").PublicKey + "\n");
        await using var worker = await StartWorkerAsync("offload-untrusted", "offloaduntrusted-linux", settings);

        var request = await world.RequestAsync("offloaduntrusted-linux", "untrusted");
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
        var failed = Assert.IsType<BuildFailed>(await farm.Events.WaitForResultAsync(request.BuildId, "the build with untrusted inputs", ResultTimeout));

        // No other worker would trust them more: final, not an infrastructure failure to retry.
        Assert.Equal(BuildFailureKind.Rejected, failed.Kind);
        Assert.Contains("is not signed by a trusted key: signature by 'origin-test-1': no trusted key has that name", failed.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Offload_InputMissingAtOrigin_RejectedAtOnceNamingThePath()
    {
        await using var world = await OriginWorld.CreateAsync(farm.StoreDir);
        await using var worker = await StartWorkerAsync("offload-missing", "offloadmissing-linux", world.WorkerSettings());
        var gone = farm.StoreDir + "/" + new string('1', 32) + "-gone";

        var request = await world.RequestAsync("offloadmissing-linux", "missing");
        request = request with { InputClosure = [.. request.InputClosure, new InputPath(gone, "sha256:" + new string('1', 52), 120)] };
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
        var failed = Assert.IsType<BuildFailed>(await farm.Events.WaitForResultAsync(request.BuildId, "the build with an input the origin lacks", ResultTimeout));

        Assert.Equal(BuildFailureKind.Rejected, failed.Kind);
        Assert.Contains($"path '{gone}' is not valid", failed.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Offload_OutputIsASymlinkToTheRoot_SucceedsWithNixsHashAndTheQuarantinedArchiveImports()
    {
        await using var world = await OriginWorld.CreateAsync(farm.StoreDir);
        await using var worker = await StartWorkerAsync("offload-symlink", "offloadsymlink-linux", world.WorkerSettings());
        // Nix 2.8 builds `ln -s / $out` into a valid path whose NAR is one symlink node (checked with nix-build).
        var reference = Path.Combine(world.Scratch, "reference-link");
        File.CreateSymbolicLink(reference, "/");

        var request = await world.RequestAsync("offloadsymlink-linux", "symlink", script: "\"$bb\" ln -s / \"$out\"");
        await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
        var built = Succeeded(await farm.Events.WaitForResultAsync(request.BuildId, "the build whose output is a symlink to /", ResultTimeout));

        var output = Assert.Single(built.Outputs);
        Assert.Equal("sha256:" + await NixOracle.HashPathAsync(reference), output.NarHash);
        await using (var archive = new OutputQuarantine(world.OriginLayout).OpenOrNull(request.BuildId, 1))
        {
            Assert.NotNull(archive);
            var imported = await ArchiveImporter.ImportAsync(world.Origin, archive, new ImportOptions(new TrustedKeys([worker.PublicKey])), CancellationToken.None);
            Assert.Equal([output.Path], imported.Select(p => p.FullPath));
        }

        Assert.Equal("/", new FileInfo(world.Origin.PhysicalPath(world.Origin.ParsePath(output.Path))).LinkTarget);
        Assert.Equal(output.NarHash, (await world.Origin.GetPathInfoAsync(world.Origin.ParsePath(output.Path), CancellationToken.None)).NarHash.ToString());
    }

    [Fact]
    public async Task Offload_StoreCapFilled_EvictsLeastRecentlyUsedAndKeepsBuilding()
    {
        await using var world = await OriginWorld.CreateAsync(farm.StoreDir);
        var busyboxNar = (await world.Origin.GetPathInfoAsync(world.Busybox, CancellationToken.None)).NarSize;
        // Room for busybox, the source and about three 400 kB blobs with their outputs: the fifth build must evict.
        var cap = busyboxNar + 1_400_000;
        var settings = world.WorkerSettings();
        settings["Store:MaxSizeBytes"] = cap.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await using var worker = await StartWorkerAsync("offload-cap", "offloadcap-linux", settings);
        var blobs = new List<Store.Paths.StorePath>();
        for (var i = 0; i < 6; i++)
            blobs.Add(await world.AddBlobAsync($"blob-{i}", 400_000));

        foreach (var (blob, i) in blobs.Select((b, i) => (b, i)).Append((blobs[0], 6)))
        {
            var request = await world.RequestAsync("offloadcap-linux", $"cap{i}", extraInputs: [blob]);
            await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
            Succeeded(await farm.Events.WaitForResultAsync(request.BuildId, $"build {i} of the capped worker", ResultTimeout));
        }

        var workerStore = await LocalStore.OpenAsync(world.WorkerLayout);
        var usage = await workerStore.ListUsageAsync(CancellationToken.None);
        Assert.True(await workerStore.IsValidAsync(world.Busybox, CancellationToken.None), "busybox, used by every build, was evicted at the end");
        Assert.False(await workerStore.IsValidAsync(blobs[1], CancellationToken.None), "the least recently used blob is still there");
        Assert.True(blobs.Count(b => workerStore.IsValidAsync(b, CancellationToken.None).GetAwaiter().GetResult()) <= 4, "no blob was evicted");
        // The first blob was evicted after build 0 and fetched again for the last build, which succeeded.
        Assert.True(await workerStore.IsValidAsync(blobs[0], CancellationToken.None), "the first blob, fetched again by the last build, is not there");
        // Outputs registered after the last fetch may go over the cap until the next fetch; inputs never do.
        var inputs = usage.Where(u => !u.Path.Name.StartsWith("offload-", StringComparison.Ordinal)).Sum(u => u.NarSize);
        Assert.True(inputs <= cap, $"the store holds {inputs} NAR bytes of inputs, over its cap of {cap}");
        Assert.Equal(7, world.Calls().Count(c => c.Contains(" store export ", StringComparison.Ordinal)));
    }

    private async Task<TestWorker> StartWorkerAsync(string name, string system, Dictionary<string, string?> settings)
    {
        var worker = await TestWorker.StartAsync(farm.Broker.AmqpUri, farm.StoreDir, farm.DispatcherKey.PublicKey, name, [system], extraSettings: settings);
        await farm.WaitOnlineAsync(name);
        return worker;
    }

    private static BuildSucceeded Succeeded(object result) => result switch
    {
        BuildSucceeded s => s,
        BuildFailed f => throw new Xunit.Sdk.XunitException($"build failed ({f.Kind}): {f.Reason}\n{f.LogTail}"),
        _ => throw new Xunit.Sdk.XunitException($"unexpected result {result}"),
    };

    private static string BogusFingerprint() =>
        "SHA256:" + Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Guid.NewGuid().ToByteArray())).TrimEnd('=');
}

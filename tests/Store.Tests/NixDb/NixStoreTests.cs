using System.Security.Cryptography;
using System.Text.Json;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Store.Tests.Local;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.NixDb;

/// <summary>The Nix store as an origin, against Nix 2.8's own nix-store and nix path-info.</summary>
public sealed class NixStoreTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Fact]
    public async Task QueryPathInfoAsync_PathsImportedBySignedNix_EqualNixPathInfoJson()
    {
        var (nix, seed) = await NixTestStore.CreatePrivateAsync();
        using var _ = nix;
        using var local = await nix.CreateLocalAsync();
        var (dep, top) = await AddPairAsync(local, "info");
        var archive = new MemoryStream();
        await ArchiveWriter.ExportAsync(local.Store, [top], archive, new ExportOptions(Closure: true), None);
        (await ProcessRunner.RunAsync("nix-store", ["--store", nix.Uri, "--import"], archive.ToArray())).EnsureSuccess("nix-store --import");
        var keyFile = Path.Combine(nix.Scratch, "origin.sec");
        await SecretKeyFiles.WriteAsync(keyFile, SigningKey.Generate("origin-1").ToString());
        (await nix.NixAsync("nix", "store", "sign", "--key-file", keyFile, top.FullPath)).EnsureSuccess("nix store sign");

        foreach (var path in new[] { seed, dep, top })
        {
            var ours = await nix.Store.GetPathInfoAsync(path, None);
            var json = (await nix.NixAsync("nix", "path-info", "--json", "--sigs", path.FullPath)).EnsureSuccess("nix path-info").Stdout;
            var theirs = JsonDocument.Parse(json).RootElement[0];

            Assert.Equal(NixHash.Parse(theirs.GetProperty("narHash").GetString()!), ours.NarHash);
            Assert.Equal(theirs.GetProperty("narSize").GetInt64(), ours.NarSize);
            Assert.Equal(theirs.GetProperty("references").EnumerateArray().Select(r => r.GetString()!).Order(StringComparer.Ordinal), ours.References.Select(r => r.FullPath));
            Assert.Equal(theirs.TryGetProperty("deriver", out var d) ? d.GetString() : null, ours.Deriver?.FullPath);
            Assert.Equal(theirs.TryGetProperty("signatures", out var s) ? s.EnumerateArray().Select(x => x.GetString()!).ToList() : [], ours.Signatures);
            Assert.Equal(theirs.GetProperty("registrationTime").GetInt64(), ours.RegistrationTime.ToUnixTimeSeconds());
        }

        Assert.Single((await nix.Store.GetPathInfoAsync(top, None)).Signatures);
        Assert.Equal(new[] { dep, top }.Order(StorePath.Ordinal), await nix.Store.QueryClosureAsync([top], None));
        Assert.False(await nix.Store.IsValidAsync(local.Store.ParsePath(top.FullPath[..^1] + "z"), None));
    }

    [Fact]
    public async Task ExportAsync_SignedFromNixStore_ImportsIntoLocalStoreWithNixsNarHashes()
    {
        var (nix, _) = await NixTestStore.CreatePrivateAsync();
        using var __ = nix;
        using var local = await nix.CreateLocalAsync();
        using var target = await nix.CreateLocalAsync();
        var (dep, top) = await AddPairAsync(local, "export");
        var nixArchive = new MemoryStream();
        await ArchiveWriter.ExportAsync(local.Store, [top], nixArchive, new ExportOptions(Closure: true), None);
        (await ProcessRunner.RunAsync("nix-store", ["--store", nix.Uri, "--import"], nixArchive.ToArray())).EnsureSuccess("nix-store --import");
        var origin = SigningKey.Generate("origin-1");

        var archive = new MemoryStream();
        var written = await ArchiveWriter.ExportAsync(nix.Store, [top], archive, new ExportOptions(ArchiveFormat.BuildFarmSigned, Closure: true, origin), None);
        archive.Position = 0;
        var imported = await ArchiveImporter.ImportAsync(target.Store, archive, new ImportOptions(new TrustedKeys([origin.PublicKey])), None);

        Assert.Equal([dep, top], written);
        Assert.Equal([dep, top], imported);
        foreach (var path in imported)
        {
            var dump = (await nix.NixAsync("nix-store", "--dump", path.FullPath)).EnsureSuccess("nix-store --dump").StdoutBytes;
            var info = await target.Store.GetPathInfoAsync(path, None);
            Assert.Equal(new NixHash(SHA256.HashData(dump)), info.NarHash);
            Assert.True(new TrustedKeys([origin.PublicKey]).VerifyAny(info.Fingerprint, info.Signatures).IsValid);
        }
    }

    [Fact]
    public async Task ExportAsync_UnsignedNixPathWithoutKey_RefusedByTheImporterAsUntrusted()
    {
        var (nix, seed) = await NixTestStore.CreatePrivateAsync();
        using var _ = nix;
        using var target = await nix.CreateLocalAsync();
        var archive = new MemoryStream();
        await ArchiveWriter.ExportAsync(nix.Store, [seed], archive, new ExportOptions(ArchiveFormat.BuildFarmSigned), None);
        archive.Position = 0;

        var e = await Assert.ThrowsAsync<ArchiveException>(() => ArchiveImporter.ImportAsync(target.Store, archive, new ImportOptions(new TrustedKeys([SigningKey.Generate("origin-1").PublicKey])), None));

        Assert.True(e.Untrusted);
        Assert.Contains("no signatures", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportAsync_WorkerSignedOutputsIntoNixStore_ValidForNixWithTheWorkersSignature()
    {
        var (nix, seed) = await NixTestStore.CreatePrivateAsync();
        using var _ = nix;
        await ImportAndCheckAsync(nix, seed);
    }

    [Fact]
    public async Task ImportAsync_IntoTheMachinesRealNixStore_ValidForNixWithTheWorkersSignature()
    {
        // Unique names (a fresh seed, content with a GUID), so concurrent tests never touch the same paths.
        var (nix, seed) = await NixTestStore.OpenRealAsync();
        using var _ = nix;
        var added = await ImportAndCheckAsync(nix, seed, holdNixsLock: true);
        foreach (var path in added.Reverse().Append(seed))
            (await nix.NixAsync("nix-store", "--delete", path.FullPath)).EnsureSuccess("nix-store --delete");
    }

    [Fact]
    public async Task ImportAsync_WhileAnotherProcessHoldsNixsPathLock_DoesNotBlock()
    {
        var (nix, seed) = await NixTestStore.CreatePrivateAsync();
        using var _ = nix;
        using var worker = await nix.CreateLocalAsync();
        var key = SigningKey.Generate("worker-1");
        var output = await AddOutputAsync(worker, nix, seed, key, "locked");
        var lockFile = Path.Combine(nix.Layout.PhysicalStoreDir, output.BaseName + ".lock");
        using var holder = ChildProcess.Start("flock", "flock", [lockFile, "sleep", "120"]);
        await WaitUntilAsync(() => File.Exists(lockFile), "flock to create " + lockFile);
        var held = await ProcessRunner.RunAsync("flock", ["--nonblock", lockFile, "true"]);
        Assert.NotEqual(0, held.ExitCode);

        var archive = await SignedArchiveAsync(worker, output);
        var import = ArchiveImporter.ImportAsync(nix.Store, archive, new ImportOptions(new TrustedKeys([key.PublicKey])), None);
        var finished = await Task.WhenAny(import, Task.Delay(TimeSpan.FromSeconds(60)));

        Assert.True(finished == import, "the import into the Nix store waited for Nix's path lock held by another process");
        await import;
        (await nix.NixAsync("nix-store", "--verify-path", output.FullPath)).EnsureSuccess("nix-store --verify-path");
    }

    [Fact]
    public async Task ImportAsync_TreeIntoNixStore_EveryEntryCanonicalAsRestoredWithoutASecondPass()
    {
        var (nix, _) = await NixTestStore.CreatePrivateAsync();
        using var __ = nix;
        using var worker = await nix.CreateLocalAsync();
        var key = SigningKey.Generate("worker-1");
        var (dep, top) = await AddPairAsync(worker, "tree");
        foreach (var path in new[] { dep, top })
            await worker.Store.AddSignaturesAsync(path, [key.Sign((await worker.Store.GetPathInfoAsync(path, None)).Fingerprint)], None);

        await ArchiveImporter.ImportAsync(nix.Store, await SignedArchiveAsync(worker, top), new ImportOptions(new TrustedKeys([key.PublicKey])), None);

        // What Nix's canonicalisation leaves (the import no longer canonicalises a restored tree a second time).
        (await nix.NixAsync("nix-store", "--verify-path", dep.FullPath)).EnsureSuccess("nix-store --verify-path");
        var root = nix.Store.PhysicalPath(dep);
        var entries = Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Prepend(root)
            .Where(e => new FileInfo(e).LinkTarget is null).ToList();
        Assert.Equal(4, entries.Count);
        foreach (var entry in entries)
        {
            var isDir = Directory.Exists(entry);
            var executable = isDir || entry.EndsWith("run.sh", StringComparison.Ordinal);
            Assert.True((executable ? (UnixFileMode)0b101_101_101 : (UnixFileMode)0b100_100_100) == File.GetUnixFileMode(entry), entry);
            Assert.True(CanonicalTime == (isDir ? Directory.GetLastWriteTimeUtc(entry) : File.GetLastWriteTimeUtc(entry)), entry);
        }
    }

    [Fact]
    public async Task ImportAsync_TamperedArchive_LeavesTheNixStoreAsItWas()
    {
        var (nix, seed) = await NixTestStore.CreatePrivateAsync();
        using var _ = nix;
        using var worker = await nix.CreateLocalAsync();
        var key = SigningKey.Generate("worker-1");
        var output = await AddOutputAsync(worker, nix, seed, key, "tampered-" + new string('x', 64));
        var bytes = (await SignedArchiveAsync(worker, output)).ToArray();
        var at = System.Text.Encoding.UTF8.GetString(bytes).IndexOf(new string('x', 64), StringComparison.Ordinal);
        Assert.True(at > 0);
        bytes[at + 10] ^= 1;
        var before = nix.PhysicalEntries();

        var e = await Assert.ThrowsAsync<ArchiveException>(() => ArchiveImporter.ImportAsync(nix.Store, new MemoryStream(bytes), new ImportOptions(new TrustedKeys([key.PublicKey])), None));

        Assert.Contains("NAR hash mismatch", e.Message, StringComparison.Ordinal);
        Assert.Equal(before, nix.PhysicalEntries());
        Assert.False(await nix.Store.IsValidAsync(output, None));
        Assert.NotEqual(0, (await nix.NixAsync("nix-store", "--check-validity", output.FullPath)).ExitCode);
    }

    // holdNixsLock: another process holds <store>/<output>.lock during the import, as nix-daemon does while its hook runs.
    private static async Task<IReadOnlyList<StorePath>> ImportAndCheckAsync(NixTestStore nix, StorePath seed, bool holdNixsLock = false)
    {
        using var worker = await nix.CreateLocalAsync();
        var key = SigningKey.Generate("worker-1");
        var output = await AddOutputAsync(worker, nix, seed, key, "out-" + Guid.NewGuid());
        var archive = await SignedArchiveAsync(worker, output);
        var lockFile = Path.Combine(nix.Layout.PhysicalStoreDir, output.BaseName + ".lock");
        using var holder = holdNixsLock ? ChildProcess.Start("flock", "flock", [lockFile, "sleep", "120"]) : null;
        if (holder is not null)
            await WaitUntilAsync(() => File.Exists(lockFile), "flock to create " + lockFile);

        var imported = await ArchiveImporter.ImportAsync(nix.Store, archive, new ImportOptions(new TrustedKeys([key.PublicKey])), None).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal([seed, output], imported);
        (await nix.NixAsync("nix-store", "--check-validity", output.FullPath)).EnsureSuccess("nix-store --check-validity");
        (await nix.NixAsync("nix-store", "--verify-path", output.FullPath)).EnsureSuccess("nix-store --verify-path");
        var sigs = (await nix.NixAsync("nix", "path-info", "--sigs", output.FullPath)).EnsureSuccess("nix path-info --sigs").Stdout;
        Assert.Contains("worker-1:", sigs, StringComparison.Ordinal);
        var verify = await nix.NixAsync("nix", "store", "verify", "--sigs-needed", "1", "--trusted-public-keys", key.PublicKey.ToString(), output.FullPath);
        Assert.True(verify.ExitCode == 0, verify.Stderr);
        var refs = (await nix.NixAsync("nix-store", "--query", "--references", output.FullPath)).EnsureSuccess("nix-store -q --references").Stdout;
        Assert.Equal(seed.FullPath, refs.Trim());
        var physical = nix.Store.PhysicalPath(output);
        Assert.Equal(CanonicalTime, File.GetLastWriteTimeUtc(physical));
        Assert.Equal((UnixFileMode)0b100_100_100, File.GetUnixFileMode(physical));
        Assert.DoesNotContain(nix.PhysicalEntries(), n => n.StartsWith(StagedPath.Prefix, StringComparison.Ordinal));
        if (holder is not null)
        {
            holder.Dispose();
            File.Delete(lockFile);
        }

        return [output];
    }

    private static readonly DateTime CanonicalTime = DateTime.UnixEpoch.AddSeconds(1);

    /// <summary>In the worker's store: <paramref name="seed"/> (imported from Nix) and a text output referencing it, both signed by <paramref name="key"/>.</summary>
    private static async Task<StorePath> AddOutputAsync(TestStore worker, NixTestStore nix, StorePath seed, SigningKey key, string salt)
    {
        var export = (await nix.NixAsync("nix-store", "--export", seed.FullPath)).EnsureSuccess("nix-store --export").StdoutBytes;
        await ArchiveImporter.ImportAsync(worker.Store, new MemoryStream(export), new ImportOptions(null, CheckSignatures: false), None);
        var output = await worker.Store.AddTextAsync("out-" + salt[..Math.Min(salt.Length, 12)], System.Text.Encoding.UTF8.GetBytes($"{salt}\n{seed.FullPath}\n"), [seed], None);
        foreach (var path in new[] { seed, output })
            await worker.Store.AddSignaturesAsync(path, [key.Sign((await worker.Store.GetPathInfoAsync(path, None)).Fingerprint)], None);
        return output;
    }

    private static async Task<MemoryStream> SignedArchiveAsync(TestStore worker, StorePath output)
    {
        var archive = new MemoryStream();
        await ArchiveWriter.ExportAsync(worker.Store, [output], archive, new ExportOptions(ArchiveFormat.BuildFarmSigned, Closure: true), None);
        archive.Position = 0;
        return archive;
    }

    private static async Task<(StorePath Dep, StorePath Top)> AddPairAsync(TestStore local, string salt)
    {
        var dep = await local.Store.AddPathAsync(local.MakeSampleTree("d", salt + Guid.NewGuid()), None);
        var top = await local.Store.AddTextAsync("t", System.Text.Encoding.UTF8.GetBytes(dep.FullPath), [dep], None);
        return (dep, top);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("timed out waiting for " + what);
            await Task.Delay(20);
        }
    }
}

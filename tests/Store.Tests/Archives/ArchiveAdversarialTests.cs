using System.Text;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Store.Tests.Local;

namespace BuildFarm.Store.Tests.Archives;

/// <summary>
/// Archives that must be rejected. Each test imports into a store that already holds one path and checks that the
/// error says why and that the store's files and rows are exactly as before (no temp entries left either).
/// </summary>
public sealed class ArchiveAdversarialTests : IAsyncLifetime
{
    private const string Content = "payload-0123456789";
    private readonly SigningKey _key = SigningKey.Generate("farm-1");
    private TestStore _from = null!;
    private TestStore _to = null!;
    private StorePath _dep = null!;
    private StorePath _top = null!;
    private string _trustedFile = null!;

    public async Task InitializeAsync()
    {
        _from = await TestStore.CreateAsync();
        _to = await TestStore.CreateAsync();
        _dep = await _from.Store.AddTextAsync("dep.txt", Encoding.UTF8.GetBytes(Content), [], CancellationToken.None);
        _top = await _from.Store.AddTextAsync("top.txt", Encoding.UTF8.GetBytes("uses " + _dep.FullPath), [_dep], CancellationToken.None);
        foreach (var p in new[] { _dep, _top })
            await _from.Store.AddSignaturesAsync(p, [_key.Sign((await _from.Store.GetPathInfoAsync(p, CancellationToken.None)).Fingerprint)], CancellationToken.None);
        await _to.Store.AddTextAsync("already-there.txt", "x"u8.ToArray(), [], CancellationToken.None);
        _trustedFile = Path.Combine(_to.Scratch, "trusted-keys");
        await File.WriteAllTextAsync(_trustedFile, _key.PublicKey.ToString() + "\n");
    }

    public Task DisposeAsync()
    {
        _from.Dispose();
        _to.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Import_BadNarInside_Rejected()
    {
        var archive = await ExportAsync(ArchiveFormat.BuildFarmSigned, closure: true);
        Replace(archive, "nix-archive-1", "nix-archive-2", occurrence: 1);

        await AssertRejectedAsync(archive, Trusted(), "bad NAR");
    }

    [Fact]
    public async Task Import_NarNotMatchingSignedHash_Rejected()
    {
        var archive = await ExportAsync(ArchiveFormat.BuildFarmSigned, closure: true);
        Replace(archive, Content, "PAYLOAD-0123456789", occurrence: 0);

        await AssertRejectedAsync(archive, Trusted(), "NAR hash mismatch");
    }

    [Theory]
    [InlineData(ArchiveFormat.BuildFarmSigned)]
    [InlineData(ArchiveFormat.NixExport)]
    public async Task Import_TruncatedAtSeveralOffsets_RejectedEveryTime(ArchiveFormat format)
    {
        var archive = await ExportAsync(format, closure: true);
        var options = format == ArchiveFormat.NixExport ? new ImportOptions(null, CheckSignatures: false) : Trusted();
        var before = Snapshot();
        foreach (var length in new[] { 0, 5, 8, 40, 100, archive.Length / 2, archive.Length - 9, archive.Length - 8, archive.Length - 1 })
        {
            var error = await Assert.ThrowsAsync<ArchiveException>(
                () => ArchiveImporter.ImportAsync(_to.Store, new MemoryStream(archive[..length]), options, CancellationToken.None));
            Assert.True(error.Message.Contains("truncated", StringComparison.Ordinal), $"cut at {length}: {error.Message}");
            Assert.Equal(before, Snapshot());
        }
    }

    [Fact]
    public async Task Import_PathOutsideStoreDir_Rejected()
    {
        using var gnu = await TestStore.CreateAsync("/gnu/store");
        var elsewhere = await gnu.Store.AddTextAsync("elsewhere.txt", "e"u8.ToArray(), [], CancellationToken.None);
        var archive = new MemoryStream();
        await ArchiveWriter.ExportAsync(gnu.Store, [elsewhere], archive, new ExportOptions(), CancellationToken.None);

        await AssertRejectedAsync(archive.ToArray(), new ImportOptions(null, CheckSignatures: false), "is not in the store directory /nix/store");
    }

    [Fact]
    public async Task Import_NixExportWithoutNoCheckSigs_RejectedAsUnsigned()
    {
        var archive = await ExportAsync(ArchiveFormat.NixExport, closure: true);

        await AssertRejectedAsync(archive, Trusted(), "is unsigned");
    }

    [Fact]
    public async Task Import_SignedByUntrustedKey_Rejected()
    {
        var archive = await ExportAsync(ArchiveFormat.BuildFarmSigned, closure: true);
        var otherFile = Path.Combine(_to.Scratch, "other-keys");
        await File.WriteAllTextAsync(otherFile, SigningKey.Generate("farm-1").PublicKey.ToString() + "\n");

        await AssertRejectedAsync(archive, new ImportOptions(await TrustedKeys.LoadAsync(otherFile, CancellationToken.None)), "is not signed by a trusted key");
    }

    [Fact]
    public async Task Import_ReferenceToMissingPath_Rejected()
    {
        var archive = await ExportAsync(ArchiveFormat.BuildFarmSigned, closure: false);

        await AssertRejectedAsync(archive, Trusted(), $"references '{_dep}', which is neither valid");
    }

    [Fact]
    public async Task Import_ValidArchiveAfterRejections_StillWorks()
    {
        var archive = await ExportAsync(ArchiveFormat.BuildFarmSigned, closure: true);
        var broken = archive.ToArray();
        Replace(broken, Content, "PAYLOAD-0123456789", occurrence: 0);
        await AssertRejectedAsync(broken, Trusted(), "NAR hash mismatch");

        var imported = await ArchiveImporter.ImportAsync(_to.Store, new MemoryStream(archive), Trusted(), CancellationToken.None);

        Assert.Equal([_dep, _top], imported);
    }

    [Fact]
    public async Task Import_NarLongerThanSignedSize_StopsAtTheSignedSizeAndLeavesNothing()
    {
        var big = await _from.Store.AddTextAsync("big.txt", new byte[1 << 20], [], CancellationToken.None);
        var output = new MemoryStream();
        await ArchiveWriter.ExportAsync(_from.Store, [big], output, new ExportOptions(ArchiveFormat.BuildFarmSigned), CancellationToken.None);
        var archive = output.ToArray();
        SetNarSize(archive, (await _from.Store.GetPathInfoAsync(big, CancellationToken.None)).NarHash.ToString(), 4096);
        var input = new MemoryStream(archive);
        var before = Snapshot();

        var error = await Assert.ThrowsAsync<ArchiveException>(
            () => ArchiveImporter.ImportAsync(_to.Store, input, new ImportOptions(null, CheckSignatures: false), CancellationToken.None));

        Assert.Contains($"({big}) (starting at archive byte offset ", error.Message, StringComparison.Ordinal);
        Assert.EndsWith("is longer than its signed size of 4096 bytes: refused at that size, nothing imported", error.Message, StringComparison.Ordinal);
        // The restore stops at the signed size; the import reads ahead at most one 64 KiB buffer (StallGuardStream).
        Assert.True(input.Position < 4096 + 1024 + (64 << 10), $"the importer read {input.Position} bytes of a 1 MiB NAR signed as 4096");
        Assert.Equal(before, Snapshot());
    }

    [Theory]
    [InlineData(0x8000_0000_0000_0000UL)]
    [InlineData(ulong.MaxValue)]
    public async Task Import_NarSizeBeyondLongMax_RejectedAsCorrupt(ulong size)
    {
        var archive = await ExportAsync(ArchiveFormat.BuildFarmSigned, closure: true);
        SetNarSize(archive, (await _from.Store.GetPathInfoAsync(_dep, CancellationToken.None)).NarHash.ToString(), size);

        await AssertRejectedAsync(archive, Trusted(), $"'{_dep}' has NAR size {size}, beyond the largest possible ({long.MaxValue} bytes)");
        await AssertRejectedAsync(archive, new ImportOptions(null, CheckSignatures: false), $"has NAR size {size}, beyond the largest possible");
    }

    private ImportOptions Trusted() => new(TrustedKeys.Parse(File.ReadAllText(_trustedFile), _trustedFile));

    private async Task<byte[]> ExportAsync(ArchiveFormat format, bool closure)
    {
        var output = new MemoryStream();
        await ArchiveWriter.ExportAsync(_from.Store, [_top], output, new ExportOptions(format, closure), CancellationToken.None);
        return output.ToArray();
    }

    private async Task AssertRejectedAsync(byte[] archive, ImportOptions options, string expected)
    {
        var before = Snapshot();

        var error = await Assert.ThrowsAnyAsync<StoreException>(
            () => ArchiveImporter.ImportAsync(_to.Store, new MemoryStream(archive), options, CancellationToken.None));

        Assert.True(error.Message.Contains(expected, StringComparison.Ordinal), $"expected '{expected}' in: {error.Message}");
        Assert.Equal(before, Snapshot());
    }

    private string Snapshot() => string.Join('\n', _to.PhysicalEntries()) + "\n--\n" + string.Join('\n', _to.DatabaseRows());

    /// <summary>Overwrites the signed form's NAR size word, the u64 right after the (padded) NAR hash string.</summary>
    private static void SetNarSize(byte[] data, string narHash, ulong size)
    {
        var at = data.AsSpan().IndexOf(Encoding.ASCII.GetBytes(narHash));
        Assert.True(at > 0, $"NAR hash {narHash} not in the archive");
        var word = at + ((narHash.Length + 7) / 8 * 8);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(word, 8), size);
    }

    /// <summary>Overwrites the n-th occurrence of an ASCII string (same length) in place.</summary>
    private static void Replace(byte[] data, string find, string replacement, int occurrence)
    {
        var needle = Encoding.ASCII.GetBytes(find);
        var seen = 0;
        for (var i = 0; i + needle.Length <= data.Length; i++)
        {
            if (data.AsSpan(i, needle.Length).SequenceEqual(needle) && seen++ == occurrence)
            {
                Encoding.ASCII.GetBytes(replacement).CopyTo(data, i);
                return;
            }
        }

        throw new InvalidOperationException($"'{find}' occurs fewer than {occurrence + 1} times");
    }
}

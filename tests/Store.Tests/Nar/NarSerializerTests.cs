using System.Security.Cryptography;
using BuildFarm.Store.Nar;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Nar;

/// <summary>
/// <see cref="NarSerializer"/> (the synchronous walker behind <see cref="NarHasher"/>) and the hasher's read-ahead
/// thread, against <c>nix-store --dump</c> and <c>nix-hash</c>.
/// </summary>
public sealed class NarSerializerTests
{
    public static TheoryData<string> Cases => new(NarCorpus.Names);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Write_CorpusCaseInTinyChunks_MatchesNixStoreDump(string name)
    {
        using var dir = new TempDirectory("nar-s");
        var path = dir.Combine(name);
        NarCorpus.Create(name, path);

        // 24-byte chunks: every token, name and file straddles chunk boundaries somewhere.
        var (bytes, size) = Serialize(path, chunkSize: 24);

        Assert.Equal(await NixOracle.DumpAsync(path), bytes);
        Assert.Equal(bytes.LongLength, size);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task HashPath_CorpusCaseWithReadAheadFromTheStart_MatchesNixHash(string name)
    {
        using var dir = new TempDirectory("nar-ra");
        var path = dir.Combine(name);
        NarCorpus.Create(name, path);

        var (digest, size) = NarHasher.HashPath(path, HashAlgorithmName.SHA256, readAheadAfter: 0, ringChunks: 2, CancellationToken.None);

        Assert.Equal(await NixOracle.HashPathAsync(path), new Store.Hashing.NixHash(digest).ToNix32());
        Assert.Equal((await NixOracle.DumpAsync(path)).LongLength, size);
    }

    [Theory]
    [InlineData(long.MaxValue, 8)]
    [InlineData(0, 2)]
    [InlineData(1 << 20, 3)]
    public async Task HashPath_ManyFilesAndALargeOne_MatchesNixHashInlineAndWithReadAhead(long readAheadAfter, int ringChunks)
    {
        using var dir = new TempDirectory("nar-many");
        var path = dir.Combine("tree");
        CreateTree(path, files: 1_500, largeBytes: (3 << 20) + 12_345);

        var (digest, size) = NarHasher.HashPath(path, HashAlgorithmName.SHA256, readAheadAfter, ringChunks, CancellationToken.None);

        Assert.Equal(await NixOracle.HashPathAsync(path), new Store.Hashing.NixHash(digest).ToNix32());
        var nix = await ProcessRunner.RunAsync("bash", ["-c", "nix-store --dump \"$1\" | wc -c", "bash", path]);
        Assert.Equal(nix.Stdout.Trim(), size.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Write_NamesDifferingInNonAsciiBytes_SortedByBytesLikeNix()
    {
        using var dir = new TempDirectory("nar-sort");
        var path = dir.Combine("tree");
        Directory.CreateDirectory(path);

        // UTF-16 order and UTF-8 byte order disagree for these: U+FF5E sorts before U+1F600 in UTF-16 (surrogates
        // are 0xD83D...) but after it as UTF-8 bytes (EF BD BE vs F0 9F 98 80); "Z" < "a" < "é" in bytes.
        foreach (var n in new[] { "\uFF5E", "😀", "é", "a", "Z", "ab", "a\u00A0", "\u00FF", "\u0100" })
            File.WriteAllText(Path.Combine(path, n), n);

        Assert.Equal(await NixOracle.DumpAsync(path), Serialize(path, chunkSize: 1 << 16).Bytes);
    }

    [Fact]
    public async Task Write_InvalidUtf8FileName_ThrowsIOException()
    {
        using var dir = new TempDirectory("nar-utf8");
        var path = dir.Combine("tree");
        Directory.CreateDirectory(path);
        var created = await ProcessRunner.RunAsync("bash", ["-c", "printf x > \"$1/$(printf 'bad\\377name')\"", "bash", path]);
        created.EnsureSuccess("create a file with a non-UTF-8 name");

        var error = Assert.Throws<IOException>(() => Serialize(path, chunkSize: 1 << 16));
        Assert.Contains("not valid UTF-8", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Write_FifoInTree_ThrowsWithoutBlocking()
    {
        using var dir = new TempDirectory("nar-fifo");
        var path = dir.Combine("tree");
        Directory.CreateDirectory(path);
        File.WriteAllText(Path.Combine(path, "a"), "a");
        (await ProcessRunner.RunAsync("mkfifo", [Path.Combine(path, "fifo")])).EnsureSuccess("mkfifo");

        var error = Assert.Throws<IOException>(() => Serialize(path, chunkSize: 1 << 16));
        Assert.Contains("not a regular file, directory or symlink", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HashPath_FailureAfterReadAheadStarted_ThrowsAndStopsTheHelper()
    {
        using var dir = new TempDirectory("nar-fail");
        var path = dir.Combine("tree");
        CreateTree(path, files: 300, largeBytes: 1 << 20);

        // "zz" sorts after everything CreateTree makes, so the failure comes with the helper thread running.
        (await ProcessRunner.RunAsync("mkfifo", [Path.Combine(path, "zz")])).EnsureSuccess("mkfifo");

        Assert.Throws<IOException>(() =>
            NarHasher.HashPath(path, HashAlgorithmName.SHA256, readAheadAfter: 0, ringChunks: 2, CancellationToken.None));
    }

    [Fact]
    public void Write_MissingRoot_ThrowsFileNotFound()
    {
        using var dir = new TempDirectory("nar-missing");

        Assert.Throws<FileNotFoundException>(() => Serialize(dir.Combine("nothing"), chunkSize: 1 << 16));
    }

    [Fact]
    public void HashPath_CancelledToken_ThrowsOperationCanceled()
    {
        using var dir = new TempDirectory("nar-cancel");
        var path = dir.Combine("tree");
        CreateTree(path, files: 50, largeBytes: 1 << 20);

        Assert.ThrowsAny<OperationCanceledException>(() =>
            NarHasher.HashPath(path, HashAlgorithmName.SHA256, readAheadAfter: 0, ringChunks: 2, new CancellationToken(canceled: true)));
    }

    [Fact]
    public void Write_FileShrinksWhileRead_ThrowsIOException()
    {
        using var dir = new TempDirectory("nar-shrink");
        var path = dir.Combine("file");
        File.WriteAllBytes(path, new byte[10_000]);

        // The first full chunk is handed off in the middle of the file's contents: truncate the file there.
        var error = Assert.Throws<IOException>(() => NarSerializer.Write(path, new byte[4096], (chunk, _) =>
        {
            File.WriteAllBytes(path, new byte[100]);
            return chunk;
        }, out _, out _, CancellationToken.None));
        Assert.Contains("shrank from 10000", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Write_FileGrowsWhileRead_ArchivesTheSizeItHadWhenOpened()
    {
        using var dir = new TempDirectory("nar-grow");
        var path = dir.Combine("file");
        var original = Enumerable.Range(0, 10_000).Select(i => (byte)(i * 13)).ToArray();
        File.WriteAllBytes(path, original);
        var expected = await NixOracle.DumpAsync(path);

        using var nar = new MemoryStream();
        var grown = false;
        var size = NarSerializer.Write(path, new byte[4096], (chunk, n) =>
        {
            nar.Write(chunk, 0, n);
            if (!grown)
            {
                using var append = new FileStream(path, FileMode.Append);
                append.Write(new byte[5_000]);
                grown = true;
            }

            return chunk;
        }, out var last, out var count, CancellationToken.None);
        nar.Write(last, 0, count);

        Assert.Equal(expected, nar.ToArray());
        Assert.Equal(expected.LongLength, size);
    }

    [Fact]
    public async Task Write_SymlinkRootToDirectory_ArchivesTheSymlink()
    {
        using var dir = new TempDirectory("nar-link-root");
        Directory.CreateDirectory(dir.Combine("target"));
        File.WriteAllText(dir.Combine("target", "f"), "f");
        var path = dir.Combine("link");
        File.CreateSymbolicLink(path, "target");

        Assert.Equal(await NixOracle.DumpAsync(path), Serialize(path, chunkSize: 1 << 16).Bytes);
    }

    private static (byte[] Bytes, long Size) Serialize(string path, int chunkSize)
    {
        using var nar = new MemoryStream();
        var size = NarSerializer.Write(path, new byte[chunkSize], (chunk, n) =>
        {
            Assert.Equal(chunk.Length, n);
            nar.Write(chunk, 0, n);
            return chunk;
        }, out var last, out var count, CancellationToken.None);
        nar.Write(last, 0, count);
        return (nar.ToArray(), size);
    }

    /// <summary>Small files of varied sizes (some empty, some executable, some symlinks) in subdirectories, and one large file.</summary>
    private static void CreateTree(string path, int files, int largeBytes)
    {
        var random = new Random(17);
        for (var i = 0; i < files; i++)
        {
            var sub = Path.Combine(path, "d" + (i / 100).ToString("D2", System.Globalization.CultureInfo.InvariantCulture));
            Directory.CreateDirectory(sub);
            var file = Path.Combine(sub, "f" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            var bytes = new byte[i % 11 == 0 ? 0 : random.Next(1, 40_000)];
            random.NextBytes(bytes);
            File.WriteAllBytes(file, bytes);
            if (i % 7 == 0)
                File.SetUnixFileMode(file, (UnixFileMode)0b111_101_101);
            if (i % 50 == 0)
                File.CreateSymbolicLink(Path.Combine(sub, "link" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)), "f" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        Directory.CreateDirectory(Path.Combine(path, "empty"));
        var large = new byte[largeBytes];
        random.NextBytes(large);
        File.WriteAllBytes(Path.Combine(path, "large"), large);
    }
}

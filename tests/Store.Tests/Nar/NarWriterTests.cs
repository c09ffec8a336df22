using BuildFarm.Store.Nar;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Nar;

public sealed class NarWriterTests
{
    public static TheoryData<string> Cases => new(NarCorpus.Names);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task WriteAsync_CorpusCase_MatchesNixStoreDump(string name)
    {
        using var dir = new TempDirectory("nar-w");
        var path = dir.Combine(name);
        NarCorpus.Create(name, path);
        var expected = await NixOracle.DumpAsync(path);

        using var ours = new MemoryStream();
        await NarWriter.WriteAsync(path, ours, CancellationToken.None);

        Assert.Equal(expected, ours.ToArray());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task HashPathAsync_CorpusCase_MatchesNixHash(string name)
    {
        using var dir = new TempDirectory("nar-h");
        var path = dir.Combine(name);
        NarCorpus.Create(name, path);

        var (hash, size) = await NarHasher.HashPathAsync(path, CancellationToken.None);

        Assert.Equal(await NixOracle.HashPathAsync(path), hash.ToNix32());
        Assert.Equal((await NixOracle.DumpAsync(path)).LongLength, size);
    }

    [Fact]
    public async Task HashPathAsync_PathAddedToNixStore_MatchesStoreHashAndSize()
    {
        using var dir = new TempDirectory("nar-add");
        var path = dir.Combine("bf-nar-test-" + Guid.NewGuid().ToString("N"));
        NarCorpus.Create("mixed-tree", path);
        var storePath = await NixOracle.RunTextAsync("nix-store", "--add", path);

        var (hash, size) = await NarHasher.HashPathAsync(storePath, CancellationToken.None);

        Assert.Equal(await NixOracle.RunTextAsync("nix-store", "-q", "--hash", storePath), hash.ToString());
        Assert.Equal(await NixOracle.RunTextAsync("nix-store", "-q", "--size", storePath), size.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task HashPathAsync_FileOver100MiB_MatchesHashOfNixDump()
    {
        using var dir = new TempDirectory("nar-big");
        var path = dir.Combine("big");
        await WritePatternFileAsync(path, (100L << 20) + 12_345);

        var (hash, size) = await NarHasher.HashPathAsync(path, CancellationToken.None);

        // Hash and count Nix's dump in a pipe rather than buffering 100 MiB in the test process.
        var nix = await ProcessRunner.RunAsync("bash", ["-c", "set -o pipefail; nix-store --dump \"$1\" | tee >(wc -c >&2) | sha256sum", "bash", path]);
        nix.EnsureSuccess("nix-store --dump | sha256sum");
        Assert.Equal(nix.Stdout.Split(' ')[0], hash.ToHex());
        Assert.Equal(nix.Stderr.Trim(), size.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static async Task WritePatternFileAsync(string path, long length)
    {
        var block = new byte[1 << 20];
        for (var i = 0; i < block.Length; i++)
            block[i] = (byte)((i * 31) ^ (i >> 9));
        await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 0);
        for (long written = 0; written < length; written += block.Length)
        {
            block[0]++;
            await file.WriteAsync(block.AsMemory(0, (int)Math.Min(block.Length, length - written)));
        }
    }
}

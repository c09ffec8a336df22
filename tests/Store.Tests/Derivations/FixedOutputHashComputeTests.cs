using BuildFarm.Store.Derivations;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Derivations;

/// <summary><see cref="FixedOutputHash.ComputeAsync"/> against the real <c>nix-hash</c>, every algorithm, flat and recursive.</summary>
public sealed class FixedOutputHashComputeTests
{
    [Theory]
    [InlineData(OutputHashAlgorithm.Md5, false)]
    [InlineData(OutputHashAlgorithm.Sha1, false)]
    [InlineData(OutputHashAlgorithm.Sha256, false)]
    [InlineData(OutputHashAlgorithm.Sha512, false)]
    [InlineData(OutputHashAlgorithm.Md5, true)]
    [InlineData(OutputHashAlgorithm.Sha1, true)]
    [InlineData(OutputHashAlgorithm.Sha256, true)]
    [InlineData(OutputHashAlgorithm.Sha512, true)]
    public async Task ComputeAsync_FileOrTree_SameDigestAsNixHash(OutputHashAlgorithm algorithm, bool recursive)
    {
        using var dir = new TempDirectory("fod-hash");
        var path = dir.Combine("out");
        if (recursive)
        {
            Directory.CreateDirectory(Path.Combine(path, "sub"));
            await File.WriteAllTextAsync(Path.Combine(path, "sub", "data"), "tree content\n");
            File.CreateSymbolicLink(Path.Combine(path, "link"), "sub/data");
        }
        else
        {
            await File.WriteAllBytesAsync(path, [.. Enumerable.Range(0, 300_000).Select(i => (byte)i)]);
        }

        var expected = await NixOracle.RunTextAsync(
            "nix-hash", [.. recursive ? Array.Empty<string>() : ["--flat"], "--type", algorithm.Name(), path]);

        var hash = await FixedOutputHash.ComputeAsync(path, algorithm, recursive, CancellationToken.None);

        Assert.Equal(expected, hash.Hex);
        Assert.Equal(recursive, hash.Recursive);
    }
}

using BuildFarm.Store.Nar;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Nar;

public sealed class NarReaderTests
{
    public static TheoryData<string> Cases => new(NarCorpus.Names);

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task RestoreAsync_OurDumpOfCorpusCase_NixDumpsTheSameBytes(string name)
    {
        using var dir = new TempDirectory("nar-r");
        var source = dir.Combine("source");
        NarCorpus.Create(name, source);
        var nar = await DumpAsync(source);
        var target = dir.Combine("restored");

        using var input = new MemoryStream(nar);
        await NarReader.RestoreAsync(input, target, CancellationToken.None);

        Assert.Equal(nar, await NixOracle.DumpAsync(target));
    }

    [Fact]
    public async Task RestoreAsync_Tree_IsReadOnlyWithCanonicalMtime()
    {
        using var dir = new TempDirectory("nar-mode");
        var source = dir.Combine("source");
        NarCorpus.Create("mixed-tree", source);
        var target = dir.Combine("restored");

        using var input = new MemoryStream(await DumpAsync(source));
        await NarReader.RestoreAsync(input, target, CancellationToken.None);

        var rx = (UnixFileMode)0b101_101_101;
        var r = (UnixFileMode)0b100_100_100;
        Assert.Equal(rx, File.GetUnixFileMode(target));
        Assert.Equal(rx, File.GetUnixFileMode(Path.Combine(target, "lib", "empty")));
        Assert.Equal(rx, File.GetUnixFileMode(Path.Combine(target, "bin", "tool")));
        Assert.Equal(r, File.GetUnixFileMode(Path.Combine(target, "lib", "blob")));
        Assert.Equal(DateTime.UnixEpoch.AddSeconds(1), File.GetLastWriteTimeUtc(Path.Combine(target, "lib", "blob")));
        Assert.Equal(DateTime.UnixEpoch.AddSeconds(1), Directory.GetLastWriteTimeUtc(Path.Combine(target, "lib")));
        Assert.Equal(".", new FileInfo(Path.Combine(target, "lib", "self")).LinkTarget);
    }

    [Fact]
    public async Task RestoreAsync_NarFollowedByOtherData_StopsAtTheNarsEnd()
    {
        using var dir = new TempDirectory("nar-concat");
        var source = dir.Combine("source");
        NarCorpus.Create("mixed-tree", source);
        var nar = await DumpAsync(source);
        using var input = new MemoryStream([.. nar, .. "NEXT-RECORD"u8.ToArray()]);

        await NarReader.RestoreAsync(input, dir.Combine("restored"), CancellationToken.None);

        Assert.Equal(nar.Length, input.Position);
    }

    [Fact]
    public async Task SkipAsync_NarFollowedByOtherData_ConsumesExactlyTheNar()
    {
        var nar = NarBytes.Start().Dir(("a", "1"), ("b", "22")).ToArray();
        using var input = new MemoryStream([.. nar, .. nar]);

        await NarReader.SkipAsync(input, CancellationToken.None);
        Assert.Equal(nar.Length, input.Position);
        await NarReader.SkipAsync(input, rejectTrailingData: true, CancellationToken.None);
        Assert.Equal(2 * nar.Length, input.Position);
    }

    [Fact]
    public async Task RestoreAsync_TrailingDataWhenRejected_FailsAndRemovesTarget()
    {
        using var dir = new TempDirectory("nar-trail");
        var target = dir.Combine("restored");
        using var input = new MemoryStream([.. NarBytes.Start().Dir(("a", "1")).ToArray(), 0]);

        var e = await Assert.ThrowsAsync<NarFormatException>(() => NarReader.RestoreAsync(input, target, rejectTrailingData: true, CancellationToken.None));

        Assert.Contains("trailing data", e.Message, StringComparison.Ordinal);
        Assert.False(Path.Exists(target));
    }

    [Fact]
    public async Task RestoreAsync_TargetExists_RefusesWithoutTouchingIt()
    {
        using var dir = new TempDirectory("nar-exists");
        var target = dir.Combine("there");
        File.CreateSymbolicLink(target, "nowhere");
        using var input = new MemoryStream(NarBytes.Start().File("x").ToArray());

        var e = await Assert.ThrowsAsync<IOException>(() => NarReader.RestoreAsync(input, target, CancellationToken.None));

        Assert.Contains("already exists", e.Message, StringComparison.Ordinal);
        Assert.Equal("nowhere", new FileInfo(target).LinkTarget);
    }

    private static async Task<byte[]> DumpAsync(string path)
    {
        using var output = new MemoryStream();
        await NarWriter.WriteAsync(path, output, CancellationToken.None);
        return output.ToArray();
    }
}

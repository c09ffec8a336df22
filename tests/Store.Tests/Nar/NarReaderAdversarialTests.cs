using BuildFarm.Store.Nar;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Nar;

public sealed class NarReaderAdversarialTests
{
    private static readonly Dictionary<string, (Func<byte[]> Nar, string Problem)> Broken = new()
    {
        ["bad-magic"] = (() => new NarBytes().Str("nix-archive-2", "(", "type", "regular", "contents", "", ")").ToArray(), "bad magic"),
        ["not-a-nar"] = (() => "#!/bin/sh\necho not a nar\n"u8.ToArray(), "bad magic"),
        ["unsorted"] = (() => NarBytes.Start().Dir(("b", "1"), ("a", "2")).ToArray(), "entry 'a' comes after 'b'"),
        ["unsorted-bytes"] = (() => NarBytes.Start().Dir(("a", "1"), ("ä", "2"), ("b", "3")).ToArray(), "entry 'b' comes after 'ä'"),
        ["duplicate"] = (() => NarBytes.Start().Dir(("a", "1"), ("a", "2")).ToArray(), "duplicate entry 'a'"),
        ["name-dot"] = (() => NarBytes.Start().Dir((".", "1")).ToArray(), "entry name '.' is not allowed"),
        ["name-dotdot"] = (() => NarBytes.Start().Dir(("..", "1")).ToArray(), "entry name '..' is not allowed"),
        ["name-slash"] = (() => NarBytes.Start().Dir(("a/b", "1")).ToArray(), "contains '/'"),
        ["name-nul"] = (() => NarBytes.Start().Dir(("a\0b", "1")).ToArray(), "contains a NUL byte"),
        ["name-empty"] = (() => NarBytes.Start().Dir(("", "1")).ToArray(), "entry name is empty"),
        ["unknown-type"] = (() => NarBytes.Start().Str("(", "type", "fifo", ")").ToArray(), "unknown object type 'fifo'"),
        ["unknown-dir-token"] = (() => NarBytes.Start().Str("(", "type", "directory", "entri").ToArray(), "expected 'entry' or ')'"),
        ["unknown-file-token"] = (() => NarBytes.Start().Str("(", "type", "regular", "size", "1", ")").ToArray(), "expected 'executable' or 'contents'"),
        ["executable-marker"] = (() => NarBytes.Start().Str("(", "type", "regular", "executable", "yes", "contents", "", ")").ToArray(), "empty string after 'executable'"),
        ["bad-padding"] = (() => NarBytes.Start().Str("(", "type", "regular", "contents").Raw("abc"u8.ToArray(), paddingByte: 1).Str(")").ToArray(), "non-zero padding"),
        ["bad-token-padding"] = (() => NarBytes.Start().Str("(").Raw("type"u8.ToArray(), paddingByte: 0xff).Str("regular", "contents", "", ")").ToArray(), "non-zero padding"),
        ["missing-close"] = (() => NarBytes.Start().Str("(", "type", "regular", "contents", "x", "(").ToArray(), "expected ')'"),
        ["huge-token"] = (() => NarBytes.Start().Str("(").U64(1UL << 40).ToArray(), "more than the 4095 allowed"),
        ["empty-symlink"] = (() => NarBytes.Start().Str("(", "type", "symlink", "target", "", ")").ToArray(), "symlink target is empty"),
        ["invalid-utf8-name"] = (() => NarBytes.Start().Str("(", "type", "directory", "entry", "(", "name").Raw([0x61, 0xff]).Str("node").File("x").Str(")", ")").ToArray(), "not valid UTF-8"),
    };

    public static TheoryData<string> BrokenCases => new(Broken.Keys);

    [Theory]
    [MemberData(nameof(BrokenCases))]
    public async Task RestoreAsync_BrokenNar_FailsNamingTheProblemAndLeavesNothing(string name)
    {
        var (nar, problem) = Broken[name];
        using var dir = new TempDirectory("nar-bad");
        var target = dir.Combine("out");

        using var input = new MemoryStream(nar());
        var e = await Assert.ThrowsAsync<NarFormatException>(() => NarReader.RestoreAsync(input, target, CancellationToken.None));

        Assert.Contains(problem, e.Message, StringComparison.Ordinal);
        Assert.Contains("byte offset", e.Message, StringComparison.Ordinal);
        Assert.False(Path.Exists(target), $"{target} should have been removed");
        using var again = new MemoryStream(nar());
        await Assert.ThrowsAsync<NarFormatException>(() => NarReader.SkipAsync(again, CancellationToken.None));
    }

    [Fact]
    public async Task RestoreAsync_BrokenEntryDeepInTree_NamesTheEntryPath()
    {
        var nar = NarBytes.Start().Str("(", "type", "directory")
            .Entry("sub", n => n.Dir(("x", "1"), ("x", "2")))
            .Str(")").ToArray();
        using var dir = new TempDirectory("nar-where");
        using var input = new MemoryStream(nar);

        var e = await Assert.ThrowsAsync<NarFormatException>(() => NarReader.RestoreAsync(input, dir.Combine("out"), CancellationToken.None));

        Assert.Equal("/sub", e.EntryPath);
        Assert.Contains("duplicate entry 'x'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RestoreAsync_TruncatedAtManyOffsets_FailsAsTruncatedAndLeavesNothing()
    {
        using var dir = new TempDirectory("nar-trunc");
        var source = dir.Combine("source");
        NarCorpus.Create("mixed-tree", source);
        using var full = new MemoryStream();
        await NarWriter.WriteAsync(source, full, CancellationToken.None);
        var nar = full.ToArray();

        foreach (var cut in new[] { 0, 5, 8, 20, 24, 100, nar.Length / 3, nar.Length / 2, nar.Length - 9, nar.Length - 1 })
        {
            var target = dir.Combine("out-" + cut);
            using var input = new MemoryStream(nar[..cut]);
            var e = await Assert.ThrowsAsync<NarFormatException>(() => NarReader.RestoreAsync(input, target, CancellationToken.None));
            Assert.Contains("truncated", e.Message, StringComparison.Ordinal);
            Assert.Equal(cut, e.Offset);
            Assert.False(Path.Exists(target), $"{target} should have been removed after a cut at {cut}");
        }
    }

    [Fact]
    public async Task RestoreAsync_Cancelled_RemovesPartialTree()
    {
        var nar = NarBytes.Start().Dir(("a", "1"), ("b", "2")).ToArray();
        using var dir = new TempDirectory("nar-cancel");
        var target = dir.Combine("out");
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        using var input = new MemoryStream(nar);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => NarReader.RestoreAsync(input, target, cts.Token));

        Assert.False(Path.Exists(target));
    }
}

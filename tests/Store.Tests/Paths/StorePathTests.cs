using BuildFarm.Store.Paths;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Paths;

public sealed class StorePathTests
{
    [Theory]
    [InlineData("/nix/store/abc-x", "not of the form")]
    [InlineData("/gnu/store/qhr2hq2mkiszwi1xg99cl89vw8xsx3yl-d", "not in the store directory")]
    [InlineData("/nix/store/qhr2hq2mkiszwi1xg99cl89vw8xsx3ye-d", "digest")]
    [InlineData("/nix/store/qhr2hq2mkiszwi1xg99cl89vw8xsx3yl-a b", "forbidden character")]
    [InlineData("/nix/store/qhr2hq2mkiszwi1xg99cl89vw8xsx3yl-.hidden", "starts with a dot")]
    public void TryParse_InvalidPath_SaysWhy(string text, string reason)
    {
        Assert.False(StorePath.TryParse(StoreDirectory.Nix, text, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_ValidPath_SplitsDigestAndName()
    {
        var path = StorePath.Parse(StoreDirectory.Nix, "/nix/store/qhr2hq2mkiszwi1xg99cl89vw8xsx3yl-hello-2.12.drv");
        Assert.Equal("qhr2hq2mkiszwi1xg99cl89vw8xsx3yl", path.Digest);
        Assert.Equal("hello-2.12.drv", path.Name);
        Assert.True(path.IsDerivation);
    }

    [Fact]
    public async Task MakeText_SameAsNixStoreAddText()
    {
        using var dir = new TempDirectory();
        var file = dir.Combine("greeting.txt");
        await File.WriteAllTextAsync(file, "some text for the store\n");
        // nix-instantiate --eval of builtins.toFile yields the text path without building anything.
        var expected = await NixOracle.RunTextAsync("nix-instantiate", "--eval", "--expr",
            "builtins.toFile \"greeting.txt\" \"some text for the store\\n\"");
        var ours = StorePathFactory.MakeText(StoreDirectory.Nix, "greeting.txt", await File.ReadAllBytesAsync(file), []);
        Assert.Equal(expected.Trim('"'), ours.FullPath);
    }

    [Fact]
    public void StoreLayout_WithRoot_MapsLogicalToPhysical()
    {
        var layout = StoreLayout.Create("/nix/store", "/srv/w1/");
        var path = StorePath.Parse(StoreDirectory.Nix, "/nix/store/qhr2hq2mkiszwi1xg99cl89vw8xsx3yl-d");
        Assert.Equal("/srv/w1/nix/store/qhr2hq2mkiszwi1xg99cl89vw8xsx3yl-d", layout.PhysicalPath(path));
    }
}

using System.Text;
using BuildFarm.Store.Derivations;

namespace BuildFarm.Store.Tests.Derivations;

public sealed class DrvTextTests
{
    [Fact]
    public void FromBytes_Utf8Drv_IsTheAtermItself()
    {
        var bytes = Encoding.UTF8.GetBytes("Derive([(\"out\",\"/nix/store/x-café\",\"\",\"\")],[],[],\"x\",\"b\",[],[])");

        Assert.Equal(Encoding.UTF8.GetString(bytes), DrvText.FromBytes(bytes));
    }

    [Fact]
    public void FromBytes_LatinOneDrv_RoundTripsEveryByteThroughJsonSafeText()
    {
        byte[] bytes = [.. Encoding.ASCII.GetBytes("Derive([],[],[],\"x\",\"b\",[],[(\"v\",\"caf"), 0xE9, 0xFF, .. Encoding.ASCII.GetBytes("\")])")];

        var text = DrvText.FromBytes(bytes);

        Assert.StartsWith(DrvText.Base64Prefix, text, StringComparison.Ordinal);
        Assert.True(text.All(char.IsAscii));
        Assert.True(DrvText.TryToBytes(text, out var back, out var error), error);
        Assert.Equal(bytes, back);
    }

    [Fact]
    public void TryToBytes_BrokenBase64_FalseWithTheReason()
    {
        Assert.False(DrvText.TryToBytes("base64:@@@", out _, out var error));
        Assert.Contains("not base64", error, StringComparison.Ordinal);
    }
}

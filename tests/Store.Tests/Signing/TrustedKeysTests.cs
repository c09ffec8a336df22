using BuildFarm.Store.Signing;

namespace BuildFarm.Store.Tests.Signing;

public sealed class TrustedKeysTests
{
    private const string Fingerprint = "1;/nix/store/0123456789abcdfghijklmnpqrsvwxyz-x;sha256:0000000000000000000000000000000000000000000000000000;120;";

    [Fact]
    public void Parse_FileWithCommentsAndBlankLines_LoadsEveryKey()
    {
        var a = SigningKey.Generate("a");
        var b = SigningKey.Generate("b");
        var text = $"# farm keys\n\n{a.PublicKey}  # first\n   {b.PublicKey}\n";

        var trusted = TrustedKeys.Parse(text, "trusted.keys");

        Assert.Equal(["a", "b"], trusted.Keys.Select(k => k.Name).Order());
    }

    [Fact]
    public void Parse_BadLine_NamesFileAndLine()
    {
        var e = Assert.Throws<FormatException>(() => TrustedKeys.Parse($"{SigningKey.Generate("a").PublicKey}\nb:AAAA\n", "trusted.keys"));

        Assert.StartsWith("trusted.keys:2: public key 'b:…'", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void VerifyAny_SignatureByTrustedKey_SaysWhichKey()
    {
        var key = SigningKey.Generate("good");
        var trusted = new TrustedKeys([key.PublicKey]);

        var check = trusted.VerifyAny(Fingerprint, ["other:" + new string('A', 86) + "==", key.Sign(Fingerprint)]);

        Assert.True(check.IsValid);
        Assert.Equal("good", check.KeyName);
    }

    [Fact]
    public void VerifyAny_TamperedFingerprint_FailsWithBadSignature()
    {
        var key = SigningKey.Generate("good");
        var trusted = new TrustedKeys([key.PublicKey]);

        var check = trusted.VerifyAny(Fingerprint.Replace(";120;", ";121;", StringComparison.Ordinal), [key.Sign(Fingerprint)]);

        Assert.False(check.IsValid);
        Assert.Contains("bad signature", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void VerifyAny_UntrustedKeyName_FailsWithUnknownKey()
    {
        var trusted = new TrustedKeys([SigningKey.Generate("good").PublicKey]);

        var check = trusted.VerifyAny(Fingerprint, [SigningKey.Generate("stranger").Sign(Fingerprint)]);

        Assert.False(check.IsValid);
        Assert.Contains("'stranger': no trusted key has that name", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void VerifyAny_KeyWithTrustedNameButOtherBytes_FailsWithBadSignature()
    {
        var trusted = new TrustedKeys([SigningKey.Generate("good").PublicKey]);

        var check = trusted.VerifyAny(Fingerprint, [SigningKey.Generate("good").Sign(Fingerprint)]);

        Assert.False(check.IsValid);
        Assert.Contains("bad signature", check.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void VerifyAny_NoSignatures_SaysSo()
    {
        var check = new TrustedKeys([SigningKey.Generate("good").PublicKey]).VerifyAny(Fingerprint, []);

        Assert.False(check.IsValid);
        Assert.Equal("the path has no signatures", check.Reason);
    }
}

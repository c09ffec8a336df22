using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Signing;

public sealed class SigningKeyTests
{
    [Fact]
    public async Task Parse_KeyFromNixGenerateSecret_HasNixsPublicKey()
    {
        var secret = await NixOracle.RunTextAsync("nix", "key", "generate-secret", "--key-name", "nix-made-1");
        var nixPublic = await ConvertToPublicWithNixAsync(secret);

        var key = SigningKey.Parse(secret);

        Assert.Equal("nix-made-1", key.Name);
        Assert.Equal(nixPublic, key.PublicKey.ToString());
        Assert.Equal(secret, key.ToString());
    }

    [Fact]
    public async Task Generate_Key_NixDerivesTheSamePublicKey()
    {
        var key = SigningKey.Generate("ours-1");

        Assert.Equal(key.PublicKey.ToString(), await ConvertToPublicWithNixAsync(key.ToString()));
        Assert.Equal(64, Convert.FromBase64String(key.ToString()["ours-1:".Length..]).Length);
    }

    [Fact]
    public void Sign_ThenVerify_AcceptsOnlyTheSignedFingerprint()
    {
        var key = SigningKey.Generate("k");
        var signature = NixSignature.Parse(key.Sign("1;/nix/store/x;sha256:abc;8;"));

        Assert.True(key.PublicKey.Verify("1;/nix/store/x;sha256:abc;8;", signature));
        Assert.False(key.PublicKey.Verify("1;/nix/store/x;sha256:abc;9;", signature));
    }

    [Theory]
    [InlineData("no-colon-here", "no ':' between the key name")]
    [InlineData(":AAAA", "empty key name")]
    [InlineData("k:not base64!", "not valid base64")]
    [InlineData("k:AAAA", "decodes to 3 bytes, expected 64")]
    public void TryParse_BadSecretKey_SaysWhichPartIsWrong(string text, string problem)
    {
        Assert.False(SigningKey.TryParse(text, out _, out var error));
        Assert.Contains(problem, error, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_SecretKeyWithForeignPublicHalf_IsRejected()
    {
        var a = Convert.FromBase64String(SigningKey.Generate("a").ToString()[2..]);
        var b = Convert.FromBase64String(SigningKey.Generate("b").ToString()[2..]);
        var mixed = "a:" + Convert.ToBase64String([.. a[..32], .. b[32..]]);

        Assert.False(SigningKey.TryParse(mixed, out _, out var error));
        Assert.Contains("not the public key of its first 32", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("k:AAAA", "public key 'k:…': the base64 data decodes to 3 bytes, expected 32")]
    [InlineData("k", "has no ':'")]
    public void TryParse_BadPublicKey_SaysWhichPartIsWrong(string text, string problem)
    {
        Assert.False(VerifyingKey.TryParse(text, out _, out var error));
        Assert.Contains(problem, error, StringComparison.Ordinal);
    }

    private static async Task<string> ConvertToPublicWithNixAsync(string secret)
    {
        var result = await ProcessRunner.RunAsync("nix", ["key", "convert-secret-to-public"], stdin: System.Text.Encoding.UTF8.GetBytes(secret));
        return result.EnsureSuccess("nix key convert-secret-to-public").Stdout.Trim();
    }
}

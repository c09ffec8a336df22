using System.Text.Json;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Nar;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Signing;

/// <summary>
/// Signs a freshly built, input-addressed Nix path (content-addressed paths pass <c>nix store verify</c> without any
/// signature, so they would prove nothing) with a key we generated, and compares with what Nix does with that key.
/// </summary>
public sealed class NixSignatureInteropTests
{
    [Fact]
    public async Task Sign_FingerprintOfNixBuiltPath_EqualsNixsSignatureAndNixVerifiesIt()
    {
        using var dir = new TempDirectory("sig-nix");
        var key = SigningKey.Generate("bf-test-" + Guid.NewGuid().ToString("N")[..8]);
        var keyFile = dir.Combine("secret.key");
        await SecretKeyFiles.WriteAsync(keyFile, key.ToString());
        var path = await BuildOutputWithReferenceAsync();

        await Nix("store", "sign", "--key-file", keyFile, path);
        var info = await PathInfoAsync(path);
        var storePath = StorePath.Parse(StoreDirectory.Nix, path);
        var fingerprint = NarInfoFingerprint.Compute(storePath, info.NarHash, info.NarSize, info.References);

        var ours = key.Sign(fingerprint);

        Assert.NotEmpty(info.References);
        Assert.Contains(ours, info.Signatures);
        Assert.True(new TrustedKeys([key.PublicKey]).VerifyAny(fingerprint, info.Signatures).IsValid);
        var (narHash, narSize) = await NarHasher.HashPathAsync(path, CancellationToken.None);
        Assert.Equal(info.NarHash, narHash);
        Assert.Equal(info.NarSize, narSize);

        var trusted = await ProcessRunner.RunAsync("nix", ["store", "verify", "--substituters", "", "--sigs-needed", "1", "--trusted-public-keys", key.PublicKey.ToString(), path]);
        Assert.Equal(0, trusted.ExitCode);
        var stranger = SigningKey.Generate(key.Name).PublicKey.ToString();
        var untrusted = await ProcessRunner.RunAsync("nix", ["store", "verify", "--substituters", "", "--sigs-needed", "1", "--trusted-public-keys", stranger, path]);
        Assert.NotEqual(0, untrusted.ExitCode);
    }

    [Fact]
    public async Task VerifyAny_TamperedFingerprintOfNixSignedPath_Fails()
    {
        using var dir = new TempDirectory("sig-tamper");
        var key = SigningKey.Generate("bf-tamper");
        var keyFile = dir.Combine("secret.key");
        await SecretKeyFiles.WriteAsync(keyFile, key.ToString());
        var path = await BuildOutputWithReferenceAsync();
        await Nix("store", "sign", "--key-file", keyFile, path);
        var info = await PathInfoAsync(path);
        var storePath = StorePath.Parse(StoreDirectory.Nix, path);

        var check = new TrustedKeys([key.PublicKey]).VerifyAny(
            NarInfoFingerprint.Compute(storePath, info.NarHash, info.NarSize + 1, info.References), info.Signatures);

        Assert.False(check.IsValid);
        Assert.Contains("bad signature", check.Reason, StringComparison.Ordinal);
    }

    private sealed record PathInfo(NixHash NarHash, long NarSize, IReadOnlyList<StorePath> References, IReadOnlyList<string> Signatures);

    /// <summary>A unique derivation built by Nix whose output refers to another store path.</summary>
    private static async Task<string> BuildOutputWithReferenceAsync()
    {
        var nonce = Guid.NewGuid().ToString("N");
        var expr = "derivation { name = \"bf-sig-out\"; system = builtins.currentSystem; builder = \"/bin/sh\"; "
                   + "dep = builtins.toFile \"bf-sig-dep\" \"dependency\"; args = [ \"-c\" \"echo $dep > $out\" ]; nonce = \"" + nonce + "\"; }";
        var drv = await NixOracle.RunTextAsync("nix-instantiate", "--expr", expr);
        return (await NixOracle.RunTextAsync("nix-store", "--realise", "--option", "substituters", "", drv)).Trim();
    }

    private static async Task<PathInfo> PathInfoAsync(string path)
    {
        using var json = JsonDocument.Parse(await Nix("path-info", "--json", path));
        var entry = json.RootElement[0];
        return new PathInfo(
            NixHash.Parse(entry.GetProperty("narHash").GetString()!),
            entry.GetProperty("narSize").GetInt64(),
            [.. entry.GetProperty("references").EnumerateArray().Select(r => StorePath.Parse(StoreDirectory.Nix, r.GetString()!))],
            [.. entry.GetProperty("signatures").EnumerateArray().Select(s => s.GetString()!)]);
    }

    private static Task<string> Nix(params string[] args) => NixOracle.RunTextAsync("nix", [.. args[..^1], "--substituters", "", args[^1]]);
}

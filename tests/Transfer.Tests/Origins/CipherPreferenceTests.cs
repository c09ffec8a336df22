using System.Security.Cryptography;
using BuildFarm.Testing;
using BuildFarm.Transfer.Connections;
using BuildFarm.Transfer.Origins;
using BuildFarm.Transfer.Resilience;
using BuildFarm.Transfer.Tests.Support;
using Renci.SshNet;

namespace BuildFarm.Transfer.Tests.Origins;

/// <summary>The cipher order the worker proposes (AES-GCM first, bench/pull) and that every proposal still carries data intact.</summary>
public sealed class CipherPreferenceTests(SshdFixture sshd) : IClassFixture<SshdFixture>
{
    [Fact]
    public void PreferCiphers_DefaultOrder_PutsAesGcmFirstAndKeepsEveryCipher()
    {
        var info = new ConnectionInfo("localhost", "user", new PasswordAuthenticationMethod("user", "unused"));
        var before = info.Encryptions.Keys.ToHashSet(StringComparer.Ordinal);

        SshConnection.PreferCiphers(info, OriginConnectionSettings.DefaultCiphers);

        Assert.Equal(["aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "chacha20-poly1305@openssh.com"], info.Encryptions.Keys.Take(3));
        Assert.True(before.SetEquals(info.Encryptions.Keys), "reordering must neither add nor drop a cipher");
    }

    [Fact]
    public void PreferCiphers_UnknownName_IsSkipped()
    {
        var info = new ConnectionInfo("localhost", "user", new PasswordAuthenticationMethod("user", "unused"));
        var count = info.Encryptions.Count;

        SshConnection.PreferCiphers(info, ["no-such-cipher", "aes256-ctr"]);

        Assert.Equal("aes256-ctr", info.Encryptions.Keys.First());
        Assert.Equal(count, info.Encryptions.Count);
    }

    [Theory]
    [InlineData("aes128-gcm@openssh.com")]
    [InlineData("aes128-ctr")]
    [InlineData("chacha20-poly1305@openssh.com")]
    public async Task DownloadAsync_EachProposedCipher_DeliversBytesIntact(string cipher)
    {
        const long size = 8L * 1024 * 1024;
        var file = Path.Combine(sshd.Server.DataDirectory, $"cipher-{cipher}.bin");
        (await ProcessRunner.ShellAsync($"head -c {size} /dev/urandom > '{file}'")).EnsureSuccess("make file");
        var expected = Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(file)));
        var settings = ConnectionSettings.For(sshd.Server) with { PreferredCiphers = [cipher] };
        await using var origin = new OriginClient(settings, new TransferResilienceOptions { MaxRetryAttempts = 0 });

        var actual = await origin.DownloadAsync($"cat '{file}'", async (stdout, ct) =>
        {
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = new byte[64 * 1024];
            int n;
            while ((n = await stdout.ReadAsync(buffer, ct)) > 0)
                sha.AppendData(buffer, 0, n);
            return Convert.ToHexString(sha.GetHashAndReset());
        }, CancellationToken.None);

        Assert.Equal(expected, actual);
        File.Delete(file);
    }
}

using BuildFarm.Testing;
using BuildFarm.Worker.Configuration;

namespace BuildFarm.Worker.Tests.Configuration;

public sealed class PinnedHostKeyTests : IDisposable
{
    private const string Print = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
    private readonly TempDirectory _dir = new("pinned-host-key");

    [Fact]
    public async Task ResolveFingerprint_HostPublicKeyFile_EqualsSshKeygen()
    {
        var key = _dir.Combine("ssh_host_ed25519_key");
        (await ProcessRunner.RunAsync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])).EnsureSuccess("ssh-keygen");
        var expected = (await ProcessRunner.RunAsync("ssh-keygen", ["-l", "-E", "sha256", "-f", key + ".pub"])).EnsureSuccess("ssh-keygen -l").Stdout.Split(' ')[1];

        var pin = new PinnedHostKey { Host = "origin", HostPublicKeyFile = key + ".pub" };

        Assert.Equal(expected, pin.ResolveFingerprint(out var error));
        Assert.Null(error);
    }

    [Fact]
    public void ResolveFingerprint_FingerprintWithPadding_Canonical() =>
        Assert.Equal(Print, new PinnedHostKey { Fingerprint = Print + "=" }.ResolveFingerprint(out _));

    [Theory]
    [InlineData(Print, "/etc/ssh/x.pub", "give Fingerprint or HostPublicKeyFile, not both")]
    [InlineData("", "", "Fingerprint is empty")]
    [InlineData("", "/nonexistent/host.pub", "HostPublicKeyFile '/nonexistent/host.pub' cannot be read")]
    public void ResolveFingerprint_BadPin_NamesTheKey(string fingerprint, string file, string message)
    {
        Assert.Null(new PinnedHostKey { Fingerprint = fingerprint, HostPublicKeyFile = file }.ResolveFingerprint(out var error));
        Assert.StartsWith(message, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Problems_PinWithUnparsableHostPublicKeyFile_NamesTheIndexedKey()
    {
        var file = _dir.Combine("not-a-key.pub");
        File.WriteAllText(file, "hello\n");
        var o = new WorkerOptions();
        o.Origins.PinnedHostKeys.Add(new PinnedHostKey { Host = "origin", HostPublicKeyFile = file });

        Assert.Contains(WorkerOptionsValidator.Problems(o), p => p.StartsWith($"Origins:PinnedHostKeys:0:HostPublicKeyFile '{file}': 'hello' is not an OpenSSH public key line", StringComparison.Ordinal));
    }

    public void Dispose() => _dir.Dispose();
}

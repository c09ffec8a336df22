using BuildFarm.Testing;
using BuildFarm.Transfer.Origins;

namespace BuildFarm.Transfer.Tests.Support;

/// <summary>One sshd shared by a test class (tests that stop sshd start their own instead).</summary>
public sealed class SshdFixture : IAsyncLifetime
{
    public SshdServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await SshdServer.StartAsync();

    public Task DisposeAsync()
    {
        Server.Dispose();
        return Task.CompletedTask;
    }
}

public static class ConnectionSettings
{
    public static OriginConnectionSettings For(SshdServer server, string? fingerprint = null, OriginTransport transport = OriginTransport.SshNet) =>
        new(server.Host, server.Port, server.User, server.ClientKeyPath, [fingerprint ?? server.HostKeyFingerprint])
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            Transport = transport,
        };

    public static OriginConnectionSettings For(SshdServer server, OriginTransport transport) => For(server, null, transport);

    /// <summary>A well-formed fingerprint of no real key.</summary>
    public static string BogusFingerprint() =>
        "SHA256:" + Convert.ToBase64String(System.Security.Cryptography.SHA256.HashData(Guid.NewGuid().ToByteArray())).TrimEnd('=');
}

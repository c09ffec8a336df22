using System.Security.Cryptography;
using BuildFarm.Testing;
using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Fetch;
using BuildFarm.Transfer.OpenSsh;
using BuildFarm.Transfer.Origins;
using BuildFarm.Transfer.Resilience;
using BuildFarm.Transfer.Tests.Support;
using Serilog;

namespace BuildFarm.Transfer.Tests.OpenSsh;

/// <summary>The host key pin and the failure mapping of both transports against real sshds (each test its own).</summary>
public sealed class OpenSshTransportTests
{
    [Fact]
    public async Task OpenSshMaster_DisposedTwice_SecondIsANoOpAndTheMasterIsGone()
    {
        // A stalled upload drops its connection, and the pool disposes it again when it closes (CI saw the second throw).
        using var server = await SshdServer.StartAsync();
        using var opener = new OpenSshOpener(ConnectionSettings.For(server, OriginTransport.OpenSsh), Log.Logger);
        var master = (OpenSshMaster)await opener.OpenAsync(1, CancellationToken.None);

        master.Dispose();
        master.Dispose();

        Assert.False(File.Exists(master.Socket));
        Assert.False(File.Exists(master.KnownHosts));
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task FetchAsync_ServerWithAnotherHostKey_RefusedNotRetriedNothingImported(OriginTransport transport)
    {
        using var genuine = await SshdServer.StartAsync();
        using var impostor = await SshdServer.StartAsync();
        // The worker pins the genuine origin's key, but the address answers with another server (own host key; it
        // would even accept the worker's login key, so only the pin stands between them).
        await File.WriteAllTextAsync(Path.Combine(Path.GetDirectoryName(impostor.ClientKeyPath)!, "authorized_keys"), await File.ReadAllTextAsync(genuine.ClientKeyPath + ".pub"));
        var settings = new OriginConnectionSettings(impostor.Host, impostor.Port, impostor.User, genuine.ClientKeyPath, [genuine.HostKeyFingerprint])
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
            Transport = transport,
        };
        await using var origin = new OriginClient(settings, new TransferResilienceOptions { MaxRetryAttempts = 3, BaseDelay = TimeSpan.FromMilliseconds(50) });
        var sink = new RecordingSink();
        using var fetcher = InputFetcher.ForOrigin(origin, sink);

        var refused = await Assert.ThrowsAsync<HostKeyMismatchException>(() => fetcher.FetchAsync(["/nix/store/aaaa-a"], CancellationToken.None));

        Assert.Equal(impostor.HostKeyFingerprint, refused.PresentedFingerprint);
        Assert.Contains(genuine.HostKeyFingerprint, refused.Message, StringComparison.Ordinal);
        Assert.Equal(0, sink.Calls);
        Assert.Equal(0, origin.Resilience.Retries);
        Assert.Equal(0, origin.Pool.ConnectionsOpened);
        Assert.Equal(0, impostor.AcceptedConnections);
    }

    [Fact]
    public async Task OpenSshMaster_KnownHostsHoldsAnotherKey_HandshakeRefusedAsMismatch()
    {
        // What the scan cannot guard against (the key changes between the scan and the connection) ssh itself must:
        // the known_hosts here holds another key than the server's, as if the scan had been answered by the pinned host.
        using var server = await SshdServer.StartAsync();
        using var keys = new TempDirectory();
        await NixOracle.RunTextAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keys.Combine("other"));
        var other = (await File.ReadAllTextAsync(keys.Combine("other.pub"))).Split(' ');
        var settings = ConnectionSettings.For(server, OriginTransport.OpenSsh);
        using var opener = new OpenSshOpener(settings, Log.Logger);
        var knownHosts = Path.Combine(opener.StateDirectory, "known_hosts.other");
        await File.WriteAllTextAsync(knownHosts, $"{PinnedKnownHosts.Alias} {other[0]} {other[1]}\n");

        var refused = await Assert.ThrowsAsync<HostKeyMismatchException>(() => OpenSshMaster.StartAsync(opener, 1, knownHosts, other[0], CancellationToken.None));

        Assert.Equal(server.HostKeyFingerprint, refused.PresentedFingerprint);
        Assert.Equal(0, server.AcceptedConnections);
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task DownloadAsync_SshdStoppedMidTransfer_TransientThenRetriedOnANewConnection(OriginTransport transport)
    {
        using var server = await SshdServer.StartAsync();
        var file = Path.Combine(server.DataDirectory, "big.bin");
        await File.WriteAllBytesAsync(file, RandomNumberGenerator.GetBytes(32 * 1024 * 1024));
        var options = new TransferResilienceOptions { MaxRetryAttempts = 10, BaseDelay = TimeSpan.FromMilliseconds(300), MaxDelay = TimeSpan.FromSeconds(2), MinimumThroughput = 50 };
        await using var origin = new OriginClient(ConnectionSettings.For(server, transport), options);
        var attempts = 0;
        Task? outage = null;
        var failures = new List<Exception>();

        // The origin pauses for a second after the first MiB, which is when the reader stops sshd: the outage always
        // cuts the transfer. A plain `cat` let SSH.NET (whose window is unbounded) receive all 32 MiB before a loaded
        // reader had consumed one, and the download then finished without any failure to retry.
        var hash = await origin.DownloadAsync(
            $"sh -c 'head -c 1048576 {file}; sleep 1; tail -c +1048577 {file}'",
            async (stdout, ct) =>
            {
                attempts++;
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[64 * 1024];
                long total = 0;
                int n;
                try
                {
                    while ((n = await stdout.ReadAsync(buffer, ct)) > 0)
                    {
                        sha.AppendData(buffer, 0, n);
                        total += n;
                        if (attempts == 1 && total >= 1024 * 1024 && outage is null)
                            outage = server.StopForAsync(TimeSpan.FromSeconds(2), ct);
                    }
                }
                catch (Exception e)
                {
                    failures.Add(e);
                    throw;
                }

                return Convert.ToHexString(sha.GetHashAndReset());
            },
            CancellationToken.None);
        await outage!;

        Assert.Equal(Convert.ToHexString(SHA256.HashData(await File.ReadAllBytesAsync(file))), hash);
        Assert.NotEmpty(failures);
        Assert.True(TransientFailure.IsTransient(failures[0]), $"the first failure should be transient: {failures[0]}");
        Assert.True(origin.Resilience.Retries >= 1);
        Assert.True(origin.Pool.ConnectionsOpened >= 2, $"expected a new connection after the outage, saw {origin.Pool.ConnectionsOpened}");
    }

    [Theory]
    [InlineData(OriginTransport.SshNet)]
    [InlineData(OriginTransport.OpenSsh)]
    public async Task RunAsync_KeyWithForcedCommandAndRestrict_CommandArrivesAsOriginalCommand(OriginTransport transport)
    {
        // How origins restrict workers (command="buildfarm origin-serve",restrict): OpenSSH's master logs in without
        // a session (-N), so only the commands' sessions meet the forced command.
        using var server = await SshdServer.StartAsync();
        await server.ForceCommandAsync("printenv SSH_ORIGINAL_COMMAND");
        await using var origin = new OriginClient(ConnectionSettings.For(server, transport), new TransferResilienceOptions { MaxRetryAttempts = 0 });

        var first = await origin.RunAsync("buildfarm store export --signed '/nix/store/aaaa-a'", CancellationToken.None);
        var second = await origin.RunAsync("buildfarm --version", CancellationToken.None);

        Assert.Equal("buildfarm store export --signed '/nix/store/aaaa-a'\n", first);
        Assert.Equal("buildfarm --version\n", second);
        Assert.Equal(1, origin.Pool.ConnectionsOpened);
    }

    [Fact]
    public async Task OpenSshOpener_LeftoversOfADeadProcess_RemovedOwnKept()
    {
        // A worker killed before disposing leaves its state directory; the next one removes it (pid above pid_max: dead).
        var dead = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "bf-ssh-2147483-test"));
        await File.WriteAllTextAsync(Path.Combine(dead.FullName, "known_hosts.1"), "x");
        using var server = await SshdServer.StartAsync();
        using var first = new OpenSshOpener(ConnectionSettings.For(server, OriginTransport.OpenSsh), Log.Logger);

        using var second = new OpenSshOpener(ConnectionSettings.For(server, OriginTransport.OpenSsh), Log.Logger);

        Assert.False(Directory.Exists(dead.FullName), "the dead process's directory should be gone");
        Assert.True(Directory.Exists(first.StateDirectory), "a live process's directory must stay");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(second.StateDirectory));
    }

    [Fact]
    public void PinnedKnownHosts_ScanWithPinnedAndOtherKeys_KeepsOnlyThePinnedOne()
    {
        var ed25519 = "AAAAC3NzaC1lZDI1NTE5AAAAIDQerFTcocFk3WQ/D4aWyyl/VZBxb8Btpku93G9lnqoD";
        var rsa = Convert.ToBase64String(RandomNumberGenerator.GetBytes(64));
        var scan = $"# 127.0.0.1:22 SSH-2.0-OpenSSH_9.2p1\n[127.0.0.1]:2222 ssh-rsa {rsa}\n[127.0.0.1]:2222 ssh-ed25519 {ed25519}\n";
        var keys = PinnedKnownHosts.Parse(scan);
        Assert.True(HostKeyFingerprint.TryOfPublicKey($"ssh-ed25519 {ed25519}", out var pin, out _));
        var settings = new OriginConnectionSettings("127.0.0.1", 2222, "bf", "/key", [pin]);

        var kept = PinnedKnownHosts.Select(settings, keys);

        Assert.Equal(2, keys.Count);
        Assert.Equal($"{PinnedKnownHosts.Alias} ssh-ed25519 {ed25519}\n", PinnedKnownHosts.Format(kept));
        Assert.Equal("ssh-ed25519", PinnedKnownHosts.Algorithms(kept));
        Assert.Equal("rsa-sha2-512,rsa-sha2-256", PinnedKnownHosts.Algorithms(keys.Where(k => k.Type == "ssh-rsa")));
        var refused = Assert.Throws<HostKeyMismatchException>(() => PinnedKnownHosts.Select(settings with { HostKeyFingerprints = [ConnectionSettings.BogusFingerprint()] }, keys));
        Assert.Equal(keys[0].Fingerprint, refused.PresentedFingerprint);
    }

    private sealed class RecordingSink : IArchiveSink
    {
        public int Calls { get; private set; }

        public Task<IReadOnlyList<string>> ImportAsync(Stream archive, CancellationToken cancellationToken)
        {
            Calls++;
            return Task.FromResult<IReadOnlyList<string>>([]);
        }
    }
}
